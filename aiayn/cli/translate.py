"""`aiayn translate`: translate lines from standard input or a file with beam search (§6.1)."""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tr = sub.add_parser("translate", help="translate lines from standard input or a file")
    tr.add_argument("--model", type=Path, required=True, metavar="RUN", help="a finished run folder")
    tr.add_argument("--input", "-i", type=Path, default=None, help="input file (default: standard input)")
    tr.add_argument("--beam-size", type=int, default=4)
    tr.add_argument("--alpha", type=float, default=0.6)
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.translation import load_run, translate_lines

    try:
        model, tokenizer, _ = load_run(args.model)
    except USER_ERRORS as err:
        print(f"aiayn translate: {err}", file=sys.stderr)
        return 2
    if args.input is not None:
        if not args.input.exists():
            print(f"aiayn translate: input file {args.input} not found", file=sys.stderr)
            return 2
        lines = args.input.read_text(encoding="utf-8").splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    for line in translate_lines(model, tokenizer, lines, beam_size=args.beam_size, alpha=args.alpha):
        print(line)
    return 0
