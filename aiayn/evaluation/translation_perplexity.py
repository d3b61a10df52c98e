"""Perplexity per target token of a translation model on held-out pairs (Table 3's "PPL (dev)").

Table 3 compares models by their perplexity on the development set, per target
wordpiece: exp of the mean negative log-probability that the model gives each reference
token (and the end-of-sentence token), the decoder fed the reference shifted right
(teacher forcing). The probability is the model's plain softmax: label smoothing (§5.4)
shapes training only, so a model trained with it is scored like any other (and pays for
it here, as the paper notes for row D).

    PPL = exp( -(1 / T) sum_t log p(y_t | y_<t, x) ),   T = reference tokens + one EOS each
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from aiayn.data.pairs import Pair
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.inputs import pad_rows
from aiayn.model.transformer import Transformer


@dataclass(frozen=True)
class PerplexityScore:
    """Total nats over `n_targets` target tokens of `n_pairs` pairs."""

    nats: float
    n_targets: int
    n_pairs: int

    @property
    def loss(self) -> float:
        """Mean nats per target token."""
        return self.nats / self.n_targets

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def target_nats(
    logits: Float[Tensor, "batch n_tgt vocab"], targets: Int[Tensor, "batch n_tgt"], pad_id: int
) -> Float[Tensor, " batch"]:
    """-sum_t log softmax(logits)[y_t] per row, over the non-padding targets, in float64."""
    log_p = torch.log_softmax(logits.double(), dim=-1).gather(-1, targets[..., None])[..., 0]
    return -(log_p * (targets != pad_id)).sum(dim=-1)


def pair_perplexity(
    model: Transformer, tokenizer: BpeTokenizer, pairs: Sequence[Pair], batch_size: int = 64
) -> PerplexityScore:
    """Perplexity per target token of `model` on `pairs` (see the module docstring)."""
    if not pairs:
        raise ValueError("pair_perplexity: no pairs to score")
    device, pad = next(model.parameters()).device, model.cfg.pad_id
    bos, eos = tokenizer.bos_id, tokenizer.eos_id
    encoded = [(tokenizer.encode(p.src) + [eos], tokenizer.encode(p.tgt)) for p in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))  # less padding
    nats, n_targets = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for at in range(0, len(order), batch_size):
                group = [encoded[i] for i in order[at : at + batch_size]]
                src = pad_rows([s for s, _ in group], pad).to(device)
                tgt_in = pad_rows([[bos] + t for _, t in group], pad).to(device)
                tgt_out = pad_rows([t + [eos] for _, t in group], pad).to(device)
                nats += float(target_nats(model(src, tgt_in), tgt_out, pad).sum())
                n_targets += sum(len(t) + 1 for _, t in group)
    finally:
        model.train(was_training)
    return PerplexityScore(nats, n_targets, len(pairs))
