"""§3.5 Positional encoding

Attention treats its inputs as a set; the order of the tokens reaches the model only
through a vector PE(pos) of width d_model added to each embedding. The paper's choice,
for position pos and dimension pair i = 0 .. d_model/2 - 1:

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))      (even dimensions: sine)
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))      (odd dimensions: cosine)

so PE(0) = [0, 1, 0, 1, ...] and PE(pos, 0) = sin(pos). What follows from it:

- Pair i is one sinusoid of wavelength lambda_i = 2 pi * 10000^(2i / d_model): a
  geometric progression (constant ratio 10000^(2 / d_model)) from 2 pi up to
  2 pi * 10000^((d_model - 2) / d_model), just short of 10000 * 2 pi.
- For every offset k there is one linear map M_k, the same for every pos, with
  PE(pos + k) = M_k PE(pos): block-diagonal, pair i rotated by the angle
  k / 10000^(2i / d_model). The paper's reason for the choice: relative positions
  are easy to attend to.
- All values lie in [-1, 1], and the encoding is defined for any position, so the
  model is not limited to lengths seen in training.
- Adding PE breaks the permutation symmetry of self-attention: without it,
  permuting the source tokens only permutes the encoder's outputs.

Traps this spec pins: popular code lays the same sinusoids out as halves
[sin | cos], sometimes with another spacing of the frequencies, or computes the
cosine's frequency from its own (odd) index. Those are different encodings; a
layout predicate accepts the paper's and rejects them. Learned positions (Table 3
row E, `positions="learned"`) exist only up to max_len and say so past it.

Choice of ours: the table is computed in float64 and stored in float32.
"""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor

from aiayn.model.config import TransformerConfig
from aiayn.model.masks import padding_mask
from aiayn.model.transformer import Transformer
from aiayn.model.positions import SinusoidalPositions, sinusoidal_encoding, sinusoidal_encoding_halves, wavelengths

CODE = "aiayn/model/positions.py"

VOCAB = 53
even_widths = st.sampled_from([2, 4, 6, 10, 14, 22, 26])


def paper_angle(pos: int, i: int, d_model: int) -> float:
    """pos / 10000^(2i / d_model), for dimension pair i."""
    return pos / 10000 ** (2 * i / d_model)


def follows_paper_layout(pe: Float[Tensor, "n_pos d_model"], atol: float = 1e-6) -> bool:
    """True when row pos holds sin at dimension 2i and cos at 2i+1 of pos / 10000^(2i/d_model)."""
    n_pos, d_model = pe.shape
    if d_model % 2:
        return False
    for pos in range(n_pos):
        for i in range(d_model // 2):
            a = paper_angle(pos, i, d_model)
            if abs(float(pe[pos, 2 * i]) - math.sin(a)) > atol or abs(float(pe[pos, 2 * i + 1]) - math.cos(a)) > atol:
                return False
    return True


def interleaved_own_index(n_pos: int, d_model: int) -> Float[Tensor, "n_pos d_model"]:
    """A different spacing: every dimension j uses pos / 10000^(j / d_model), sin on even j, cos on odd."""
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    j = torch.arange(d_model, dtype=torch.float64)
    angles = pos / 10000 ** (j / d_model)
    return torch.where(torch.arange(d_model) % 2 == 0, angles.sin(), angles.cos())


def halves_tensor2tensor(n_pos: int, d_model: int) -> Float[Tensor, "n_pos d_model"]:
    """[sin | cos] halves with timescales spaced log(10000) / (d_model/2 - 1) apart."""
    half = d_model // 2
    step = math.log(10000) / max(half - 1, 1)
    inv_timescales = torch.exp(-step * torch.arange(half, dtype=torch.float64))
    angles = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv_timescales
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def offset_map(k: int, d_model: int) -> Float[Tensor, "d_model d_model"]:
    """M_k built from k alone: pair i rotated by k / 10000^(2i/d_model), so PE(pos+k) = M_k PE(pos)."""
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        c, s = math.cos(paper_angle(k, i, d_model)), math.sin(paper_angle(k, i, d_model))
        # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return m


@given(n_pos=st.integers(1, 40), d_model=even_widths)
@example(n_pos=50, d_model=512)  # the base model's width
@example(n_pos=3, d_model=1024)  # the big model's width
def test_values_match_formula_sin_on_even_cos_on_odd_dimensions(n_pos: int, d_model: int) -> None:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)) and PE(pos, 2i+1) = cos(the same angle)."""
    pe = sinusoidal_encoding(n_pos, d_model, dtype=torch.float64)
    assert pe.shape == (n_pos, d_model)
    assert follows_paper_layout(pe, atol=1e-12)
    # pinned values: PE(0) = [0, 1, 0, 1, ...], and dimension 0 is sin(pos)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * (d_model // 2), dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(pe[:, 0], torch.arange(n_pos, dtype=torch.float64).sin(), rtol=0, atol=1e-12)
    torch.testing.assert_close(pe[:, 1], torch.arange(n_pos, dtype=torch.float64).cos(), rtol=0, atol=1e-12)
    # the float32 table the model adds is the same numbers, rounded
    module = SinusoidalPositions(d_model, initial_len=n_pos)
    added = module(torch.zeros(1, n_pos, d_model))[0]
    torch.testing.assert_close(added.double(), pe, rtol=0, atol=1e-6)


def test_layout_predicate_accepts_the_paper_and_rejects_other_layouts() -> None:
    """Only the paper's interleaved layout passes; [sin | cos] halves and other frequency spacings fail."""
    n_pos, d_model = 17, 26
    assert follows_paper_layout(sinusoidal_encoding(n_pos, d_model))
    others = {
        "halves [sin | cos], paper spacing": sinusoidal_encoding_halves(n_pos, d_model),
        "halves [sin | cos], log(10000)/(d/2 - 1) spacing": halves_tensor2tensor(n_pos, d_model),
        "interleaved, 10000^(j/d) for every dimension j": interleaved_own_index(n_pos, d_model),
    }
    for name, pe in others.items():
        assert pe.shape == (n_pos, d_model), name
        assert pe.abs().max() <= 1.0, name  # they look plausible: same shape, same range
        assert not follows_paper_layout(pe), f"the predicate let through {name}"


