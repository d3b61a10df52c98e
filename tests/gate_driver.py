"""`aiayn train` under torchrun with the spec gate pointed at a spec folder holding a failing
claim: `python tests/gate_driver.py SPEC_DIR RUN_DIR`. Not collected by pytest."""

import functools
import sys
from pathlib import Path

from aiayn.checks import checklist
from aiayn.cli import main

if __name__ == "__main__":
    spec_dir, run_dir = Path(sys.argv[1]), sys.argv[2]
    checklist.gate = functools.partial(checklist.gate, spec_dir=spec_dir, reuse=False)
    raise SystemExit(main(["train", "--run-dir", run_dir, "--steps", "2", "--no-progress"]))
