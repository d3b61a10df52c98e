"""README.md opens with two commands that work on a fresh machine, and CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a bash block of commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_install_and_train_then_install_and_test() -> None:
    train, test = _readme_commands()[:2]
    assert "pip install torch==2.13.0" in train and train.endswith("aiayn train")
    assert "pip install torch==2.13.0" in test and '".[dev]"' in test and test.endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test = _readme_commands()[1]
    for step in ("pip install -q torch==2.13.0", 'pip install -q -e ".[dev]"'):
        assert step in ci
    assert test.split("&&")[-1].strip() in ci.splitlines()
