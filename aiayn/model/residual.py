"""§3.1 Residual connection and layer normalisation around every sub-layer.

The paper's sub-layer output is LayerNorm(x + Sublayer(x)) ("post-norm"), with
dropout applied to Sublayer(x) before the addition (§5.4):

    y = LayerNorm(x + Dropout(Sublayer(x)))

Pre-norm, x + Dropout(Sublayer(LayerNorm(x))), is a later, popular departure (it
needs a final LayerNorm after the stack). It is kept here by name, off by default
(`TransformerConfig(norm="pre")`), and spec/sec3_1_encoder_decoder_stacks.py shows
that it computes something else.
"""

from collections.abc import Callable

from jaxtyping import Float
from torch import Tensor, nn

from aiayn.model.dropout import Dropout

Sublayer = Callable[[Tensor], Tensor]


class PostNormResidual(nn.Module):
    """LayerNorm(x + Dropout(Sublayer(x))): the paper's arrangement (§3.1, §5.4)."""

    def __init__(self, d_model: int, p_drop: float) -> None:
        super().__init__()
        self.d_model = d_model
        self.dropout = Dropout(p_drop)
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self, x: Float[Tensor, "batch n {self.d_model}"], sublayer: Sublayer
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        return self.norm(x + self.dropout(sublayer(x)))


class PreNormResidual(PostNormResidual):
    """x + Dropout(Sublayer(LayerNorm(x))): a named departure, not the paper's."""

    def forward(
        self, x: Float[Tensor, "batch n {self.d_model}"], sublayer: Sublayer
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        return x + self.dropout(sublayer(self.norm(x)))


def residual(norm: str, d_model: int, p_drop: float) -> PostNormResidual | PreNormResidual:
    """The residual wrapper a config asks for: "post" (paper) or "pre" (departure)."""
    return PostNormResidual(d_model, p_drop) if norm == "post" else PreNormResidual(d_model, p_drop)


def final_norm(norm: str, d_model: int) -> nn.Module:
    """Post-norm stacks end normalised already; pre-norm stacks need one last LayerNorm."""
    return nn.Identity() if norm == "post" else nn.LayerNorm(d_model)
