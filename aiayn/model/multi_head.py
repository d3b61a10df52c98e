"""§3.2.2 Multi-head attention.

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

The h heads' projections W_i^Q, W_i^K (d_model x d_k) and W_i^V (d_model x d_v)
are stored side by side as one d_model x (h d_k) matrix each (`w_q`, `w_k`, `w_v`),
so all heads are computed by one matrix product and a reshape; `w_o` is
W^O, (h d_v) x d_model. With d_k = d_v = d_model / h the cost equals one
full-width head. Each projection carries a bias (the paper's parameter counts in
Table 3 include them).

With a `KVCache` (aiayn/model/kv_cache.py; `KVCache` and `Cache` are importable from
here too) the keys and values of positions already decoded are kept, so incremental
decoding projects only the newest position.

Speed without new parameters: when queries, keys and values come from one tensor
(self-attention) and enough rows arrive at once (training, a prompt), the three
projections run as one product with W^Q, W^K, W^V concatenated at call time; the
parameters stay `w_q`, `w_k`, `w_v`. With few rows (a decoding step) the
concatenation would cost more than it saves, and a projection with a hook on it
(a trace, a probe) is always called as its own module.

Attention maps: the fused kernel never forms the weights. While a module is watched
(`watching_weights`, used by `aiayn.inspect.attention_maps.capture_attention`), its
forward uses Eq. 1 written out and hands the weights it used to the watchers; outside
a capture nothing is watched and nothing is stored on the module.
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from aiayn.model.attention import attention_weights, fused_attention
from aiayn.model.kv_cache import Cache, KVCache

__all__ = ["Cache", "KVCache", "MultiHeadAttention", "watching_weights"]


FUSE_MIN_ROWS = 128  # batch x n_q from which self-attention projects Q, K, V in one product


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
        batch, n_q = x_q.shape[0], x_q.shape[1]
        static = cache is not None and cache.static
        filled = static and len(cache) > 0  # encoder-decoder keys projected already
        fuse = x_kv is x_q and not static and batch * n_q >= FUSE_MIN_ROWS  # self-attention, many rows
        if fuse and not any(m._forward_hooks or m._forward_pre_hooks for m in (self.w_q, self.w_k, self.w_v)):
            # x W^Q, x W^K, x W^V by one product, the three matrices side by side
            weight = torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight])
            bias = torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias])
            q, k, v = F.linear(x_q, weight, bias).split([self.h * self.d_k, self.h * self.d_k, self.h * self.d_v], -1)
        else:
            q = self.w_q(x_q)  # Q W_i^Q, every head's columns side by side
            k = None if filled else self.w_k(x_kv)  # K W_i^K
            v = None if filled else self.w_v(x_kv)  # V W_i^V
        # (batch, n, h * d) -> (batch, h, n, d): one slice of columns per head
        q = q.unflatten(-1, (self.h, self.d_k)).transpose(1, 2)
        if k is not None and v is not None:
            k = k.unflatten(-1, (self.h, self.d_k)).transpose(1, 2)
            v = v.unflatten(-1, (self.h, self.d_v)).transpose(1, 2)
        if cache is not None:
            k, v = (cache.k, cache.v) if filled else cache.add(k, v)
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
