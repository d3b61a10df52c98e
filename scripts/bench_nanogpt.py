"""aiayn's character-level Shakespeare model against nanoGPT's CPU recipe, side by side in one run.

    python scripts/bench_nanogpt.py [--threads 1] [--d-model 128 --layers 4 --heads 4 --block 64
        --batch 12 --peak-lr 3e-3 --warmup 200 --norm post --positions sinusoidal --schedule eq3] [--chunk 20]
    python scripts/bench_nanogpt.py --steps N [...]     aiayn alone, N steps (for tuning)

The text: the corpus's works in file-name order, joined with no separator, the first
1,115,394 characters; 90% train, the rest validate (`aiayn.data.shakespeare.nanogpt_text`),
with the character vocabulary of the training part (`CharTokenizer.train`).

1. The reference: a model of nanoGPT's shape written here (pre-norm blocks, GELU MLP 4x,
   learned positions, tied embeddings, no biases, N(0, 0.02) initialisation) trained with
   the recipe of nanoGPT's README for CPUs: 4 layers, 4 heads, width 128, block 64, batch
   12, 2,000 iterations, dropout 0, AdamW lr 1e-3 (betas 0.9 / 0.99, weight decay 0.1 on
   matrices), 100 warmup steps then cosine to 1e-4, gradient clipping at 1.0. Its time is
   the training loop alone (no periodic evaluation); its loss is also reported the way
   nanoGPT reports it (the mean of 20 random batches of the split).
2. aiayn: `DecoderOnlyLM` trained on the task's own data (task "shakespeare", corpus
   "nanogpt", characters) by aiayn's trainer, with shape checks off. Its time is that of
   its training steps.
3. Both are scored by the same scorer on the whole validation split, every character
   once (`aiayn.evaluation.language_model.score_texts`), in non-overlapping windows of
   each model's block size, and also with half-window strides (more context per token).

Both models train in this one process, in small interleaved chunks, and each side is
timed by the CPU time the process spends on it (`time.process_time`), not by the wall
clock. On a machine shared with other jobs the wall time of a step swings by 1.5x from one
minute to the next and a process may wait for a core; CPU time counts only the cycles
spent, and interleaving chunks of about a second makes both sides meet the same machine
(cache pressure, clock speed). The guard, in order:
  1. calibration: a few interleaved chunks of throwaway copies of both measure the CPU
     seconds of an aiayn step against a reference iteration (the median of the chunks);
     aiayn's step count is set so that its CPU time is TARGET (90%) of the reference's
     2,000 iterations (its schedule, Eq. 3 or the cosine, knows that count); one run
     here calibrated 0.94 and then measured 1.07 over the whole run, hence the margin;
  2. the real runs alternate: a chunk of reference iterations, then aiayn steps until
     aiayn's share of its steps catches up with the reference's share of its iterations;
  3. the table reports each side's CPU seconds and wall seconds, and the CPU ratio is the
     one the goal is judged by, measured, not assumed.
aiayn trains through its own trainer (`aiayn.training.trainer.Trainer` on the task's data,
the steps `aiayn train` takes); data preparation is outside both timings.
"""

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("AIAYN_SHAPE_CHECKS", "0")  # before anything from aiayn is imported

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from torch.nn import functional as F

from aiayn.data.characters import CharTokenizer
from aiayn.data.shakespeare import nanogpt_text
from aiayn.evaluation.language_model import score_texts
from aiayn.tasks.base import RunSpec, get_task
from aiayn.training.trainer import Trainer, TrainSettings

# nanoGPT's README command for CPUs, with the defaults of its train.py and shakespeare_char config
RECIPE = SimpleNamespace(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, max_iters=2000,
                         lr=1e-3, min_lr=1e-4, warmup=100, betas=(0.9, 0.99), weight_decay=0.1, grad_clip=1.0,
                         eval_iters=20, seed=1337)  # fmt: skip
TARGET = 0.9  # aiayn's CPU time aimed at, as a share of the reference's; the rest absorbs the calibration's error
NANOGPT_REPORTED = 1.916  # the recipe's own estimate on this corpus (nats per character)


