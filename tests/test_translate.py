"""Batched inference: sentences sorted by length into batches under a sentence and a token
budget, translated on the chosen device, returned in input order; the translate flags."""

import io
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from aiayn.cli import main
from aiayn.data.numbers import number_pairs
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.tasks.runner import train_run
from aiayn.tasks.translation import length_sorted_batches, translate_lines

sys.path.insert(0, str(Path(__file__).parent))
from train_driver import tiny_spec  # noqa: E402


@given(lengths=st.lists(st.integers(0, 30), max_size=60), batch_size=st.integers(1, 9),
       max_tokens=st.one_of(st.none(), st.integers(1, 120)))  # fmt: skip
def test_batches_are_length_sorted_within_both_budgets_and_cover_every_sentence(
    lengths: list[int], batch_size: int, max_tokens: int | None
) -> None:
    """Every non-empty sentence is in one batch; batches hold at most batch_size sentences and, unless
    alone, at most max_tokens padded tokens; lengths never decrease from batch to batch."""
    batches = length_sorted_batches(lengths, batch_size, max_tokens)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == [i for i, n in enumerate(lengths) if n]
    assert [lengths[i] for i in flat] == sorted(lengths[i] for i in flat)
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        assert len(batch) == 1 or max_tokens is None or len(batch) * max(lengths[i] for i in batch) <= max_tokens


def test_batched_translation_returns_each_line_as_if_translated_alone() -> None:
    """Sorted, budgeted batches give every line the output it gets alone, in input order; empty lines stay empty."""
    pairs = number_pairs("train", 300, seed=1, max_number=1000)
    tokenizer = BpeTokenizer.train_on_pairs(pairs, 300)
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=tokenizer.vocab_size, n_layers=1, d_model=16, d_ff=24, h=2)).eval()
    lines = [p.src for p in pairs[:9]]
    lines[2] = ""
    alone = [translate_lines(model, tokenizer, [line], beam_size=1, max_extra=4)[0] for line in lines]
    batched = translate_lines(model, tokenizer, lines, beam_size=1, max_extra=4, batch_size=3, max_tokens=40)
    assert batched == alone and batched[2] == ""
    assert len(set(alone)) > 3, "the lines translate differently, so an order mix-up would show"
    with pytest.raises(ValueError, match="max_tokens"):
        translate_lines(model, tokenizer, lines, max_tokens=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("translate") / "run"
    train_run(tiny_spec(2, 1), run, evaluate=False, progress_bar=False, log=lambda _: None)
    return run


def _translate(run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *flags: str) -> tuple[int, str, str]:  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO("forty-two\n\nseven, three hundred and one\n"))
    code = main(["translate", "--model", str(run_dir), "--beam-size", "1", *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_translate_flags_choose_the_device_and_the_batches(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--device cpu with small --batch-size / --max-tokens gives the default's lines; bad values get one-line errors."""
    code, default, _ = _translate(run_dir, monkeypatch, capsys)
    assert code == 0 and len(default.splitlines()) == 3
    code, small, _ = _translate(run_dir, monkeypatch, capsys, "--device", "cpu", "--batch-size", "1", "--max-tokens", "4")
    assert code == 0 and small == default
    for flags, message in ((("--device", "meta"), "only cpu and cuda"), (("--device", "nonsense"), "is not a device"),
                           (("--max-tokens", "0"), "--max-tokens must be at least 1"),
                           (("--batch-size", "0"), "--batch-size must be at least 1")):  # fmt: skip
        code, _, err = _translate(run_dir, monkeypatch, capsys, *flags)
        assert code == 2 and message in err and "Traceback" not in err and len(err.splitlines()) == 1
    if not torch.cuda.is_available():
        code, _, err = _translate(run_dir, monkeypatch, capsys, "--device", "cuda")
        assert code == 2 and "no CUDA device" in err
