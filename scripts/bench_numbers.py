"""The main job, measured: `aiayn train` on the built-in task from nothing, timed end to end.

    python scripts/bench_numbers.py [--run-dir runs/bench-numbers] [extra `aiayn train` arguments]

Runs the README's first command (`aiayn train`, spec gate included, with a fresh gate
cache so the suite really runs) into a fresh run folder, then prints the wall time and
the test-set figures from eval.json beside the targets: under 15 minutes on 2 CPU cores,
exact match >= 0.90 and sacreBLEU >= 90 on the held-out numbers.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"wall_minutes": 15.0, "exact_match": 0.90, "bleu": 90.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench-numbers"))
    parser.add_argument("--keep-gate-cache", action="store_true", help="reuse a cached green spec gate")
    args, extra = parser.parse_known_args()
    if args.run_dir.exists():
        shutil.rmtree(args.run_dir)
    env = dict(os.environ)
    if not args.keep_gate_cache:
        env["AIAYN_CACHE"] = tempfile.mkdtemp(prefix="aiayn-gate-")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "aiayn", "train", "--run-dir", str(args.run_dir), *extra], env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"aiayn train failed (exit {proc.returncode}) after {wall / 60:.1f} min")
        return proc.returncode
    record = json.loads((args.run_dir / "eval.json").read_text())
    figures = {"wall_minutes": wall / 60, "exact_match": record["exact_match"], "bleu": record["bleu"]}
    print(f"\nmeasured on {os.cpu_count()} CPU cores ({record['n']} held-out test sentences)")
    for key, value in figures.items():
        target = TARGETS[key]
        ok = value <= target if key == "wall_minutes" else value >= target
        print(f"  {key:13s} {value:8.3f}   target {'<=' if key == 'wall_minutes' else '>='} {target:<6}  "
              f"{'met' if ok else 'NOT met'}")  # fmt: skip
    print(f"  chrf          {record['chrf']:8.3f}")
    print(f"  {record['bleu_signature']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