class Block(nn.Module):
    """Pre-norm: x + attn(LN(x)), then x + MLP(LN(x)); causal self-attention, GELU MLP 4x."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.c_attn, self.attn_proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: Float[Tensor, "batch n d_model"]) -> Float[Tensor, "batch n d_model"]:
        b, n, d = x.shape
        q, k, v = (t.view(b, n, self.h, d // self.h).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(d, 2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, n, d)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPTShape(nn.Module):
    """nanoGPT's GPT: token + learned position embeddings, pre-norm blocks, final LN, tied head."""

    def __init__(self, vocab: int, n_layer: int, n_head: int, d: int, block: int) -> None:
        super().__init__()
        self.cfg = SimpleNamespace(pad_id=0)  # what the shared scorer reads
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:  # nanoGPT: N(0, 0.02), residual projections scaled by 1/sqrt(2 N)
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n vocab"]:
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def recipe_lr(it: int) -> float:
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr at max_iters."""
    r = RECIPE
    if it < r.warmup:
        return r.lr * it / r.warmup
    ratio = (it - r.warmup) / (r.max_iters - r.warmup)
    return r.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (r.lr - r.min_lr)


class Reference:
    """nanoGPT's training loop for the recipe, run in pieces; batches from its own generator."""

    def __init__(self, train: np.ndarray, val: np.ndarray, vocab: int) -> None:
        r = RECIPE
        torch.manual_seed(r.seed)
        self.model = NanoGPTShape(vocab, r.n_layer, r.n_head, r.n_embd, r.block_size)
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": r.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
        self.opt = torch.optim.AdamW(groups, lr=r.lr, betas=r.betas)
        self.train_t, self.val_t = torch.from_numpy(train), torch.from_numpy(val)
        self.gen = torch.Generator().manual_seed(r.seed)  # untouched by aiayn's seeding in between
        self.it, self.seconds, self.wall = 0, 0.0, 0.0

    def batch(self, data: Int[Tensor, " n_chars"]) -> tuple[Int[Tensor, "batch n"], Int[Tensor, "batch n"]]:
        n = RECIPE.block_size
        ix = torch.randint(len(data) - n, (RECIPE.batch_size,), generator=self.gen)
        return torch.stack([data[i : i + n] for i in ix]), torch.stack([data[i + 1 : i + 1 + n] for i in ix])

    def train(self, iters: int) -> float:
        """Train `iters` more iterations; returns their CPU seconds (wall seconds add up in `wall`)."""
        self.model.train()
        t0, w0 = time.process_time(), time.perf_counter()
        for _ in range(iters):
            for group in self.opt.param_groups:
                group["lr"] = recipe_lr(self.it)
            x, y = self.batch(self.train_t)
            loss = F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), RECIPE.grad_clip)
            self.opt.step()
            self.it += 1
        took = time.process_time() - t0
        self.seconds += took
        self.wall += time.perf_counter() - w0
        return took

    def estimate(self) -> float:
        """nanoGPT's validation figure: the mean loss of `eval_iters` random batches."""
        self.model.eval()
        with torch.no_grad():
            batches = [self.batch(self.val_t) for _ in range(RECIPE.eval_iters)]
            return sum(float(F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())) for x, y in batches) / len(
                batches
            )


def aiayn_spec(args: argparse.Namespace, steps: int) -> RunSpec:
    d_ff = args.d_ff or 4 * args.d_model
    # Eq. 3 peaks at lr_scale * d_model^-0.5 * warmup^-0.5: pick lr_scale for the asked peak
    lr_scale = args.peak_lr * math.sqrt(args.d_model) * math.sqrt(args.warmup)
    model = {"n_layers": args.layers, "d_model": args.d_model, "d_ff": d_ff, "h": args.heads, "p_drop": 0.0,
             "eps_ls": 0.0, "norm": args.norm, "positions": args.positions}  # fmt: skip
    train = TrainSettings(steps=steps, warmup_steps=args.warmup, lr_scale=lr_scale, save_every=1_000_000,
                          keep_last=1, log_every=50, clip_norm=args.clip, p_drop=0.0, eps_ls=0.0, seed=0,
                          schedule=args.schedule, lr_floor=args.lr_floor)  # fmt: skip
    data = {"corpus": "nanogpt", "tokenizer": "char", "block_size": args.block, "batch_size": args.batch}
    return RunSpec(task="shakespeare", preset="tiny", model=model, train=train, data=data)


