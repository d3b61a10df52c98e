"""aiayn's character-level Shakespeare model against nanoGPT's CPU recipe, side by side in one run.

    python scripts/bench_nanogpt.py [--threads 1] [--d-model 128 --layers 4 --heads 4 --block 64
        --batch 12 --peak-lr 3e-3 --warmup 200 --norm post --positions sinusoidal] [--steps N]

The text: the corpus's works in file-name order, joined with no separator, the first
1,115,394 characters; 90% train, the rest validate (`aiayn.data.shakespeare.nanogpt_text`),
with the character vocabulary of the training part (`CharTokenizer.train`).

1. The reference: a model of nanoGPT's shape written here (pre-norm blocks, GELU MLP 4x,
   learned positions, tied embeddings, no biases, N(0, 0.02) initialisation) trained with
   the recipe of nanoGPT's README for CPUs: 4 layers, 4 heads, width 128, block 64, batch
   12, 2,000 iterations, dropout 0, AdamW lr 1e-3 (betas 0.9 / 0.99, weight decay 0.1 on
   matrices), 100 warmup steps then cosine to 1e-4, gradient clipping at 1.0. Its wall
   time is the training loop alone (no periodic evaluation); its loss is also reported
   the way nanoGPT reports it (the mean of 20 random batches of the split).
2. aiayn: `DecoderOnlyLM` trained through the real task (`train_run`, task "shakespeare",
   corpus "nanogpt", characters) with shape checks off. Its wall time is the whole
   `train_run` call (data, tokenizer, training, checkpoint, plots). Its number of steps
   is chosen to fit in 90% of the reference's time: on a machine shared with other jobs
   the time of a step swings by 1.5x from minute to minute, so short probes measure the
   ratio of aiayn's step time to the reference's, back to back (60 reference
   iterations, then `train_run` for 20 and for 80 steps, twice), and aiayn's fixed
   cost; aiayn gets (0.9 x reference time - fixed) / (ratio x reference step time)
   steps. `--steps` fixes the number instead.
3. Both are scored by the same scorer on the whole validation split, every character
   once (`aiayn.evaluation.language_model.score_texts`), in non-overlapping windows of
   each model's block size, and also with half-window strides (more context per token).

Both models train in the same process, one after the other, so they meet the same
machine; on a shared machine wall times are noisy, so compare within one run only.
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
MARGIN = 0.9  # of the reference's time planned for aiayn; the rest absorbs the machine's swings
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


def train_reference(train: np.ndarray, val: np.ndarray, vocab: int, iters: int = RECIPE.max_iters
                    ) -> tuple[nn.Module, float, float]:  # fmt: skip
    """(model, training wall seconds, nanoGPT-style validation estimate) after `iters` of the recipe's iterations."""
    r = RECIPE
    torch.manual_seed(r.seed)
    model = NanoGPTShape(vocab, r.n_layer, r.n_head, r.n_embd, r.block_size)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": r.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
    opt = torch.optim.AdamW(groups, lr=r.lr, betas=r.betas)
    train_t, val_t = torch.from_numpy(train), torch.from_numpy(val)

    def batch(data: Int[Tensor, " n_chars"]) -> tuple[Int[Tensor, "batch n"], Int[Tensor, "batch n"]]:
        ix = torch.randint(len(data) - r.block_size, (r.batch_size,))
        return (torch.stack([data[i : i + r.block_size] for i in ix]),
                torch.stack([data[i + 1 : i + 1 + r.block_size] for i in ix]))  # fmt: skip

    model.train()
    t0 = time.perf_counter()
    for it in range(iters):
        for group in opt.param_groups:
            group["lr"] = recipe_lr(it)
        x, y = batch(train_t)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), r.grad_clip)
        opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        estimate = sum(float(F.cross_entropy(model(x).flatten(0, 1), y.flatten()))
                       for x, y in (batch(val_t) for _ in range(r.eval_iters))) / r.eval_iters  # fmt: skip
    return model, seconds, estimate


