"""Cost of run-time shape checking on a tiny-model forward pass, measured side by side.

    python scripts/bench_shape_checks.py [--repeats 600] [--rounds 30] [--procs 3]

Starts interpreters for three modes (--procs of each, since one process can be a few
per cent faster or slower than another for reasons of its own: memory layout, where
the allocator put things): shape checks off, checks in full on every call (jaxtyping +
beartype, `AIAYN_SHAPE_CHECKS=full`), and the default cached checks (in full once per
call signature, see aiayn/checks/cached.py). Their timing rounds are interleaved so that
machine noise hits all three alike. Prints, per mode, the median time per forward pass
over the rounds, both wall-clock and CPU time of the process (CPU time is the steadier
figure on a shared machine: it does not count time spent waiting for a core), and each
mode's ratio to checks off; the medians pool every round of every process of a mode.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

MODES = {
    "off": "shape checks off",
    "full": "full checks every call (plain beartype)",
    "cached": "cached checks (the default)",
}

WORKER = r"""
import json, sys, time, torch
mode = sys.argv[1]
from aiayn.checks.shapecheck import enable, in_use
if mode != "off":
    enable(mode)
from aiayn import Transformer, TransformerConfig
assert in_use() == mode, (in_use(), mode)
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
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            model(src, tgt)
        print(json.dumps(((time.perf_counter() - wall) / n, (time.process_time() - cpu) / n)), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=600, help="forward passes per mode in all")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--procs", type=int, default=3, help="interpreters per mode")
    args = parser.parse_args()
    for flag in ("repeats", "rounds", "procs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {
        (mode, i): subprocess.Popen([sys.executable, "-c", WORKER, mode], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
        for i in range(args.procs)
        for mode in MODES
    }
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    per_round = max(1, args.repeats // args.rounds)
    for _ in range(args.rounds):
        for (mode, _), proc in procs.items():  # alternate, so machine noise hits all alike
            proc.stdin.write(f"{per_round}\n")
            proc.stdin.flush()
            w, c = json.loads(proc.stdout.readline())
            wall[mode].append(w)
            cpu[mode].append(c)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    print(f"tiny preset forward pass (batch 8, n_src 24, n_tgt 12, 1 thread), medians of {args.rounds} rounds "
          f"of {per_round} in each of {args.procs} processes per mode")  # fmt: skip
    print(f"  {'':<42}{'wall ms':>9}{'ratio':>8}{'cpu ms':>9}{'ratio':>8}")
    w_off, c_off = statistics.median(wall["off"]), statistics.median(cpu["off"])
    for mode, label in MODES.items():
        w, c = statistics.median(wall[mode]), statistics.median(cpu[mode])
        print(f"  {label:<42}{w * 1e3:9.2f}{w / w_off:7.3f}x{c * 1e3:9.2f}{c / c_off:7.3f}x")


if __name__ == "__main__":
    main()