class Aiayn:
    """aiayn's trainer on the task's data, stepped from outside; CPU and wall seconds of its steps."""

    def __init__(self, args: argparse.Namespace, steps: int, root: Path) -> None:
        spec = aiayn_spec(args, steps)
        task = get_task(spec)
        root.mkdir(parents=True, exist_ok=True)
        tokenizer, source = task.prepare(root, lambda _: None)
        cfg = task.model_config(tokenizer.vocab_size)
        torch.manual_seed(spec.train.seed)
        model = task.build_model(cfg)
        self.trainer = Trainer(model, spec.train, source, task.loss(cfg, spec.train), root, cfg.to_dict(),
                               tokenizer.fingerprint(), log=lambda _: None)  # fmt: skip
        self.tokenizer, self.steps, self.seconds, self.wall = tokenizer, steps, 0.0, 0.0

    @property
    def done(self) -> int:
        return self.trainer.progress.step

    def train(self, steps: int) -> float:
        """Take `steps` more steps (at most to the end); returns their CPU seconds."""
        t0, w0 = time.process_time(), time.perf_counter()
        for _ in range(min(steps, self.steps - self.done)):
            self.trainer.train_step()
        took = time.process_time() - t0
        self.seconds += took
        self.wall += time.perf_counter() - w0
        return took

    def close(self) -> None:
        self.trainer.loader.close()