def aiayn_spec(args: argparse.Namespace, steps: int) -> RunSpec:
    d_ff = args.d_ff or 4 * args.d_model
    # Eq. 3 peaks at lr_scale * d_model^-0.5 * warmup^-0.5: pick lr_scale for the asked peak
    lr_scale = args.peak_lr * math.sqrt(args.d_model) * math.sqrt(args.warmup)
    model = {"n_layers": args.layers, "d_model": args.d_model, "d_ff": d_ff, "h": args.heads, "p_drop": 0.0,
             "eps_ls": 0.0, "norm": args.norm, "positions": args.positions}  # fmt: skip
    train = TrainSettings(steps=steps, warmup_steps=args.warmup, lr_scale=lr_scale, save_every=steps, keep_last=1,
                          log_every=max(1, steps // 4), clip_norm=args.clip, p_drop=0.0, eps_ls=0.0, seed=0)  # fmt: skip
    data = {"corpus": "nanogpt", "tokenizer": "char", "block_size": args.block, "batch_size": args.batch}
    return RunSpec(task="shakespeare", preset="tiny", model=model, train=train, data=data)


def run_aiayn(args: argparse.Namespace, steps: int, root: Path) -> tuple[float, dict]:
    """(wall seconds of the whole train_run call, its result)."""
    t0 = time.perf_counter()
    result = train_run(aiayn_spec(args, steps), root, overwrite=True, evaluate=False, progress_bar=False,
                       log=lambda _: None)  # fmt: skip
    return time.perf_counter() - t0, result


def fit_steps(args: argparse.Namespace, data: tuple[np.ndarray, np.ndarray, int], budget: float, root: Path
              ) -> tuple[int, float, float]:  # fmt: skip
    """aiayn steps that fit in MARGIN x `budget` seconds (the reference's time, at its step time):
    (steps, aiayn step time / reference step time, aiayn's fixed seconds)."""
    short, long, ref_iters = 20, 80, 60
    ratios, fixed = [], []
    for _ in range(2):  # back to back, so that both sides meet the same load
        ref_step = train_reference(*data, iters=ref_iters)[1] / ref_iters
        wall_short, _ = run_aiayn(args, short, root)
        wall_long, _ = run_aiayn(args, long, root)
        step = (wall_long - wall_short) / (long - short)
        ratios.append(step / ref_step)
        fixed.append(max(0.0, wall_long - long * step))
    ratio, fixed_s = min(ratios), min(fixed)  # the less disturbed round
    ref_step = budget / RECIPE.max_iters
    return max(1, int((MARGIN * budget - fixed_s) / (ratio * ref_step))), ratio, fixed_s


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
    parser.add_argument("--steps", type=int, default=0, help="aiayn's steps (0: what fits in the reference's time)")
    parser.add_argument("--budget", type=float, default=0.0, help="skip the reference and give aiayn this many "
                        "seconds (for tuning only)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_text, val_text = nanogpt_text("train"), nanogpt_text("validation")
    tok = CharTokenizer.train([train_text])
    train_ids, val_ids = tok.encode_array(train_text), tok.encode_array(val_text)
    print(f"text: {len(train_text):,} training and {len(val_text):,} validation characters, vocabulary "
          f"{tok.vocab_size} ({len(tok.characters)} characters + 4 specials); {args.threads} threads on "
          f"{os.cpu_count()} cores; one process, reference first, then aiayn")  # fmt: skip

    rows = []  # name, wall s, whole-split loss, half-stride loss, nanoGPT estimate, what
    data = (train_ids, val_ids, tok.vocab_size)
    if args.budget <= 0:
        ref, ref_s, ref_estimate = train_reference(*data)
        ref_full, ref_half = whole_split(ref, tok, val_text, RECIPE.block_size)
        n_ref = sum(p.numel() for p in ref.parameters())
        rows.append(("nanoGPT-shape reference", ref_s, ref_full, ref_half, f"{ref_estimate:.3f}",
                     f"{n_ref / 1e6:.2f}M, {RECIPE.max_iters} it x {RECIPE.batch_size} x {RECIPE.block_size}"))  # fmt: skip
        budget = ref_s
    else:
        budget = args.budget

    with tempfile.TemporaryDirectory(prefix="bench_nanogpt_") as tmp:
        root = Path(tmp) / "run"
        steps, ratio, fixed = (args.steps, math.nan, math.nan) if args.steps else fit_steps(args, data, budget, root)
        wall, result = run_aiayn(args, steps, root)
        run = load_run(root)
        full, half = whole_split(run.model, run.tokenizer, val_text, args.block)
        n_aiayn = sum(p.numel() for p in {id(p): p for p in run.model.parameters()}.values())
    rows.append(("aiayn DecoderOnlyLM", wall, full, half, "-",
                 f"{n_aiayn / 1e6:.2f}M, {steps} steps x {args.batch} x {args.block}"))  # fmt: skip

    print(f"\n{'model':<24} {'wall s':>7} {'val nats/char':>13} {'half stride':>11} {'bits/char':>9} "
          f"{'nanoGPT est.':>12}  size, steps x batch x block")  # fmt: skip
    for name, secs, f_loss, h_loss, est, what in rows:
        print(f"{name:<24} {secs:>7.1f} {f_loss:>13.3f} {h_loss:>11.3f} {f_loss / math.log(2):>9.3f} {est:>12}  {what}")
    print(f"\naiayn settings: {args.layers} layers, width {args.d_model}, d_ff {args.d_ff or 4 * args.d_model}, "
          f"{args.heads} heads, {args.norm}-norm, {args.positions} positions, block {args.block}, batch "
          f"{args.batch}, Adam (0.9, 0.98, eps 1e-9) under Eq. 3 peaking at {args.peak_lr:g} after "
          f"{args.warmup} steps (lr_scale {aiayn_spec(args, 1).train.lr_scale:.3f}), clip {args.clip}, dropout 0; "
          f"training loop alone {result['train_seconds']:.1f} s; probes: aiayn's step {ratio:.2f}x the reference's, "
          f"{fixed:.1f} s fixed")  # fmt: skip
    print(f"nanoGPT's own estimate on this corpus, as reported for the recipe: {NANOGPT_REPORTED}")
    if args.budget <= 0:
        print(f"aiayn / reference: wall time {wall / ref_s:.2f} (goal <= 1); "
              f"whole-split loss {full - ref_full:+.3f} nats/char (goal < 0)")  # fmt: skip
        print("goal met" if wall <= ref_s and full < ref_full else "goal NOT met")
    else:
        print(f"tuning run against a budget of {budget:.1f} s: aiayn took {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
