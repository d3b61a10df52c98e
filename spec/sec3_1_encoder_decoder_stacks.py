"""§3.1 Encoder and decoder stacks

Claims, in our words:
- The encoder is a stack of N identical layers, each with two sub-layers (multi-head
  self-attention, then the position-wise feed-forward network); the decoder is a
  stack of N identical layers with a third sub-layer between them, attention over the
  encoder output. N = 6 in the paper. "Identical" means the same shape: every layer
  has its own parameters.
- Every sub-layer is wrapped as LayerNorm(x + Sublayer(x)) (post-norm), with dropout
  on Sublayer(x) before the sum (§5.4, the identity in eval mode):
      y = LayerNorm(x + Dropout(Sublayer(x))),  LayerNorm(z) = gamma * (z - mean(z)) / sqrt(var(z) + eps) + beta
  with mean and (biased) variance over the d_model features of each position; in
  training, Dropout keeps each element with probability 1 - P_drop and scales it by
  1 / (1 - P_drop).
- Every sub-layer and the embedding layers produce vectors of width d_model, which is
  what lets the residual sums x + Sublayer(x) type-check.
- The decoder reads the encoder output (the "memory"), so its output depends on the
  source; source and target may have different lengths.

Choices the paper leaves open: LayerNorm eps = 1e-5 (torch's default), with a learned
gain and bias per layer. Pre-norm, x + Sublayer(LayerNorm(x)) with a final LayerNorm
after each stack, is a later departure kept under TransformerConfig(norm="pre"), off
by default; this spec shows that it computes a different function.
"""

import functools

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor, nn

from aiayn import Transformer, TransformerConfig
from aiayn.model.dropout import keep_mask
from aiayn.model.embedding import Embedding
from aiayn.model.feed_forward import PositionWiseFeedForward
from aiayn.model.multi_head import MultiHeadAttention
from aiayn.model.residual import PostNormResidual, PreNormResidual

CODE = "aiayn/model/transformer.py, aiayn/model/layers.py, aiayn/model/residual.py"

VOCAB = 37


def tiny_config(**changes: object) -> TransformerConfig:
    defaults: dict[str, object] = dict(d_model=30, h=3, d_ff=22, n_layers=2, p_drop=0.0)
    return TransformerConfig.tiny(vocab_size=VOCAB, **{**defaults, **changes})


def tiny_model(seed: int = 0, **changes: object) -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(tiny_config(**changes)).eval()
    with torch.no_grad():  # LayerNorm gains and biases away from (1, 0), so that they matter
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


@functools.cache
def shared_model() -> Transformer:
    """One tiny model for the tests that only read it."""
    return tiny_model()


def tokens(seed: int, batch: int, n: int) -> Tensor:
    return torch.randint(1, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


def layer_norm_retyped(
    z: Float[Tensor, "*batch d_model"], gamma: Float[Tensor, " d_model"], beta: Float[Tensor, " d_model"], eps: float
) -> Float[Tensor, "*batch d_model"]:
    """LayerNorm over the last axis, from its definition, in float64."""
    z = z.double()
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)  # biased variance
    return gamma.double() * (z - mean) / torch.sqrt(var + eps) + beta.double()


def shares_a_tensor(a: nn.Module, b: nn.Module) -> bool:
    """True if the two modules hold any parameter in the same storage."""
    ptrs = {p.untyped_storage().data_ptr() for p in a.parameters()}
    return any(p.untyped_storage().data_ptr() in ptrs for p in b.parameters())


def layers_are_independent(layers: nn.ModuleList) -> bool:
    """No two layers share a tensor, and nudging one layer's weights changes no other layer."""
    if any(shares_a_tensor(a, b) for i, a in enumerate(layers) for b in list(layers)[i + 1 :]):
        return False
    for i, layer in enumerate(layers):
        before = [{k: v.clone() for k, v in other.state_dict().items()} for other in layers]
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(1.0)
        after = [other.state_dict() for other in layers]
        with torch.no_grad():
            for p in layer.parameters():
                p.sub_(1.0)
        for j in range(len(layers)):
            if j != i and any(not torch.equal(before[j][k], after[j][k]) for k in before[j]):
                return False
    return True


def test_each_stack_has_n_layers_with_separate_parameters() -> None:
    """The encoder and decoder each hold N layers, and no two layers share a parameter."""
    for cfg in (TransformerConfig.base(), TransformerConfig.big()):
        with torch.device("meta"):
            model = Transformer(cfg)
        assert cfg.n_layers == 6
        assert len(model.encoder.layers) == len(model.decoder.layers) == cfg.n_layers
    model = tiny_model(n_layers=3)
    for stack in (model.encoder.layers, model.decoder.layers):
        assert len(stack) == 3
        assert layers_are_independent(stack)
        per_layer = [sum(p.numel() for p in layer.parameters()) for layer in stack]
        assert len(set(per_layer)) == 1  # identical in shape
    # the sub-layers: two in an encoder layer, three in a decoder layer
    enc, dec = model.encoder.layers[0], model.decoder.layers[0]
    assert sum(isinstance(m, MultiHeadAttention) for m in enc.modules()) == 1
    assert sum(isinstance(m, MultiHeadAttention) for m in dec.modules()) == 2
    assert sum(isinstance(m, PostNormResidual) for m in enc.modules()) == 2
    assert sum(isinstance(m, PostNormResidual) for m in dec.modules()) == 3
    # broken variant: one layer repeated N times shares every tensor and fails the check
    shared = nn.ModuleList([model.encoder.layers[0]] * 3)
    assert not layers_are_independent(shared)