@given(d_model=even_widths)
@example(d_model=512)
def test_wavelengths_form_geometric_progression_from_2pi_towards_10000_2pi(d_model: int) -> None:
    """Pair i has wavelength 2 pi 10000^(2i/d_model): ratio constant, first 2 pi, last 2 pi 10000^((d-2)/d) < 10000 * 2 pi."""
    # read the wavelengths off the encoding itself: PE(1) holds (sin w_i, cos w_i) with w_i <= 1 < pi
    pe = sinusoidal_encoding(2, d_model, dtype=torch.float64)
    omega = torch.atan2(pe[1, 0::2], pe[1, 1::2])
    measured = 2 * math.pi / omega
    torch.testing.assert_close(measured, wavelengths(d_model), rtol=1e-9, atol=0)

    ratios = measured[1:] / measured[:-1]
    if d_model > 2:
        torch.testing.assert_close(ratios, torch.full_like(ratios, 10000 ** (2 / d_model)), rtol=1e-9, atol=0)
    assert math.isclose(float(measured[0]), 2 * math.pi, rel_tol=1e-12)
    last = float(measured[-1])
    assert math.isclose(last, 2 * math.pi * 10000 ** ((d_model - 2) / d_model), rel_tol=1e-9)
    assert last < 10000 * 2 * math.pi
    assert math.isclose(last / (10000 * 2 * math.pi), 10000 ** (-2 / d_model), rel_tol=1e-9)
    if d_model >= 512:  # wide models get within 4% of the 10000 * 2 pi end
        assert last > 0.96 * 10000 * 2 * math.pi


@given(k=st.integers(0, 500), d_model=even_widths)
@example(k=1, d_model=512)
@example(k=100, d_model=6)
def test_offset_k_is_one_fixed_rotation_for_every_position(k: int, d_model: int) -> None:
    """PE(pos + k) = M_k PE(pos) for every pos, with M_k block-diagonal 2x2 rotations built from k alone."""
    m_k = offset_map(k, d_model)
    # block-diagonal: nothing outside the 2x2 pair blocks
    pair = torch.arange(d_model) // 2
    assert (m_k[pair[:, None] != pair[None, :]] == 0).all()
    # each block is a rotation: orthogonal, determinant 1
    torch.testing.assert_close(m_k @ m_k.T, torch.eye(d_model, dtype=torch.float64), rtol=0, atol=1e-12)
    pe = sinusoidal_encoding(1000 + k, d_model, dtype=torch.float64)
    positions = torch.arange(0, 1000, 7)  # many positions, one matrix
    torch.testing.assert_close(pe[positions + k], pe[positions] @ m_k.T, rtol=0, atol=1e-9)


@settings(max_examples=10)
@given(k=st.integers(1, 50), d_model=st.sampled_from([6, 10, 14, 26]), seed=st.integers(0, 2**16))
@example(k=3, d_model=10, seed=0)
def test_offset_map_fitted_on_some_positions_predicts_all_others(k: int, d_model: int, seed: int) -> None:
    """A linear map fitted by least squares to PE(pos) -> PE(pos + k) on a few positions predicts every other position."""
    gen = torch.Generator().manual_seed(seed)
    n_pos = 30000  # beyond the longest wavelength, so every pair turns through a full circle
    order = torch.randperm(n_pos - k, generator=gen)
    fit, held_out = order[: 4 * d_model], order[4 * d_model : 4 * d_model + 300]

    def fit_and_predict(pe: Float[Tensor, "n_pos d_model"]) -> tuple[Float[Tensor, "d_model d_model"], float]:
        m = torch.linalg.lstsq(pe[fit], pe[fit + k]).solution  # row form: PE(pos) @ m = PE(pos + k)
        return m, float((pe[held_out] @ m - pe[held_out + k]).abs().max())

    m, error = fit_and_predict(sinusoidal_encoding(n_pos, d_model, dtype=torch.float64))
    assert error < 1e-8
    torch.testing.assert_close(m.T, offset_map(k, d_model), rtol=0, atol=1e-8)  # and it is the M_k built above

    # the broken variant: a cosine whose frequency is not its sine's has no such map
    _, broken_error = fit_and_predict(interleaved_own_index(n_pos, d_model))
    assert broken_error > 0.1


