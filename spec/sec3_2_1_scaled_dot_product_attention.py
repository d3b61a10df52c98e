"""§3.2.1 Scaled dot-product attention (Eq. 1)

Claims, in our words:
- Eq. 1: Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V. Each query scores every
  key by a dot product, the scores are divided by sqrt(d_k), a softmax over the keys
  turns each query's scores into weights, and the output is the weighted average of
  the value rows.
- The written-out form (`scaled_dot_product_attention`, `attention_weights`) and
  torch's fused kernel (`fused_attention`) are the same function, masks included.
- Each row of weights is a probability distribution over the keys, so each output
  row is a convex combination of the value rows.
- Footnote 4: if the entries of q and k are independent with mean 0 and variance 1,
  q . k has mean 0 and variance d_k. Unscaled, the scores spread out as d_k grows and
  the softmax saturates (one weight near 1, tiny gradients); dividing by sqrt(d_k)
  brings the variance back to 1 whatever d_k is.
- Permuting the key/value pairs together changes nothing: attention looks at keys as
  a set, not a sequence.

Choices the paper leaves open: masks are boolean with True = "may attend" (the
convention of F.scaled_dot_product_attention); a query with no key to attend to gets
a row of zero weights rather than NaN.
"""

import math

import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st
from jaxtyping import Bool, Float
from torch import Tensor

from aiayn import attention_weights, fused_attention, padding_mask, scaled_dot_product_attention, subsequent_mask

CODE = "aiayn/model/attention.py"

PRIMES = st.sampled_from([2, 3, 5, 7, 11, 13])


def retyped_eq1_weights(
    q: Float[Tensor, "*batch n_q d_k"], k: Float[Tensor, "*batch n_kv d_k"]
) -> Float[Tensor, "*batch n_q n_kv"]:
    """softmax(Q K^T / sqrt(d_k)) written from scratch in float64 (no torch.softmax)."""
    q, k = q.double(), k.double()
    d_k = q.shape[-1]
    scores = torch.einsum("...id,...jd->...ij", q, k) / math.sqrt(d_k)
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def retyped_eq1(
    q: Float[Tensor, "*batch n_q d_k"], k: Float[Tensor, "*batch n_kv d_k"], v: Float[Tensor, "*batch n_kv d_v"]
) -> Float[Tensor, "*batch n_q d_v"]:
    """Eq. 1 in float64: sum_j w_ij v_j."""
    return torch.einsum("...ij,...jd->...id", retyped_eq1_weights(q, k), v.double())


def unscaled_attention_weights(
    q: Float[Tensor, "*batch n_q d_k"], k: Float[Tensor, "*batch n_kv d_k"]
) -> Float[Tensor, "*batch n_q n_kv"]:
    """The broken variant: softmax(Q K^T) without the 1/sqrt(d_k) of Eq. 1."""
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1)


def random_qkv(
    seed: int, batch: int, n_q: int, n_kv: int, d_k: int, d_v: int, dtype: torch.dtype = torch.float64
) -> tuple[Float[Tensor, "batch n_q d_k"], Float[Tensor, "batch n_kv d_k"], Float[Tensor, "batch n_kv d_v"]]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, n_q, d_k, generator=g, dtype=dtype)
    k = torch.randn(batch, n_kv, d_k, generator=g, dtype=dtype)
    v = torch.randn(batch, n_kv, d_v, generator=g, dtype=dtype)
    return q, k, v


def random_attend(seed: int, batch: int, n_q: int, n_kv: int) -> Bool[Tensor, "batch 1 n_q n_kv"]:
    """A random mask in which every query may attend to at least one key."""
    g = torch.Generator().manual_seed(seed + 1)
    attend = torch.rand(batch, 1, n_q, n_kv, generator=g) < 0.5
    first = torch.randint(0, n_kv, (batch, 1, n_q, 1), generator=g)
    return attend.scatter(-1, first, True)


@given(seed=st.integers(0, 2**16), batch=PRIMES, n_q=PRIMES, n_kv=PRIMES, d_k=PRIMES, d_v=PRIMES)
@example(seed=0, batch=2, n_q=5, n_kv=7, d_k=64, d_v=64)  # the paper's d_k = d_v = 64
def test_eq1_matches_formula_retyped_in_float64(seed: int, batch: int, n_q: int, n_kv: int, d_k: int, d_v: int) -> None:
    """Attention(Q, K, V) equals softmax(Q K^T / sqrt(d_k)) V retyped in float64."""
    q, k, v = random_qkv(seed, batch, n_q, n_kv, d_k, d_v)
    out = scaled_dot_product_attention(q, k, v)
    assert out.shape == (batch, n_q, d_v)
    torch.testing.assert_close(out, retyped_eq1(q, k, v), rtol=0, atol=1e-12)
    torch.testing.assert_close(attention_weights(q, k), retyped_eq1_weights(q, k), rtol=0, atol=1e-12)
    # float32 inputs give float32 outputs that agree with the float64 formula
    out32 = scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), retyped_eq1(q, k, v), rtol=0, atol=1e-5)
    # the scale matters: sqrt(d_k) in the wrong place is caught whenever d_k > 1
    wrong = torch.softmax(q @ k.transpose(-2, -1) / d_k, dim=-1) @ v
    assert not torch.allclose(out, wrong, atol=1e-6)


