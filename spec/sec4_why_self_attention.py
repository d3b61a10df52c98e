"""§4 Why self-attention (Table 1)

Table 1 compares layer types for a sequence of n vectors of width d:

    layer type        cost per layer    sequential operations    maximum path length
    self-attention    O(n^2 d)          O(1)                     O(1)
    recurrent         O(n d^2)          O(n)                     O(n)
    convolutional     O(k n d^2)        O(1)                     O(log_k n) or O(n / k)

Measured on our layers, counting a multiply-add as 2 FLOPs (torch's FlopCounterMode):

- multi-head self-attention: Q K^T and weights @ V cost 2 n^2 d each, whatever h,
  so that part is 4 n^2 d; the four projections W^Q, W^K, W^V, W^O add 8 n d^2.
  Doubling n multiplies the n^2 part by 4; doubling d multiplies it by 2.
- the position-wise feed-forward network costs 4 n d d_ff = 16 n d^2 with d_ff = 4d:
  doubling n doubles it, doubling d quadruples it.
- maximum path length 1: after one self-attention layer every output position
  depends on every input position (its Jacobian block is non-zero); a convolution
  with kernel 3 connects only neighbours.
- no loop over positions: a forward pass of an encoder layer issues the same
  operations, the same number of times, for n = 5 and n = 50; a recurrent cell
  stepping through the positions issues n times as many.

Choice of ours: FLOPs are counted with torch's math attention kernel (the fused CPU
kernel has no FLOP formula in FlopCounterMode); it computes the same Eq. 1.
"""

from collections import Counter
from collections.abc import Callable

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from aiayn.model.config import TransformerConfig
from aiayn.model.feed_forward import PositionWiseFeedForward
from aiayn.model.layers import EncoderLayer
from aiayn.model.multi_head import MultiHeadAttention

CODE = "aiayn/model/multi_head.py, aiayn/model/feed_forward.py"

# the matrix products of Eq. 1: Q K^T and weights @ V (batched over heads)
ATTENTION_PRODUCTS = {"aten.bmm", "aten.baddbmm"}
# the dense maps: W^Q, W^K, W^V, W^O, W_1, W_2
DENSE_PRODUCTS = {"aten.addmm", "aten.mm"}
MATMUL_OPS = ATTENTION_PRODUCTS | DENSE_PRODUCTS | {
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_attention_math",
    "aten.matmul",
}


def flops_by_op(module: nn.Module, x: Float[Tensor, "batch n d_model"], *args: object) -> dict[str, int]:
    """FLOPs of one forward pass, per aten op, with attention through the math kernel."""
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        module(x, *args)
    return {str(op): int(flops) for op, flops in counter.get_flop_counts()["Global"].items()}


def attention_flops(d_model: int, h: int, n: int) -> tuple[int, int]:
    """(n^2 part, n d^2 part) of one self-attention call on a batch of one sequence."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model, h)
    x = torch.randn(1, n, d_model)
    counts = flops_by_op(mha, x, x)
    assert set(counts) <= ATTENTION_PRODUCTS | DENSE_PRODUCTS, counts
    quadratic = sum(v for k, v in counts.items() if k in ATTENTION_PRODUCTS)
    dense = sum(v for k, v in counts.items() if k in DENSE_PRODUCTS)
    return quadratic, dense


class OpRecorder(TorchDispatchMode):
    """Counts every aten op a forward pass dispatches."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


@settings(max_examples=10)
@given(n=st.sampled_from([3, 5, 7, 11]), d_model=st.sampled_from([6, 10, 14, 22]), h=st.sampled_from([1, 2]))
@example(n=7, d_model=26, h=2)
def test_self_attention_flops_grow_as_n_squared_times_d(n: int, d_model: int, h: int) -> None:
    """Self-attention costs 4 n^2 d for Q K^T and weights @ V (x4 when n doubles) plus 8 n d^2 for its projections."""
    quadratic, dense = attention_flops(d_model, h, n)
    # the formula, retyped
    assert quadratic == 4 * n * n * d_model
    assert dense == 8 * n * d_model * d_model
    # the scaling Table 1 states
    quadratic_2n, dense_2n = attention_flops(d_model, h, 2 * n)
    assert quadratic_2n == 4 * quadratic and dense_2n == 2 * dense
    quadratic_2d, dense_2d = attention_flops(2 * d_model, h, n)
    assert quadratic_2d == 2 * quadratic and dense_2d == 4 * dense


