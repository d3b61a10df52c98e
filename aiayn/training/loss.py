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
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


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
    logp = torch.log_softmax(logits.float(), dim=-1)
    gold_logp = logp.gather(-1, gold.unsqueeze(-1)).squeeze(-1)  # log p(gold)
    loss = -(1.0 - eps_ls) * gold_logp
    if eps_ls > 0:
        others = logp.sum(-1) - gold_logp - logp[..., pad_id]  # sum of log p over non-gold, non-pad
        loss = loss - eps_ls / (vocab - 2) * others
    real = gold != pad_id
    loss = loss.masked_fill(~real, 0.0).sum()
    if reduction == "sum":
        return loss
    if reduction != "mean":
        raise ValueError(f"label_smoothed_loss: reduction must be 'mean' or 'sum', got {reduction!r}")
    return loss / real.sum().clamp(min=1)
