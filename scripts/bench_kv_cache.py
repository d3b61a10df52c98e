"""Key/value cache against full recomputation: 256 new tokens from the same model, same tokens out.

    python scripts/bench_kv_cache.py [--new-tokens 256] [--threads 1 2] [--repeats 2] [--shapes small nanogpt]

`aiayn.decoding.sampling.generate` runs twice per setting on one randomly initialised
decoder-only model: with the cache (each step feeds one new token per row) and with
`use_cache=False` (each step feeds the whole window again). Both runs must give the same
tokens; the script prints the best-of-`repeats` wall times side by side and their ratio.
Target: the cache at least 5x faster on 2 cores. Each setting runs under every thread
count asked for (by default 1 and the number of cores): a cached step is made of many
tiny operations, which a second thread slows down when the other core is busy.

Shapes (learned positions covering the prompt and the new tokens, sampling at
temperature 1 under one seed, prompts of different lengths up to 16 tokens):
    small    4 layers, width 128, 4 heads, d_ff 512, 2,048 tokens   batches 1 and 8
    nanogpt  6 layers, width 384, 6 heads, d_ff 1,536, 88 characters  batch 1
             (the shape of nanoGPT's character-level Shakespeare model)
"""

import argparse
import os
import time

import torch

from aiayn.decoding.sampling import generate
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM

TARGET = 5.0
SHAPES = {  # name: (n_layers, d_model, h, vocab, batch sizes)
    "small": (4, 128, 4, 2048, (1, 8)),
    "nanogpt": (6, 384, 6, 88, (1,)),
}


def best_time(
    model: DecoderOnlyLM, prompts: list[list[int]], new_tokens: int, repeats: int, use_cache: bool
) -> tuple[float, tuple[tuple[int, ...], ...]]:
    """The shortest wall time of `repeats` runs, and the tokens generated."""
    best, out = float("inf"), ()
    for _ in range(repeats):
        start = time.perf_counter()
        out = generate(model, prompts, new_tokens, temperature=1.0, seed=0, use_cache=use_cache)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=16, help="longest prompt; the others are shorter")
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.new_tokens} new tokens on {os.cpu_count()} CPU cores")
    print(f"{'threads':>7}  {'shape':>8}  {'batch':>5}  {'cache s':>8}  {'recompute s':>11}  {'ratio':>6}  same tokens")
    ratios: dict[int, list[float]] = {threads: [] for threads in args.threads}
    for threads, name in ((threads, name) for threads in args.threads for name in args.shapes):
        torch.set_num_threads(threads)
        n_layers, d_model, h, vocab, batches = SHAPES[name]
        torch.manual_seed(0)
        cfg = TransformerConfig(
            vocab_size=vocab, n_layers=n_layers, d_model=d_model, d_ff=4 * d_model, h=h, p_drop=0.0,
            positions="learned", max_len=args.prompt_len + args.new_tokens,
        )  # fmt: skip
        model = DecoderOnlyLM(cfg).eval()
        for batch in batches:
            g = torch.Generator().manual_seed(batch)
            lengths = [args.prompt_len, *torch.randint(1, args.prompt_len + 1, (batch - 1,), generator=g).tolist()]
            prompts = [torch.randint(4, vocab, (n,), generator=g).tolist() for n in lengths]
            cached, out_cached = best_time(model, prompts, args.new_tokens, args.repeats, use_cache=True)
            full, out_full = best_time(model, prompts, args.new_tokens, args.repeats, use_cache=False)
            same = out_cached == out_full
            ratios[threads].append(full / cached)
            print(f"{threads:7d}  {name:>8}  {batch:5d}  {cached:8.3f}  {full:11.3f}  {full / cached:5.1f}x  "
                  f"{'yes' if same else 'NO'}")  # fmt: skip
            if not same:
                return 1
    for threads, found in ratios.items():
        worst = min(found)
        verdict = "met" if worst >= TARGET else "NOT met"
        print(f"{threads} thread(s): cache speed-up {worst:.1f}x at worst; target >= {TARGET:.0f}x: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
