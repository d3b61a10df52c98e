"""The `aiayn` command: one module per command, each with a `register(sub)` function.

    aiayn specs                  run the spec suite, print the checklist, update TODO.md
    aiayn trace / params         shapes of every sub-layer; parameters per layer, Table 3 (--cost: Table 2)
    aiayn prepare ...            a translation task's vocabulary and binarized data, once
    aiayn train ...              train a task (see `aiayn train --help`)
    aiayn translate / evaluate / average
    aiayn generate               continue prompts with a trained language model
    aiayn attention / positions  pictures: attention maps of a run, the §3.5 encoding
    aiayn table3                 Table 3 rerun (in miniature by default) and §6.2's claims judged

Shape checking (jaxtyping + beartype) is on by default; `--no-shape-checks` or
AIAYN_SHAPE_CHECKS=0 turns it off. It must be decided before any model code is
imported, so the command modules import the rest of aiayn inside their functions.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from aiayn.checks import shapecheck

# The command modules under aiayn/cli/, in the order `aiayn --help` lists them.
COMMANDS = ("specs", "inspect", "prepare", "train", "translate", "evaluate", "generate", "average", "attention",
            "positions", "table3")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (and where to read more)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aiayn", description="Attention Is All You Need, as executable specs.")
    parser.add_argument(
        "--no-shape-checks", action="store_true",
        help="turn off run-time shape checking (faster; needed for torch.compile). Same as AIAYN_SHAPE_CHECKS=0",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"aiayn.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    no_checks = "--no-shape-checks" in argv  # accepted before or after the command
    if shapecheck.wanted(False if no_checks else None):
        shapecheck.enable()
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--no-shape-checks"])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
