"""§3.2.2 Multi-head attention

Claims, in our words:
- MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O, where
  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V) and Attention is Eq. 1.
  W_i^Q, W_i^K are d_model x d_k, W_i^V is d_model x d_v, W^O is (h d_v) x d_model.
- With one head this is Eq. 1 applied to the projected queries, keys and values,
  followed by W^O.
- The paper sets d_k = d_v = d_model / h (64 for the base model with h = 8, and for
  the big model with d_model = 1024, h = 16), so h heads cost about as much as one
  head of full width: the count of floating-point operations does not depend on h.
- The four projections hold 4 d_model^2 + 4 d_model parameters (weights and biases)
  whatever h is.
- The heads attend independently: changing head i's query projection changes only
  head i's attention map.
- Without positions, self-attention is permutation-equivariant: reordering the input
  positions reorders the output positions in the same way and changes nothing else.
  (That positional encodings break this is shown in the §3.5 spec.)

Choices the paper leaves open: the h per-head matrices are stored side by side in one
nn.Linear each (`w_q`, `w_k`, `w_v`), head i owning output rows i d_k .. (i+1) d_k - 1
of the weight; every projection has a bias (the paper's parameter counts include them).
The oracle `torch.nn.MultiheadAttention` is in spec/sec3_reference_crosscheck.py.
"""

import math

import torch
from hypothesis import example, given
from hypothesis import strategies as st
from jaxtyping import Bool, Float
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from aiayn import MultiHeadAttention, Transformer, TransformerConfig, padding_mask, scaled_dot_product_attention
from aiayn import subsequent_mask
from aiayn.inspect.attention_maps import capture_attention
from aiayn.model.multi_head import FUSE_MIN_ROWS

CODE = "aiayn/model/multi_head.py"

PRIMES = st.sampled_from([2, 3, 5, 7, 11, 13])


def make_mha(d_model: int, h: int, seed: int, d_k: int | None = None, d_v: int | None = None) -> MultiHeadAttention:
    torch.manual_seed(seed)
    return MultiHeadAttention(d_model, h, d_k, d_v).double().eval()


def looped_heads(
    mha: MultiHeadAttention,
    x_q: Float[Tensor, "batch n_q d_model"],
    x_kv: Float[Tensor, "batch n_kv d_model"],
    attend: Bool[Tensor, "#batch 1 #n_q n_kv"] | None = None,
) -> tuple[Float[Tensor, "batch n_q d_model"], Float[Tensor, "batch h n_q n_kv"]]:
    """Concat(head_1..head_h) W^O with an explicit loop over heads and sliced weights, float64."""
    d_k, d_v = mha.d_k, mha.d_v
    heads, maps = [], []
    for i in range(mha.h):
        qs, vs = slice(i * d_k, (i + 1) * d_k), slice(i * d_v, (i + 1) * d_v)
        w_q_i, b_q_i = mha.w_q.weight[qs].T.double(), mha.w_q.bias[qs].double()  # W_i^Q: d_model x d_k
        w_k_i, b_k_i = mha.w_k.weight[qs].T.double(), mha.w_k.bias[qs].double()  # W_i^K: d_model x d_k
        w_v_i, b_v_i = mha.w_v.weight[vs].T.double(), mha.w_v.bias[vs].double()  # W_i^V: d_model x d_v
        q_i, k_i, v_i = x_q @ w_q_i + b_q_i, x_kv @ w_k_i + b_k_i, x_kv @ w_v_i + b_v_i
        scores = q_i @ k_i.transpose(-2, -1) / math.sqrt(d_k)
        if attend is not None:
            scores = scores.masked_fill(~attend[:, 0], float("-inf"))
        e = torch.exp(scores - scores.amax(-1, keepdim=True))
        weights = e / e.sum(-1, keepdim=True)
        maps.append(weights)
        heads.append(weights @ v_i)  # head_i
    concat = torch.cat(heads, dim=-1)  # Concat(head_1, ..., head_h): batch n_q (h d_v)
    out = concat @ mha.w_o.weight.T.double() + mha.w_o.bias.double()  # ... W^O
    return out, torch.stack(maps, dim=1)


