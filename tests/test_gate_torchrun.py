"""The spec gate under torchrun: every process learns the verdict, and a red gate ends all
of them with the same message (no process waits forever for the others)."""

import os
import subprocess
import sys
from pathlib import Path

FAILING_SPEC = '''"""§0 A deliberately failing claim.

Used by tests/test_gate_torchrun.py only.
"""

CODE = "aiayn/model/attention.py"


def test_one_equals_two() -> None:
    """One equals two."""
    assert 1 == 2
'''


def test_a_red_gate_stops_every_rank_with_the_same_message(tmp_path: Path) -> None:
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "sec0_failing.py").write_text(FAILING_SPEC)
    env = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "AIAYN_CACHE": str(tmp_path / "cache")}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "--tee=3", "--log-dir", str(tmp_path / "logs")]  # fmt: skip
    driver = Path(__file__).parent / "gate_driver.py"
    result = subprocess.run([*torchrun, str(driver), str(spec_dir), str(tmp_path / "run")], capture_output=True,
                            text=True, env=env, timeout=240)  # fmt: skip
    assert result.returncode != 0
    both = result.stdout + result.stderr
    lines = [line for line in both.splitlines() if "training refused" in line]
    ranks = {line.split(":", 1)[0].strip() for line in lines}
    assert len(lines) >= 2 and len(ranks) >= 2, both[-3000:]  # rank 0 and rank 1 both say it
    assert "test_one_equals_two" in both
    assert not (tmp_path / "run").exists(), "nothing is written when the gate refuses"
