"""§5.1 Batching by length under a token budget.

The paper groups sentence pairs of similar length into batches of about 25,000 source
and 25,000 target tokens. Here:

- `encode_pairs` tokenizes pairs into `Example`s: the source ends with </s>; the target
  is stored bare, and `collate` builds the decoder input [<s>] + tgt and the output
  tgt + [</s>] from it. An example whose source (with </s>) or target (with <s> or </s>,
  so len(tgt) + 1) is longer than `max_len` is dropped, not truncated, and counted.
- `token_batches` sorts examples by (source length, target length), breaking ties at
  random per (seed, epoch) so batches differ between epochs, cuts the sorted run into
  batches greedily so that the padded size stays within both budgets,

      batch_size * max(len(src)) <= max_src_tokens
      batch_size * max(len(tgt) + 1) <= max_tgt_tokens,

  and shuffles the order of the batches by (seed, epoch). An example that alone breaks a
  budget gets a batch of its own (it cannot be split); every example is in exactly one
  batch per epoch.
- `collate` pads a batch into tensors; `shard` deals batches to data-parallel ranks;
  `group_for_accumulation` groups consecutive batches into one optimiser step.

What the trainer sees of any task is a `BatchSource`: each epoch's batches as tuples of
item ids (the same on every process, fixed by the seed and the epoch number, so runs
resume exactly and data parallelism changes nothing), and a `collate` that turns one
such tuple into a `TrainingBatch`. `PairBatches` is the source for sentence pairs.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import torch
from jaxtyping import Int
from torch import Tensor

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
    return random.Random(f"token_batches:{seed}:{epoch}")


def token_batches(
    examples: Sequence[Example],
    max_src_tokens: int,
    max_tgt_tokens: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
) -> tuple[tuple[int, ...], ...]:
    """Indices into `examples`, grouped into length-sorted batches within the token budgets."""
    for name, value in (("max_src_tokens", max_src_tokens), ("max_tgt_tokens", max_tgt_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"token_batches: {name} must be a positive integer, got {value!r}")
    rng = _rng(seed, epoch)
    ties = [rng.random() for _ in range(len(examples))] if shuffle else [0.0] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].src), len(examples[i].tgt), ties[i]))
    batches: list[tuple[int, ...]] = []
    current: list[int] = []
    n_src = n_tgt = 0  # padded lengths of the current batch
    for i in order:
        src_len, tgt_len = len(examples[i].src), len(examples[i].tgt) + 1
        new_src, new_tgt = max(n_src, src_len), max(n_tgt, tgt_len)
        size = len(current) + 1
        if current and (size * new_src > max_src_tokens or size * new_tgt > max_tgt_tokens):
            batches.append(tuple(current))
            current, new_src, new_tgt = [], src_len, tgt_len
        current.append(i)
        n_src, n_tgt = new_src, new_tgt
    if current:
        batches.append(tuple(current))
    if shuffle:
        rng.shuffle(batches)
    return tuple(batches)


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


class PairBatches:
    """`BatchSource` for tokenized sentence pairs: `token_batches` under the two budgets."""

    def __init__(
        self, examples: Sequence[Example], max_src_tokens: int, max_tgt_tokens: int, seed: int,
        pad_id: int, bos_id: int, eos_id: int,
    ) -> None:  # fmt: skip
        if not examples:
            raise ValueError("PairBatches: no training examples")
        self.examples, self.max_src_tokens, self.max_tgt_tokens = tuple(examples), max_src_tokens, max_tgt_tokens
        self.seed, self.pad_id, self.bos_id, self.eos_id = seed, pad_id, bos_id, eos_id
        self._cached: tuple[int, tuple[tuple[int, ...], ...]] | None = None

    def epoch(self, epoch: int) -> tuple[tuple[int, ...], ...]:
        if self._cached is None or self._cached[0] != epoch:
            batches = token_batches(self.examples, self.max_src_tokens, self.max_tgt_tokens, seed=self.seed, epoch=epoch)
            self._cached = (epoch, batches)
        return self._cached[1]

    def collate(self, items: Sequence[int]) -> TrainingBatch:
        batch = collate([self.examples[i] for i in items], self.pad_id, self.bos_id, self.eos_id)
        n_tgt = batch.n_tgt_tokens
        return TrainingBatch((batch.src, batch.tgt_in), batch.tgt_out, n_tgt, batch.n_src_tokens + n_tgt)


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