@given(
    seed=st.integers(0, 2**16),
    h=st.sampled_from([1, 2, 3, 5]),
    d_head=st.sampled_from([2, 3, 7]),
    n_q=PRIMES,
    n_kv=PRIMES,
    masked=st.booleans(),
)
@example(seed=0, h=8, d_head=64, n_q=5, n_kv=7, masked=True)  # the base model: h = 8, d_k = d_v = 64
def test_concatenated_heads_times_w_o_equal_loop_over_heads(
    seed: int, h: int, d_head: int, n_q: int, n_kv: int, masked: bool
) -> None:
    """MultiHead = Concat(head_1..head_h) W^O, matching a float64 loop over per-head weights."""
    d_model = h * d_head
    mha = make_mha(d_model, h, seed)
    g = torch.Generator().manual_seed(seed)
    x_q = torch.randn(2, n_q, d_model, generator=g, dtype=torch.float64)
    x_kv = torch.randn(2, n_kv, d_model, generator=g, dtype=torch.float64)
    tokens = torch.ones(2, n_kv, dtype=torch.long)
    tokens[1, max(1, n_kv - 2) :] = 0  # the second sequence ends in padding
    attend = padding_mask(tokens, pad_id=0) if masked else None
    expected, expected_maps = looped_heads(mha, x_q, x_kv, attend)
    torch.testing.assert_close(mha(x_q, x_kv, attend), expected, rtol=0, atol=1e-12)  # fused kernel
    with capture_attention(mha) as recorder:  # the written-out path, which hands over the maps
        torch.testing.assert_close(mha(x_q, x_kv, attend), expected, rtol=0, atol=1e-12)
    (maps,) = recorder.of(mha)
    torch.testing.assert_close(maps, expected_maps, rtol=0, atol=1e-12)


@given(seed=st.integers(0, 2**16), rows=st.sampled_from([FUSE_MIN_ROWS - 1, FUSE_MIN_ROWS, 3 * FUSE_MIN_ROWS]),
       d_k=st.sampled_from([None, 3]), masked=st.booleans())  # fmt: skip
