"""`aiayn evaluate`: translate a split of the run's task and score it."""

import argparse
import json
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ev = sub.add_parser("evaluate", help="translate a split and report BLEU, chrF, exact match")
    ev.add_argument("--model", type=Path, required=True, metavar="RUN")
    ev.add_argument("--split", default="test", choices=("validation", "test"))
    ev.add_argument("--beam-size", type=int, default=4)
    ev.add_argument("--alpha", type=float, default=0.6)
    ev.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.translation import evaluate_run

    try:
        record = evaluate_run(args.model, args.split, beam_size=args.beam_size, alpha=args.alpha, limit=args.limit)
    except USER_ERRORS as err:
        print(f"aiayn evaluate: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: record[k] for k in ("bleu", "chrf", "exact_match", "bleu_signature")}))
    return 0
