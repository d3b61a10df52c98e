"""Speed of aiayn against the tools a user would otherwise pick, measured side by side in one run.

    python scripts/bench_speed.py [--threads 1] [--rounds 7] [--quick] [--compile] [--gpu] [--no-cpu]

Every figure of the speed table, with shape checks off (aiayn's default outside the
`aiayn` command unless `aiayn.checks.shapecheck.enable()` is called):
- training step (forward, label-smoothed loss, backward, Adam) of aiayn's Transformer and
  of `torch.nn.Transformer` with the paper's embedding around it (shared matrix times
  sqrt(d_model), sinusoidal positions, tied output), same sizes, same loss, Adam with the
  paper's settings: tiny (d 128, N 3, batch 90 x 16), d 256 (N 3, 32 x 32), base (d 512,
  N 6, 8 x 32). aiayn's Adam is `make_optimizer`'s (fused); the peer's is torch's default
  implementation, and the peer is timed with fused Adam too, so the row "same Adam"
  compares the models alone;
- the same steps under bf16 autocast on the CPU (both sides, fused Adam);
- training FLOP/s (torch.utils.flop_counter) over the 1024 x 1024 matmul FLOP/s measured
  in the same run, fp32 and bf16;
- with --compile: the tiny step compiled by torch.compile (Inductor), both sides;
- beam 4 and greedy decoding tokens/s of aiayn against Hugging Face Marian `generate`
  (d 256, N 3, batch 8, 64 new tokens each, end of sentence suppressed on both sides);
  skipped, with a message, where `transformers` is not installed (it is an optional
  benchmark dependency, not one of aiayn's);
- shape checks on / off on the tiny forward pass (scripts/bench_shape_checks.py).
Time ratios are aiayn / peer (below 1: aiayn faster); throughput ratios aiayn / peer.
Timing rounds alternate between the sides; figures are medians over rounds, wall
clock and process CPU time (the steadier one on a shared machine).

With CUDA (or --gpu): base and big bf16-autocast training steps at the paper's 25,000
source + 25,000 target tokens, tokens/s and model FLOP utilisation against the device's
measured bf16 matmul rate, aiayn against nn.Transformer with the same embedding.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from aiayn import (
    Transformer,
    TransformerConfig,
    beam_search,
    greedy_decode,
    label_smoothed_loss,
    make_optimizer,
)
from aiayn.checks.shapecheck import in_use
from aiayn.model.positions import sinusoidal_encoding

PAD, BOS, EOS, EPS_LS = 0, 1, 2, 0.1
# (d_model, N, sentences, tokens per sentence), goal for the time ratio, goal for FLOP utilisation
TRAIN_ROWS = (((128, 3, 90, 16), "<= 0.5", ">= 45%"), ((256, 3, 32, 32), "<= 0.6", ">= 55%"),
              ((512, 6, 8, 32), "<= 0.6", ">= 60%"))  # fmt: skip


class TorchTransformer(nn.Module):
    """torch.nn.Transformer inside the paper's embedding: shared E * sqrt(d), sinusoidal PE, x E^T."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)
        self.register_buffer("pe", sinusoidal_encoding(512, cfg.d_model), persistent=False)
        self.dropout = nn.Dropout(cfg.p_drop)
        n = cfg.n_layers
        self.body = nn.Transformer(cfg.d_model, cfg.h, n, n, cfg.d_ff, cfg.p_drop, batch_first=True)

    def stem(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.embed(ids) * math.sqrt(self.d_model) + self.pe[: ids.shape[1]])

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=tgt.device, dtype=torch.bool)
        x = self.body(self.stem(src), self.stem(tgt), tgt_mask=causal, tgt_is_causal=True,
                      src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt == PAD,
                      memory_key_padding_mask=src == PAD)  # fmt: skip
        return x @ self.embed.weight.T