def test_self_attention_over_many_rows_projects_q_k_v_by_one_product_with_the_same_result(
    seed: int, rows: int, d_k: int | None, masked: bool
) -> None:
    """Self-attention of batch x n >= FUSE_MIN_ROWS rows (one product for Q, K and V) equals the per-head loop."""
    h, d_model = 3, 12
    mha = make_mha(d_model, h, seed, d_k=d_k, d_v=None if d_k is None else 5)
    g = torch.Generator().manual_seed(seed)
    batch = 1 if rows % 2 else 2  # batch x n = rows
    x = torch.randn(batch, rows // batch, d_model, generator=g, dtype=torch.float64)
    tokens = torch.ones(x.shape[:2], dtype=torch.long)
    tokens[-1, -2:] = 0
    attend = padding_mask(tokens, pad_id=0) if masked else None
    expected, _ = looped_heads(mha, x, x, attend)
    with LinearCalls() as fused:
        torch.testing.assert_close(mha(x, x, attend), expected, rtol=0, atol=1e-12)
    # a key/value tensor equal to the queries but not the same object takes the three-product path
    with LinearCalls() as separate:
        torch.testing.assert_close(mha(x, x.clone(), attend), expected, rtol=0, atol=1e-12)
    width = 2 * mha.h * mha.d_k + mha.h * mha.d_v
    assert fused.out_features == ([width, d_model] if rows >= FUSE_MIN_ROWS else separate.out_features)
    assert separate.out_features == [mha.h * mha.d_k, mha.h * mha.d_k, mha.h * mha.d_v, d_model]


class LinearCalls(TorchFunctionMode):
    """Records the output width of every F.linear call made inside it."""

    def __enter__(self) -> "LinearCalls":
        self.out_features: list[int] = []
        return super().__enter__()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func is torch.nn.functional.linear:
            self.out_features.append(args[1].shape[0])
        return func(*args, **(kwargs or {}))


@given(seed=st.integers(0, 2**16), d_model=PRIMES, n_q=PRIMES, n_kv=PRIMES)
def test_single_head_is_eq1_on_the_projections(seed: int, d_model: int, n_q: int, n_kv: int) -> None:
    """With h = 1, multi-head attention is Eq. 1 on (Q W^Q, K W^K, V W^V), then W^O."""
    mha = make_mha(d_model, 1, seed)
    assert mha.d_k == mha.d_v == d_model
    g = torch.Generator().manual_seed(seed)
    x_q = torch.randn(3, n_q, d_model, generator=g, dtype=torch.float64)
    x_kv = torch.randn(3, n_kv, d_model, generator=g, dtype=torch.float64)
    single = mha.w_o(scaled_dot_product_attention(mha.w_q(x_q), mha.w_k(x_kv), mha.w_v(x_kv)))
    torch.testing.assert_close(mha(x_q, x_kv), single, rtol=0, atol=1e-12)


def test_d_k_and_d_v_are_d_model_over_h_for_base_and_big() -> None:
    """d_k = d_v = d_model / h: 64 for base (512 / 8) and for big (1024 / 16)."""
    for cfg in (TransformerConfig.base(), TransformerConfig.big()):
        assert cfg.d_k == cfg.d_v == cfg.d_model // cfg.h == 64
        with torch.device("meta"):
            model = Transformer(cfg)
        attention = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
        assert len(attention) == 3 * cfg.n_layers  # encoder self; decoder self and cross
        for mha in attention:
            assert (mha.h, mha.d_k, mha.d_v) == (cfg.h, cfg.d_k, cfg.d_v)
            assert mha.w_q.weight.shape == mha.w_k.weight.shape == (cfg.h * cfg.d_k, cfg.d_model)
            assert mha.w_v.weight.shape == (cfg.h * cfg.d_v, cfg.d_model)
            assert mha.w_o.weight.shape == (cfg.d_model, cfg.h * cfg.d_v)


@given(h=st.sampled_from([1, 2, 3, 5, 6]), d_head=PRIMES)
@example(h=8, d_head=64)  # base
@example(h=16, d_head=64)  # big
def test_projection_parameter_count_is_4_d_model_squared_plus_4_d_model(h: int, d_head: int) -> None:
    """W^Q, W^K, W^V, W^O and their biases hold 4 d_model^2 + 4 d_model parameters for any h."""
    d_model = h * d_head
    with torch.device("meta"):
        mha = MultiHeadAttention(d_model, h)
    assert sum(p.numel() for p in mha.parameters()) == 4 * d_model**2 + 4 * d_model


def count_flops(mha: MultiHeadAttention, n_q: int, n_kv: int) -> dict[str, int]:
    """FLOPs of one forward pass by operator (written-out path, so the attention matmuls count)."""
    x_q, x_kv = torch.randn(2, n_q, mha.d_model), torch.randn(2, n_kv, mha.d_model)
    # capturing the maps takes the written-out path: the flop counter does not see inside the fused CPU kernel
    with capture_attention(mha), FlopCounterMode(display=False) as counter:
        mha(x_q, x_kv)
    return {str(op).split(".")[-1]: n for op, n in counter.get_flop_counts()["Global"].items()}


def test_h_heads_cost_the_same_flops_as_one_full_width_head() -> None:
    """With d_k = d_v = d_model / h, h heads cost exactly the FLOPs of one head of width d_model."""
    d_model, n_q, n_kv, batch = 120, 7, 11, 2
    flops = {h: count_flops(MultiHeadAttention(d_model, h), n_q, n_kv) for h in (1, 3, 5, 8)}
    projections = 2 * batch * (2 * n_q + 2 * n_kv) * d_model**2  # x W^Q, W^O on n_q rows; W^K, W^V on n_kv
    attention = 2 * 2 * batch * n_q * n_kv * d_model  # Q K^T and weights V, summed over heads
    for h, by_op in flops.items():
        assert by_op == {"addmm": projections, "bmm": attention}, h  # the attention matmuls are counted
    # broken variant: every head of full width (d_k = d_v = d_model) multiplies the cost by h
    wide = count_flops(MultiHeadAttention(d_model, 8, d_k=d_model, d_v=d_model), n_q, n_kv)
    assert wide["bmm"] == 8 * attention
    assert sum(wide.values()) > 4 * sum(flops[1].values())


def test_heads_attend_independently() -> None:
    """Changing head i's query projection changes head i's attention map and no other."""
    d_model, h = 30, 5
    mha = make_mha(d_model, h, seed=3)
    g = torch.Generator().manual_seed(3)
    x_q = torch.randn(2, 7, d_model, generator=g, dtype=torch.float64)
    x_kv = torch.randn(2, 11, d_model, generator=g, dtype=torch.float64)
    with capture_attention(mha) as recorder:
        mha(x_q, x_kv)
        with torch.no_grad():
            mha.w_q.weight[2 * mha.d_k : 3 * mha.d_k] += 0.5  # W_2^Q only (heads counted from 0)
        mha(x_q, x_kv)
    before, after = recorder.of(mha)
    assert before.shape == (2, h, 7, 11)
    changed = [not torch.equal(before[:, i], after[:, i]) for i in range(h)]
    assert changed == [i == 2 for i in range(h)]


@given(seed=st.integers(0, 2**16), n=st.sampled_from([3, 5, 7, 11]), h=st.sampled_from([1, 2, 3, 5]))
def test_self_attention_without_positions_is_permutation_equivariant(seed: int, n: int, h: int) -> None:
    """Permuting the input positions of self-attention (no mask) permutes its output the same way."""
    d_model = 6 * h
    mha = make_mha(d_model, h, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, n, d_model, generator=g, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    while torch.equal(perm, torch.arange(n)):
        perm = torch.randperm(n, generator=g)
    x_perm = x[:, perm]
    torch.testing.assert_close(mha(x_perm, x_perm), mha(x, x)[:, perm], rtol=0, atol=1e-12)
    # contrast: a causal mask ties attention to positions, so equivariance is lost
    causal = subsequent_mask(n)
    assert not torch.allclose(mha(x_perm, x_perm, causal), mha(x, x, causal)[:, perm])
