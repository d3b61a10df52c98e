"""§5.1 Batching by length under a token budget.

The paper groups sentence pairs of similar length into batches of about 25,000 source
and 25,000 target tokens. Here:

- `encode_pairs` tokenizes pairs into `Example`s: the source ends with </s>; the target
  is stored bare, and `collate` builds the decoder input [<s>] + tgt and the output
  tgt + [</s>] from it. An example whose source (with </s>) or target (with <s> or </s>,
  so len(tgt) + 1) is longer than `max_len` is dropped, not truncated, and counted.
- `length_batches` works from lengths alone (numpy, no Python object per item): it
  sorts items by (source length, target length), breaking ties at random per (seed,
  epoch) so batches differ between epochs, cuts the sorted run into batches greedily so
  that the padded size stays within both budgets,

      batch_size * max(len(src)) <= max_src_tokens
      batch_size * max(len(tgt) + 1) <= max_tgt_tokens,

  and shuffles the order of the batches by (seed, epoch). An item that alone breaks a
  budget gets a batch of its own (it cannot be split); every item is in exactly one
  batch per epoch. `token_batches` is the same for a list of `Example`s.
- `collate` pads a batch into tensors; `shard` deals batches to data-parallel ranks;
  `group_for_accumulation` groups consecutive batches into one optimiser step.

What the trainer sees of any task is a `BatchSource`: each epoch's batches as sequences
of item ids (the same on every process, fixed by the seed and the epoch number, so runs
resume exactly and data parallelism changes nothing), and a `collate` that turns one
of them into a `TrainingBatch`. `aiayn.training.pair_batches.PairBatches` is the source
for binarized sentence pairs.
"""

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from aiayn.data.files import DataError
from aiayn.data.pairs import Pair
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.inputs import pad_rows

T = TypeVar("T")


@dataclass(frozen=True)
class Example:
    """A tokenized pair: `src` ends with </s>; `tgt` has neither <s> nor </s>."""

    src: tuple[int, ...]
    tgt: tuple[int, ...]


@dataclass(frozen=True)
class Batch:
    """Padded tensors of one batch: decoder input [<s>] + tgt, decoder output tgt + [</s>]."""

    src: Int[Tensor, "batch n_src"]
    tgt_in: Int[Tensor, "batch n_tgt"]
    tgt_out: Int[Tensor, "batch n_tgt"]
    pad_id: int = 0

    @property
    def n_src_tokens(self) -> int:
        """Real (non-padding) source tokens."""
        return int((self.src != self.pad_id).sum())

    @property
    def n_tgt_tokens(self) -> int:
        """Real target tokens predicted, </s> included: the loss is averaged over these."""
        return int((self.tgt_out != self.pad_id).sum())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(move(self.src), move(self.tgt_in), move(self.tgt_out), self.pad_id)


@dataclass(frozen=True)
class TrainingBatch:
    """One batch as the trainer needs it, whatever the task.

    The model is called as `model(*inputs)`; the task's loss compares its output with
    `targets` and returns the sum over the `n_targets` targets it counts; an optimiser
    step divides the summed loss by the step's total `n_targets`."""

    inputs: tuple[Tensor, ...]
    targets: Tensor
    n_targets: int
    n_tokens: int  # tokens read, for throughput

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TrainingBatch":
        moved = tuple(t.to(device, non_blocking=non_blocking) for t in self.inputs)
        return TrainingBatch(moved, self.targets.to(device, non_blocking=non_blocking), self.n_targets, self.n_tokens)


@runtime_checkable
class BatchSource(Protocol):
    """A task's training data as the trainer reads it (see the module docstring)."""

    def epoch(self, epoch: int) -> Sequence[Sequence[int]]: ...

    def collate(self, items: Sequence[int]) -> TrainingBatch: ...


def encode_pairs(
    pairs: Sequence[Pair], tokenizer: BpeTokenizer, max_len: int
) -> tuple[tuple[Example, ...], int]:
    """Tokenize pairs; returns (examples, n_dropped) with over-long pairs dropped."""
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
        raise ValueError(f"encode_pairs: max_len must be an integer >= 2, got {max_len!r}")
    src_ids = tokenizer.encode_batch([p.src for p in pairs])
    tgt_ids = tokenizer.encode_batch([p.tgt for p in pairs])
    eos = tokenizer.eos_id
    examples, dropped = [], 0
    for src, tgt in zip(src_ids, tgt_ids):
        if len(src) + 1 > max_len or len(tgt) + 1 > max_len:
            dropped += 1
        else:
            examples.append(Example((*src, eos), tuple(tgt)))
    return tuple(examples), dropped