@settings(max_examples=10)
@given(n=st.sampled_from([3, 5, 7, 11]), d_model=st.sampled_from([2, 3, 5, 7, 11]))
@example(n=5, d_model=512)  # the base model: d_ff = 2048 = 4 d_model
def test_feed_forward_flops_grow_as_n_times_d_squared(n: int, d_model: int) -> None:
    """The feed-forward layer costs 4 n d d_ff = 16 n d^2 with d_ff = 4d: x2 when n doubles, x4 when d doubles."""

    def ffn_flops(d: int, n_pos: int) -> int:
        torch.manual_seed(0)
        counts = flops_by_op(PositionWiseFeedForward(d, 4 * d), torch.randn(1, n_pos, d))
        assert set(counts) <= DENSE_PRODUCTS, counts
        return sum(counts.values())

    flops = ffn_flops(d_model, n)
    assert flops == 16 * n * d_model * d_model
    assert ffn_flops(d_model, 2 * n) == 2 * flops
    assert ffn_flops(2 * d_model, n) == 4 * flops


@settings(max_examples=5)
@given(n=st.integers(5, 11), seed=st.integers(0, 2**16))
@example(n=11, seed=0)
def test_one_self_attention_layer_connects_every_pair_of_positions(n: int, seed: int) -> None:
    """After one encoder layer each output position depends on every input position; a kernel-3 convolution reaches only neighbours."""
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=53, n_layers=1, d_model=10, d_ff=13, h=2)
    layer = EncoderLayer(cfg).eval().double()
    x = torch.randn(1, n, cfg.d_model, dtype=torch.float64)

    def block_norms(
        f: Callable[[Float[Tensor, "1 n d_model"]], Float[Tensor, "1 n d_model"]],
    ) -> Float[Tensor, "n_out n_in"]:
        jac = torch.autograd.functional.jacobian(f, x)  # (1, n, d, 1, n, d)
        return jac[0, :, :, 0].norm(dim=(1, 3))  # || d out_i / d x_j ||

    attention = block_norms(lambda y: layer(y, None))
    assert attention.shape == (n, n)
    assert (attention > 1e-8).all(), "some output position does not see some input position"

    conv = nn.Conv1d(cfg.d_model, cfg.d_model, kernel_size=3, padding=1).double()
    local = block_norms(lambda y: conv(y.transpose(1, 2)).transpose(1, 2))
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    assert (local[distance <= 1] > 1e-8).all()
    assert (local[distance > 1] == 0).all()  # position 0 cannot see position n-1 in one step
    assert local[0, n - 1] == 0 and attention[0, n - 1] > 0


@given(seed=st.integers(0, 2**16))
@example(seed=0)
def test_whole_sequence_is_processed_without_a_loop_over_positions(seed: int) -> None:
    """An encoder layer issues the same operations for n = 5 and n = 50; a recurrent cell issues n times as many."""
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=53, n_layers=1, d_model=10, d_ff=13, h=2)
    layer = EncoderLayer(cfg).eval()
    cell = nn.RNNCell(cfg.d_model, cfg.d_model)

    def recurrent(x: Float[Tensor, "batch n d_model"]) -> Float[Tensor, "batch d_model"]:
        state = torch.zeros(x.shape[0], cfg.d_model)
        for t in range(x.shape[1]):  # one step per position: O(n) sequential operations
            state = cell(x[:, t], state)
        return state

    def ops(f: Callable[[Float[Tensor, "batch n d_model"]], Tensor], n: int) -> Counter[str]:
        x = torch.randn(2, n, cfg.d_model)
        with torch.no_grad(), OpRecorder() as recorder:
            f(x)
        return recorder.ops

    short, long = ops(lambda x: layer(x, None), 5), ops(lambda x: layer(x, None), 50)
    assert short == long
    assert sum(v for k, v in short.items() if k in MATMUL_OPS) >= 6  # W^Q, W^K, W^V, W^O, W_1, W_2

    rnn_short, rnn_long = ops(recurrent, 5), ops(recurrent, 50)
    assert sum(rnn_long.values()) > 5 * sum(rnn_short.values())
