"""`aiayn evaluate`: score a trained run on a split of its task."""

import argparse
import json
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.decoding.search import ALPHA, BEAM_SIZE

    p = sub.add_parser("evaluate", help="score a run on a split of its task (translation: BLEU, chrF, exact match)")
    p.add_argument("--model", type=Path, required=True, metavar="RUN")
    p.add_argument("--split", default="test", choices=("validation", "test"))
    p.add_argument("--beam-size", type=int, default=BEAM_SIZE, help="translation: beam size (1 = greedy)")
    p.add_argument("--alpha", type=float, default=ALPHA, help="translation: length penalty")
    p.add_argument("--limit", type=int, default=None, help="translation: only the first N sentences")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.base import get_task
    from aiayn.tasks.runner import load_run

    if args.beam_size < 1:
        return fail("evaluate", f"--beam-size must be at least 1, got {args.beam_size}")
    if args.limit is not None and args.limit < 1:
        return fail("evaluate", f"--limit must be at least 1, got {args.limit}")
    try:
        trained = load_run(args.model)
        task = get_task(trained.spec)
        options = {"beam_size": args.beam_size, "alpha": args.alpha, "limit": args.limit}
        record = task.evaluate(trained, args.split, print, **options)
    except USER_ERRORS as err:
        return fail("evaluate", err)
    print(json.dumps({k: v for k, v in record.items() if not isinstance(v, (dict, list))}))
    return 0
