"""§3.4 Embeddings and softmax.

Learned embeddings map token ids to vectors of width d_model; the embedding is
multiplied by sqrt(d_model). One weight matrix (vocab x d_model) serves three
roles: the source embedding, the target embedding, and the linear map before the
softmax (logits = x E^T). The model returns those logits: the softmax belongs to
the loss and to decoding, where log-probabilities are computed stably.

`EmbeddingStem` is what every model does to token ids before its first layer:
Embedding(ids) * sqrt(d_model) + PE (§3.5), then dropout on the sum (§5.4). Positions
are the column index plus a scalar offset (the cached length), or given per token.
"""

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.dropout import Dropout
from aiayn.model.positions import make_positions


class Embedding(nn.Module):
    """Token ids -> sqrt(d_model) * E[id]; and back to logits via E^T (§3.4)."""

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        # N(0, 1/d_model): after the sqrt(d_model) scale, embeddings have unit size
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model**-0.5)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n {self.d_model}"]:
        return nn.functional.embedding(tokens, self.weight) * self.scale  # E[id] * sqrt(d_model)

    def logits(self, x: Float[Tensor, "batch n {self.d_model}"]) -> Float[Tensor, "batch n {self.vocab_size}"]:
        return x @ self.weight.T  # x E^T: the pre-softmax linear map, tied to E



class EmbeddingStem(nn.Module):
    """Dropout(Embedding(ids) * sqrt(d_model) + PE(pos)): the input of every stack (§3.4, §3.5, §5.4).

    The embedding is passed in, not owned, because one matrix may serve several roles
    (source, target and the pre-softmax map share it in §3.4)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.positions = make_positions(cfg.d_model, cfg.positions, cfg.max_len)
        self.dropout = Dropout(cfg.p_drop)  # §5.4: on the sums of embeddings and positions

    def forward(
        self,
        embed: Embedding,
        tokens: Int[Tensor, "batch n"],
        offset: int = 0,
        positions: Int[Tensor, "batch n"] | None = None,
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        """Positions are offset + column, or per token (`positions`, e.g. for left-padded rows)."""
        return self.dropout(self.positions(embed(tokens), offset, positions))
