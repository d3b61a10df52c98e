"""scripts/gpu_check.sh refuses at once without a GPU; its timed parts run (tiny, on the CPU)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_without_a_gpu_the_check_refuses_in_one_line() -> None:
    result = subprocess.run(["bash", str(SCRIPTS / "gpu_check.sh")], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gpu_check.sh: no CUDA device visible (torch.cuda.is_available() is False); this check needs one GPU"]


def test_the_timed_parts_run_on_a_cpu_at_a_tiny_size() -> None:
    tiny = ["--preset", "tiny", "--vocab", "300", "--device", "cpu"]
    steps = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "steps", *tiny, "--tokens", "100",
                            "--steps", "2"], capture_output=True, text=True, env=ENV, timeout=300)  # fmt: skip
    assert steps.returncode == 0, steps.stderr[-2000:]
    assert "100 tokens per side per step" in steps.stdout and "MFU" in steps.stdout
    beam = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "beam", *tiny, "--sentences", "3",
                           "--max-extra", "2"], capture_output=True, text=True, env=ENV, timeout=300)  # fmt: skip
    assert beam.returncode == 0, beam.stderr[-2000:]
    assert beam.stdout.startswith("beam: 3 sentences")
