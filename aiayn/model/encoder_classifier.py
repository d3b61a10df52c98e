"""An encoder-only classifier, built from the paper's encoder (§3.1), with three heads.

Not in the paper; asked for by learners. The encoder stack reads the whole sequence in
both directions (padding keys masked, §3.2.3); a pooling step turns its n outputs
into one vector, and one linear layer maps that vector to class logits. The head
returns logits, not probabilities: the softmax belongs to the loss (cross-entropy)
and to whoever wants probabilities.

Pooling, chosen by `TransformerConfig.pooling` (`--set pooling=...`):

    "mean"  (1 / |R|) sum_{i in R} h_i over the real (non-padding) positions R: the
            sentence-embedding default. Padding never counts, so appending padding
            cannot change the prediction.
    "cls"   a learned vector is put before the first token (BERT's [CLS]) and takes
            position 0; its output h_0, which attends to every real token, goes
            through tanh(W_p h_0 + b_p) (BERT's pooler) before the head.
    "max"   max_{i in R} h_i, feature by feature, over real positions only.

A row must hold at least one real token. Without positions, mean (and max) pooling is
a function of the set of tokens: permuting them leaves the prediction unchanged
(spec/variant_encoder_classifier.py).
"""

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.model.config import POOLINGS, TransformerConfig
from aiayn.model.embedding import Embedding, EmbeddingStem
from aiayn.model.inputs import InputError, check_tokens
from aiayn.model.transformer import Encoder


def mean_pool(
    x: Float[Tensor, "batch n_enc d_model"], real: Bool[Tensor, "batch n_enc"]
) -> Float[Tensor, "batch d_model"]:
    """Mean of x over the real positions of each row: (1 / |R|) sum_{i in R} x_i."""
    weight = real[..., None].to(x.dtype)  # 1 at real positions, 0 at padding
    return (x * weight).sum(1) / weight.sum(1).clamp(min=1)


def max_pool(
    x: Float[Tensor, "batch n_enc d_model"], real: Bool[Tensor, "batch n_enc"]
) -> Float[Tensor, "batch d_model"]:
    """Feature-wise maximum of x over the real positions of each row."""
    return x.masked_fill(~real[..., None], float("-inf")).amax(1)


def first_token(
    x: Float[Tensor, "batch n_enc d_model"], real: Bool[Tensor, "batch n_enc"]
) -> Float[Tensor, "batch d_model"]:
    """The output at position 0 (the [CLS] token, when the model put one there)."""
    return x[:, 0]


class ClsToken(nn.Module):
    """A learned vector put before the first token (BERT's [CLS]); it reads every real token."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(d_model))  # unit size, like sqrt(d_model) * E[id]

    def forward(self, x: Float[Tensor, "batch n {self.d_model}"]) -> Float[Tensor, "batch n+1 {self.d_model}"]:
        return torch.cat([self.weight.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1)


class EncoderClassifier(nn.Module):
    """`EncoderClassifier(cfg, n_classes)(tokens)` -> logits (batch, n_classes)."""

    def __init__(self, cfg: TransformerConfig, n_classes: int) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"EncoderClassifier: n_classes must be an integer of at least 2, got {n_classes!r}")
        if cfg.pooling not in POOLINGS:
            raise ValueError(f"EncoderClassifier: pooling must be one of {POOLINGS}, got {cfg.pooling!r}")
        self.cfg, self.n_classes, self.d_model = cfg, n_classes, cfg.d_model
        self.embed = Embedding(cfg.vocab_size, cfg.d_model)
        self.stem = EmbeddingStem(cfg)
        self.encoder = Encoder(cfg)
        if cfg.pooling == "cls":
            self.cls = ClsToken(cfg.d_model)
            self.pooler = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.Tanh())
        self.pool = {"mean": mean_pool, "max": max_pool, "cls": first_token}[cfg.pooling]
        self.head = nn.Linear(cfg.d_model, n_classes)

    def encode(
        self, tokens: Int[Tensor, "batch n"]
    ) -> tuple[Float[Tensor, "batch n_enc {self.d_model}"], Bool[Tensor, "batch n_enc"]]:
        """Encoder outputs and which positions are real; n_enc = n, or n + 1 with [CLS] first."""
        check_tokens("tokens", tokens, self.cfg.vocab_size)
        real = tokens != self.cfg.pad_id
        empty = (~real.any(1)).nonzero()
        if len(empty):
            pad = self.cfg.pad_id
            raise InputError(f"tokens: row {int(empty[0])} holds only padding (pad_id={pad}); nothing to classify")
        if self.cfg.pooling == "cls":
            x = self.stem.dropout(self.stem.positions(self.cls(self.embed(tokens))))  # [CLS] at position 0
            real = torch.cat([real.new_ones(real.shape[0], 1), real], dim=1)
        else:
            x = self.stem(self.embed, tokens)
        return self.encoder(x, real[:, None, None, :]), real  # padding keys masked (§3.2.3)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch {self.n_classes}"]:
        x, real = self.encode(tokens)
        pooled = self.pool(x, real)
        if self.cfg.pooling == "cls":
            pooled = self.pooler(pooled)  # tanh(W_p h_CLS + b_p), as BERT does
        return self.head(pooled)  # logits; no softmax