def test_every_sublayer_and_embedding_outputs_width_d_model() -> None:
    """Every sub-layer, every residual block and both embeddings output vectors of width d_model."""
    model = tiny_model(n_layers=2)
    d_model = model.cfg.d_model
    seen: list[tuple[str, tuple[int, ...]]] = []

    def record(name: str):  # noqa: ANN202
        def hook(module: nn.Module, args: object, output: Tensor) -> None:
            seen.append((name, tuple(output.shape)))

        return hook

    kinds = (Embedding, MultiHeadAttention, PositionWiseFeedForward, PostNormResidual)
    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, kinds)]
    try:
        batch, n_src, n_tgt = 2, 7, 5
        logits = model(tokens(0, batch, n_src), tokens(1, batch, n_tgt))
    finally:
        for handle in handles:
            handle.remove()
    assert logits.shape == (batch, n_tgt, VOCAB)
    n = model.cfg.n_layers
    # embeddings: source and target; encoder 2 sub-layers + 2 residuals, decoder 3 + 3, per layer
    assert len(seen) == 2 + n * (2 + 2) + n * (3 + 3)
    assert {name for name, _ in seen} == {n for n, m in model.named_modules() if isinstance(m, kinds)}
    for name, shape in seen:
        assert shape[-1] == d_model, (name, shape)
        assert shape[:2] in ((batch, n_src), (batch, n_tgt)), (name, shape)


@given(seed=st.integers(0, 2**16), n=st.sampled_from([1, 3, 7]), p_drop=st.sampled_from([0.0, 0.1, 0.3]))
def test_sublayer_output_is_layernorm_of_x_plus_dropout_of_sublayer_x(seed: int, n: int, p_drop: float) -> None:
    """Each sub-layer block computes LayerNorm(x + Dropout(Sublayer(x))) in training and LayerNorm(x + Sublayer(x)) in eval mode (float64)."""
    d_model = 30
    g = torch.Generator().manual_seed(seed)
    block = PostNormResidual(d_model, p_drop).double()
    with torch.no_grad():
        block.norm.weight.copy_(torch.rand(d_model, generator=g, dtype=torch.float64) + 0.5)
        block.norm.bias.copy_(torch.randn(d_model, generator=g, dtype=torch.float64))
    a = torch.randn(d_model, d_model, generator=g, dtype=torch.float64)

    def stub(y: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_model"]:
        return torch.tanh(y @ a) * 3.0  # any function of the whole row

    x = torch.randn(2, n, d_model, generator=g, dtype=torch.float64)
    gamma, beta, eps = block.norm.weight, block.norm.bias, block.norm.eps
    assert eps == 1e-5

    # training mode: dropout keeps each element of Sublayer(x) with probability 1 - P_drop and
    # scales it by 1 / (1 - P_drop); the same seed draws the same keep-mask for the retyped formula
    torch.manual_seed(seed)
    out = block.train()(x, stub)
    torch.manual_seed(seed)
    keep = keep_mask((2, n, d_model), p_drop).double()  # the mask aiayn.model.dropout draws
    expected = layer_norm_retyped(x + stub(x) * keep / (1 - p_drop), gamma, beta, eps)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    if p_drop > 0 and bool((keep == 0).any()):  # dropout really acted: without it the output would differ
        assert not torch.allclose(out, layer_norm_retyped(x + stub(x), gamma, beta, eps), atol=1e-6)

    # eval mode: dropout is the identity
    out = block.eval()(x, stub)
    expected = layer_norm_retyped(x + stub(x), gamma, beta, eps)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(out, F.layer_norm(x + stub(x), (d_model,), gamma, beta, eps), rtol=0, atol=1e-12)
    # the normalisation is over the features of each position: mean beta, spread gamma
    normalised = (out - beta) / gamma
    torch.testing.assert_close(normalised.mean(-1), torch.zeros(2, n, dtype=torch.float64), rtol=0, atol=1e-10)


def test_model_layers_compose_post_norm_sublayers() -> None:
    """An encoder layer is LN(z + FFN(z)) with z = LN(x + SelfAttn(x)); a decoder layer adds LN(. + CrossAttn)."""
    model = tiny_model().double()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 7, 30, generator=g, dtype=torch.float64)
    y = torch.randn(2, 5, 30, generator=g, dtype=torch.float64)

    def ln(z: Float[Tensor, "*batch d_model"], norm: nn.LayerNorm) -> Float[Tensor, "*batch d_model"]:
        return layer_norm_retyped(z, norm.weight, norm.bias, norm.eps)

    enc = model.encoder.layers[0]
    z = ln(x + enc.self_attn(x, x), enc.self_attn_residual.norm)
    expected = ln(z + enc.feed_forward(z), enc.feed_forward_residual.norm)
    torch.testing.assert_close(enc(x, None), expected, rtol=0, atol=1e-12)

    dec = model.decoder.layers[0]
    u = ln(y + dec.self_attn(y, y), dec.self_attn_residual.norm)
    u = ln(u + dec.cross_attn(u, x), dec.cross_attn_residual.norm)
    expected = ln(u + dec.feed_forward(u), dec.feed_forward_residual.norm)
    torch.testing.assert_close(dec(y, x, None, None), expected, rtol=0, atol=1e-12)
    # and the stacks are the layers applied in order, with nothing after the last one
    memory = model.encoder.layers[1](model.encoder.layers[0](x, None), None)
    torch.testing.assert_close(model.encoder(x, None), memory, rtol=0, atol=0)


