"""`aiayn positions`: §3.5's sinusoidal encoding as pictures.

    aiayn positions --d-model 512 --n-pos 100 [--k 5] [--out DIR]

Writes heatmap.png, curves.png, dot_product.png and rotation.png (see
`aiayn.inspect.position_pictures`); the folder is the last line printed.
"""

import argparse
from pathlib import Path

from aiayn.cli.errors import fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("positions", help="draw the sinusoidal positional encoding and its shift property (§3.5)")
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--n-pos", type=int, default=100, help="positions drawn")
    p.add_argument("--k", type=int, default=5, help="the offset shown by the rotation picture")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: positions-dD_MODEL)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.d_model < 2 or args.d_model % 2:
        return fail("positions", f"--d-model {args.d_model}: must be even and at least 2 (sin/cos pairs)")
    if args.n_pos < 2:
        return fail("positions", f"--n-pos {args.n_pos}: draw at least 2 positions")
    if not 1 <= args.k < args.n_pos:
        return fail("positions", f"--k {args.k}: the offset must lie in 1..{args.n_pos - 1}")
    from aiayn.inspect.position_pictures import position_pictures

    out = Path(args.out) if args.out is not None else Path(f"positions-d{args.d_model}")
    out.mkdir(parents=True, exist_ok=True)
    for path in position_pictures(args.d_model, args.n_pos, out, k=args.k):
        print(path.name)
    print(out)
    return 0
