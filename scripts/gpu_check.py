"""Timed parts of scripts/gpu_check.sh: training steps of a preset with MFU, and beam decoding.

    python scripts/gpu_check.py steps [--preset base] [--tokens 25000] [--steps 200] [--device cuda]
    python scripts/gpu_check.py beam  [--preset base] [--sentences 500] [--device cuda]

steps: optimiser steps (bf16 autocast, label-smoothed loss, fused Adam with Eq. 3) on
random batches of `--tokens` tokens per side (sentences of 25 tokens); after 10 steps of
warm-up it prints step time, tokens per second, model-FLOPs utilisation (FLOPs from
`aiayn.training.memory.flops_per_step` over the device's dense bf16 peak) and the peak
memory beside `aiayn.training.memory`'s estimate for that many tokens.
beam: beam 4, alpha 0.6, input length + 50 (§6.1) over `--sentences` random sources of
10 to 50 tokens, in batches of 64, with an untrained model (so most hypotheses run to the
length limit: the slowest case); prints sentences per second.
"""

import argparse
import time

import torch

from aiayn.decoding.search import beam_search
from aiayn.model.config import preset
from aiayn.model.transformer import Transformer
from aiayn.training import memory
from aiayn.training.loss import label_smoothed_loss
from aiayn.training.schedule import make_optimizer

LENGTH = 25
VOCAB = 37000


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps(args: argparse.Namespace, device: torch.device) -> None:
    cfg = preset(args.preset, vocab_size=args.vocab)
    torch.manual_seed(0)
    model = Transformer(cfg).to(device).train()
    optimizer, schedule = make_optimizer(model, cfg.d_model)
    n_sent = max(1, args.tokens // LENGTH)
    src = torch.randint(4, cfg.vocab_size, (n_sent, LENGTH), device=device)
    tgt = torch.randint(4, cfg.vocab_size, (n_sent, LENGTH), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(src, tgt)
        (label_smoothed_loss(logits, tgt, cfg.eps_ls, cfg.pad_id, reduction="sum") / tgt.numel()).backward()
        optimizer.step()
        schedule.step()

    warmup = min(10, args.steps // 2)
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.steps - warmup):
        step()
    _sync(device)
    seconds = (time.perf_counter() - t0) / max(1, args.steps - warmup)
    tokens = n_sent * LENGTH
    flops = memory.flops_per_step(cfg, tokens, length=LENGTH)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = memory.peak_flops(name)
    mfu = f"{flops / seconds / peak:.1%} of {peak / 1e12:.0f} TFLOP/s" if peak else f"no peak known for {name!r}"
    print(f"steps: {args.preset}, {tokens:,} tokens per side per step, {seconds * 1000:.0f} ms a step, "
          f"{2 * tokens / seconds:,.0f} tokens/s (both sides), {flops / seconds / 1e12:.1f} TFLOP/s, MFU {mfu}")
    if device.type == "cuda":
        used = torch.cuda.max_memory_allocated(device) / memory.GIB
        total = torch.cuda.get_device_properties(device).total_memory
        print(f"memory: peak {used:.1f} GiB allocated; aiayn.training.memory fits about "
              f"{memory.fitting_tokens(cfg, total):,} tokens per side in this device's {total / memory.GIB:.0f} GiB")


def beam(args: argparse.Namespace, device: torch.device) -> None:
    cfg = preset(args.preset, vocab_size=args.vocab)
    torch.manual_seed(0)
    model = Transformer(cfg).to(device).eval()
    lengths = torch.randint(10, 51, (args.sentences,)).tolist()
    sources = [torch.randint(4, cfg.vocab_size, (n,)) for n in sorted(lengths)]
    done, generated = 0, 0
    t0 = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for k in range(0, len(sources), 64):
            rows = sources[k : k + 64]
            src = torch.full((len(rows), max(len(r) for r in rows)), cfg.pad_id, dtype=torch.long)
            for i, r in enumerate(rows):
                src[i, : len(r)] = r
            hyps = beam_search(model, src.to(device), 2, 3, beam_size=4, alpha=0.6, max_extra=args.max_extra)
            done, generated = done + len(rows), generated + sum(len(h) for h in hyps)
    _sync(device)
    seconds = time.perf_counter() - t0
    print(f"beam: {done} sentences (beam 4, alpha 0.6) in {seconds:.1f} s: {done / seconds:.1f} sentences/s, "
          f"{generated / seconds:,.0f} output tokens/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("steps", "beam"))
    parser.add_argument("--preset", default="base")
    parser.add_argument("--vocab", type=int, default=VOCAB)
    parser.add_argument("--tokens", type=int, default=25000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--max-extra", type=int, default=50)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "gpu_check.py: no CUDA device visible; pass --device cpu for a small trial\n")
    (steps if args.part == "steps" else beam)(args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
