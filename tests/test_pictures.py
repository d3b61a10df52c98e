"""The pictures tell the truth: attention grids have one panel per layer and head and are
not blank, the HTML page holds the maps themselves and needs no network, the §3.5
pictures show properties that hold; and `aiayn attention` / `aiayn positions` end to end."""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import image

from aiayn.cli import main
from aiayn.cli.attention import draw
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.inspect.attention_maps import AttentionMaps, ModelAttention
from aiayn.inspect.pictures import grid_png, html_page, single_png
from aiayn.inspect.position_pictures import (
    curve_dimensions,
    shift_rotation,
    shifted_dot_products,
)
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.positions import sinusoidal_encoding, sinusoidal_encoding_halves

ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
TINY = [
    "--set", "d_model=32", "--set", "d_ff=48", "--set", "h=2", "--set", "n_layers=1",
    "--n-train", "400", "--n-test", "12", "--bpe-vocab", "300", "--max-tokens", "300",
    "--warmup-steps", "10", "--save-every", "3", "--keep-last", "3", "--no-progress",
]  # fmt: skip


def random_maps(kind: str, n_layers: int, h: int, n_q: int, n_kv: int, seed: int = 0) -> AttentionMaps:
    g = torch.Generator().manual_seed(seed)
    weights = torch.softmax(3 * torch.randn(n_layers, h, n_q, n_kv, generator=g), dim=-1)
    return AttentionMaps(kind, weights, tuple(f"q{i}" for i in range(n_q)), tuple(f"k{j}" for j in range(n_kv)))


def _runs(line: np.ndarray, shortest: int = 6) -> list[tuple[int, int]]:
    """[start, end) of each stretch of True at least `shortest` long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= shortest]


def panels(png: Path) -> tuple[int, int, list[float]]:
    """(rows, columns) of colour-map panels in a PNG read back, and each panel's pixel spread.

    Panels are drawn in viridis, whose every colour is saturated; page, text and axes are
    grey, so the saturated pixels' row and column stretches count the panels."""
    pixels = image.imread(png)[..., :3]
    coloured = (pixels.max(-1) - pixels.min(-1)) > 0.2
    rows, cols = _runs(coloured.any(axis=1)), _runs(coloured.any(axis=0))
    spread = [float(pixels[r0:r1, c0:c1].reshape(-1, 3).std(axis=0).max()) for r0, r1 in rows for c0, c1 in cols]
    return len(rows), len(cols), spread


@pytest.mark.parametrize(("n_layers", "h", "n_q", "n_kv"), [(3, 4, 7, 11), (2, 5, 13, 5), (1, 2, 3, 3)])
def test_grid_has_one_panel_per_layer_and_head_and_none_is_blank(
    tmp_path: Path, n_layers: int, h: int, n_q: int, n_kv: int
) -> None:
    """grid_png draws layers x heads panels, each with visible structure (read back from the file)."""
    path = grid_png(random_maps("encoder_decoder", n_layers, h, n_q, n_kv), tmp_path / "grid.png")
    rows, cols, spread = panels(path)
    assert (rows, cols) == (n_layers, h)
    assert min(spread) > 0.02  # every panel varies: not one flat colour
    # a flat (uniform) map is what a blank panel looks like to the same measure
    flat = AttentionMaps("x", torch.full((1, 1, 4, 4), 0.25), ("a",) * 4, ("b",) * 4)
    assert max(panels(grid_png(flat, tmp_path / "flat.png"))[2]) < 0.02


def test_single_map_is_one_large_panel_with_a_colour_scale(tmp_path: Path) -> None:
    """single_png: one panel (plus its colour bar), not blank, larger than a grid panel."""
    maps = random_maps("self", 3, 4, 9, 9)
    path = single_png(maps, 2, 3, tmp_path / "one.png")
    rows, cols, spread = panels(path)
    assert (rows, cols) == (1, 2) and spread[0] > 0.02  # the map, then the colour bar
    assert image.imread(path).shape[0] > 400


def test_html_page_holds_the_maps_and_needs_no_network(tmp_path: Path) -> None:
    """The page embeds every map's weights and tokens as JSON, with no external src/href."""
    enc, cross = random_maps("encoder_self", 2, 3, 5, 5), random_maps("encoder_decoder", 2, 3, 4, 5, seed=1)
    tricky = AttentionMaps("decoder_self", torch.eye(2).expand(2, 3, 2, 2).clone(), ("<s>", "</script><b>"), ("<s>", "</script><b>"))
    attention = ModelAttention("translation", "a & b", "c", "given", (enc, tricky, cross))
    page = html_page(attention, tmp_path / "attention.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count("</script>") == 2  # the data block and the drawing script; the token did not close one
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.DOTALL).group(1))
    assert [m["kind"] for m in data["maps"]] == ["encoder_self", "decoder_self", "encoder_decoder"]
    assert data["maps"][1]["query_tokens"] == ["<s>", "</script><b>"]
    np.testing.assert_allclose(np.array(data["maps"][2]["weights"]), cross.weights.numpy(), atol=5e-5)