@given(n_pos=st.integers(1, 5000), d_model=even_widths)
@example(n_pos=5000, d_model=512)
def test_values_lie_between_minus_one_and_one(n_pos: int, d_model: int) -> None:
    """Every entry of PE is in [-1, 1], at any position, so positions never swamp the embeddings."""
    pe = sinusoidal_encoding(n_pos, d_model, dtype=torch.float64)
    assert pe.abs().max() <= 1.0
    # each (sin, cos) pair lies on the unit circle, so every row has norm sqrt(d_model / 2)
    torch.testing.assert_close(pe.norm(dim=-1), torch.full((n_pos,), math.sqrt(d_model / 2), dtype=torch.float64))


@given(n=st.integers(1, 60), extra=st.integers(1, 60), d_model=even_widths, initial_len=st.integers(1, 10))
@example(n=1000, extra=24, d_model=26, initial_len=512)  # past the default table
def test_defined_for_any_length(n: int, extra: int, d_model: int, initial_len: int) -> None:
    """The encoding exists for every position: a longer table extends a shorter one, and the module grows past its table."""
    m = n + extra
    torch.testing.assert_close(sinusoidal_encoding(n, d_model), sinusoidal_encoding(m, d_model)[:n], rtol=0, atol=0)

    module = SinusoidalPositions(d_model, initial_len=initial_len)
    table = sinusoidal_encoding(m, d_model)
    torch.testing.assert_close(module(torch.zeros(2, m, d_model)), table.expand(2, m, d_model), rtol=0, atol=0)
    # and from an offset beyond the table, as incremental decoding asks
    fresh = SinusoidalPositions(d_model, initial_len=initial_len)
    tail = fresh(torch.zeros(1, extra, d_model), offset=n)
    torch.testing.assert_close(tail[0], table[n:m], rtol=0, atol=0)


@settings(max_examples=10)
@given(n_src=st.integers(3, 11), seed=st.integers(0, 2**16), perm_seed=st.integers(0, 2**16))
@example(n_src=7, seed=0, perm_seed=1)
def test_positions_break_permutation_equivariance_of_self_attention(n_src: int, seed: int, perm_seed: int) -> None:
    """Without PE, permuting the source only permutes the encoder output; with PE (the model) it changes it."""
    torch.manual_seed(seed)
    model = Transformer(TransformerConfig(vocab_size=VOCAB, n_layers=1, d_model=26, d_ff=37, h=2)).eval().double()
    src = torch.randperm(VOCAB - 1)[:n_src][None] + 1  # distinct non-padding tokens
    perm = torch.randperm(n_src, generator=torch.Generator().manual_seed(perm_seed))
    if torch.equal(perm, torch.arange(n_src)):
        perm = perm.roll(1)
    with torch.no_grad():
        # no positions: the encoder on bare (scaled) embeddings commutes with the permutation
        def bare(tokens: Tensor) -> Float[Tensor, "1 n_src d_model"]:
            return model.encoder(model.src_embed(tokens), padding_mask(tokens, 0))

        torch.testing.assert_close(bare(src[:, perm]), bare(src)[:, perm], rtol=1e-9, atol=1e-9)

        # with positions: the same permutation is no longer just a relabelling of outputs
        with_pe, _ = model.encode(src)
        permuted_with_pe, _ = model.encode(src[:, perm])
        assert (permuted_with_pe - with_pe[:, perm]).abs().max() > 1e-3


def test_learned_positions_fail_clearly_past_max_len() -> None:
    """Learned positions (Table 3 row E) cover max_len positions and raise a clear error beyond them."""
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=VOCAB, n_layers=1, d_model=26, d_ff=37, h=2, max_len=11, positions="learned")
    model = Transformer(cfg).eval()
    with torch.no_grad():
        memory, src_attend = model.encode(torch.randint(1, VOCAB, (2, 11)))  # exactly max_len: fine
        with pytest.raises(ValueError, match=r"max_len=11"):
            model.encode(torch.randint(1, VOCAB, (2, 12)))
        cache = model.new_cache()  # one step at a time, the limit still holds
        for t in range(11):
            model.decode(torch.randint(1, VOCAB, (2, 1)), memory, src_attend, cache)
        with pytest.raises(ValueError, match=r"position 11 is beyond max_len=11"):
            model.decode(torch.randint(1, VOCAB, (2, 1)), memory, src_attend, cache)

        # sinusoidal positions with the same max_len have no such limit
        sinusoidal = Transformer(cfg.replace(positions="sinusoidal")).eval()
        out, _ = sinusoidal.encode(torch.randint(1, VOCAB, (2, 30)))
        assert out.shape == (2, 30, cfg.d_model)
