"""The `aiayn` command end to end on a tiny model: train, translate, evaluate, average,
the spec gate, and clear one-line errors for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiayn.checks import checklist
from aiayn.cli import main

ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
TINY = [
    "--set", "d_model=32", "--set", "d_ff=48", "--set", "h=2", "--set", "n_layers=1",
    "--n-train", "400", "--n-test", "12", "--bpe-vocab", "300", "--max-tokens", "300",
    "--warmup-steps", "10", "--save-every", "3", "--keep-last", "3", "--no-progress",
]  # fmt: skip


def aiayn(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiayn", *args], input=stdin, capture_output=True, text=True,
                          env=ENV, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "run"
    result = aiayn("train", "--no-spec-gate", "--run-dir", str(run), "--steps", "9", *TINY)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-2])
    assert {"bleu", "chrf", "exact_match"} <= summary.keys()
    return run


def test_train_writes_the_run_folder(run_dir: Path) -> None:
    for name in ("run.json", "config.json", "tokenizer.json", "model.safetensors", "metrics.jsonl", "eval.json",
                 "samples.txt", "loss.png", "lr.png"):  # fmt: skip
        assert (run_dir / name).exists(), name
    record = json.loads((run_dir / "eval.json").read_text())
    assert record["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert 0.0 <= record["exact_match"] <= 1.0 and record["beam_size"] == 4


def test_translate_reads_stdin_one_line_per_line(run_dir: Path) -> None:
    result = aiayn("translate", "--model", str(run_dir), stdin="forty-two\n\nseven, three hundred and one\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "", "an empty line stays an empty line"


def test_translate_handles_characters_outside_the_training_text(run_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "odd.txt"
    source.write_text("ζ 数字 🙂 seven\n", encoding="utf-8")
    result = aiayn("translate", "--model", str(run_dir), "--input", str(source), "--beam-size", "1")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split("\n")[:-1]) == 1


def test_evaluate_and_average(run_dir: Path, tmp_path: Path) -> None:
    result = aiayn("evaluate", "--model", str(run_dir), "--limit", "5", "--beam-size", "2")
    assert result.returncode == 0, result.stderr
    assert {"bleu", "chrf", "exact_match", "bleu_signature"} <= json.loads(result.stdout.splitlines()[-1]).keys()
    out = tmp_path / "avg.safetensors"
    result = aiayn("average", "--model", str(run_dir), "--last", "2", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists() and "averaged 2 checkpoints" in result.stdout


def test_occupied_run_folder_is_refused_in_one_line(run_dir: Path) -> None:
    before = (run_dir / "model.safetensors").read_bytes()
    result = aiayn("train", "--no-spec-gate", "--run-dir", str(run_dir), "--steps", "9", *TINY)
    assert result.returncode == 2
    assert "already holds a finished run" in result.stderr and "Traceback" not in result.stderr
    assert (run_dir / "model.safetensors").read_bytes() == before


def test_bad_inputs_get_one_line_errors(tmp_path: Path) -> None:
    result = aiayn("translate", "--model", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no such run folder" in result.stderr and "Traceback" not in result.stderr
    result = aiayn("train", "--no-spec-gate", "--run-dir", str(tmp_path / "r"), "--set", "d_model=30", *TINY[8:])
    assert result.returncode == 2 and "d_model=30 is not divisible by h" in result.stderr
    result = aiayn("train", "--no-spec-gate", "--run-dir", str(tmp_path / "r"), "--set", "colour=blue")
    assert result.returncode != 0 and "FIELD one of" in result.stderr


def test_train_prints_plain_progress_lines_when_not_on_a_terminal(run_dir: Path, tmp_path: Path) -> None:
    """Output to a pipe gets no bar but a line every --progress-every seconds and at the last step, each with
    the step, loss, learning rate, tokens per second and the time left; 0 turns the lines off."""
    import re

    line = re.compile(r"^step (\d+)/9 \(\d+%\)  loss \d+\.\d{3}  lr \d\.\d\de-\d\d  [\d,]+ tok/s  "
                      r"\d+m\d\ds spent, \d+m\d\ds left$")  # fmt: skip
    every = aiayn("train", "--no-spec-gate", "--run-dir", str(tmp_path / "a"), "--steps", "9", *TINY[:-1],
                  "--progress-every", "0.000001")  # fmt: skip
    assert every.returncode == 0, every.stderr
    steps = [int(m.group(1)) for m in map(line.match, every.stdout.splitlines()) if m]
    assert steps == list(range(1, 10)), every.stdout
    assert "\r" not in every.stdout + every.stderr, "no bar when the output is not a terminal"
    quiet = aiayn("train", "--no-spec-gate", "--run-dir", str(tmp_path / "b"), "--steps", "9", *TINY,
                  "--progress-every", "0")  # fmt: skip
    assert quiet.returncode == 0 and not [m for m in map(line.match, quiet.stdout.splitlines()) if m]


def test_progress_line_reads_as_documented() -> None:
    from aiayn.training.trainer import progress_line

    assert progress_line(120, 3000, 3.41234, 4.1e-4, 1234.4, 125.0, 1.0) == (
        "step 120/3,000 (4%)  loss 3.412  lr 4.10e-04  1,234 tok/s  2m05s spent, 48m00s left")
    assert progress_line(10, 10, 1.0, 1e-3, 5.0, 3700.0, 370.0).endswith("1h01m spent, 0m00s left")


@pytest.mark.parametrize("args, message", [
    (["--task", "shakespeare", "--bpe-vocab", "0"], "--bpe-vocab must be at least 260 (4 special tokens + 256 bytes)"),
    (["--task", "genre", "--bpe-vocab", "100"], "--bpe-vocab must be at least 260"),
    (["--task", "shakespeare", "--block-size", "0"], "--block-size must be at least 1, got 0"),
    (["--task", "shakespeare", "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
    (["--n-test", "0"], "--n-test must be at least 1, got 0"),
    (["--task", "sft", "--init", "unused", "--sft-drills", "-1"], "--sft-drills must be at least 0 (0: no drills), got -1"),
    (["--task", "shakespeare", "--max-tokens", "100"], "--max-tokens applies to the translation"),
    (["--progress-every", "-1"], "--progress-every must be 0"),
    (["--max-tokens", "1"], "a batch budget of 1 tokens holds no training pair's source: the shortest takes"),
    (["--task", "genre", "--max-tokens", "1"], "a batch budget of 1 tokens holds no training item"),
])  # fmt: skip
def test_values_refused_before_training_in_one_line_leaving_no_folder(tmp_path: Path, args: list[str],
                                                                      message: str) -> None:  # fmt: skip
    """Values a tokenizer or the batching would refuse only later (or a budget no item fits, which used to
    train on batches that all broke it) end at once with one line, exit 2, and no run folder."""
    result = aiayn("train", "--no-spec-gate", "--steps", "1", "--run-dir", str(tmp_path / "r"), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "r").exists()


def test_train_refuses_when_a_spec_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:  # fmt: skip
    def failing_gate(**_: object) -> None:
        raise checklist.SpecGateError("training refused: these specs fail:\n  sec3_2_1_x.py::test_scaled")

    monkeypatch.setattr(checklist, "gate", failing_gate)
    code = main(["train", "--run-dir", str(tmp_path / "never"), *TINY])
    assert code == 3
    assert "test_scaled" in capsys.readouterr().err
    assert not (tmp_path / "never").exists(), "nothing is written when the gate refuses"


def test_trace_and_params_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--preset", "tiny", "--vocab-size", "50"]) == 0
    trace = capsys.readouterr().out
    assert "encoder.layers.2.self_attn" in trace and "(2, 7, 128)" in trace
    assert main(["params", "--preset", "base"]) == 0
    params = capsys.readouterr().out
    assert "44,138,496" in params and "65M" in params


def test_a_run_that_cannot_start_leaves_no_folder(tmp_path: Path) -> None:
    result = aiayn("train", "--task", "sft", "--init", str(tmp_path / "no-such-run"), "--run-dir", str(tmp_path / "r"),
                   "--no-spec-gate")  # fmt: skip
    assert result.returncode == 2 and "no such run folder" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()