def test_pre_norm_is_a_different_function_from_post_norm() -> None:
    """Pre-norm, x + Sublayer(LayerNorm(x)), computes something else than the paper's post-norm."""
    d_model = 30
    g = torch.Generator().manual_seed(11)
    x = 2.0 + 3.0 * torch.randn(2, 7, d_model, generator=g, dtype=torch.float64)
    a = torch.randn(d_model, d_model, generator=g, dtype=torch.float64)

    def stub(y: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_model"]:
        return torch.tanh(y @ a)

    post = PostNormResidual(d_model, 0.0).double().eval()
    pre = PreNormResidual(d_model, 0.0).double().eval()
    pre.load_state_dict(post.state_dict())  # the same LayerNorm parameters
    out_post, out_pre = post(x, stub), pre(x, stub)
    torch.testing.assert_close(out_pre, x + stub(F.layer_norm(x, (d_model,))), rtol=0, atol=1e-12)
    assert not torch.allclose(out_pre, out_post, atol=1e-3)
    # post-norm outputs are normalised (LN's default gain 1, bias 0); pre-norm outputs are not
    spread = out_post.std(-1, unbiased=False)
    torch.testing.assert_close(spread, torch.ones(2, 7, dtype=torch.float64), atol=1e-4, rtol=0)
    assert (out_pre.std(-1, unbiased=False) - 1).abs().max() > 0.5

    # whole models with the same weights: TransformerConfig(norm="pre") changes the logits
    post_model = tiny_model(seed=2)
    pre_model = Transformer(post_model.cfg.replace(norm="pre")).eval()
    missing, unexpected = pre_model.load_state_dict(post_model.state_dict(), strict=False)
    assert unexpected == [] and set(missing) == {
        "encoder.final_norm.weight", "encoder.final_norm.bias", "decoder.final_norm.weight", "decoder.final_norm.bias"
    }  # pre-norm adds one LayerNorm after each stack; the rest is shared
    src, tgt = tokens(0, 2, 7), tokens(1, 2, 5)
    assert not torch.allclose(pre_model(src, tgt), post_model(src, tgt), atol=1e-3)
    assert post_model.cfg.norm == TransformerConfig().norm == "post"  # the paper's is the default


@settings(max_examples=10)
@given(seed=st.integers(0, 2**16))
def test_decoder_output_depends_on_the_source(seed: int) -> None:
    """Changing the source sentence changes the decoder's logits for the same target."""
    model = shared_model()
    src, tgt = tokens(seed, 2, 7), tokens(seed + 1, 2, 5)
    other = src.clone()
    other[:, 3] = (other[:, 3] % (VOCAB - 1)) + 1  # one source token changed, never padding
    assert not torch.equal(other, src)
    logits = model(src, tgt)
    torch.testing.assert_close(model(src.clone(), tgt), logits, rtol=0, atol=0)  # deterministic in eval mode
    changed = model(other, tgt)
    assert (changed - logits).abs().amax(dim=-1).min() > 1e-4  # every target position of every sentence moves


@given(
    n_src=st.sampled_from([1, 2, 3, 5, 7, 11, 13]),
    n_tgt=st.sampled_from([1, 2, 3, 5, 7, 11, 13]),
    batch=st.sampled_from([1, 2, 3]),
)
def test_source_and_target_lengths_may_differ(n_src: int, n_tgt: int, batch: int) -> None:
    """The Transformer maps a length-n_src source and a length-n_tgt target to n_tgt logit rows."""
    model = shared_model()
    src, tgt = tokens(n_src, batch, n_src), tokens(n_tgt, batch, n_tgt)
    memory, src_attend = model.encode(src)
    assert memory.shape == (batch, n_src, model.cfg.d_model)
    assert src_attend.shape == (batch, 1, 1, n_src)
    logits = model(src, tgt)
    assert logits.shape == (batch, n_tgt, VOCAB)
    assert bool(torch.isfinite(logits).all())
