"""§5.4 Regularization: residual dropout and label smoothing

Residual dropout. Dropout (rate P_drop = 0.1 for the base model) is applied to the
output of every sub-layer before it is added to the sub-layer's input and normalised,

    y = LayerNorm(x + Dropout(Sublayer(x))),

and to the sums of embeddings and positional encodings at the bottom of both stacks.
Nowhere else: not on attention weights, not inside the feed-forward network, not on
the residual path x itself. So a Transformer with N layers per stack holds
2N (encoder) + 3N (decoder) + 1 dropout modules; the last one, on embedding + position
sums, is one module used for the source and for the target. In eval mode, and in
training with P_drop = 0, the model is deterministic.

Dropout itself: in training each element is kept with probability 1 - P_drop and
multiplied by 1 / (1 - P_drop), so that its expected value is unchanged, or set to 0;
the gradient flows through the kept elements with the same factor and through no other.
aiayn's CPU dropout draws 16 random bits per element, so its drop probability is P_drop
rounded to a multiple of 2^-16; the spec holds it to P_drop, and shows that leaving out
the 1 / (1 - P_drop) factor (a common slip) shrinks every activation's mean.

Label smoothing (eps_ls = 0.1). The loss is the cross-entropy against a smoothed
target distribution q instead of the one-hot gold token:

    loss = - sum_y q(y) log p(y)
    q(gold) = 1 - eps_ls
    q(pad)  = 0
    q(y)    = eps_ls / (vocab - 2)   for each of the vocab - 2 tokens that are
                                     neither the gold token nor padding

The paper says only that it smooths with eps_ls = 0.1; how the eps_ls mass is spread
is our choice, stated above. Because sum_y q(y) = 1, the gradient of the loss with
respect to the logits is softmax(logits) - q, so q can be read back from the
gradient; that is how the spec checks it. Other code spreads the mass otherwise:
torch's `F.cross_entropy(label_smoothing=eps)` (and tensor2tensor) spreads eps over
all `vocab` entries, gold and padding included, so gold gets 1 - eps + eps / vocab;
some code spreads it over the vocab - 1 non-gold entries. The spec shows torch's
version is a different target.

Smoothing makes the model less sure of itself: even a confident, correct prediction
has a positive loss, and the loss is smallest when the predicted distribution equals
q, not the one-hot target. Positions whose gold token is padding add nothing; the
loss is the mean over real target tokens.
"""

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.dropout import Dropout, keep_mask
from aiayn.training.loss import label_smoothed_loss
from aiayn.model.transformer import Transformer
from aiayn.model.positions import sinusoidal_encoding
from aiayn.model.residual import PostNormResidual, PreNormResidual

CODE = "aiayn/training/loss.py, aiayn/model/dropout.py, aiayn/model/residual.py, aiayn/model/transformer.py"

VOCAB, D_MODEL, H, D_FF = 13, 10, 2, 7  # d_k = d_v = 5; batch 3, n_src 11, n_tgt 7 below
BATCH, N_SRC, N_TGT = 3, 11, 7


def tiny(n_layers: int = 2, p_drop: float = 0.3) -> TransformerConfig:
    return TransformerConfig(vocab_size=VOCAB, n_layers=n_layers, d_model=D_MODEL, d_ff=D_FF, h=H, p_drop=p_drop)


def tokens(seed: int) -> tuple[Int[Tensor, "batch n_src"], Int[Tensor, "batch n_tgt"]]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, VOCAB, (BATCH, N_SRC), generator=g)
    tgt = torch.randint(1, VOCAB, (BATCH, N_TGT), generator=g)
    src[0, -3:] = 0  # some padding, so masks are exercised too
    return src, tgt


def smoothed_target(gold: Int[Tensor, "*batch"], vocab: int, eps: float, pad_id: int) -> Float[Tensor, "*batch vocab"]:
    """q for each position, retyped from the module docstring, in float64."""
    q = torch.full((*gold.shape, vocab), eps / (vocab - 2), dtype=torch.float64)
    q[..., pad_id] = 0.0
    q.scatter_(-1, gold.unsqueeze(-1), 1.0 - eps)
    return q


def implied_target(
    loss_fn: Callable[[Tensor], Tensor], logits: Float[Tensor, "*batch vocab"]
) -> Float[Tensor, "*batch vocab"]:
    """The target q of a summed cross-entropy, read from its gradient: q = softmax - dloss/dlogits.

    The softmax is taken at the logits' own precision, as the loss takes it.
    """
    logits = logits.detach().clone().requires_grad_(True)
    loss_fn(logits).backward()
    return torch.softmax(logits.detach(), -1).double() - logits.grad.double()


