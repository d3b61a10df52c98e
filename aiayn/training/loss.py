"""§5.4 Label smoothing, as a loss on logits.

With eps_ls = 0.1 the target distribution puts 1 - eps_ls on the gold token. The
paper does not say where the remaining eps_ls goes; we spread it uniformly over
the vocabulary entries that are neither the gold token nor padding, so each gets
eps_ls / (vocab - 2). (tensor2tensor and torch's `label_smoothing=` spread it over
all entries, gold included; other code excludes only the gold token. The spec
pins our choice.)

    loss = - sum_y q(y) log p(y),   q(gold) = 1 - eps_ls,   q(pad) = 0

Positions whose gold token is padding contribute nothing. The loss is summed over
real positions and divided by their count (mean per token).

Speed: the log-probabilities are computed in float32 straight from the logits, whatever
their dtype (no float32 copy of bf16 logits first), and the backward pass is the closed
form softmax(logits) - q (q sums to 1), one pass over the vocabulary instead of the
several full-size gradients autograd would add up for the gather, the padding column
and the sum.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


class _SmoothedCrossEntropy(torch.autograd.Function):
    """Per-position - sum_y q(y) log p(y); its gradient with respect to the logits is p - q."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        logits: Float[Tensor, "*batch vocab"],
        gold: Int[Tensor, "*batch"],
        eps_ls: float,
        pad_id: int,
    ) -> Float[Tensor, "*batch"]:
        vocab = logits.shape[-1]
        logp = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
        pad = torch.full_like(gold, pad_id)
        gold_logp, pad_logp = logp.gather(-1, torch.stack([gold, pad], dim=-1)).unbind(-1)  # log p(gold), log p(pad)
        loss = -(1.0 - eps_ls) * gold_logp
        if eps_ls > 0:
            others = logp.sum(-1) - gold_logp - pad_logp  # sum of log p over non-gold, non-pad
            loss = loss - eps_ls / (vocab - 2) * others
        ctx.save_for_backward(logp, gold)
        ctx.eps_ls, ctx.pad_id, ctx.logits_dtype = eps_ls, pad_id, logits.dtype
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_loss: Float[Tensor, "*batch"]
    ) -> tuple[Float[Tensor, "*batch vocab"], None, None, None]:
        logp, gold = ctx.saved_tensors
        eps_ls, pad_id = ctx.eps_ls, ctx.pad_id
        spread = eps_ls / (logp.shape[-1] - 2) if eps_ls > 0 else 0.0  # q(y) off gold and padding
        grad = logp.exp().sub_(spread)  # p - q everywhere but at gold and padding, then those two:
        grad.scatter_add_(-1, gold[..., None], torch.full_like(logp[..., :1], spread - (1.0 - eps_ls)))
        grad[..., pad_id] += spread  # q(pad) = 0 (where gold is padding, grad_loss is 0)
        grad.mul_(grad_loss[..., None].to(grad.dtype))
        return grad.to(ctx.logits_dtype), None, None, None


def label_smoothed_loss(
    logits: Float[Tensor, "*batch vocab"],
    gold: Int[Tensor, "*batch"],
    eps_ls: float,
    pad_id: int,
    reduction: str = "mean",
) -> Float[Tensor, ""]:
    """Cross-entropy against the smoothed target; mean (or sum) over non-padding positions."""
    vocab = logits.shape[-1]
    if vocab < 3 and eps_ls > 0:
        raise ValueError(f"label_smoothed_loss: smoothing needs a vocabulary of 3 or more, got {vocab}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"label_smoothed_loss: reduction must be 'mean' or 'sum', got {reduction!r}")
    loss = _SmoothedCrossEntropy.apply(logits, gold, float(eps_ls), int(pad_id))
    real = gold != pad_id
    loss = loss.masked_fill(~real, 0.0).sum()
    if reduction == "sum":
        return loss
    return loss / real.sum().clamp(min=1)