def calibrate(args: argparse.Namespace, train: np.ndarray, val: np.ndarray, vocab: int, root: Path) -> float:
    """CPU seconds of an aiayn step over those of a reference iteration: the median over interleaved chunks."""
    ref, ours = Reference(train, val, vocab), Aiayn(args, 10_000, root)
    ratios = []
    for _ in range(args.calibration_chunks):
        ref_s = ref.train(args.chunk)
        ratios.append(ours.train(args.chunk) / ref_s)
    ours.close()
    return sorted(ratios)[len(ratios) // 2]


def interleaved(args: argparse.Namespace, ref: Reference, ours: Aiayn) -> list[str]:
    """Chunks of reference iterations, each followed by the aiayn steps that keep its share level."""
    lines, next_line = [], RECIPE.max_iters // 8
    while ref.it < RECIPE.max_iters:
        ref.train(min(args.chunk, RECIPE.max_iters - ref.it))
        ours.train(math.ceil(ours.steps * ref.it / RECIPE.max_iters) - ours.done)
        if ref.it >= next_line or ref.it == RECIPE.max_iters:
            lines.append(f"  reference {ref.it:5d} it: {ref.seconds:6.1f} CPU s ({ref.wall:6.1f} wall s); aiayn "
                         f"{ours.done:5d} steps: {ours.seconds:6.1f} CPU s ({ours.wall:6.1f} wall s)")  # fmt: skip
            next_line += RECIPE.max_iters // 8
    ours.train(ours.steps - ours.done)
    ours.close()
    return lines


def whole_split(model: nn.Module, tok: CharTokenizer, text: str, window: int) -> tuple[float, float]:
    """Nats per character on the whole split: non-overlapping windows, and half-window strides."""
    full = score_texts(model, tok, [text], window=window, stride=window, batch_size=64)
    half = score_texts(model, tok, [text], window=window, stride=window // 2, batch_size=64)
    return full.nats / full.n_chars, half.nats / half.n_chars


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both models (1: a second "
                        "thread stalls when the other core is busy)")  # fmt: skip
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--d-ff", type=int, default=0, help="0: 4 x d_model")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--peak-lr", type=float, default=3e-3, help="the peak of Eq. 3 (sets lr_scale)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--norm", choices=("post", "pre"), default="post")
    parser.add_argument("--positions", choices=("sinusoidal", "learned"), default="sinusoidal")
    parser.add_argument("--schedule", choices=("eq3", "cosine"), default="eq3")
    parser.add_argument("--lr-floor", type=float, default=0.1, help="cosine: the last step's share of the peak")
    parser.add_argument("--chunk", type=int, default=20, help="reference iterations per interleaved chunk")
    parser.add_argument("--calibration-chunks", type=int, default=10, help="chunks that measure the step-time ratio")
    parser.add_argument("--steps", type=int, default=0, help="train aiayn alone for this many steps (tuning)")
    args = parser.parse_args()
    for flag, value in (("--chunk", args.chunk), ("--calibration-chunks", args.calibration_chunks),
                        ("--threads", args.threads)):  # fmt: skip
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    torch.set_num_threads(args.threads)
    train_text, val_text = nanogpt_text("train"), nanogpt_text("validation")
    tok = CharTokenizer.train([train_text])
    train_ids, val_ids = tok.encode_array(train_text), tok.encode_array(val_text)
    print(f"text: {len(train_text):,} training and {len(val_text):,} validation characters, vocabulary "
          f"{tok.vocab_size} ({len(tok.characters)} characters + 4 specials); {args.threads} thread(s) on "
          f"{os.cpu_count()} cores; both models in this process, in interleaved chunks timed by CPU time")  # fmt: skip

    rows = []  # name, CPU seconds, wall seconds, whole-split loss, half-stride loss, nanoGPT estimate, what
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench_nanogpt_") as tmp:
        if args.steps:
            ours = Aiayn(args, args.steps, Path(tmp) / "run")
            ours.train(args.steps)
            ours.close()
        else:
            ratio = calibrate(args, train_ids, val_ids, tok.vocab_size, Path(tmp) / "calibration")
            steps = max(1, int(TARGET * RECIPE.max_iters / ratio))
            lines.append(f"  calibration: an aiayn step costs {ratio:.2f} reference iterations of CPU time: "
                         f"{steps} steps for {TARGET:.0%} of the reference's {RECIPE.max_iters}")  # fmt: skip
            ref, ours = Reference(train_ids, val_ids, tok.vocab_size), Aiayn(args, steps, Path(tmp) / "run")
            lines += interleaved(args, ref, ours)
            ref_full, ref_half = whole_split(ref.model, tok, val_text, RECIPE.block_size)
            n_ref = sum(p.numel() for p in ref.model.parameters())
            rows.append(("nanoGPT-shape reference", ref.seconds, ref.wall, ref_full, ref_half, f"{ref.estimate():.3f}",
                         f"{n_ref / 1e6:.2f}M, {ref.it} it x {RECIPE.batch_size} x {RECIPE.block_size}"))  # fmt: skip
        model = ours.trainer.model
        full, half = whole_split(model, ours.tokenizer, val_text, args.block)
        n_aiayn = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    rows.append(("aiayn DecoderOnlyLM", ours.seconds, ours.wall, full, half, "-",
                 f"{n_aiayn / 1e6:.2f}M, {ours.done} steps x {args.batch} x {args.block}"))  # fmt: skip

    print("\n".join(lines))
    print(f"\n{'model':<24} {'CPU s':>7} {'wall s':>7} {'val nats/char':>13} {'half stride':>11} {'bits/char':>9} "
          f"{'nanoGPT est.':>12}  size, steps x batch x block")  # fmt: skip
    for name, secs, wall, f_loss, h_loss, est, what in rows:
        print(f"{name:<24} {secs:>7.1f} {wall:>7.1f} {f_loss:>13.3f} {h_loss:>11.3f} {f_loss / math.log(2):>9.3f} "
              f"{est:>12}  {what}")  # fmt: skip
    print(f"\naiayn settings: {args.layers} layers, width {args.d_model}, d_ff {args.d_ff or 4 * args.d_model}, "
          f"{args.heads} heads, {args.norm}-norm, {args.positions} positions, block {args.block}, batch "
          f"{args.batch}, Adam (0.9, 0.98, eps 1e-9), {args.schedule} schedule peaking at {args.peak_lr:g} after "
          f"{args.warmup} steps (lr_scale {aiayn_spec(args, 1).train.lr_scale:.3f}), clip {args.clip}, dropout 0")  # fmt: skip
    print(f"nanoGPT's own estimate on this corpus, as reported for the recipe: {NANOGPT_REPORTED}")
    if not args.steps:
        ref_s, ref_wall, ref_full = rows[0][1], rows[0][2], rows[0][3]
        cpu = ours.seconds / ref_s
        print(f"aiayn / reference: CPU time {cpu:.2f} (goal <= 1; wall time {ours.wall / ref_wall:.2f}); "
              f"whole-split loss {full - ref_full:+.3f} nats/char (goal <= -0.15)")  # fmt: skip
        print("goal met" if cpu <= 1 and full - ref_full <= -0.15 else "goal NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
