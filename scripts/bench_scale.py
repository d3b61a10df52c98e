"""The translation data pipeline at WMT 2014's size: binarize once, then train from the memory map.

    python scripts/bench_scale.py [--pairs 4500000] [--steps 100] [--cache DIR] [--keep]

Two training runs of the number task's tiny recipe on `--pairs` training pairs (WMT
2014 has 4,508,785), each in its own process and its own run folder, sharing one
binarized cache (a fresh temporary one unless `--cache` is given):

1. the first run finds no cache: it generates the pairs, trains the BPE vocabulary and
   binarizes the pairs (in a child process), then trains `--steps` steps;
2. the second run finds the cache and trains the same steps.

Printed: the tokens and pairs binarized, the seconds the binarization took (from the
cache's meta.json) and the first run's preparation (process start to the end of its
first step), bytes per token on disk, each run's resident memory (RSS, split into
anonymous memory and mapped file pages) after the imports and after its last step, and
the growth per token of training data against the token file's size; then the second
run's time from process start to the end of its first step, as a share of the first
run's. Targets (issue 13): at most 8 bytes of RSS growth per token, and a second start
under 10% of the first run's preparation.

RSS is read just before the task prepares its data and after the last step, so the
growth also holds what training itself costs (the model, the optimiser, the activations
of a step, the code loaded on first use). A third, control run on 2,000 pairs measures
that; the growth due to the data is the second run's growth minus the control's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROWTH_TARGET, START_TARGET = 8.0, 0.10
CONTROL = 2_000  # pairs of the control run: what a run costs without the data

CHILD = r"""
import dataclasses, json, sys, time
from aiayn.tasks.base import RunSpec
from aiayn.tasks.runner import train_run
from aiayn.tasks.translation import NUMBERS, TranslationTask
from aiayn.training import trainer as training

def rss():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields

pairs, steps, run_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
record = {"imported": time.time(), "rss_start": rss()}
real_step, real_prepare = training.Trainer.train_step, TranslationTask.prepare

def timed_step(self):
    out = real_step(self)
    if "first_step" not in record:
        record["first_step"] = time.time()
    if self.progress.step == steps:
        record["rss_end"] = rss()
    return out

def timed_prepare(self, *args):
    record["rss_before_data"] = rss()
    out = real_prepare(self, *args)
    record["rss_after_data"] = rss()
    return out

training.Trainer.train_step, TranslationTask.prepare = timed_step, timed_prepare
spec = dataclasses.replace(NUMBERS, average_last=0, data={**NUMBERS.data, "n_train": pairs},
                           train=dataclasses.replace(NUMBERS.train, steps=steps, save_every=10**9))
train_run(spec, run_dir, evaluate=False, progress_bar=False, log=lambda line: print(line, file=sys.stderr))
print(json.dumps(record))
"""


def one_run(pairs: int, steps: int, run_dir: Path, env: dict[str, str]) -> dict:
    """Run a training process; returns its record with times measured from just before it started."""
    start = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(pairs), str(steps), str(run_dir)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout  # fmt: skip
    record = json.loads(out.strip().splitlines()[-1])
    record.update(start=start, to_first_step=record["first_step"] - start, imports=record["imported"] - start)
    return record


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4_500_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=None, help="the cache folder (default: a fresh temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache and run folders")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiayn-bench-scale-"))
    cache = args.cache or work / "cache"
    env = {**os.environ, "AIAYN_CACHE": str(cache), "AIAYN_SHAPE_CHECKS": "0"}
    print(f"{args.pairs:,} number-task pairs, {args.steps} steps of the tiny recipe; cache {cache}", flush=True)
    first = one_run(args.pairs, args.steps, work / "first", env)
    second = one_run(args.pairs, args.steps, work / "second", env)
    control = one_run(CONTROL, args.steps, work / "control", env)
    metas = {p: json.loads(p.read_text()) for p in (cache / "binarized").glob("*/meta.json")}
    sized = {m["splits"]["train"]["pairs"]: (p.parent, m) for p, m in metas.items()}
    folder, meta = sized[args.pairs]
    train, control_tokens = meta["splits"]["train"], sized[CONTROL][1]["splits"]["train"]["tokens"]
    tokens_bytes = (folder / "train.tokens").stat().st_size
    index_bytes = (folder / "train.index.npy").stat().st_size
    print(f"binarized: {train['pairs']:,} pairs, {train['tokens']:,} tokens ({train['source_tokens']:,} source), "
          f"{meta['dtype']}, in {meta['seconds']:.1f} s ({train['tokens'] / meta['seconds']:,.0f} tokens/s)")
    print(f"on disk: tokens {mib(tokens_bytes)} + index {mib(index_bytes)} = "
          f"{(tokens_bytes + index_bytes) / train['tokens']:.2f} bytes per token "
          f"({tokens_bytes / train['tokens']:.2f} for the tokens alone)")
    rows = (("first run", first, train["tokens"]), ("second run", second, train["tokens"]),
            (f"control ({CONTROL:,} pairs)", control, control_tokens))  # fmt: skip
    for name, r, n_tokens in rows:
        before, data, end = r["rss_before_data"], r["rss_after_data"], r["rss_end"]
        print(f"{name}: RSS {mib(before['VmRSS'])} before the data -> {mib(data['VmRSS'])} with it -> "
              f"{mib(end['VmRSS'])} after step {args.steps}: growth {mib(end['VmRSS'] - before['VmRSS'])} "
              f"(anonymous {mib(end['RssAnon'] - before['RssAnon'])}, mapped files "
              f"{mib(end['RssFile'] - before['RssFile'])}) for {n_tokens:,} tokens")
    growth = (second["rss_end"]["VmRSS"] - second["rss_before_data"]["VmRSS"]) - (
        control["rss_end"]["VmRSS"] - control["rss_before_data"]["VmRSS"])  # fmt: skip
    per_token = growth / (train["tokens"] - control_tokens)
    print(f"growth due to the data (second run minus control): {mib(growth)} = {per_token:.2f} bytes per token "
          f"(target <= {GROWTH_TARGET:g}; the token file holds {tokens_bytes / train['tokens']:.2f})")
    share = second["to_first_step"] / first["to_first_step"]
    print(f"start to the end of the first step: first run {first['to_first_step']:.1f} s (its preparation), "
          f"second run {second['to_first_step']:.1f} s ({second['imports']:.1f} s of it imports) = {share:.1%} of "
          f"the first (target < {START_TARGET:.0%})")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept: {work}")


if __name__ == "__main__":
    main()