# Residual dropout ----------------------------------------------------------------


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_dropout_modules_are_two_per_encoder_layer_three_per_decoder_layer_and_one_shared(n_layers: int) -> None:
    """A Transformer holds 2N + 3N + 1 dropout modules: one per residual sub-layer, one on embedding sums."""
    model = Transformer(tiny(n_layers))
    dropouts = {name: m for name, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert len(dropouts) == 2 * n_layers + 3 * n_layers + 1
    residuals = [m for m in model.modules() if isinstance(m, (PostNormResidual, PreNormResidual))]
    assert len(residuals) == 5 * n_layers
    assert {id(r.dropout) for r in residuals} | {id(model.stem.dropout)} == {id(m) for m in dropouts.values()}
    assert all(m.p == 0.3 for m in dropouts.values())
    # no other kind of dropout module either (AlphaDropout, Dropout1d, ...)
    assert not [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and not isinstance(m, nn.Dropout)]


def test_each_dropout_receives_a_sublayer_output_or_an_embedding_plus_position_sum() -> None:
    """Each residual's dropout sees its sub-layer's output; the embedding dropout sees E[x] sqrt(d_model) + PE."""
    torch.manual_seed(0)
    model = Transformer(tiny()).train()
    seen: dict[str, list[Tensor]] = {}

    def keep(key: str, value: Tensor) -> None:
        seen.setdefault(key, []).append(value.detach().clone())

    def keep_dropout(key: str, args: tuple[Tensor, ...], out: Tensor) -> None:
        keep(key + ":in", args[0])
        keep(key + ":out", out)

    handles = []
    for name, layer in [*model.encoder.layers.named_children(), *model.decoder.layers.named_children()]:
        prefix = "enc" if layer in list(model.encoder.layers) else "dec"
        for sub in ("self_attn", "cross_attn", "feed_forward"):
            if not hasattr(layer, sub):
                continue
            key = f"{prefix}{name}.{sub}"
            wrapper: PostNormResidual = getattr(layer, f"{sub}_residual")
            handles += [
                getattr(layer, sub).register_forward_hook(lambda m, a, out, key=key: keep(key + ":sublayer", out)),
                wrapper.dropout.register_forward_hook(lambda m, a, out, key=key: keep_dropout(key, a, out)),
                wrapper.register_forward_pre_hook(lambda m, a, key=key: keep(key + ":x", a[0])),
                wrapper.register_forward_hook(lambda m, a, out, key=key: keep(key + ":y", out)),
            ]
    handles.append(model.stem.dropout.register_forward_hook(lambda m, a, out: keep("embed:in", a[0])))
    src, tgt = tokens(1)
    model(src, tgt)
    for h in handles:
        h.remove()

    sublayers = {k.split(":")[0] for k in seen if k != "embed:in"}
    assert len(sublayers) == 2 * 2 + 3 * 2
    for key in sublayers:
        assert torch.equal(seen[key + ":in"][0], seen[key + ":sublayer"][0])  # Dropout(Sublayer(x))
        norm = _residual_of(model, key).norm
        # y = LayerNorm(x + Dropout(Sublayer(x))): the dropped sub-layer output is what gets added
        torch.testing.assert_close(seen[key + ":y"][0], norm(seen[key + ":x"][0] + seen[key + ":out"][0]))
    assert not torch.equal(seen["enc0.self_attn:out"][0], seen["enc0.self_attn:in"][0])  # dropout did act

    # the embedding dropout is called twice (source, then target), on E[x] * sqrt(d_model) + PE
    assert len(seen["embed:in"]) == 2
    for ids, got in zip((src, tgt), seen["embed:in"]):
        expected = model.src_embed.weight[ids] * math.sqrt(D_MODEL) + sinusoidal_encoding(ids.shape[1], D_MODEL)
        torch.testing.assert_close(got, expected.detach())


def _residual_of(model: Transformer, key: str) -> PostNormResidual:
    stack, sub = key.split(".")
    layers = model.encoder.layers if stack.startswith("enc") else model.decoder.layers
    return getattr(layers[int(stack[3:])], f"{sub}_residual")


def dropout_after_add(x: Tensor, sublayer_out: Tensor, dropout: nn.Dropout, norm: nn.LayerNorm) -> Tensor:
    """A wrong placement: LayerNorm(Dropout(x + Sublayer(x))) drops the residual path too."""
    return norm(dropout(x + sublayer_out))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_dropout_keeps_with_probability_1_minus_p_and_scales_kept_elements_by_1_over_1_minus_p(p: float) -> None:
    """Training-mode Dropout: outputs are 0 or x / (1 - p), zeros at rate p, mean x; eval is the identity."""
    torch.manual_seed(0)
    n, c = 400_000, 0.7
    x = torch.full((4, n // 4), c)
    dropout = Dropout(p).train()
    out = dropout(x)
    dropped = out == 0
    torch.testing.assert_close(out[~dropped], torch.full_like(out[~dropped], c / (1 - p)))
    sigma = math.sqrt(p * (1 - p) / n)  # binomial spread of the dropped fraction
    assert abs(dropped.float().mean().item() - p) < 5 * sigma
    mean_bound = 5 * c * sigma / (1 - p)
    assert abs(out.mean().item() - c) < mean_bound  # unbiased: E[Dropout(x)] = x
    # elements are dropped independently, neighbours too (four share one 64-bit draw)
    flat = dropped.flatten()
    for gap in (1, 2, 3, 4):
        both = (flat[:-gap] & flat[gap:]).float().mean().item()
        spread = math.sqrt((p * p * (1 - p * p) + 2 * p**3 * (1 - p)) / n)  # overlapping pairs share elements
        assert abs(both - p * p) < 5 * spread, gap
    unscaled = x * ~dropped  # the slip: dropping without the 1 / (1 - p) factor
    assert abs(unscaled.mean().item() - c) > 20 * mean_bound
    # a fresh draw is a different mask; the same seed repeats it
    torch.manual_seed(1)
    again = dropout(x)
    assert not torch.equal(again == 0, dropped)
    torch.manual_seed(0)
    assert torch.equal(dropout(x), out)
    assert dropout.eval()(x) is x


def test_dropout_gradient_passes_kept_elements_scaled_and_stops_at_dropped_ones() -> None:
    """d Dropout(x) / dx is 1 / (1 - p) where an element was kept and 0 where it was dropped, in float32 and bf16."""
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(3)
        x = torch.randn(64, 33, dtype=dtype, requires_grad=True)
        out = Dropout(0.25).train()(x)
        assert out.dtype == dtype
        g = torch.randn(64, 33, dtype=dtype)
        out.backward(g)
        kept = out.detach() != 0
        assert 0 < kept.sum() < kept.numel()
        torch.testing.assert_close(x.grad, torch.where(kept, g * (1 / 0.75), torch.zeros_like(g)))


def test_dropout_masks_are_exact_at_the_edges_and_agree_with_torch_in_rate() -> None:
    """keep_mask keeps all at p = 0 and refuses p outside [0, 1); its drop rate matches nn.Dropout's."""
    assert bool(keep_mask((1000,), 0.0).all())
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="drop probability"):
            keep_mask((10,), bad)
    torch.manual_seed(5)
    ours = 1 - keep_mask((500_000,), 0.1).float().mean().item()
    theirs = (nn.Dropout(0.1).train()(torch.ones(500_000)) == 0).float().mean().item()
    sigma = math.sqrt(0.1 * 0.9 / 500_000)
    assert abs(ours - 0.1) < 5 * sigma and abs(theirs - 0.1) < 5 * sigma
    assert Dropout(1.0).train()(torch.ones(7)).eq(0).all()  # p = 1 drops everything (torch's kernel)
    for near_1 in (0.999995, 1 - 1e-9):  # p within 2^-17 of 1 rounds to 1: everything dropped, nothing scaled up
        assert not bool(keep_mask((1000,), near_1).any())
        assert Dropout(near_1).train()(torch.ones(1000)).eq(0).all()


def test_dropout_never_touches_the_residual_path() -> None:
    """With a sub-layer that outputs zeros, a training-mode residual returns LayerNorm(x) exactly."""
    torch.manual_seed(0)
    wrapper = PostNormResidual(D_MODEL, p_drop=0.5).train()
    x = torch.randn(BATCH, N_SRC, D_MODEL)
    zero = lambda y: torch.zeros_like(y)  # noqa: E731
    for _ in range(3):
        torch.testing.assert_close(wrapper(x, zero), wrapper.norm(x))
    # dropping after the add would knock out parts of x itself
    assert not torch.allclose(dropout_after_add(x, zero(x), wrapper.dropout, wrapper.norm), wrapper.norm(x))


def test_dropout_is_applied_nowhere_but_the_dropout_modules() -> None:
    """With every dropout module set to p = 0, a training-mode model with P_drop = 0.3 is deterministic."""
    torch.manual_seed(0)
    model = Transformer(tiny(p_drop=0.3)).train()
    src, tgt = tokens(2)
    assert not torch.equal(model(src, tgt), model(src, tgt))  # random while the modules drop
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    torch.testing.assert_close(model(src, tgt), model(src, tgt), rtol=0, atol=0)  # no hidden F.dropout
    reference = Transformer(tiny(p_drop=0.0)).eval()
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(src, tgt), reference(src, tgt))


@settings(max_examples=8)
@given(seed=st.integers(0, 2**16))
def test_training_is_random_with_p_drop_and_deterministic_with_p_drop_0(seed: int) -> None:
    """In training mode two passes differ when P_drop > 0 and agree exactly when P_drop = 0."""
    torch.manual_seed(seed)
    src, tgt = tokens(seed)
    noisy = Transformer(tiny(n_layers=1, p_drop=0.3)).train()
    assert not torch.equal(noisy(src, tgt), noisy(src, tgt))
    clean = Transformer(tiny(n_layers=1, p_drop=0.0)).train()
    assert torch.equal(clean(src, tgt), clean(src, tgt))


def test_eval_mode_is_deterministic_even_with_p_drop() -> None:
    """In eval mode two passes agree, even with P_drop = 0.3, and equal the P_drop = 0 model."""
    torch.manual_seed(0)
    model = Transformer(tiny(p_drop=0.3)).eval()
    src, tgt = tokens(3)
    first = model(src, tgt)
    assert torch.equal(first, model(src, tgt))
    no_dropout = Transformer(tiny(p_drop=0.0)).eval()
    no_dropout.load_state_dict(model.state_dict())
    assert torch.equal(first, no_dropout(src, tgt))


# Label smoothing -----------------------------------------------------------------


@given(
    vocab=st.sampled_from([3, 5, 11, 13, 37]),
    eps=st.sampled_from([0.1, 0.2, 0.05, 0.5]),
    n_pos=st.integers(1, 7),
    pad_id=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
@example(vocab=37000, eps=0.1, n_pos=2, pad_id=0, seed=0)  # the paper's eps_ls and vocabulary
def test_smoothed_target_gives_gold_1_minus_eps_others_eps_over_vocab_minus_2_pad_0(
    vocab: int, eps: float, n_pos: int, pad_id: int, seed: int
) -> None:
    """The target is 1 - eps_ls on gold, eps_ls / (vocab - 2) on each other non-padding token, 0 on padding."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n_pos, vocab, generator=g) * 3
    gold = torch.randint(0, vocab - 1, (n_pos,), generator=g)
    gold = gold + (gold >= pad_id).long()  # any token but padding
    q = implied_target(lambda z: label_smoothed_loss(z, gold, eps, pad_id, reduction="sum"), logits)
    expected = smoothed_target(gold, vocab, eps, pad_id)
    # float32 gradients carry an error proportional to p itself (1e-4 p at vocab 37000)
    p = torch.softmax(logits, -1).double()
    assert torch.all((q - expected).abs() <= 1e-4 * p + eps / (vocab - 2) / 100)
    assert torch.allclose(q.sum(-1), torch.ones(n_pos, dtype=torch.float64), atol=1e-3)  # a distribution
    torch.testing.assert_close(q[torch.arange(n_pos), gold], torch.full((n_pos,), 1 - eps, dtype=torch.float64), rtol=0, atol=1e-4)
    assert torch.all(q[:, pad_id].abs() <= 1e-4 * p[:, pad_id] + 1e-9)  # padding gets nothing


def test_confident_correct_prediction_has_loss_and_minimiser_is_q_not_one_hot() -> None:
    """A confident correct prediction still costs loss; the loss is lowest at p = q, not at one-hot."""
    vocab, eps, pad_id = 11, 0.1, 0
    gold = torch.tensor([3, 7])
    one_hot_ish = torch.full((2, vocab), -10.0).scatter(-1, gold[:, None], 10.0)  # p(gold) ~ 1 - 2e-8 * vocab
    confident = label_smoothed_loss(one_hot_ish, gold, eps, pad_id)
    plain = F.cross_entropy(one_hot_ish, gold)
    assert plain < 1e-6 < 1.0 < confident  # unsmoothed, near zero; smoothed, well above it
    q = smoothed_target(gold, vocab, eps, pad_id)
    at_q = torch.log(q.clamp(min=1e-30)).float()  # p = q (padding gets a negligible share)
    entropy = -(q[q > 0] * q[q > 0].log()).sum() / 2  # cross-entropy's minimum is H(q)
    assert float(label_smoothed_loss(at_q, gold, eps, pad_id)) == pytest.approx(float(entropy), rel=1e-5)
    assert label_smoothed_loss(at_q, gold, eps, pad_id) < confident
    # and p = q is a stationary point: the gradient there vanishes
    at_q.requires_grad_(True)
    label_smoothed_loss(at_q, gold, eps, pad_id).backward()
    assert at_q.grad.abs().max() < 1e-6


@given(
    vocab=st.sampled_from([3, 5, 13, 37]),
    shape=st.sampled_from([(7,), (2, 5), (3, 11)]),
    pad_id=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_eps_0_is_plain_cross_entropy_ignoring_padding(vocab: int, shape: tuple[int, ...], pad_id: int, seed: int) -> None:
    """With eps_ls = 0 the loss equals F.cross_entropy(logits, gold, ignore_index=pad)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, vocab, generator=g)
    gold = torch.randint(0, vocab, shape, generator=g)
    gold.view(-1)[0] = (pad_id + 1) % vocab  # at least one real position
    ours = label_smoothed_loss(logits, gold, 0.0, pad_id)
    theirs = F.cross_entropy(logits.reshape(-1, vocab), gold.reshape(-1), ignore_index=pad_id)
    torch.testing.assert_close(ours, theirs)


@given(n_pad=st.integers(1, 5), eps=st.sampled_from([0.0, 0.1]), seed=st.integers(0, 2**16))
def test_padding_positions_contribute_nothing(n_pad: int, eps: float, seed: int) -> None:
    """Appending positions whose gold token is padding leaves the mean loss unchanged and gets them no gradient."""
    vocab, pad_id = 13, 0
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 5, vocab, generator=g)
    gold = torch.randint(1, vocab, (3, 5), generator=g)
    extra_logits = torch.randn(3, n_pad, vocab, generator=g) * 10
    padded_logits = torch.cat([logits, extra_logits], 1).requires_grad_(True)
    padded_gold = torch.cat([gold, torch.full((3, n_pad), pad_id)], 1)
    loss = label_smoothed_loss(padded_logits, padded_gold, eps, pad_id)
    torch.testing.assert_close(loss, label_smoothed_loss(logits, gold, eps, pad_id))
    loss.backward()
    assert torch.all(padded_logits.grad[:, 5:] == 0)
    # the sum form agrees: mean = sum / number of real tokens
    torch.testing.assert_close(label_smoothed_loss(padded_logits, padded_gold, eps, pad_id, reduction="sum") / 15, loss)