@given(seed=st.integers(0, 2**16), batch=PRIMES, n_q=PRIMES, n_kv=PRIMES, d_k=PRIMES, d_v=PRIMES)
def test_written_out_form_equals_torch_fused_kernel(
    seed: int, batch: int, n_q: int, n_kv: int, d_k: int, d_v: int
) -> None:
    """The written-out Eq. 1 equals torch's fused kernel, with and without masks."""
    q, k, v = random_qkv(seed, batch, n_q, n_kv, d_k, d_v)
    tokens = torch.randint(1, 5, (batch, n_kv), generator=torch.Generator().manual_seed(seed))
    tokens[0, n_kv // 2 + 1 :] = 0  # padding at the end of the first sequence
    masks: dict[str, Bool[Tensor, "#batch 1 #n_q n_kv"] | None] = {
        "none": None,
        "padding": padding_mask(tokens, pad_id=0),
        "subsequent": subsequent_mask(n_q, n_kv),
        "random": random_attend(seed, batch, n_q, n_kv),
    }
    q4, k4, v4 = q[:, None], k[:, None], v[:, None]  # a head axis, as the model uses
    for name, attend in masks.items():
        ours = scaled_dot_product_attention(q4, k4, v4, attend)
        torch.testing.assert_close(ours, fused_attention(q4, k4, v4, attend), rtol=0, atol=1e-12, msg=name)
        torch.testing.assert_close(
            ours, F.scaled_dot_product_attention(q4, k4, v4, attn_mask=attend), rtol=0, atol=1e-12, msg=name
        )
    # the mask is not ignored: a mask that blocks something changes the result
    random = masks["random"]
    assert random is not None
    if not bool(random.all()):
        masked, unmasked = fused_attention(q4, k4, v4, random), fused_attention(q4, k4, v4)
        assert not torch.allclose(masked, unmasked)


@given(seed=st.integers(0, 2**16), batch=PRIMES, n_q=PRIMES, n_kv=PRIMES, d_k=PRIMES, masked=st.booleans())
def test_weight_rows_are_probability_distributions(
    seed: int, batch: int, n_q: int, n_kv: int, d_k: int, masked: bool
) -> None:
    """Each row of attention weights is non-negative and sums to 1."""
    q, k, _ = random_qkv(seed, batch, n_q, n_kv, d_k, 1)
    attend = random_attend(seed, batch, n_q, n_kv)[:, 0] if masked else None
    w = attention_weights(q * 3, k * 3, attend)  # larger scores: rows far from uniform
    assert w.shape == (batch, n_q, n_kv)
    assert bool((w >= 0).all())
    torch.testing.assert_close(w.sum(-1), torch.ones(batch, n_q, dtype=w.dtype), rtol=0, atol=1e-12)


@given(seed=st.integers(0, 2**16), batch=PRIMES, n_q=PRIMES, n_kv=PRIMES, d_k=PRIMES, d_v=PRIMES)
def test_each_output_row_is_a_convex_combination_of_value_rows(
    seed: int, batch: int, n_q: int, n_kv: int, d_k: int, d_v: int
) -> None:
    """Each output row lies in the convex hull of the value rows."""
    q, k, v = random_qkv(seed, batch, n_q, n_kv, d_k, d_v)
    out = scaled_dot_product_attention(q * 2, k * 2, v)
    # per coordinate, between the smallest and the largest value row
    lo, hi = v.amin(dim=1, keepdim=True), v.amax(dim=1, keepdim=True)
    assert bool((out >= lo - 1e-12).all()) and bool((out <= hi + 1e-12).all())
    # exactly a convex combination, with weights computed independently of the code
    w = retyped_eq1_weights(q * 2, k * 2)
    assert bool((w >= 0).all())
    torch.testing.assert_close(w.sum(-1), torch.ones(batch, n_q, dtype=w.dtype), rtol=0, atol=1e-12)
    torch.testing.assert_close(out, w @ v, rtol=0, atol=1e-12)


def test_dot_product_variance_grows_as_d_k_and_scaling_restores_unit_variance() -> None:
    """Footnote 4: for unit-variance q and k, Var(q . k) = d_k; Var(q . k / sqrt(d_k)) = 1."""
    g = torch.Generator().manual_seed(1706)
    n_samples = 20000
    variances = {}
    for d_k in (4, 16, 64, 256):
        q = torch.randn(n_samples, d_k, generator=g, dtype=torch.float64)
        k = torch.randn(n_samples, d_k, generator=g, dtype=torch.float64)
        dots = (q * k).sum(-1)
        variances[d_k] = dots.var().item()
        assert abs(dots.mean().item()) < 5 * math.sqrt(d_k / n_samples)  # mean 0
        assert abs(variances[d_k] / d_k - 1) < 0.1, (d_k, variances[d_k])
        scaled = dots / math.sqrt(d_k)
        assert abs(scaled.var().item() - 1) < 0.1, (d_k, scaled.var().item())
    # the unscaled variance grows linearly: 64 times wider at d_k = 256 than at d_k = 4
    assert 50 < variances[256] / variances[4] < 80


def test_unscaled_softmax_saturates_as_d_k_grows() -> None:
    """Without 1/sqrt(d_k) the softmax saturates as d_k grows; with it, it does not."""
    g = torch.Generator().manual_seed(4)
    n_q, n_kv = 500, 13
    max_weight: dict[str, list[float]] = {"scaled": [], "unscaled": []}
    entropy: dict[str, list[float]] = {"scaled": [], "unscaled": []}
    grad_size: dict[str, list[float]] = {"scaled": [], "unscaled": []}
    for d_k in (4, 16, 64, 256):
        q = torch.randn(n_q, d_k, generator=g, dtype=torch.float64)
        k = torch.randn(n_kv, d_k, generator=g, dtype=torch.float64)
        for name, w in (("scaled", attention_weights(q, k)), ("unscaled", unscaled_attention_weights(q, k))):
            max_weight[name].append(w.amax(-1).mean().item())
            entropy[name].append(-(w * w.clamp_min(1e-300).log()).sum(-1).mean().item())
            # trace of the softmax Jacobian diag(w) - w w^T: 0 when a row is one-hot
            grad_size[name].append((w * (1 - w)).sum(-1).mean().item())
    uniform_entropy = math.log(n_kv)
    # unscaled: the largest weight climbs towards 1, the entropy and the gradient collapse
    assert max_weight["unscaled"] == sorted(max_weight["unscaled"])
    assert max_weight["unscaled"][-1] > 0.9
    assert entropy["unscaled"][-1] < 0.1 * uniform_entropy
    assert grad_size["unscaled"][-1] < 0.2 * grad_size["unscaled"][0]
    # scaled: the same statistics stay put whatever d_k is
    assert max(max_weight["scaled"]) - min(max_weight["scaled"]) < 0.1
    assert max(max_weight["scaled"]) < 0.6
    assert min(entropy["scaled"]) > 0.5 * uniform_entropy
    assert max(entropy["scaled"]) - min(entropy["scaled"]) < 0.2


@given(seed=st.integers(0, 2**16), n_q=PRIMES, n_kv=PRIMES, d_k=PRIMES, d_v=PRIMES)
def test_permuting_key_value_pairs_together_changes_nothing(seed: int, n_q: int, n_kv: int, d_k: int, d_v: int) -> None:
    """Attention treats the key/value pairs as a set: reordering them jointly changes no output."""
    q, k, v = random_qkv(seed, 2, n_q, n_kv, d_k, d_v)
    perm = torch.randperm(n_kv, generator=torch.Generator().manual_seed(seed))
    out = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(scaled_dot_product_attention(q, k[:, perm], v[:, perm]), out, rtol=0, atol=1e-12)
    if n_kv > 1 and not torch.equal(perm, torch.arange(n_kv)):
        # permuting the values alone breaks the pairing and changes the output
        assert not torch.allclose(scaled_dot_product_attention(q, k, v[:, perm]), scaled_dot_product_attention(q, k, v))


def test_true_means_may_attend() -> None:
    """Mask polarity: True lets a key in; the first query under a causal mask returns v_0 itself."""
    q, k, v = random_qkv(0, 2, 5, 5, 7, 3)
    out = scaled_dot_product_attention(q, k, v, subsequent_mask(5)[:, 0])
    torch.testing.assert_close(out[:, 0], v[:, 0], rtol=0, atol=1e-15)
    inverted = scaled_dot_product_attention(q, k, v, ~subsequent_mask(5)[:, 0])
    assert not torch.allclose(inverted[:, 0], v[:, 0])


def test_query_with_no_key_to_attend_gets_zero_weights_not_nan() -> None:
    """Our choice: a query whose every key is masked gets zero weights and a zero output, as torch's kernel does."""
    q, k, v = random_qkv(5, 2, 3, 7, 5, 2)
    attend = torch.ones(2, 3, 7, dtype=torch.bool)
    attend[1, 2] = False  # the third query of the second sequence may attend to nothing
    w = attention_weights(q, k, attend)
    assert bool((w[1, 2] == 0.0).all()) and not bool(w.isnan().any())
    torch.testing.assert_close(w[0].sum(-1), torch.ones(3, dtype=w.dtype), rtol=0, atol=1e-12)
    out = scaled_dot_product_attention(q, k, v, attend)
    assert bool((out[1, 2] == 0.0).all())
    torch.testing.assert_close(fused_attention(q, k, v, attend), out, rtol=0, atol=1e-12)
    # the naive formula gives NaN there: softmax of a row of -inf
    naive = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(~attend, float("-inf")), dim=-1)
    assert bool(naive[1, 2].isnan().all())