@pytest.mark.parametrize("d_model", [8, 64, 512])
def test_rotation_m_k_maps_pe_pos_to_pe_pos_plus_k(d_model: int) -> None:
    """shift_rotation(k) PE(pos) = PE(pos + k) for every pos; not so for the [sin | cos] halves layout."""
    pe = sinusoidal_encoding(60, d_model, dtype=torch.float64)
    for k in (1, 5, 17):
        m = shift_rotation(k, d_model)
        torch.testing.assert_close(pe[:-k] @ m.T, pe[k:], rtol=0, atol=1e-9)
        torch.testing.assert_close(m @ m.T, torch.eye(d_model, dtype=torch.float64), rtol=0, atol=1e-12)
    halves = sinusoidal_encoding_halves(60, d_model).double()
    assert (halves[:-5] @ shift_rotation(5, d_model).T - halves[5:]).abs().max() > 0.1


def test_dot_product_of_shifted_encodings_depends_on_k_only() -> None:
    """PE(pos) . PE(pos + k) is the same curve for every pos; random (learned-like) positions are not."""
    dots = shifted_dot_products(40, 64, (0, 3, 10, 25))
    torch.testing.assert_close(dots, dots[:1].expand_as(dots), rtol=0, atol=1e-9)
    assert dots[0, 0] == pytest.approx(32.0)  # |PE(pos)|^2 = d_model / 2
    learned = torch.randn(80, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows = torch.stack([learned[p : p + 40] @ learned[p] for p in (0, 3, 10, 25)])
    assert (rows - rows[:1]).abs().max() > 1.0
    assert curve_dimensions(512) == (32, 64, 128, 129, 192)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("attention") / "run"
    result = aiayn("train", "--no-spec-gate", "--run-dir", str(run), "--steps", "9", *TINY)
    assert result.returncode == 0, result.stderr
    return run


def aiayn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiayn", *args], capture_output=True, text=True, env=ENV, check=False,
                          timeout=600)  # fmt: skip


def test_attention_command_draws_every_kind_and_names_the_folder_last(run_dir: Path, tmp_path: Path) -> None:
    """`aiayn attention` on a translation run: three grids, the large maps, the page; the folder last."""
    out = tmp_path / "maps"
    result = aiayn("attention", "--model", str(run_dir), "--text", "seven hundred and three",
                   "--target", "siebenhundertdrei", "--layer", "0", "--head", "1", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    for kind in ("encoder_self", "decoder_self", "encoder_decoder"):
        assert panels(out / f"{kind}.png")[:2] == (1, 2)  # the tiny run: 1 layer, 2 heads
        assert panels(out / f"{kind}_layer0_head1.png")[:2] == (1, 2)
    assert (out / "attention.html").stat().st_size > 1000
    produced = aiayn("attention", "--model", str(run_dir), "--text", "eleven", "--out", str(tmp_path / "own"))
    assert produced.returncode == 0, produced.stderr
    assert "target (greedy)" in produced.stdout and not list((tmp_path / "own").glob("*_layer*"))


def test_attention_command_refuses_bad_input_in_one_line(run_dir: Path, tmp_path: Path) -> None:
    """A missing run folder, a layer or head out of range, --layer without --head: one line, exit 2."""
    for args, message in (
        (["--model", str(tmp_path / "nowhere"), "--text", "one"], "nowhere"),
        (["--model", str(run_dir), "--text", "one", "--layer", "1", "--head", "0"], "layers 0..0"),
        (["--model", str(run_dir), "--text", "one", "--layer", "0", "--head", "2"], "heads 0..1"),
        (["--model", str(run_dir), "--text", "one", "--layer", "0"], "--layer and --head go together"),
    ):
        result = aiayn("attention", *args, "--out", str(tmp_path / "x"))
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


class _LoadedRun:
    def __init__(self, model: DecoderOnlyLM, tokenizer: BpeTokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer


def test_attention_of_a_language_model_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DecoderOnlyLM run draws one grid of its self-attention; --target is refused for it."""
    tok = BpeTokenizer.train(["to be or not to be", "that is the question"] * 5, vocab_size=280)
    torch.manual_seed(0)
    lm = DecoderOnlyLM(TransformerConfig.tiny(vocab_size=tok.vocab_size, d_model=30, h=3, n_layers=2, d_ff=22)).eval()
    args = argparse.Namespace(model=tmp_path / "lm-run", text="to be or not to be", target=None, beam_size=1,
                              layer=1, head=2, out=tmp_path / "lm")  # fmt: skip
    assert draw(args, load=lambda _: _LoadedRun(lm, tok)) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "lm")
    assert panels(tmp_path / "lm" / "self.png")[:2] == (2, 3)
    assert (tmp_path / "lm" / "self_layer1_head2.png").exists() and (tmp_path / "lm" / "attention.html").exists()
    args.target = "question"
    assert draw(args, load=lambda _: _LoadedRun(lm, tok)) == 2
    assert "--target is for translation runs" in capsys.readouterr().err


def test_positions_command_writes_four_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`aiayn positions` writes the heat map, the curves, the dot products and the rotation; bad sizes exit 2."""
    out = tmp_path / "pe"
    assert main(["positions", "--d-model", "64", "--n-pos", "30", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    for name in ("heatmap.png", "curves.png", "dot_product.png", "rotation.png"):
        pixels = image.imread(out / name)[..., :3].reshape(-1, 3)
        assert pixels.std(axis=0).max() > 0.05, name  # drawn, not an empty canvas
    assert main(["positions", "--d-model", "63", "--out", str(out)]) == 2
    assert "--d-model 63" in capsys.readouterr().err
