"""Cost of run-time shape checking on a tiny-model forward pass, measured side by side.

    python scripts/bench_shape_checks.py [--repeats 200]

Starts two interpreters, one with aiayn's jaxtyping + beartype checks on and one with
them off, interleaves their timing rounds, and prints the median time per forward pass
and the ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time, torch
checked = sys.argv[1] == "1"
if checked:
    from aiayn.checks.shapecheck import enable
    enable()
from aiayn import Transformer, TransformerConfig
from aiayn.checks.shapecheck import active
assert active() == checked
torch.set_num_threads(1)
torch.manual_seed(0)
cfg = TransformerConfig.tiny(vocab_size=1000)
model = Transformer(cfg).eval()
src, tgt = torch.randint(4, 1000, (8, 24)), torch.randint(4, 1000, (8, 12))
with torch.inference_mode():
    for _ in range(20):
        model(src, tgt)
    for line in sys.stdin:
        n = int(line)
        t = time.perf_counter()
        for _ in range(n):
            model(src, tgt)
        print(json.dumps((time.perf_counter() - t) / n), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {
        flag: subprocess.Popen([sys.executable, "-c", WORKER, flag], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
        for flag in ("0", "1")
    }
    times: dict[str, list[float]] = {"0": [], "1": []}
    per_round = max(1, args.repeats // args.rounds)
    for _ in range(args.rounds):
        for flag, proc in procs.items():  # alternate, so machine noise hits both alike
            proc.stdin.write(f"{per_round}\n")
            proc.stdin.flush()
            times[flag].append(json.loads(proc.stdout.readline()))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    off, on = statistics.median(times["0"]), statistics.median(times["1"])
    print("tiny preset forward pass (batch 8, n_src 24, n_tgt 12, 1 thread)")
    print(f"  shape checks off: {off * 1e3:8.2f} ms")
    print(f"  shape checks on:  {on * 1e3:8.2f} ms")
    print(f"  overhead: {(on - off) * 1e3:.2f} ms per forward pass ({on / off:.2f}x)")


if __name__ == "__main__":
    main()
