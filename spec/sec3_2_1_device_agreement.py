"""§3.2.1, §3.2.3 and §5.4 on the device that trains: what a kernel or bfloat16 can break

Claims, in our words: the properties below hold on the device and in the compute dtype
a run trains with, not only on the CPU in float64, where the other spec files check
them. Each claim takes a `SpecTarget` (aiayn.checks.pytest_setup): always the CPU in
float32, and, when the spec gate vouches for a CUDA run, that device under bfloat16
autocast, as the trainer runs. So a fused kernel that returns NaN for a query with no
key, or a bfloat16 path that is worse than bfloat16 rounding, stops the run before it
starts.

- Eq. 1: torch's fused kernel and the formula written out give the same output, and
  both agree with Eq. 1 computed in float64 from the same (rounded) inputs.
- Masks: a masked key has no influence at all on the output (exactly), and a query
  with no key to attend to gets a zero output, not NaN.
- Decoding with the key/value cache gives the full forward pass's logits.
- The label-smoothed loss of low-precision logits is computed in float32: it matches
  the float64 formula on the same logits.

Stated tolerances (max |ours - reference| / max(1, max |reference|)): in float32, 1e-5
for attention and the loss, 1e-4 for the logits of a 2-layer model; in bfloat16, whose
rounding step is 2**-8 = 0.0039 relative, 0.02 for attention (sums of rounded products)
and 0.05 for the logits, and 1e-5 still for the loss (the loss itself runs in float32).
Each claim also shows a broken variant failing by far more than its tolerance (a wrong
scale, an inverted mask, decoding without the cache, a log-softmax in bfloat16).
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int
from torch import Tensor

from aiayn.checks.pytest_setup import SpecTarget, spec_targets
from aiayn.model.attention import fused_attention, scaled_dot_product_attention
from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.training.loss import label_smoothed_loss

CODE = "aiayn/model/attention.py, aiayn/model/multi_head.py, aiayn/model/transformer.py, aiayn/training/loss.py"

TARGETS = pytest.mark.parametrize("target", spec_targets(), ids=str)
ATTENTION_TOL = {"float32": 1e-5, "bfloat16": 0.02}
LOGITS_TOL = {"float32": 1e-4, "bfloat16": 0.05}
LOSS_TOL = 1e-5
PRIMES = st.sampled_from([2, 3, 5, 7, 11, 13])
VOCAB = 53


def relative_error(ours: Tensor, reference: Tensor) -> float:
    """max |ours - reference| / max(1, max |reference|), in float64 on the CPU."""
    ours, reference = ours.detach().double().cpu(), reference.detach().double().cpu()
    return float((ours - reference).abs().max() / max(1.0, float(reference.abs().max())))


def eq1_float64(
    q: Float[Tensor, "*batch n_q d_k"], k: Float[Tensor, "*batch n_kv d_k"], v: Float[Tensor, "*batch n_kv d_v"],
    attend: Bool[Tensor, "*#batch #n_q n_kv"],
) -> Float[Tensor, "*batch n_q d_v"]:  # fmt: skip
    """softmax(Q K^T / sqrt(d_k)) V retyped in float64 on the CPU; a row with no key gives zeros."""
    q, k, v, attend = q.double().cpu(), k.double().cpu(), v.double().cpu(), attend.cpu()
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~attend, float("-inf"))
    e = torch.exp(scores - scores.amax(-1, keepdim=True).clamp(min=-1e300)).masked_fill(~attend, 0.0)
    return (e / e.sum(-1, keepdim=True).clamp(min=1e-300)) @ v


def qkv_and_mask(
    target: SpecTarget, seed: int, n_q: int, n_kv: int, d_k: int
) -> tuple[Float[Tensor, "2 3 n_q d_k"], Float[Tensor, "2 3 n_kv d_k"], Float[Tensor, "2 3 n_kv d_k"],
           Bool[Tensor, "2 1 n_q n_kv"]]:  # fmt: skip
    """Random q, k, v in the target dtype on its device (batch 2, 3 heads), and a random mask
    in which the last query of the second sequence may attend to nothing."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, n, d_k, generator=g) for n in (n_q, n_kv, n_kv))
    attend = torch.rand(2, 1, n_q, n_kv, generator=g) < 0.6
    attend[..., 0] = True
    if n_kv > 1:
        attend[..., -1] = False  # a key that no query may attend to
    attend[1, 0, -1] = False  # a fully masked row
    device, dtype = target.torch_device, target.torch_dtype
    return q.to(device, dtype), k.to(device, dtype), v.to(device, dtype), attend.to(device)


@TARGETS
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), n_q=PRIMES, n_kv=PRIMES, d_k=st.sampled_from([8, 64]))
def test_fused_kernel_and_written_out_eq1_agree_with_float64_on_the_device(
    target: SpecTarget, seed: int, n_q: int, n_kv: int, d_k: int
) -> None:
    """On the gated device and dtype, the fused kernel and the written-out Eq. 1 both match Eq. 1 in float64."""
    q, k, v, attend = qkv_and_mask(target, seed, n_q, n_kv, d_k)
    reference = eq1_float64(q, k, v, attend)  # from the same rounded inputs: only the arithmetic differs
    tol = ATTENTION_TOL[target.dtype]
    fused, written = fused_attention(q, k, v, attend), scaled_dot_product_attention(q, k, v, attend)
    assert fused.dtype == written.dtype == target.torch_dtype and fused.device == q.device
    assert relative_error(fused, reference) <= tol
    assert relative_error(written, reference) <= tol
    # the broken variant: a scale of 1/d_k instead of 1/sqrt(d_k) misses by far more than the tolerance
    everything = torch.ones_like(attend)
    wrong = torch.softmax(q @ k.transpose(-2, -1) / d_k, -1) @ v
    assert relative_error(wrong, eq1_float64(q, k, v, everything)) > 5 * tol


