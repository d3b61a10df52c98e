"""§3.2.2 Multi-head attention.

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

The h heads' projections W_i^Q, W_i^K (d_model x d_k) and W_i^V (d_model x d_v)
are stored side by side as one d_model x (h d_k) matrix each (`w_q`, `w_k`, `w_v`),
so all heads are computed by one matrix product and a reshape; `w_o` is
W^O, (h d_v) x d_model. With d_k = d_v = d_model / h the cost equals one
full-width head. Each projection carries a bias (the paper's parameter counts in
Table 3 include them).

`KVCache` keeps the keys and values of positions already decoded, so incremental
decoding projects only the newest position (the paper decodes this way but does
not spell it out; spec/sec3_2_3_incremental_decoding.py shows it changes no logits).

Attention maps: the fused kernel never forms the weights. While a module is watched
(`watching_weights`, used by `aiayn.inspect.attention_maps.capture_attention`), its
forward uses Eq. 1 written out and hands the weights it used to the watchers; outside
a capture nothing is watched and nothing is stored on the module.
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.model.attention import attention_weights, fused_attention


@dataclass
class KVCache:
    """Projected keys and values (batch, h, n_cached, d_k / d_v) of one attention layer.

    static=False (self-attention): each call appends the new positions.
    static=True (encoder-decoder attention): filled once from the encoder output,
    then reused as it is.
    """

    k: Tensor | None = None
    v: Tensor | None = None
    static: bool = False

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def reorder(self, index: Int[Tensor, " new_batch"]) -> None:
        """Keep batch rows `index` (in that order): how beam search follows its survivors."""
        if self.k is not None and self.v is not None:
            self.k = self.k.index_select(0, index)
            self.v = self.v.index_select(0, index)


@dataclass
class Cache:
    """The key/value caches of a whole model, one per attention layer.

    Self-attention caches grow with each decoded position; encoder-decoder caches
    (empty for models without an encoder) are filled once from the encoder output.
    """

    self_attn: tuple[KVCache, ...]
    cross_attn: tuple[KVCache, ...] = ()

    @classmethod
    def empty(cls, n_layers: int, cross_attention: bool = False) -> "Cache":
        cross = tuple(KVCache(static=True) for _ in range(n_layers)) if cross_attention else ()
        return cls(tuple(KVCache() for _ in range(n_layers)), cross)

    def __len__(self) -> int:
        """Number of positions already decoded."""
        return len(self.self_attn[0]) if self.self_attn else 0

    def reorder(self, index: Int[Tensor, " new_batch"]) -> None:
        """Keep batch rows `index` in every layer's cache (see `KVCache.reorder`)."""
        for cache in (*self.self_attn, *self.cross_attn):
            cache.reorder(index)


class MultiHeadAttention(nn.Module):
    """h attention heads in parallel, concatenated and projected by W^O (§3.2.2)."""

    def __init__(self, d_model: int, h: int, d_k: int | None = None, d_v: int | None = None) -> None:
        super().__init__()
        d_k = d_model // h if d_k is None else d_k
        d_v = d_model // h if d_v is None else d_v
        self.d_model, self.h, self.d_k, self.d_v = d_model, h, d_k, d_v
        self.w_q = nn.Linear(d_model, h * d_k)  # W_1^Q ... W_h^Q side by side
        self.w_k = nn.Linear(d_model, h * d_k)  # W_1^K ... W_h^K
        self.w_v = nn.Linear(d_model, h * d_v)  # W_1^V ... W_h^V
        self.w_o = nn.Linear(h * d_v, d_model)  # W^O

    def forward(
        self,
        x_q: Float[Tensor, "batch n_q {self.d_model}"],
        x_kv: Float[Tensor, "batch n_kv {self.d_model}"],
        attend: Bool[Tensor, "#batch 1 #n_q n_all"] | None = None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch n_q {self.d_model}"]:
        """Queries from x_q; keys and values from x_kv (the same tensor for self-attention).

        With a cache, `attend` covers the cached positions too (n_all = n_cached + n_kv,
        or n_cached for a filled static cache).
        """
        batch, n_q, n_kv = x_q.shape[0], x_q.shape[1], x_kv.shape[1]
        # (batch, n, h * d) -> (batch, h, n, d): one slice of columns per head
        q = self.w_q(x_q).view(batch, n_q, self.h, self.d_k).transpose(1, 2)  # Q W_i^Q
        if cache is not None and cache.static and cache.k is not None and cache.v is not None:
            k, v = cache.k, cache.v
        else:
            k = self.w_k(x_kv).view(batch, n_kv, self.h, self.d_k).transpose(1, 2)  # K W_i^K
            v = self.w_v(x_kv).view(batch, n_kv, self.h, self.d_v).transpose(1, 2)  # V W_i^V
            if cache is not None:
                if not cache.static and cache.k is not None and cache.v is not None:
                    k = torch.cat([cache.k, k], dim=-2)
                    v = torch.cat([cache.v, v], dim=-2)
                cache.k, cache.v = k, v
        watchers = _WATCHERS.get(self, ()) if _WATCHERS else ()
        if watchers:  # the written-out path, whose weights can be handed over
            weights = attention_weights(q, k, attend)  # softmax(Q K^T / sqrt(d_k)): batch h n_q n_all
            for watcher in watchers:
                watcher(weights.detach())
            heads = weights @ v
        else:
            heads = fused_attention(q, k, v, attend)
        concat = heads.transpose(1, 2).reshape(batch, n_q, self.h * self.d_v)  # Concat(head_1..head_h)
        return self.w_o(concat)  # ... W^O


WeightWatcher = Callable[[Float[Tensor, "batch h n_q n_all"]], None]
# The modules being watched, each with its watchers (nested captures each get every call).
_WATCHERS: dict[MultiHeadAttention, tuple[WeightWatcher, ...]] = {}


@contextlib.contextmanager
def watching_weights(watchers: Sequence[tuple[MultiHeadAttention, WeightWatcher]]) -> Iterator[None]:
    """While inside, each listed module computes Eq. 1 written out and calls its watcher
    with the weights it used; on leaving, the modules are as they were."""
    added = list(watchers)
    for mha, watcher in added:
        _WATCHERS[mha] = (*_WATCHERS.get(mha, ()), watcher)
    try:
        yield
    finally:
        for mha, watcher in added:
            now = _WATCHERS.get(mha, ())
            mine = next((i for i, w in enumerate(now) if w is watcher), None)
            rest = now if mine is None else now[:mine] + now[mine + 1 :]
            if rest:
                _WATCHERS[mha] = rest
            else:
                _WATCHERS.pop(mha, None)
