"""A decoder-only language model (GPT-style), built from the paper's blocks.

Not in the paper, which pairs an encoder with a decoder; the learners this project
serves ask for it. Without an encoder there is nothing to cross-attend to, so the
body is the encoder stack of §3.1 run under the subsequent-position mask of §3.2.3:
position i sees positions 0..i only. Embeddings, positions, post-norm residuals and
the tied pre-softmax map are those of the paper.

Prompts of different lengths share a batch by left padding, so that every row's next
token sits in the last column. `attend` (batch, n_all) then marks the real tokens of
every position the call covers, cached ones included (n_all = cached + new), and:
- no query attends to a padding key (a padding query attends only to itself, so its
  row stays finite; nothing real ever reads it);
- positions are counted per row from its first real token: position = number of real
  tokens before it, so a left-padded prompt is encoded exactly as the prompt alone.
  `positions` may be given instead (the spec passes column indices to show why not).
Without `attend`, positions are the column index (plus the cached length) and, without
a cache, keys equal to `pad_id` are masked (right padding, as in training batches).
"""

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.embedding import Embedding, EmbeddingStem
from aiayn.model.inputs import InputError, check_tokens
from aiayn.model.masks import cached_self_mask, padding_mask, subsequent_mask
from aiayn.model.multi_head import Cache
from aiayn.model.transformer import Encoder


def row_positions(attend: Bool[Tensor, "batch n_all"], n_new: int) -> Int[Tensor, "batch n_new"]:
    """Position of each of the last n_new columns: the number of real tokens before it in its row."""
    before = attend.long().cumsum(dim=1) - attend.long()  # real tokens strictly before each column
    return before[:, attend.shape[1] - n_new :]


def key_padding_attend(attend: Bool[Tensor, "batch n_all"], n_new: int) -> Bool[Tensor, "batch 1 n_new n_all"]:
    """Causal mask of the last n_new queries, minus padding keys; each query keeps itself."""
    n_all = attend.shape[1]
    causal = subsequent_mask(n_new, n_all, device=attend.device)  # key j <= query position
    itself = torch.eye(n_new, n_all, dtype=torch.bool, device=attend.device).roll(n_all - n_new, dims=1)
    return causal & (attend[:, None, None, :] | itself[None, None])


class DecoderOnlyLM(nn.Module):
    """`DecoderOnlyLM(cfg)(tokens)` -> next-token logits at every position."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_model, self.vocab_size = cfg.d_model, cfg.vocab_size
        self.embed = Embedding(cfg.vocab_size, cfg.d_model)  # also the pre-softmax map (§3.4)
        self.stem = EmbeddingStem(cfg)
        self.blocks = Encoder(cfg)  # N self-attention + feed-forward layers, and the final norm

    def new_cache(self) -> Cache:
        return Cache.empty(self.cfg.n_layers)

    def forward(
        self,
        tokens: Int[Tensor, "batch n"],
        cache: Cache | None = None,
        attend: Bool[Tensor, "batch n_all"] | None = None,
        positions: Int[Tensor, "batch n"] | None = None,
    ) -> Float[Tensor, "batch n {self.vocab_size}"]:
        """Logits for the token after each position. With a cache, `tokens` holds only
        the new positions; `attend` (True = real token) covers cached and new positions."""
        check_tokens("tokens", tokens, self.vocab_size)
        offset = len(cache) if cache is not None else 0
        batch, n_new = tokens.shape
        if attend is None and cache is None:
            mask = subsequent_mask(n_new, device=tokens.device) & padding_mask(tokens, self.cfg.pad_id)
        elif attend is None:  # the new positions see every cached one
            mask = cached_self_mask(n_new, offset, device=tokens.device)
        else:
            if tuple(attend.shape) != (batch, offset + n_new) or attend.dtype != torch.bool:
                raise InputError(
                    f"attend: expected a bool tensor of shape (batch, cached + new) = ({batch}, {offset + n_new}), "
                    f"got {attend.dtype} {tuple(attend.shape)}"
                )
            mask = key_padding_attend(attend, n_new)
            positions = row_positions(attend, n_new) if positions is None else positions
        x = self.blocks(self.stem(self.embed, tokens, offset, positions), mask, cache)
        return self.embed.logits(x)
