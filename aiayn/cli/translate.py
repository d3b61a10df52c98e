"""`aiayn translate`: translate lines from standard input or a file with beam search (§6.1)."""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.decoding.search import ALPHA, BEAM_SIZE

    p = sub.add_parser("translate", help="translate lines from standard input or a file")
    p.add_argument("--model", type=Path, required=True, metavar="RUN", help="a finished translation run folder")
    p.add_argument("--input", "-i", type=Path, default=None, help="input file (default: standard input)")
    p.add_argument("--beam-size", type=int, default=BEAM_SIZE, help=f"1 = greedy (paper: {BEAM_SIZE})")
    p.add_argument("--alpha", type=float, default=ALPHA, help=f"length penalty (paper: {ALPHA})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.runner import load_run
    from aiayn.tasks.translation import TranslationTask, translate_lines

    if args.beam_size < 1:
        return fail("translate", f"--beam-size must be at least 1, got {args.beam_size}")
    if not args.alpha >= 0:
        return fail("translate", f"--alpha must be 0 or more, got {args.alpha}")
    try:
        trained = load_run(args.model)
    except USER_ERRORS as err:
        return fail("translate", err)
    if trained.spec.task not in TranslationTask.recipes:
        return fail("translate", f"{args.model} is a {trained.spec.task} run, not a translation run")
    if args.input is not None:
        try:
            lines = args.input.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return fail("translate", f"input file {args.input} not found")
        except (OSError, UnicodeDecodeError) as err:
            return fail("translate", f"input file {args.input} cannot be read as UTF-8 text ({err})")
    else:
        lines = sys.stdin.read().splitlines()
    for line in translate_lines(trained.model, trained.tokenizer, lines, beam_size=args.beam_size, alpha=args.alpha):
        print(line)
    return 0
