"""§3.2.3 The key/value cache of incremental decoding.

The decoder is auto-regressive: at inference it predicts one position per step, and
under the subsequent-position mask the keys and values of earlier positions never
change once computed. `KVCache` keeps them for one attention layer, so each step
projects only its newest position; `Cache` holds one per layer of a model. (The paper
decodes this way but does not spell it out; spec/sec3_2_3_incremental_decoding.py
shows the cache changes no logits.)

Speed: the buffers have room to spare and each step writes its position in place, so a
step copies one position, not the whole cache; beam search's reorders copy only the
filled positions, into the buffers the reorder before left behind, and on the CPU a reorder
that keeps the batch size rewrites only the rows that change.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

MIN_CAPACITY = 16  # positions a self-attention cache makes room for at first; it doubles when full


class KVCache:
    """Projected keys and values (batch, h, n_cached, d_k / d_v) of one attention layer.

    static=False (self-attention): `add` writes the new positions into buffers with
    spare room (doubled when full) and returns every position so far. Where autograd
    records the keys (a cache used while training), it concatenates instead, so that
    nothing a backward pass needs is overwritten.
    static=True (encoder-decoder attention): filled once from the encoder output,
    then reused as it is.
    `k` and `v` are the filled part, None before the first call: views of the buffers,
    valid until the next `reorder` (which writes the chosen rows into the buffers the
    reorder before it left, so that decoding does not allocate a cache per step).
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self._k: Tensor | None = None
        self._v: Tensor | None = None
        self._spare: tuple[Tensor, Tensor] | None = None  # buffers to reorder into
        self._n = 0

    @property
    def k(self) -> Float[Tensor, "batch h n_cached d_k"] | None:
        return None if self._k is None else self._k[:, :, : self._n]

    @property
    def v(self) -> Float[Tensor, "batch h n_cached d_v"] | None:
        return None if self._v is None else self._v[:, :, : self._n]

    def __len__(self) -> int:
        return self._n

    def add(
        self, k: Float[Tensor, "batch h n_new d_k"], v: Float[Tensor, "batch h n_new d_v"]
    ) -> tuple[Float[Tensor, "batch h n_all d_k"], Float[Tensor, "batch h n_all d_v"]]:
        """Keep the new positions' keys and values; return those of every position so far."""
        n_new = k.shape[-2]
        recorded = torch.is_grad_enabled() and (k.requires_grad or v.requires_grad)
        if self._k is None or self._v is None:
            capacity = n_new if self.static or recorded else max(2 * n_new, MIN_CAPACITY)
            self._k, self._v = _with_room(k, capacity), _with_room(v, capacity)
        elif self.static:
            raise RuntimeError("KVCache: an encoder-decoder cache is filled once; decode a new batch with a new cache")
        else:
            self._check_fits(k, v)
            if recorded or self._k.requires_grad:
                self._k, self._v = torch.cat([self.k, k], dim=-2), torch.cat([self.v, v], dim=-2)
            else:
                if self._n + n_new > self._k.shape[-2]:
                    capacity = 2 * (self._n + n_new)
                    self._k, self._v = _with_room(self.k, capacity), _with_room(self.v, capacity)
                    self._spare = None
                self._k[:, :, self._n : self._n + n_new] = k  # in place: only the new positions are copied
                self._v[:, :, self._n : self._n + n_new] = v
        self._n += n_new
        return self.k, self.v

    def _check_fits(self, k: Tensor, v: Tensor) -> None:
        for name, new, old in (("keys", k, self._k), ("values", v, self._v)):
            assert old is not None
            if new.shape[:2] != old.shape[:2] or new.shape[3:] != old.shape[3:] or new.dtype != old.dtype:
                raise ValueError(
                    f"KVCache: new {name} {tuple(new.shape)} {new.dtype} do not fit the cached "
                    f"{(*old.shape[:2], self._n, *old.shape[3:])} {old.dtype} (batch, h, positions, d); after the "
                    "batch changes, call cache.reorder(index)"
                )

    def reorder(self, index: Int[Tensor, " new_batch"]) -> None:
        """Keep batch rows `index` (in that order): how beam search follows its survivors."""
        if self._k is None or self._v is None or self._reorder_in_place(index):
            return
        old, spare = (self._k, self._v), self._spare or (None, None)
        self._k, self._v = (_select_rows(b, index, self._n, into) for b, into in zip(old, spare, strict=True))
        self._spare = None if self.static or self._k.requires_grad else old

    def _reorder_in_place(self, index: Int[Tensor, " new_batch"]) -> bool:
        """On the CPU, a reorder that keeps the batch size rewrites only the rows whose
        source is another row (in beam search about one in six; none at half the steps),
        reading every source before writing; False where this does not apply.

        Elsewhere it would cost a read-back to the host (which rows move), so the whole
        filled part is copied instead."""
        assert self._k is not None and self._v is not None
        if self.static or self._k.device.type != "cpu" or self._k.requires_grad or index.shape[0] != self._k.shape[0]:
            return False
        moved = (index != torch.arange(index.shape[0], device=index.device)).nonzero().flatten()
        if moved.numel():
            for buffer in (self._k, self._v):
                filled = buffer[:, :, : self._n]
                filled[moved] = filled.index_select(0, index[moved])  # sources gathered first
        return True


def _with_room(x: Float[Tensor, "batch h n d"], capacity: int) -> Float[Tensor, "batch h capacity d"]:
    """A buffer of `capacity` positions whose first n hold x (x itself when there is no room to add)."""
    if capacity == x.shape[-2]:
        return x
    buffer = x.new_empty((*x.shape[:2], capacity, x.shape[-1]))
    buffer[:, :, : x.shape[-2]] = x
    return buffer


def _select_rows(
    buffer: Float[Tensor, "batch h capacity d"], index: Int[Tensor, " new_batch"], n: int, into: Tensor | None
) -> Float[Tensor, "new_batch h capacity d"]:
    """Rows `index` of a buffer, written into `into` where it fits (else a new buffer);
    of the positions, only the first n (the filled ones) are copied."""
    if n == buffer.shape[-2] or buffer.requires_grad:
        return buffer.index_select(0, index)
    shape = (index.shape[0], *buffer.shape[1:])
    fits = into is not None and into.shape == shape and into.dtype == buffer.dtype and into.device == buffer.device
    out = into if fits else buffer.new_empty(shape)
    torch.index_select(buffer[:, :, :n], 0, index, out=out[:, :, :n])
    return out


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

    def reorder(self, index: Int[Tensor, " new_batch"], cross_attention: bool = True) -> None:
        """Keep batch rows `index` in every layer's cache (see `KVCache.reorder`).

        cross_attention=False leaves the encoder-decoder caches as they are: right when
        `index` only moves rows among copies of one sentence (the beams of a beam
        search), whose encoder-decoder keys and values are equal."""
        for cache in (*self.self_attn, *(self.cross_attn if cross_attention else ())):
            cache.reorder(index)
