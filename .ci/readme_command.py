"""README.md's opening commands, exactly as written: CI runs them, tests/test_readme.py checks them.

    python3 .ci/readme_command.py 0        print the first command (install, then train)
    python3 .ci/readme_command.py 1        print the second (install with [dev], then test)
    python3 .ci/readme_command.py --evaluation LOG
                                           print the test-set evaluation line that LOG (the output
                                           of the first command) ends with; exit 1 if it does not
"""

import json
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
EVALUATION = re.compile(r"^test: BLEU \d+(\.\d+)? +chrF \d+(\.\d+)? +exact match \d(\.\d+)?")


def readme_commands(readme: Path = README) -> list[str]:
    """The command lines of README.md's first bash block (comments and blank lines left out)."""
    block = re.search(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    if block is None:
        raise SystemExit(f"{readme}: no bash block of commands")
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def evaluation_at_end(output: str) -> str | None:
    """The test-set evaluation line, if `output` ends with `aiayn train`'s summary of it.

    `aiayn train` logs "test: BLEU .. chrF .. exact match .." (then the sacreBLEU signature
    and a few samples), and ends with a JSON summary holding bleu, chrf and exact_match and
    the line naming the run folder."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    evaluations = [line for line in lines if EVALUATION.match(line)]
    summaries = [line for line in lines[-3:] if line.startswith("{")]
    try:
        summary = json.loads(summaries[-1]) if summaries else {}
    except json.JSONDecodeError:
        summary = {}
    if not evaluations or not {"bleu", "chrf", "exact_match"} <= set(summary):
        return None
    return evaluations[-1]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--evaluation"]:
        line = evaluation_at_end(Path(sys.argv[2]).read_text(encoding="utf-8", errors="replace"))
        print(line or "the output does not end with a test-set evaluation (BLEU, chrF, exact match)")
        sys.exit(0 if line else 1)
    print(readme_commands()[int(sys.argv[1])])
