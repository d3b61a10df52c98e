"""§3.2.3 Masks: who may attend to whom.

Every mask here is boolean and True means "may attend", the convention of
`F.scaled_dot_product_attention` (and the opposite of `torch.nn.Transformer`'s
boolean masks, where True means "blocked"). Masks have shape
(batch, 1, n_q, n_kv) or a broadcastable part of it; the 1 stands for the heads.

- Padding (§3.2.3, and any batched implementation): no query attends to a padding key.
- Subsequent positions (§3.2.3): in the decoder, position i attends only to
  positions j <= i, so a prediction for position i depends only on the known
  outputs before it.
"""

import torch
from jaxtyping import Bool, Int
from torch import Tensor


def padding_mask(tokens: Int[Tensor, "batch n_kv"], pad_id: int) -> Bool[Tensor, "batch 1 1 n_kv"]:
    """True for every real (non-padding) key, for every query and head."""
    return (tokens != pad_id)[:, None, None, :]


def subsequent_mask(
    n_q: int, n_kv: int | None = None, device: torch.device | str | None = None
) -> Bool[Tensor, "1 1 n_q n_kv"]:
    """True where key position j <= query position i (lower triangle, diagonal included).

    With a key/value cache the n_q queries are the last n_q of n_kv positions, so
    query row r sits at position i = r + n_kv - n_q.
    """
    n_kv = n_q if n_kv is None else n_kv
    return torch.ones(n_q, n_kv, dtype=torch.bool, device=device).tril(diagonal=n_kv - n_q)[None, None]


def cached_self_mask(
    n_new: int, n_cached: int, device: torch.device | str | None = None
) -> Bool[Tensor, "1 1 n_new n_all"] | None:
    """Self-attention of n_new positions after n_cached cached ones: each new position sees
    every cached one and the new ones up to itself. One new position sees everything, so
    it needs no mask (None). Padding in a cached prefix is the caller's to mask."""
    return None if n_new == 1 else subsequent_mask(n_new, n_cached + n_new, device=device)


def decoder_self_mask(tokens: Int[Tensor, "batch n_tgt"], pad_id: int) -> Bool[Tensor, "batch 1 n_tgt n_tgt"]:
    """Decoder self-attention: earlier-or-same positions that are not padding."""
    return padding_mask(tokens, pad_id) & subsequent_mask(tokens.shape[1], device=tokens.device)