def _rng(seed: int, epoch: int) -> random.Random:
    # the generator the number task's batches have always been drawn from, so that runs
    # stay comparable across versions: one random tie-break per item, then the batch order
    return random.Random(f"token_batches:{seed}:{epoch}")


class EpochBatches:
    """One epoch's batches as arrays: batch k holds the item ids
    `order[bounds[j] : bounds[j + 1]]` with j = batch_order[k]. Indexing gives a numpy
    array of ids (a slice gives a tuple of them), so no per-item Python object exists."""

    def __init__(self, order: np.ndarray, bounds: np.ndarray, batch_order: np.ndarray) -> None:
        self.order, self.bounds, self.batch_order = order, bounds, batch_order

    def __len__(self) -> int:
        return len(self.batch_order)

    def __getitem__(self, k: int | slice) -> np.ndarray | tuple[np.ndarray, ...]:
        if isinstance(k, slice):
            return tuple(self[i] for i in range(*k.indices(len(self))))
        j = int(self.batch_order[k])
        return self.order[self.bounds[j] : self.bounds[j + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def as_tuples(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(batch.tolist()) for batch in self)


def _cut(src: np.ndarray, tgt: np.ndarray, max_src_tokens: int, max_tgt_tokens: int) -> np.ndarray:
    """Batch boundaries of a sorted run: greedy, each batch as long as both budgets allow.

    `src` is non-decreasing, so a batch's longest source is its last; its longest target is
    a running maximum. Padded size k * longest grows with k, so within a window the sizes
    that fit form a prefix: the first one that does not is the cut (size 1 if even the
    first example alone breaks a budget). Windows grow until they hold the cut."""
    n, bounds, a, window = len(src), [0], 0, 64
    while a < n:
        while True:
            b = min(n, a + window)
            k = np.arange(1, b - a + 1, dtype=np.int64)
            fits = (k * src[a:b] <= max_src_tokens) & (k * np.maximum.accumulate(tgt[a:b]) <= max_tgt_tokens)
            if not fits.all():
                size = max(int(np.argmin(fits)), 1)
                break
            if b == n:
                size = b - a
                break
            window *= 4
        a += size
        bounds.append(a)
        window = max(64, 2 * size)
    return np.asarray(bounds, dtype=np.int64)


def length_batches(
    src_len: np.ndarray,
    tgt_len: np.ndarray,
    max_src_tokens: int,
    max_tgt_tokens: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    ids: np.ndarray | None = None,
) -> EpochBatches:
    """Length-sorted batches within the token budgets, from lengths alone (vectorised).

    src_len[i], tgt_len[i]: the padded sizes item i counts for (a pair's source with
    </s>, its target + 1); ids[i] its item id (default i). See the module docstring."""
    for name, value in (("max_src_tokens", max_src_tokens), ("max_tgt_tokens", max_tgt_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"length_batches: {name} must be a positive integer, got {value!r}")
    src_len, tgt_len = np.asarray(src_len, dtype=np.int64), np.asarray(tgt_len, dtype=np.int64)
    if src_len.shape != tgt_len.shape or src_len.ndim != 1:
        raise ValueError(f"length_batches: lengths of shapes {src_len.shape} and {tgt_len.shape}; expected two equal 1-D")
    rng = _rng(seed, epoch)
    n = len(src_len)
    if shuffle:  # sorted by (source, target, a random tie-break drawn per (seed, epoch))
        ties = np.fromiter((rng.random() for _ in range(n)), np.float64, n)
        order = np.lexsort((ties, tgt_len, src_len))
    else:  # ties keep the item order
        order = np.lexsort((tgt_len, src_len))
    order = order.astype(np.int32) if n < 1 << 31 else order
    bounds = _cut(src_len[order], tgt_len[order], max_src_tokens, max_tgt_tokens)
    n_batches = len(bounds) - 1
    batch_order = list(range(n_batches))
    if shuffle:
        rng.shuffle(batch_order)
    batch_order = np.asarray(batch_order, dtype=np.int64)
    return EpochBatches(order if ids is None else np.asarray(ids)[order], bounds, batch_order)


def check_budget_holds_an_item(lengths: np.ndarray, max_tokens: int, what: str) -> None:
    """Refuse a token budget smaller than the shortest item: every batch would then break it
    (an item over the budget gets a batch of its own), so the budget would mean nothing."""
    if len(lengths) and max_tokens < int(lengths.min()):
        raise DataError(f"a batch budget of {max_tokens} tokens holds no training {what}: the shortest takes "
                        f"{int(lengths.min())} tokens; raise the budget (--max-tokens) to at least that")  # fmt: skip


class LengthGroupedItems:
    """Base of the `BatchSource`s whose items have one side (texts, conversations): batches
    of similar length under one token budget, fixed by (seed, epoch); subclasses collate."""

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        check_budget_holds_an_item(self.lengths, max_tokens, "item")
        self.max_tokens, self.seed = max_tokens, seed
        self._cached: tuple[int, tuple[tuple[int, ...], ...]] | None = None

    def epoch(self, epoch: int) -> tuple[tuple[int, ...], ...]:
        if self._cached is None or self._cached[0] != epoch:
            ones = np.ones_like(self.lengths)  # no second side: its budget never binds
            batches = length_batches(self.lengths, ones, self.max_tokens, len(ones) + 1, seed=self.seed, epoch=epoch)
            self._cached = (epoch, batches.as_tuples())
        return self._cached[1]


def token_batches(
    examples: Sequence[Example],
    max_src_tokens: int,
    max_tgt_tokens: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
) -> tuple[tuple[int, ...], ...]:
    """Indices into `examples`, grouped into length-sorted batches within the token budgets."""
    src = np.fromiter((len(e.src) for e in examples), np.int64, len(examples))
    tgt = np.fromiter((len(e.tgt) + 1 for e in examples), np.int64, len(examples))
    return length_batches(src, tgt, max_src_tokens, max_tgt_tokens, shuffle, seed, epoch).as_tuples()


def padding_ratio(examples: Sequence[Example], batches: Sequence[Sequence[int]]) -> float:
    """Padded tokens over real tokens, source and target (len + 1) sides together (1.0 = no padding)."""
    real = padded = 0
    for batch in batches:
        src = [len(examples[i].src) for i in batch]
        tgt = [len(examples[i].tgt) + 1 for i in batch]
        real += sum(src) + sum(tgt)
        padded += len(batch) * (max(src) + max(tgt))
    return padded / real if real else 1.0


def collate(examples: Sequence[Example], pad_id: int, bos_id: int, eos_id: int) -> Batch:
    """Right-pad examples into a Batch: src, tgt_in = [<s>] + tgt, tgt_out = tgt + [</s>]."""
    if not examples:
        raise ValueError("collate: cannot make a batch of no examples")
    src = pad_rows([e.src for e in examples], pad_id)
    tgt_in = pad_rows([(bos_id, *e.tgt) for e in examples], pad_id)
    tgt_out = pad_rows([(*e.tgt, eos_id) for e in examples], pad_id)
    return Batch(src, tgt_in, tgt_out, pad_id)


def shard(batches: Sequence[T], rank: int, world_size: int) -> tuple[T, ...]:
    """Rank `rank`'s share of the batches for data-parallel training.

    Rank r takes batches r, r + world_size, r + 2 world_size, ... and every rank takes
    len(batches) // world_size of them, so all ranks run the same number of steps. The
    len(batches) % world_size batches left over are skipped this epoch; as the batch order
    is reshuffled every epoch, a different few are skipped each time.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"shard: world_size must be a positive integer, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"shard: rank must be an integer in [0, {world_size}), got {rank!r}")
    if len(batches) < world_size:
        raise ValueError(f"shard: {len(batches)} batches cannot give each of {world_size} ranks one")
    per_rank = len(batches) // world_size
    return tuple(batches[rank + k * world_size] for k in range(per_rank))


def group_for_accumulation(batches: Sequence[T], accum_steps: int) -> tuple[tuple[T, ...], ...]:
    """Consecutive groups of `accum_steps` batches, one optimiser step each.

    The last group is shorter when the batches do not divide evenly; normalise the loss by
    the group's target tokens (not by accum_steps) so that a short group weighs the same per
    token.
    """
    if isinstance(accum_steps, bool) or not isinstance(accum_steps, int) or accum_steps < 1:
        raise ValueError(f"group_for_accumulation: accum_steps must be a positive integer, got {accum_steps!r}")
    return tuple(tuple(batches[k : k + accum_steps]) for k in range(0, len(batches), accum_steps))
