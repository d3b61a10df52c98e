"""The WMT 2014 path end to end under torchrun (2 processes, gloo) on a local data set in
the hub's layout: refused until prepared, `aiayn prepare`, then training with validation
in flight and TensorBoard events, and evaluation on the test split."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_layout import write_wmt14_layout

TINY = ["--preset", "tiny", "--set", "d_model=32", "--set", "d_ff=48", "--set", "h=2", "--set", "n_layers=1"]
DATA = ["--task", "wmt14", "--bpe-vocab", "400", "--tokenizer-pairs", "200"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "AIAYN_CACHE": str(tmp_path / "cache"),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf")}  # fmt: skip


def _torchrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "aiayn", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=400)


@pytest.mark.slow
def test_prepare_then_two_processes_train_validate_and_evaluate(tmp_path: Path) -> None:
    data = write_wmt14_layout(tmp_path / "wmt14", n_train=300, n_validation=30, n_test=12)
    run, board = tmp_path / "run", tmp_path / "tb"
    train = ["train", *DATA, "--wmt14-path", str(data), *TINY, "--run-dir", str(run), "--steps", "6",
             "--warmup-steps", "4", "--tokens-per-step", "600", "--max-tokens-per-device", "300", "--save-every", "3",
             "--keep-last", "2", "--average-last", "2", "--validate-every", "3", "--validate-bleu", "8",
             "--tensorboard", str(board), "--no-spec-gate", "--no-progress"]  # fmt: skip

    refused = _torchrun(tmp_path, *train)
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if "is not prepared" in line]
    assert len(lines) == 2 and all(f"aiayn prepare --task wmt14" in line for line in lines), refused.stderr[-3000:]
    assert not run.exists(), "a refused run leaves no run folder"

    prep = subprocess.run([sys.executable, "-m", "aiayn", "prepare", *DATA, "--wmt14-path", str(data)],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=300)  # fmt: skip
    assert prep.returncode == 0, prep.stderr[-3000:]
    assert "tokenized 300 / 300 pairs" in prep.stdout and "uniform sample of 200" in prep.stdout, prep.stdout

    done = _torchrun(tmp_path, *train)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line for line in done.stdout.splitlines() if "validation loss" in line]
    assert [line.split(":")[0].split()[-1] for line in printed] == ["3", "6"], done.stdout[-3000:]
    assert all("greedy BLEU" in line for line in printed)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in validations] == [3, 6]
    assert all(r["val_ppl"] > 1 and 0 <= r["val_bleu"] <= 100 for r in validations)
    assert list(board.glob("events.out.tfevents.*")), "no TensorBoard event file"
    best = json.loads((run / "checkpoints" / "best" / "best.json").read_text())
    assert best["val_loss"] == min(r["val_loss"] for r in validations)
    assert (run / "validation.png").exists() and (run / "eval.json").exists()
    assert "BLEU" in done.stdout and "tokenizing" not in done.stdout  # evaluated; the data was read, not built
