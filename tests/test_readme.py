"""README.md opens with two commands that work on a fresh machine, and CI runs both as written."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".ci" / "run"


def _helper():  # noqa: ANN202
    """.ci/readme_command.py, the one reader of README's commands that CI and this test share."""
    spec = importlib.util.spec_from_file_location("readme_command", ROOT / ".ci" / "readme_command.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_opens_with_install_and_train_then_install_and_test() -> None:
    train, test = _helper().readme_commands()[:2]
    assert "pip install torch==2.13.0" in train and train.endswith("aiayn train")
    assert "[dev]" not in train, "the first command needs no dev extra: the spec gate's tools are dependencies"
    assert train.index("pip install torch==2.13.0") < train.index("pip install -e .")
    assert "pip install torch==2.13.0" in test and '".[dev]"' in test and test.endswith("pytest")
    # the block as a reader sees it, lines in order
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S).group(1)
    assert [line for line in block.splitlines() if line.strip() and not line.startswith("#")][:2] == [train, test]


def test_ci_runs_the_first_readme_command_as_written_then_the_test_command() -> None:
    """.ci/run reads both commands from README.md (never retyped), runs the first in a copy of the
    tree with an empty spec-gate cache and checks it ends with an evaluation, then the second."""
    ci = CI.read_text(encoding="utf-8")
    train, test = _helper().readme_commands()[:2]
    assert train not in ci and test not in ci, "CI must read the commands from README.md, not retype them"
    for step in ("python3 .ci/readme_command.py 0", "python3 .ci/readme_command.py 1",
                 'AIAYN_CACHE="$work/gate-cache" bash -c "$command"', 'bash -c "$command"',
                 '--evaluation "$work/first.log"', "set -euo pipefail"):  # fmt: skip
        assert step in ci, step
    assert ci.index('steps="${*:-first test}"') < ci.index("for step in $steps")  # first, then the test command
    assert "|| true" not in ci and "-eq 5" not in ci, "no pytest exit status (5: no tests) may pass CI"
    # the copy stands alone as a user's clone does: the Shakespeare tasks read the packaged corpus
    assert "unset AIAYN_SHAKESPEARE" in ci and "../shared" not in ci.split("unset AIAYN_SHAKESPEARE")[1]
    assert "export AIAYN_SHAKESPEARE" not in ci
    for n, command in ((0, train), (1, test)):
        out = subprocess.run([sys.executable, str(ROOT / ".ci" / "readme_command.py"), str(n)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert out == command + "\n"


FIRST_COMMAND_TAIL = """\
train: step 2000  loss 1.21
test: BLEU 98.4  chrF 99.8  exact match 0.976  (1000 sentences)
  nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0
  forty-two  ->  zweiundvierzig
{"bleu": 98.4, "chrf": 99.8, "exact_match": 0.976, "train_seconds": 402.0, "steps": 2000}
run folder: runs/numbers-en-de
"""


def test_ci_accepts_only_output_that_ends_with_the_test_set_evaluation() -> None:
    ended = _helper().evaluation_at_end
    assert ended(FIRST_COMMAND_TAIL).startswith("test: BLEU 98.4  chrF 99.8  exact match 0.976")
    assert ended(FIRST_COMMAND_TAIL + "Traceback (most recent call last):\n  ...\nRuntimeError: x\n") is None
    assert ended(FIRST_COMMAND_TAIL.replace("test: BLEU", "validation: BLEU")) is None
    assert ended("aiayn train: training refused: these specs fail:\n  sec3_x.py::test_y\n") is None
