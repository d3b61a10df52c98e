"""§3.3 Position-wise feed-forward network (Eq. 2).

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2

The same two linear maps, with a ReLU between them, act on every position
separately: d_model -> d_ff -> d_model. Equivalently, two convolutions with kernel
size 1. Each layer has its own W_1, W_2.
"""

from jaxtyping import Float
from torch import Tensor, nn


class PositionWiseFeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.d_model, self.d_ff = d_model, d_ff
        self.w_1 = nn.Linear(d_model, d_ff)  # x W_1 + b_1
        self.w_2 = nn.Linear(d_ff, d_model)  # (...) W_2 + b_2
        self.relu = nn.ReLU()  # max(0, .)

    def forward(self, x: Float[Tensor, "*batch n {self.d_model}"]) -> Float[Tensor, "*batch n {self.d_model}"]:
        return self.w_2(self.relu(self.w_1(x)))
