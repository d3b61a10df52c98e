"""`aiayn average`: average the last k checkpoints of a run into one model (§6.1)."""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("average", help="average the last k checkpoints of a run into model.safetensors (§6.1)")
    p.add_argument("--model", type=Path, required=True, metavar="RUN")
    p.add_argument("--last", type=int, default=5, help="how many checkpoints, at least 1 (paper: 5 base, 20 big)")
    p.add_argument("--output", type=Path, default=None, help="default: RUN/model.safetensors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.training.averaging import average_checkpoints
    from aiayn.training.checkpoint import checkpoint_dirs, last_good_checkpoints

    if args.last < 1:
        return fail("average", f"--last must be at least 1 (the number of newest checkpoints to average), got {args.last}")
    if not args.model.is_dir():
        return fail("average", f"{args.model}: no such run folder")
    dirs = checkpoint_dirs(args.model)
    if not dirs:
        return fail("average", f"{args.model} has no checkpoints")
    chosen = last_good_checkpoints(args.model, args.last, log=lambda line: print(line, file=sys.stderr))
    if len(chosen) < args.last:
        return fail("average", f"--last {args.last}: {args.model} holds only {len(chosen)} checkpoints that verify "
                               f"(of {len(dirs)})")
    out = args.output or args.model / "model.safetensors"
    try:
        average_checkpoints(chosen, out)
    except USER_ERRORS as err:
        return fail("average", err)
    print(f"averaged {len(chosen)} checkpoints ({', '.join(d.name for d in chosen)}) into {out}")
    return 0
