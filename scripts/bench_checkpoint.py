"""What a checkpoint costs the training loop: a synchronous save against the background one.

    python scripts/bench_checkpoint.py [--preset base] [--vocab 37000] [--rounds 3] [--dir DIR]

The model of `--preset` with Adam's state filled by one step. Per round, alternating:
`save_checkpoint` (written, fsynced and hashed in line: what every process waited for
before), and `AsyncSaver.save` (the training thread's share only: the copy to host
memory; the writing goes on in the background and is waited for outside the timing).
Printed: median seconds of each, their ratio, and the checkpoint's size.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from aiayn.model.config import preset
from aiayn.model.transformer import Transformer
from aiayn.training.async_save import AsyncSaver
from aiayn.training.checkpoint import save_checkpoint
from aiayn.training.schedule import make_optimizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--vocab", type=int, default=37000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.exit(2, f"bench_checkpoint.py: --rounds must be at least 1, got {args.rounds}\n")
    cfg = preset(args.preset, vocab_size=args.vocab)
    torch.manual_seed(0)
    model = Transformer(cfg)
    optimizer, _ = make_optimizer(model, cfg.d_model)
    src = torch.randint(4, cfg.vocab_size, (2, 8))
    model(src, src).float().mean().backward()
    optimizer.step()  # Adam's moments exist
    root = Path(tempfile.mkdtemp(dir=args.dir))
    saver = AsyncSaver()
    sync, background, step = [], [], 0
    try:
        for _ in range(args.rounds):
            step += 1
            state = {"optimizer": optimizer.state_dict()}
            t0 = time.perf_counter()
            save_checkpoint(root / "sync", step, model, state, cfg.to_dict(), "tok", keep_last=1)
            sync.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            saver.save(root / "async", step, model, state, cfg.to_dict(), "tok", keep_last=1)
            background.append(time.perf_counter() - t0)
            saver.wait()
        size = sum(p.stat().st_size for p in (root / "sync").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    s, b = statistics.median(sync), statistics.median(background)
    print(f"{args.preset}, vocabulary {args.vocab:,}: checkpoint {size / 2**20:.0f} MiB; training thread blocked "
          f"{s:.2f} s by a synchronous save, {b:.2f} s by a background one (ratio {b / s:.2f}); "
          f"medians of {args.rounds} rounds")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
