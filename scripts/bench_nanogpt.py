"""aiayn's character-level Shakespeare model against nanoGPT's CPU recipe, side by side in one run.

    python scripts/bench_nanogpt.py [--threads 1] [--d-model 128 --layers 4 --heads 4 --block 64
        --batch 12 --peak-lr 3e-3 --warmup 200 --norm post --positions sinusoidal] [--rounds 8]
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
2. aiayn: `DecoderOnlyLM` trained through the real task (`train_run`, task "shakespeare",
   corpus "nanogpt", characters) with shape checks off. Its time is that of whole
   `train_run` calls (data, tokenizer, training, checkpoint, plots).
3. Both are scored by the same scorer on the whole validation split, every character
   once (`aiayn.evaluation.language_model.score_texts`), in non-overlapping windows of
   each model's block size, and also with half-window strides (more context per token).

Both models train in this one process, one after the other, in alternating rounds: on
a machine shared with other jobs the time of a step swings by 1.5x from one minute to
the next, so timing one whole run after the other compares the load, not the code.
Round k trains the reference for 2,000 / `rounds` iterations, then continues aiayn's
run (`train_run(resume=True)` with more steps: exact resume, so the run is the one an
uninterrupted run would be) for as many steps as bring aiayn's total time to 97% of the
reference's so far, at aiayn's step time measured in the round before. aiayn's total
number of steps is thus whatever fits; Eq. 3 does not depend on it. Each round's
resume (data, checkpoint load and save) is counted in aiayn's time.
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
from aiayn.tasks.base import RunSpec
from aiayn.tasks.runner import load_run, train_run
from aiayn.training.trainer import TrainSettings

# nanoGPT's README command for CPUs, with the defaults of its train.py and shakespeare_char config
RECIPE = SimpleNamespace(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, max_iters=2000,
                         lr=1e-3, min_lr=1e-4, warmup=100, betas=(0.9, 0.99), weight_decay=0.1, grad_clip=1.0,
                         eval_iters=20, seed=1337)  # fmt: skip
TARGET = 0.97  # aiayn's time aimed at, as a share of the reference's; the rest absorbs the machine's swings
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
        self.it, self.seconds = 0, 0.0

    def batch(self, data: Int[Tensor, " n_chars"]) -> tuple[Int[Tensor, "batch n"], Int[Tensor, "batch n"]]:
        n = RECIPE.block_size
        ix = torch.randint(len(data) - n, (RECIPE.batch_size,), generator=self.gen)
        return torch.stack([data[i : i + n] for i in ix]), torch.stack([data[i + 1 : i + 1 + n] for i in ix])

    def train(self, iters: int) -> float:
        """Train `iters` more iterations; returns their wall seconds."""
        self.model.train()
        t0 = time.perf_counter()
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
        took = time.perf_counter() - t0
        self.seconds += took
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
    # a checkpoint at the end of every call only (save_every beyond any run), so it can be resumed
    train = TrainSettings(steps=steps, warmup_steps=args.warmup, lr_scale=lr_scale, save_every=1_000_000,
                          keep_last=1, log_every=50, clip_norm=args.clip, p_drop=0.0, eps_ls=0.0, seed=0)  # fmt: skip
    data = {"corpus": "nanogpt", "tokenizer": "char", "block_size": args.block, "batch_size": args.batch}
    return RunSpec(task="shakespeare", preset="tiny", model=model, train=train, data=data)


def run_aiayn(args: argparse.Namespace, steps: int, root: Path, resume: bool) -> float:
    """Train aiayn's run up to `steps` in total (a new run, or resumed); returns the call's wall seconds."""
    t0 = time.perf_counter()
    train_run(aiayn_spec(args, steps), root, resume=resume, overwrite=not resume, evaluate=False,
              progress_bar=False, log=lambda _: None)  # fmt: skip
    return time.perf_counter() - t0


def whole_split(model: nn.Module, tok: CharTokenizer, text: str, window: int) -> tuple[float, float]:
    """Nats per character on the whole split: non-overlapping windows, and half-window strides."""
    full = score_texts(model, tok, [text], window=window, stride=window, batch_size=64)
    half = score_texts(model, tok, [text], window=window, stride=window // 2, batch_size=64)
    return full.nats / full.n_chars, half.nats / half.n_chars


def interleaved(args: argparse.Namespace, ref: Reference, root: Path) -> tuple[float, int, list[str]]:
    """Alternate reference rounds and aiayn rounds (module docstring): (aiayn seconds, steps, round lines)."""
    per_round = RECIPE.max_iters // args.rounds
    spent, steps, step_s, lines = 0.0, 0, None, []
    for k in range(args.rounds):
        iters = per_round if k < args.rounds - 1 else RECIPE.max_iters - ref.it
        ref_took = ref.train(iters)
        if step_s is None:  # first round: guess aiayn's step time from the reference's, plus its start-up
            step_s = 1.1 * ref_took / iters
        more = max(1, int((TARGET * ref.seconds - spent) / step_s))
        took = run_aiayn(args, steps + more, root, resume=steps > 0)
        steps, spent = steps + more, spent + took
        step_s = took / more
        lines.append(f"  round {k + 1}: reference {iters} it in {ref_took:5.1f} s ({ref.seconds:6.1f} s so far), "
                     f"aiayn {more} steps in {took:5.1f} s ({spent:6.1f} s so far)")  # fmt: skip
    return spent, steps, lines


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
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds of the two trainings")
    parser.add_argument("--steps", type=int, default=0, help="train aiayn alone for this many steps (tuning)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_text, val_text = nanogpt_text("train"), nanogpt_text("validation")
    tok = CharTokenizer.train([train_text])
    train_ids, val_ids = tok.encode_array(train_text), tok.encode_array(val_text)
    print(f"text: {len(train_text):,} training and {len(val_text):,} validation characters, vocabulary "
          f"{tok.vocab_size} ({len(tok.characters)} characters + 4 specials); {args.threads} thread(s) on "
          f"{os.cpu_count()} cores; both models in this process, in alternating rounds")  # fmt: skip

    rows = []  # name, seconds, whole-split loss, half-stride loss, nanoGPT estimate, what
    with tempfile.TemporaryDirectory(prefix="bench_nanogpt_") as tmp:
        root = Path(tmp) / "run"
        if args.steps:
            wall, steps, lines = run_aiayn(args, args.steps, root, resume=False), args.steps, []
        else:
            ref = Reference(train_ids, val_ids, tok.vocab_size)
            wall, steps, lines = interleaved(args, ref, root)
            ref_full, ref_half = whole_split(ref.model, tok, val_text, RECIPE.block_size)
            n_ref = sum(p.numel() for p in ref.model.parameters())
            rows.append(("nanoGPT-shape reference", ref.seconds, ref_full, ref_half, f"{ref.estimate():.3f}",
                         f"{n_ref / 1e6:.2f}M, {ref.it} it x {RECIPE.batch_size} x {RECIPE.block_size}"))  # fmt: skip
        run = load_run(root)
        full, half = whole_split(run.model, run.tokenizer, val_text, args.block)
        n_aiayn = sum(p.numel() for p in {id(p): p for p in run.model.parameters()}.values())
    rows.append(("aiayn DecoderOnlyLM", wall, full, half, "-",
                 f"{n_aiayn / 1e6:.2f}M, {steps} steps x {args.batch} x {args.block}"))  # fmt: skip

    print("\n".join(lines))
    print(f"\n{'model':<24} {'wall s':>7} {'val nats/char':>13} {'half stride':>11} {'bits/char':>9} "
          f"{'nanoGPT est.':>12}  size, steps x batch x block")  # fmt: skip
    for name, secs, f_loss, h_loss, est, what in rows:
        print(f"{name:<24} {secs:>7.1f} {f_loss:>13.3f} {h_loss:>11.3f} {f_loss / math.log(2):>9.3f} {est:>12}  {what}")
    print(f"\naiayn settings: {args.layers} layers, width {args.d_model}, d_ff {args.d_ff or 4 * args.d_model}, "
          f"{args.heads} heads, {args.norm}-norm, {args.positions} positions, block {args.block}, batch "
          f"{args.batch}, Adam (0.9, 0.98, eps 1e-9) under Eq. 3 peaking at {args.peak_lr:g} after "
          f"{args.warmup} steps (lr_scale {aiayn_spec(args, 1).train.lr_scale:.3f}), clip {args.clip}, dropout 0")  # fmt: skip
    print(f"nanoGPT's own estimate on this corpus, as reported for the recipe: {NANOGPT_REPORTED}")
    if not args.steps:
        ref_s, ref_full = rows[0][1], rows[0][2]
        print(f"aiayn / reference: wall time {wall / ref_s:.2f} (goal <= 1); "
              f"whole-split loss {full - ref_full:+.3f} nats/char (goal < 0)")  # fmt: skip
        print("goal met" if wall <= ref_s and full < ref_full else "goal NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
