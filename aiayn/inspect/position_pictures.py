"""§3.5 as pictures: the sinusoidal encoding and its relative-shift property.

    heatmap.png     PE as positions x dimensions
    curves.png      a few dimensions against the position, with their wavelengths
    dot_product.png PE(pos) . PE(pos + k) against k, for several pos: one curve
    rotation.png    M_k PE(pos) beside PE(pos + k), and pairs of dimensions on the unit circle

Each dimension pair (2i, 2i+1) is (sin, cos) of the angle pos * w_i, w_i = 10000^(-2i / d_model).
Shifting the position by k adds k * w_i to every angle: a rotation M_k that depends on k
alone, and the dot product sum_i cos(k * w_i), which does not depend on pos.
"""

from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

from aiayn.model.positions import sinusoidal_encoding, wavelengths


def shift_rotation(k: int, d_model: int) -> Float[Tensor, "d_model d_model"]:
    """M_k: block-diagonal 2x2 rotations by k * w_i, so that PE(pos + k) = M_k PE(pos) for every pos."""
    angle = k * 2 * torch.pi / wavelengths(d_model)  # k * w_i, float64
    c, s = torch.cos(angle), torch.sin(angle)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    i = torch.arange(0, d_model, 2)
    # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
    m[i, i], m[i, i + 1], m[i + 1, i], m[i + 1, i + 1] = c, s, -s, c
    return m


def shifted_dot_products(n_pos: int, d_model: int, starts: tuple[int, ...]) -> Float[Tensor, "starts n_pos"]:
    """PE(pos) . PE(pos + k) for k = 0 .. n_pos - 1, one row per pos in `starts` (float64)."""
    pe = sinusoidal_encoding(max(starts) + n_pos, d_model, dtype=torch.float64)
    return torch.stack([pe[pos : pos + n_pos] @ pe[pos] for pos in starts])


def curve_dimensions(d_model: int) -> tuple[int, ...]:
    """Sine dimensions 2i with 2i / d_model near 1/16, 1/8, 1/4, 3/8 (fast to slow), and the cosine
    partner of the 1/4 one."""
    sines = sorted({2 * round(d_model * f / 2) % d_model for f in (1 / 16, 1 / 8, 1 / 4, 3 / 8)})
    partner = 2 * round(d_model / 8) + 1
    return tuple(sorted({*sines, partner} if partner < d_model else set(sines)))


def turning_pairs(d_model: int, k: int) -> tuple[int, ...]:
    """Pairs i that a shift by k turns by about 1.2, 0.6 and 0.3 radians (k w_i), slowest last."""
    import math

    picks = (round(d_model / 2 * math.log(k / angle) / math.log(10000)) for angle in (1.2, 0.6, 0.3))
    return tuple(sorted({min(max(i, 0), d_model // 2 - 1) for i in picks}))


def position_pictures(d_model: int, n_pos: int, out_dir: Path, k: int = 5) -> tuple[Path, ...]:
    """Write the four §3.5 pictures into out_dir; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    pe = sinusoidal_encoding(n_pos + k, d_model, dtype=torch.float64)
    written = []

    def save(fig: "matplotlib.figure.Figure", name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)
        written.append(out_dir / name)

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    image = ax.imshow(pe[:n_pos].numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension (sin at even, cos at odd)")
    ax.set_ylabel("position")
    ax.set_title(f"sinusoidal positional encoding, d_model = {d_model}")
    fig.colorbar(image, ax=ax, label="PE(pos, dim)")
    save(fig, "heatmap.png")

    fig, ax = plt.subplots(figsize=(11, 4), dpi=110)
    lengths = wavelengths(d_model)
    sines = [d for d in curve_dimensions(d_model) if d % 2 == 0]
    for d in curve_dimensions(d_model):  # a cosine in its sine's colour, dotted
        kind, colour = ("sin", "-") if d % 2 == 0 else ("cos", ":"), f"C{sines.index(d - d % 2)}"
        ax.plot(pe[:n_pos, d].numpy(), kind[1], color=colour,
                label=f"dim {d} ({kind[0]}, wavelength {lengths[d // 2]:.1f})")  # fmt: skip
    ax.set_xlabel("position")
    ax.set_ylabel("PE(pos, dim)")
    ax.set_title("a few dimensions: the higher the dimension, the longer the wavelength (geometrically)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, "curves.png")

    starts = tuple(sorted({0, n_pos // 10, n_pos // 4, n_pos // 2}))
    dots = shifted_dot_products(n_pos, d_model, starts)
    spread = float((dots - dots[0]).abs().max())
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    for row, (pos, style) in enumerate(zip(starts, ("-", "--", ":", "-."), strict=False)):
        ax.plot(dots[row].numpy(), style, linewidth=2.5 - 0.5 * row, label=f"pos = {pos}")
    ax.set_xlabel("offset k")
    ax.set_ylabel("PE(pos) . PE(pos + k)")
    ax.set_title(f"the dot product depends on k only: curves coincide (largest gap {spread:.1e})")
    ax.legend()
    save(fig, "dot_product.png")

    pos = n_pos // 3
    rotated = shift_rotation(k, d_model) @ pe[pos]
    error = float((rotated - pe[pos + k]).abs().max())
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4.8), dpi=110, gridspec_kw={"width_ratios": [2, 1]})
    shown = min(d_model, 64)
    left.plot(pe[pos + k, :shown].numpy(), "o", markersize=7, mfc="none", label=f"PE({pos + k})")
    left.plot(rotated[:shown].numpy(), "x", markersize=5, label=f"M_{k} PE({pos})")
    left.plot(pe[pos, :shown].numpy(), ".", color="0.6", label=f"PE({pos})")
    left.set_xlabel(f"dimension (first {shown})")
    left.set_title(f"M_{k} PE({pos}) = PE({pos + k}) (largest difference {error:.1e})")
    left.legend(fontsize=8)
    circle = torch.linspace(0, 2 * torch.pi, 200)
    for n, i in enumerate(turning_pairs(d_model, k)):  # each pair on its own circle, radius 1, 0.75, 0.5
        r, colour, turn = 1.0 - 0.25 * n, f"C{n}", k * 2 * torch.pi / float(wavelengths(d_model)[i])
        right.plot(r * circle.cos().numpy(), r * circle.sin().numpy(), color="0.88")
        track = r * pe[:n_pos, 2 * i : 2 * i + 2]
        right.plot(track[:, 1].numpy(), track[:, 0].numpy(), ".", color=colour, markersize=2.5,
                   label=f"dims {2 * i}, {2 * i + 1}: turn {turn:.2f} rad")  # fmt: skip
        p, q = r * pe[pos, 2 * i : 2 * i + 2], r * rotated[2 * i : 2 * i + 2]
        right.annotate("", xy=(float(q[1]), float(q[0])), xytext=(float(p[1]), float(p[0])),
                       arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1.8})  # fmt: skip
    right.set_aspect("equal")
    right.set_xlabel("cos (dim 2i+1), pair drawn at radius 1, 0.75, 0.5")
    right.set_ylabel("sin (dim 2i)")
    right.set_title(f"M_{k} turns each pair by k w_i (arrows: pos {pos} to {pos + k})", fontsize=9)
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title=f"positions 0..{n_pos - 1}",
                 title_fontsize=7)  # fmt: skip
    save(fig, "rotation.png")
    return tuple(written)