def config(d_model: int, n_layers: int, vocab: int, d_ff: int | None = None, p_drop: float = 0.1) -> TransformerConfig:
    return TransformerConfig(vocab_size=vocab, n_layers=n_layers, d_model=d_model, d_ff=d_ff or 4 * d_model,
                             h=max(4, d_model // 64), p_drop=p_drop, max_len=512)  # fmt: skip


def batch(n_sent: int, n_tok: int, vocab: int, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, vocab, (n_sent, n_tok), generator=g)
    tgt = torch.cat([torch.full((n_sent, 1), BOS), torch.randint(4, vocab, (n_sent, n_tok), generator=g)], 1)
    return src.to(device), tgt[:, :-1].to(device), tgt[:, 1:].to(device)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, data: tuple, bf16: bool = False) -> Callable[[], None]:
    src, tgt_in, tgt_out = data

    def step() -> None:
        with torch.autocast(src.device.type, torch.bfloat16, enabled=bf16):
            loss = label_smoothed_loss(model(src, tgt_in), tgt_out, EPS_LS, PAD, reduction="sum") / tgt_out.numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if src.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def timed(fns: dict[str, Callable[[], object]], rounds: int, reps: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) seconds per call of each function, rounds interleaved."""
    for fn in fns.values():
        fn()  # warm up
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            for _ in range(reps):
                fn()
            wall[name].append((time.perf_counter() - w) / reps)
            cpu[name].append((time.process_time() - c) / reps)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def flops_of(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(n: int, dtype: torch.dtype, device: str, reps: int) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    fn = (lambda: (a @ b, torch.cuda.synchronize())) if device == "cuda" else (lambda: a @ b)
    wall, cpu = timed({"mm": fn}, 3, reps)["mm"]
    return 2 * n**3 / (wall if device == "cuda" else cpu)


def row(label: str, ours: float, peer: float, unit: str, goal: str) -> None:
    print(f"  {label:<58} {ours:10.4g} {peer:10.4g} {unit:<9} {ours / peer:6.2f}   goal {goal}")


def adam(model: nn.Module, fused: bool | None = None) -> torch.optim.Optimizer:
    """The paper's Adam settings; fused=None: torch's default implementation for the device."""
    return torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=fused)


def cpu_training(args: argparse.Namespace) -> None:
    print("training step, aiayn / nn.Transformer (same embedding, loss, Adam settings); time per step, lower is better")
    print(f"  {'':<58} {'aiayn':>10} {'peer':>10} {'':<9} {'ratio':>6}")
    rates = {False: matmul_rate(1024, torch.float32, "cpu", 10), True: matmul_rate(1024, torch.bfloat16, "cpu", 10)}
    utilisation = []
    for (d, n, sents, toks), goal, _ in TRAIN_ROWS:
        cfg = config(d, n, args.vocab)
        data = batch(sents, toks, args.vocab)
        steps = {}
        for name, kind, bf16 in (("aiayn", Transformer, False), ("peer", TorchTransformer, False),
                                 ("peer fused", TorchTransformer, False), ("aiayn bf16", Transformer, True),
                                 ("peer bf16", TorchTransformer, True)):  # fmt: skip
            torch.manual_seed(0)
            model = kind(cfg).train()
            opt = make_optimizer(model, d)[0] if kind is Transformer else adam(model, None if name == "peer" else True)
            steps[name] = train_step(model, opt, data, bf16)
        t = timed(steps, args.rounds, args.reps)
        label = f"d {d}, N {n}, batch {sents}x{toks}"
        row(f"{label} (wall ms)", t["aiayn"][0] * 1e3, t["peer"][0] * 1e3, "ms", goal)
        row(f"{label} (cpu ms)", t["aiayn"][1] * 1e3, t["peer"][1] * 1e3, "ms", goal)
        row(f"{label} (cpu ms), same Adam (fused)", t["aiayn"][1] * 1e3, t["peer fused"][1] * 1e3, "ms", "-")
        row(f"{label} (cpu ms), bf16 autocast", t["aiayn bf16"][1] * 1e3, t["peer bf16"][1] * 1e3, "ms", "-")
        flops = {k: flops_of(steps[k]) for k in ("aiayn", "peer", "aiayn bf16", "peer bf16")}
        utilisation.append((d, {k: flops[k] / t[k][1] / rates[k.endswith("bf16")] for k in flops}))  # CPU time
    print(f"training FLOP/s / 1024x1024 matmul FLOP/s (fp32 {rates[False] / 1e9:.1f}, bf16 {rates[True] / 1e9:.1f} "
          "GFLOP/s measured), both per CPU second")  # fmt: skip
    for (d, u), (*_, goal) in zip(utilisation, TRAIN_ROWS, strict=True):
        print(f"  d {d:<4} fp32: aiayn {u['aiayn']:6.1%}  nn.Transformer {u['peer']:6.1%}  goal {goal}   "
              f"bf16: aiayn {u['aiayn bf16']:6.1%}  nn.Transformer {u['peer bf16']:6.1%}")  # fmt: skip


def compiled_training(args: argparse.Namespace) -> None:
    """The tiny step with model and loss compiled by Inductor (first calls compile; then timed)."""
    (d, n, sents, toks), *_ = TRAIN_ROWS[0]
    print(f"training step compiled by torch.compile (Inductor), d {d}, N {n}, batch {sents}x{toks}; fused Adam both")
    cfg, data = config(d, n, args.vocab), batch(sents, toks, args.vocab)
    steps = {}
    for name, kind in (("aiayn", Transformer), ("peer", TorchTransformer)):
        torch.manual_seed(0)
        model = kind(cfg).train()
        steps[name] = train_step(torch.compile(model), adam(model, fused=True), data)
        start = time.perf_counter()
        steps[name]()
        print(f"  {name}: first call (compiling) {time.perf_counter() - start:.0f} s")
    t = timed(steps, args.rounds, args.reps)
    row("compiled (cpu ms)", t["aiayn"][1] * 1e3, t["peer"][1] * 1e3, "ms", "-")


def marian(cfg: TransformerConfig) -> nn.Module | None:
    try:
        from transformers import MarianConfig, MarianMTModel
    except ImportError:
        return None
    hf = MarianConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, encoder_layers=cfg.n_layers,
                      decoder_layers=cfg.n_layers, encoder_attention_heads=cfg.h, decoder_attention_heads=cfg.h,
                      encoder_ffn_dim=cfg.d_ff, decoder_ffn_dim=cfg.d_ff, activation_function="relu",
                      max_position_embeddings=512, scale_embedding=True, pad_token_id=PAD, eos_token_id=EOS, bos_token_id=BOS,
                      decoder_start_token_id=BOS, forced_eos_token_id=None)  # fmt: skip
    return MarianMTModel(hf).eval()


def cpu_decoding(args: argparse.Namespace) -> None:
    print("decoding tokens/s, aiayn / HF Marian generate (d 256, N 3, batch 8, 64 new tokens); higher is better")
    cfg = config(256, 3, args.vocab)
    torch.manual_seed(0)
    ours, peer = Transformer(cfg).eval(), marian(cfg)
    if peer is None:
        print("  skipped: `transformers` is not installed (pip install transformers to compare with Marian)")
        return
    logits = ours.tgt_embed.logits  # suppress end of sentence, as min_new_tokens does for Marian
    ours.tgt_embed.logits = lambda x: logits(x).index_fill(-1, torch.tensor([EOS]), float("-inf"))
    src, new = batch(8, 16, args.vocab)[0], 64
    for label, k, goal in (("beam 4", 4, ">= 2"), ("greedy", 1, ">= 2")):
        if k == 1:
            fns = {"aiayn": lambda: greedy_decode(ours, src, BOS, EOS, max_extra=new - src.shape[1])}
        else:
            fns = {"aiayn": lambda k=k: beam_search(ours, src, BOS, EOS, beam_size=k, max_extra=new - src.shape[1])}
        beam = {"num_beams": k, "length_penalty": 0.6} if k > 1 else {}
        fns["peer"] = lambda beam=beam: peer.generate(  # min_new_tokens: no end of sentence before 64
            input_ids=src, attention_mask=torch.ones_like(src), max_new_tokens=new, min_new_tokens=new, do_sample=False, **beam
        )
        outs = {name: fn() for name, fn in fns.items()}
        made = {"aiayn": sum(len(s) for s in outs["aiayn"]), "peer": (outs["peer"].shape[1] - 1) * src.shape[0]}
        with torch.inference_mode():
            t = timed(fns, args.rounds, 1)
        row(f"{label} (wall, tokens {made['aiayn']} / {made['peer']})", made["aiayn"] / t["aiayn"][0],
            made["peer"] / t["peer"][0], "tok/s", goal)  # fmt: skip
        row(f"{label} (cpu)", made["aiayn"] / t["aiayn"][1], made["peer"] / t["peer"][1], "tok/s", goal)


def shape_checks(args: argparse.Namespace) -> None:
    print("shape checks on / off, tiny forward pass (scripts/bench_shape_checks.py); goal <= 1.05x")
    script = Path(__file__).with_name("bench_shape_checks.py")
    repeats = "120" if args.quick else "600"
    command = [sys.executable, str(script), "--repeats", repeats]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    print("\n".join("  " + line for line in out.stdout.splitlines()[1:]))


def gpu_training(args: argparse.Namespace, device: str = "cuda", presets: tuple[str, ...] = ("base", "big"),
                 tokens_per_side: int = 25_000, vocab: int = 37_000, n_tok: int = 64) -> None:  # fmt: skip
    """bf16 training steps of the paper's models at its batch size; tokens/s and MFU (device is a
    parameter so that the code path can be tried on a CPU with small settings)."""
    name = torch.cuda.get_device_name() if device == "cuda" else device
    rate = matmul_rate(8192 if device == "cuda" else 512, torch.bfloat16, device, 20)
    print(f"{name}: bf16 training step at {tokens_per_side:,} + {tokens_per_side:,} tokens, vocab {vocab:,}; "
          f"bf16 matmul {rate / 1e12:.1f} TFLOP/s")  # fmt: skip
    for preset in presets:
        cfg = getattr(TransformerConfig, preset)(vocab_size=vocab)
        sents = tokens_per_side // n_tok
        data = batch(sents, n_tok, vocab, device)
        torch.manual_seed(0)
        models = {"aiayn": Transformer(cfg).to(device).train(), "nn.Transformer": TorchTransformer(cfg).to(device).train()}
        steps = {k: train_step(m, adam(m, fused=True), data, bf16=True) for k, m in models.items()}
        t = timed(steps, 3, args.gpu_reps)
        for k in models:
            seconds = t[k][0] if device == "cuda" else t[k][1]
            mfu = flops_of(steps[k]) / seconds / rate
            print(f"  {preset:<5} {k:<15} {seconds * 1e3:8.1f} ms/step {2 * sents * n_tok / seconds:12,.0f} tokens/s"
                  f"  MFU {mfu:6.1%}")  # fmt: skip
        del models, steps
        if device == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine, more time the contention)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reps", type=int, default=3, help="calls per timing round")
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--gpu", action="store_true", default=torch.cuda.is_available(), help="default: on with CUDA")
    parser.add_argument("--gpu-reps", type=int, default=5)
    parser.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True, help="the CPU rows")
    parser.add_argument("--compile", action="store_true", help="also time the tiny step compiled (minutes to compile)")
    args = parser.parse_args()
    for flag, least in (("threads", 1), ("rounds", 1), ("reps", 1), ("gpu_reps", 1), ("vocab", 5)):
        if getattr(args, flag) < least:  # the vocabulary holds 4 special ids and at least one word
            parser.error(f"--{flag.replace('_', '-')} must be at least {least}, got {getattr(args, flag)}")
    if args.quick:
        args.rounds, args.reps, args.gpu_reps = 2, 1, 2
    assert in_use() == "off", "run without shape checks (do not enable them before this script)"
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores visible, vocab {args.vocab}")
    if args.cpu:
        cpu_training(args)
        if args.compile:
            compiled_training(args)
        cpu_decoding(args)
        shape_checks(args)
    if args.gpu:
        gpu_training(args)


if __name__ == "__main__":
    main()