def test_torch_label_smoothing_is_a_different_target() -> None:
    """torch's label_smoothing= gives gold 1 - eps + eps/vocab and padding eps/vocab: not our target."""
    vocab, eps, pad_id = 13, 0.1, 0
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, vocab, generator=g, dtype=torch.float64)
    gold = torch.randint(1, vocab, (5,), generator=g)
    q_torch = implied_target(lambda z: F.cross_entropy(z, gold, label_smoothing=eps, reduction="sum"), logits)
    q_ours = implied_target(lambda z: label_smoothed_loss(z, gold, eps, pad_id, reduction="sum"), logits)
    rows = torch.arange(5)
    torch.testing.assert_close(q_torch[rows, gold], torch.full((5,), 1 - eps + eps / vocab, dtype=torch.float64))
    torch.testing.assert_close(q_torch[:, pad_id], torch.full((5,), eps / vocab, dtype=torch.float64))
    torch.testing.assert_close(q_ours, smoothed_target(gold, vocab, eps, pad_id), rtol=0, atol=2e-6)
    assert (q_torch - q_ours).abs().max() > eps / vocab / 2  # the two targets differ
    with pytest.raises(AssertionError):
        torch.testing.assert_close(
            label_smoothed_loss(logits, gold, eps, pad_id), F.cross_entropy(logits, gold, label_smoothing=eps).float()
        )