@TARGETS
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), n_q=PRIMES, n_kv=PRIMES)
def test_masked_keys_have_no_influence_and_a_query_with_no_key_gets_zeros_on_the_device(
    target: SpecTarget, seed: int, n_q: int, n_kv: int
) -> None:
    """On the gated device, changing masked values changes no output bit, and a fully masked query gets 0, not NaN."""
    q, k, v, attend = qkv_and_mask(target, seed, n_q, n_kv, 8)
    noise = torch.randn(v.shape, generator=torch.Generator().manual_seed(seed + 1)).to(v.device, v.dtype) * 100
    blocked = ~attend.any(dim=2)[..., None]  # keys no query may attend to: (2, 1, n_kv, 1)
    for attention in (fused_attention, scaled_dot_product_attention):
        out = attention(q, k, v, attend)
        assert not bool(out.isnan().any()), f"{attention.__name__} gives NaN"
        assert bool((out[1, :, -1] == 0).all()), f"{attention.__name__}: the fully masked query is not zero"
        changed = attention(q, k, torch.where(blocked, v + noise, v), attend)
        assert torch.equal(changed, out), f"{attention.__name__}: a masked key changed the output"
    # the broken variant: the mask inverted lets the blocked keys in
    if bool(blocked.any()):
        inverted = scaled_dot_product_attention(q, k, torch.where(blocked, v + noise, v), ~attend)
        assert not torch.equal(inverted, scaled_dot_product_attention(q, k, v, ~attend))


def small_model(target: SpecTarget, seed: int) -> Transformer:
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2)
    return Transformer(cfg).eval().to(target.torch_device)  # float32 weights, as training keeps them


@TARGETS
@settings(max_examples=4)
@given(seed=st.integers(0, 2**16), n_src=PRIMES, n_tgt=st.integers(2, 9))
def test_cached_decoding_matches_the_full_forward_on_the_device(
    target: SpecTarget, seed: int, n_src: int, n_tgt: int
) -> None:
    """On the gated device and dtype, decoding one token at a time with the cache gives the full forward's logits."""
    model = small_model(target, seed)
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, VOCAB, (3, n_src), generator=g).to(target.torch_device)
    tgt = torch.randint(1, VOCAB, (3, n_tgt), generator=g).to(target.torch_device)
    src[0, n_src // 2 + 1 :] = 0  # a padded source row
    with torch.no_grad(), target.autocast():
        full = model(src, tgt)
        memory, src_attend = model.encode(src)
        cache = model.new_cache()
        cached = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_attend, cache) for t in range(n_tgt)], 1)
        forgetful = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_attend) for t in range(n_tgt)], 1)
    tol = LOGITS_TOL[target.dtype]
    assert relative_error(cached, full) <= tol
    assert relative_error(forgetful[:, 1:], full[:, 1:]) > 2 * tol  # the broken variant: no cache, no past


def smoothed_loss_float64(
    logits: Float[Tensor, "n vocab"], gold: Int[Tensor, " n"], eps: float, pad: int
) -> Float[Tensor, " n"]:
    """Per position, -sum_y q(y) log p(y) with q(gold) = 1 - eps, q(pad) = 0, the rest eps / (V - 2); 0 at padding."""
    logp = torch.log_softmax(logits.double().cpu(), -1)
    q = torch.full_like(logp, eps / (logits.shape[-1] - 2))
    q[:, pad] = 0.0
    q.scatter_(1, gold.cpu()[:, None], 1.0 - eps)
    return -(q * logp).sum(-1) * (gold.cpu() != pad)


@TARGETS
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), n=PRIMES, vocab=st.sampled_from([11, 53, 1009]))
def test_label_smoothed_loss_of_device_logits_matches_float64(target: SpecTarget, seed: int, n: int, vocab: int) -> None:
    """On the gated device, the §5.4 loss of logits in the training dtype equals the float64 formula on those logits."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, vocab, generator=g) * 4).to(target.torch_device, target.torch_dtype)
    gold = torch.randint(1, vocab, (n,), generator=g)
    gold[0] = 0  # one padding position
    gold = gold.to(target.torch_device)
    ours = label_smoothed_loss(logits, gold, 0.1, 0, reduction="sum")
    reference = smoothed_loss_float64(logits, gold, 0.1, 0).sum()
    assert float(abs(ours.double().cpu() - reference)) <= LOSS_TOL * max(1.0, float(reference.abs()))
    # the broken variant: the log-softmax taken in bfloat16, on the same logits rounded to bfloat16
    rounded = logits.to(torch.bfloat16)
    logp = torch.log_softmax(rounded, -1)
    gold_logp = logp.gather(1, gold[:, None])[:, 0]
    naive = -(0.9 * gold_logp + 0.1 / (vocab - 2) * (logp.sum(-1) - gold_logp - logp[:, 0])) * (gold != 0)
    assert relative_error(naive, smoothed_loss_float64(rounded, gold, 0.1, 0)) > 5 * LOSS_TOL
