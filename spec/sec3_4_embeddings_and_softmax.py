"""§3.4 Embeddings and softmax

Token ids become vectors of width d_model through a learned matrix E (vocab x d_model),
and the decoder's output becomes next-token scores through a linear map followed by
a softmax. The paper ties the three:

- one matrix E is the source embedding, the target embedding and the pre-softmax
  linear map (logits = x E^T), so a gradient that reaches E through the logits
  moves the embeddings as well;
- in the embedding layers the rows are multiplied by sqrt(d_model):
  embed(id) = sqrt(d_model) * E[id];
- softmax(x E^T) gives the next-token probabilities.

Choice of ours: the model returns the logits x E^T and never applies the softmax;
the loss and the decoders take log_softmax of them (numerically stable). E is
initialised N(0, 1/d_model), so sqrt(d_model) * E[id] has entries of about unit size.
`share_embeddings=False` unties the source embedding (a departure, off by default).
"""

import math

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor

from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.model.positions import sinusoidal_encoding

CODE = "aiayn/model/embedding.py, aiayn/model/transformer.py"

VOCAB = 53


def small_config(**changes: object) -> TransformerConfig:
    base = dict(vocab_size=VOCAB, n_layers=1, d_model=26, d_ff=37, h=2, p_drop=0.1)
    return TransformerConfig(**{**base, **changes})  # type: ignore[arg-type]


def unscaled_embedding(weight: Float[Tensor, "vocab d_model"], ids: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n d_model"]:
    """The broken variant: E[id] without the sqrt(d_model) factor."""
    return weight[ids]


def sgd_step_through_logits(model: Transformer, token: int) -> None:
    """One gradient step that raises the logit of `token`, reaching E only through x E^T."""
    x = torch.randn(2, 3, model.d_model)
    loss = -model.tgt_embed.logits(x)[..., token].sum()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    model.zero_grad()


def test_source_target_and_pre_softmax_weights_are_one_matrix() -> None:
    """Source embedding, target embedding and the pre-softmax map are one tensor: a step through the logits moves the embeddings."""
    torch.manual_seed(0)
    cfg = small_config()
    model = Transformer(cfg).eval()
    assert model.src_embed.weight is model.tgt_embed.weight
    assert model.src_embed.weight.data_ptr() == model.tgt_embed.weight.data_ptr()
    matrices = [p for p in model.parameters() if p.shape == (cfg.vocab_size, cfg.d_model)]
    assert len(matrices) == 1  # counted once among the parameters

    # the pre-softmax map is x E^T with that same E
    x = torch.randn(2, 3, cfg.d_model, dtype=torch.float64)
    torch.testing.assert_close(
        model.tgt_embed.logits(x.float()).double(), x @ model.tgt_embed.weight.double().T, rtol=1e-5, atol=1e-5
    )

    # a gradient step that only touches the logits changes what both embeddings look up
    token = 17
    ids = torch.tensor([[token]])
    with torch.no_grad():
        src_before, tgt_before = model.src_embed(ids).clone(), model.tgt_embed(ids).clone()
    sgd_step_through_logits(model, token)
    with torch.no_grad():
        assert (model.src_embed(ids) - src_before).abs().max() > 1e-4
        assert (model.tgt_embed(ids) - tgt_before).abs().max() > 1e-4

    # the untied departure: the same step leaves the source embedding where it was
    untied = Transformer(cfg.replace(share_embeddings=False)).eval()
    assert untied.src_embed.weight is not untied.tgt_embed.weight
    with torch.no_grad():
        src_before = untied.src_embed(ids).clone()
    sgd_step_through_logits(untied, token)
    with torch.no_grad():
        torch.testing.assert_close(untied.src_embed(ids), src_before, rtol=0, atol=0)


@settings(max_examples=10)
@given(batch=st.integers(1, 3), n=st.integers(1, 11), d_model=st.sampled_from([2, 6, 10, 26]), seed=st.integers(0, 2**16))
@example(batch=2, n=5, d_model=512, seed=0)  # the base model's width: factor sqrt(512) ~ 22.6
def test_embeddings_are_multiplied_by_sqrt_d_model(batch: int, n: int, d_model: int, seed: int) -> None:
    """An embedded token is sqrt(d_model) * E[id], and that (plus PE) is what the encoder receives."""
    torch.manual_seed(seed)
    cfg = small_config(d_model=d_model, h=2, d_ff=13)
    model = Transformer(cfg).eval().double()
    ids = torch.randint(1, VOCAB, (batch, n))
    weight = model.src_embed.weight
    with torch.no_grad():
        expected = weight[ids] * math.sqrt(d_model)
        torch.testing.assert_close(model.src_embed(ids), expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model.tgt_embed(ids), expected, rtol=1e-12, atol=1e-12)

        # inside the model: the encoder's input is sqrt(d_model) E[id] + PE(pos)
        seen: list[Tensor] = []
        hook = model.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            model.encode(ids)
        finally:
            hook.remove()
        pe = sinusoidal_encoding(n, d_model).double()  # the model keeps its table in float32
        torch.testing.assert_close(seen[0], expected + pe, rtol=1e-12, atol=1e-12)

        # the broken variant, without the factor, is a different input
        assert (unscaled_embedding(weight, ids) - expected).abs().max() > 1e-3
        assert (unscaled_embedding(weight, ids) + pe - seen[0]).abs().max() > 1e-3


@settings(max_examples=10)
@given(batch=st.integers(1, 3), n_src=st.integers(1, 11), n_tgt=st.integers(1, 7), seed=st.integers(0, 2**16))
@example(batch=2, n_src=7, n_tgt=5, seed=0)
def test_model_returns_logits_not_probabilities(batch: int, n_src: int, n_tgt: int, seed: int) -> None:
    """The model's output is x E^T, unnormalised scores; log_softmax of them is the next-token distribution."""
    torch.manual_seed(seed)
    model = Transformer(small_config()).eval().double()
    src, tgt = torch.randint(1, VOCAB, (batch, n_src)), torch.randint(1, VOCAB, (batch, n_tgt))
    seen: list[Tensor] = []
    hook = model.decoder.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            out = model(src, tgt)
    finally:
        hook.remove()
    assert out.shape == (batch, n_tgt, VOCAB)
    # exactly the decoder output times E^T: no softmax, no bias
    torch.testing.assert_close(out, seen[0] @ model.tgt_embed.weight.T, rtol=1e-12, atol=1e-12)
    # not probabilities: some are negative and rows do not sum to 1
    assert (out < 0).any()
    assert ((out.sum(-1) - 1).abs() > 1e-3).all()
    # softmax of them is a distribution
    probs = out.log_softmax(-1).exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(batch, n_tgt, dtype=torch.float64))
    assert (probs >= 0).all()
