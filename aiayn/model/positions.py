"""§3.5 Positional encoding, and learned positions (Table 3 row E).

Attention alone ignores order, so position information is added to the
embeddings. The paper's sinusoids, for position pos and dimension pair i:

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

Sines on even dimensions and cosines on odd ones, interleaved; the wavelengths
2 pi * 10000^(2i / d_model) run geometrically from 2 pi to 10000 * 2 pi. Because
each pair is (sin, cos) of one angle, PE(pos + k) is PE(pos) rotated pair by pair
by angles that depend only on k: a fixed linear map M_k (spec/sec3_5_positional_encoding.py).

Left-padded batches (prompts of different lengths sharing one batch) need positions
per row: a row's positions start at its first real token, not at column 0. Both
modules take either a scalar `offset` (position of column 0, the same for every row)
or a `positions` tensor (batch, n) giving each token's position.

Popular code also lays the sines and cosines out as two halves [sin | cos]; that is
a different encoding (`sinusoidal_encoding_halves`, kept only so the spec can show
it failing the paper's layout).
"""

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


def _angles(n_pos: int, d_model: int, dtype: torch.dtype) -> Float[Tensor, "n_pos half"]:
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal_encoding: d_model={d_model} must be even (sin/cos pairs)")
    pos = torch.arange(n_pos, dtype=dtype)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=dtype)
    return pos / 10000 ** (two_i / d_model)  # pos / 10000^(2i/d_model)


def sinusoidal_encoding(n_pos: int, d_model: int, dtype: torch.dtype = torch.float32) -> Float[Tensor, "n_pos d_model"]:
    """PE of §3.5: sin at even dimensions 2i, cos at odd dimensions 2i+1."""
    angles = _angles(n_pos, d_model, torch.float64)
    pe = torch.empty(n_pos, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype)


def _check_positions(positions: Tensor, x: Tensor, who: str) -> int:
    """The largest position asked for; `positions` must be (batch, n) of x, non-negative."""
    if positions.shape != x.shape[:2]:
        expected = tuple(x.shape[:2])
        raise ValueError(f"{who}: positions has shape {tuple(positions.shape)}, expected (batch, n) = {expected}")
    if positions.numel() and int(positions.min()) < 0:
        raise ValueError(f"{who}: positions must be >= 0, got {int(positions.min())}")
    return int(positions.max()) if positions.numel() else -1


def sinusoidal_encoding_halves(n_pos: int, d_model: int) -> Float[Tensor, "n_pos d_model"]:
    """The [sin | cos] halves layout of some popular code: NOT the paper's (§3.5)."""
    angles = _angles(n_pos, d_model, torch.float64)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()


class SinusoidalPositions(nn.Module):
    """Adds PE(pos) to a sequence of any length; no parameters (§3.5)."""

    def __init__(self, d_model: int, initial_len: int = 512) -> None:
        super().__init__()
        self.d_model = d_model
        self.register_buffer("pe", sinusoidal_encoding(initial_len, d_model), persistent=False)

    def forward(
        self,
        x: Float[Tensor, "batch n {self.d_model}"],
        offset: int = 0,
        positions: Int[Tensor, "batch n"] | None = None,
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        """x + PE(offset + column), or x + PE(positions[b, t]) when per-token positions are given."""
        if positions is None:
            end = offset + x.shape[1]
        else:
            end = _check_positions(positions, x, "SinusoidalPositions") + 1
        if end > self.pe.shape[0]:  # grow the table: the formula is defined for every position
            self.pe = sinusoidal_encoding(max(end, 2 * self.pe.shape[0]), self.d_model).to(self.pe.device)
        if positions is None:
            return x + self.pe[offset:end].to(x.dtype)
        return x + self.pe[positions].to(x.dtype)


class LearnedPositions(nn.Module):
    """Table 3 row (E): one learned vector per position, up to max_len."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * d_model**-0.5)

    def forward(
        self,
        x: Float[Tensor, "batch n {self.d_model}"],
        offset: int = 0,
        positions: Int[Tensor, "batch n"] | None = None,
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        """x + W[offset + column], or x + W[positions[b, t]] when per-token positions are given."""
        end = offset + x.shape[1] if positions is None else _check_positions(positions, x, "LearnedPositions") + 1
        if end > self.max_len:
            raise ValueError(
                f"LearnedPositions: position {end - 1} is beyond max_len={self.max_len} "
                f"(learned positions, Table 3 row E, cover only the lengths they were trained for)"
            )
        return x + (self.weight[offset:end] if positions is None else self.weight[positions])


def make_positions(d_model: int, kind: str, max_len: int) -> SinusoidalPositions | LearnedPositions:
    """§3.5 sinusoids (kind "sinusoidal"), or learned positions for Table 3 row (E) (kind "learned")."""
    if kind == "learned":
        return LearnedPositions(d_model, max_len)
    return SinusoidalPositions(d_model)


def wavelengths(d_model: int) -> Float[Tensor, " half"]:
    """2 pi * 10000^(2i / d_model) for i = 0 .. d_model/2 - 1."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return 2 * math.pi * 10000 ** (two_i / d_model)
