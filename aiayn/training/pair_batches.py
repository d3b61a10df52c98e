"""§5.1 Batches of binarized sentence pairs, made from lengths and flat token arrays.

`PairBatches` is the `BatchSource` of the translation task. It reads the lengths of
every pair from the index of a `PairTokens` store (`aiayn.data.binarized`) once, drops
the pairs longer than `max_len`, and batches the rest by `length_batches`. An epoch's
batches are three arrays (`EpochBatches`), the same on every process; a process turns
only the batches it trains on into tensors, by `collate`:

    src     = ids of the source, then </s>, right-padded
    tgt_in  = <s>, then the target's ids, right-padded
    tgt_out = the target's ids, then </s>, right-padded

Each of the three is one gather from the token array into a preallocated (batch,
longest) int64 array (`_gather`), with no loop over rows; on CUDA that array is in
pinned memory, so the copy to the device can overlap the computation (the trainer
moves batches with non_blocking=True). `counts` gives a batch's target and token
counts from the index, without collating it.
"""

from collections.abc import Sequence

import numpy as np
import torch

from aiayn.data.binarized import PairTokens
from aiayn.data.files import DataError
from aiayn.training.batching import EpochBatches, TrainingBatch, check_budget_holds_an_item, length_batches


def _gather(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """(rows, cols, values) of the runs tokens[starts[r] : starts[r] + lengths[r]], in one gather:
    `out[rows, cols + c] = values` writes run r into row r from column c."""
    first = np.cumsum(lengths) - lengths  # where each row's run starts in the flat gather
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    return rows, cols, tokens[np.repeat(starts, lengths) + cols]


class PairBatches:
    """`BatchSource` for binarized pairs: `length_batches` under the two token budgets."""

    def __init__(
        self, pairs: PairTokens, max_src_tokens: int, max_tgt_tokens: int, seed: int, pad_id: int, bos_id: int,
        eos_id: int, max_len: int | None = None, pin_memory: bool = False,
    ) -> None:  # fmt: skip
        src, tgt = pairs.lengths()
        keep = np.ones(len(src), dtype=bool) if max_len is None else (src + 1 <= max_len) & (tgt + 1 <= max_len)
        self.n_dropped = int(len(src) - keep.sum())
        if not keep.any():
            raise DataError(f"PairBatches: no training pairs (of {len(src)}, all longer than max_len={max_len})")
        self.ids = np.flatnonzero(keep) if self.n_dropped else None  # None: every pair, ids 0..n-1
        # the sizes a pair counts for: its source with </s>, its target with <s> (or </s>)
        self.src_len, self.tgt_len = src[keep] + 1, tgt[keep] + 1
        check_budget_holds_an_item(self.src_len, max_src_tokens, "pair's source")
        check_budget_holds_an_item(self.tgt_len, max_tgt_tokens, "pair's target")
        self.pairs, self.max_src_tokens, self.max_tgt_tokens = pairs, max_src_tokens, max_tgt_tokens
        self.seed, self.pad_id, self.bos_id, self.eos_id = seed, pad_id, bos_id, eos_id
        self.pin_memory = pin_memory
        self._cached: dict[int, EpochBatches] = {}

    def __len__(self) -> int:
        """Pairs kept for training."""
        return len(self.src_len)

    def epoch(self, epoch: int) -> EpochBatches:
        """The epoch's batches; the last two epochs asked for are kept (a prefetching trainer
        looks one step ahead, across the end of an epoch)."""
        if epoch not in self._cached:
            self._cached = {e: b for e, b in self._cached.items() if e == max(self._cached, default=None)}
            self._cached[epoch] = length_batches(self.src_len, self.tgt_len, self.max_src_tokens,
                                                 self.max_tgt_tokens, seed=self.seed, epoch=epoch, ids=self.ids)  # fmt: skip
        return self._cached[epoch]

    def counts(self, items: Sequence[int] | np.ndarray) -> tuple[int, int]:
        """(targets predicted, tokens read) of a batch, from the index alone: what
        `collate(items)` would give as n_targets and n_tokens."""
        ids = np.asarray(items, dtype=np.int64)
        n_src = int(self.pairs.spans(ids, 0)[1].sum()) + len(ids)
        n_tgt = int(self.pairs.spans(ids, 1)[1].sum()) + len(ids)
        return n_tgt, n_src + n_tgt

    def _empty(self, rows: int, cols: int) -> tuple[torch.Tensor, np.ndarray]:
        tensor = torch.full((rows, cols), self.pad_id, dtype=torch.long, pin_memory=self.pin_memory)
        return tensor, tensor.numpy()

    def collate(self, items: Sequence[int] | np.ndarray) -> TrainingBatch:
        ids = np.asarray(items, dtype=np.int64)
        if ids.ndim != 1 or not len(ids):
            raise ValueError(f"PairBatches.collate: expected a non-empty 1-D sequence of pair ids, got shape {ids.shape}")
        tokens, rows = self.pairs.tokens, np.arange(len(ids))
        (src_start, src_len), (tgt_start, tgt_len) = self.pairs.spans(ids, 0), self.pairs.spans(ids, 1)
        src, src_np = self._empty(len(ids), int(src_len.max()) + 1)
        r, c, values = _gather(tokens, src_start, src_len)
        src_np[r, c] = values
        src_np[rows, src_len] = self.eos_id
        tgt_in, tgt_in_np = self._empty(len(ids), int(tgt_len.max()) + 1)
        tgt_out, tgt_out_np = self._empty(len(ids), int(tgt_len.max()) + 1)
        r, c, values = _gather(tokens, tgt_start, tgt_len)
        tgt_in_np[:, 0] = self.bos_id
        tgt_in_np[r, c + 1] = values
        tgt_out_np[r, c] = values
        tgt_out_np[rows, tgt_len] = self.eos_id
        n_tgt = int(tgt_len.sum()) + len(ids)
        return TrainingBatch((src, tgt_in), tgt_out, n_tgt, int(src_len.sum()) + len(ids) + n_tgt)
