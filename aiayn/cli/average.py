"""`aiayn average`: average the last k checkpoints of a run into one model (§6.1)."""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    av = sub.add_parser("average", help="average the last k checkpoints of a run into model.safetensors (§6.1)")
    av.add_argument("--model", type=Path, required=True, metavar="RUN")
    av.add_argument("--last", type=int, default=5, help="how many checkpoints (paper: 5 base, 20 big)")
    av.add_argument("--output", type=Path, default=None, help="default: RUN/model.safetensors")
    av.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.training.averaging import average_checkpoints
    from aiayn.training.checkpoint import checkpoint_dirs

    dirs = checkpoint_dirs(args.model)[-args.last :]
    if not dirs:
        print(f"aiayn average: {args.model} has no checkpoints", file=sys.stderr)
        return 2
    out = args.output or args.model / "model.safetensors"
    try:
        average_checkpoints(dirs, out)
    except USER_ERRORS as err:
        print(f"aiayn average: {err}", file=sys.stderr)
        return 2
    print(f"averaged {len(dirs)} checkpoints ({', '.join(d.name for d in dirs)}) into {out}")
    return 0
