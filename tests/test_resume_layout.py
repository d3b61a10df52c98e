"""Resuming on another number of processes: it continues exactly when the steps keep their
batches (the same budget per batch, processes x accumulation adjusted), and is refused in
one line saying why when they cannot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

DRIVER = Path(__file__).parent / "train_driver.py"
ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _single(run_dir: Path, steps: int, accum: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DRIVER), str(run_dir), str(steps), str(accum), *extra],
                          env=ENV, timeout=300, capture_output=True, text=True)  # fmt: skip


def _two(run_dir: Path, steps: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TORCHRUN, str(DRIVER), str(run_dir), str(steps), "1", *extra], env=ENV, timeout=300,
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.slow
def test_two_processes_resumed_on_one_continue_exactly_and_one_on_two_is_refused(tmp_path: Path) -> None:
    # 2 processes x 1 batch, stopped at step 4, resumed on 1 process (which then accumulates 2)
    assert _two(tmp_path / "ddp", 4).returncode == 0
    resumed = _single(tmp_path / "ddp", 6, 1, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _single(tmp_path / "single", 6, 2).returncode == 0  # 1 process x 2 batches throughout
    a, b = load_file(str(tmp_path / "ddp" / "model.safetensors")), load_file(str(tmp_path / "single" / "model.safetensors"))
    for name in (n for n in a if not n.endswith("w_k.bias")):  # see test_training: w_k.bias is rounding noise
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")

    # 1 process x 1 batch per step cannot be spread over 2 processes without changing the batches
    assert _single(tmp_path / "one", 4, 1).returncode == 0
    refused = _two(tmp_path / "one", 6, "--resume")
    assert refused.returncode != 0
    assert "could not continue where it stopped" in refused.stderr and "--nproc_per_node=1" in refused.stderr, (
        refused.stderr[-2000:])  # fmt: skip
