"""Training blocks for a language model: contiguous windows of one token stream.

A language model trains on the whole training text as one flat stream of token ids
(works joined by the end token, see `aiayn.data.shakespeare.token_stream`). An item is
a window of `block_size + 1` consecutive tokens starting at some offset: its first
`block_size` tokens are the input, the same shifted by one are the targets, so every
position of a block predicts the token after it.

`TokenBlocks` is the `BatchSource` of `aiayn.training.batching` for such a stream:
- `epoch(e)` draws the start offsets of every batch of epoch e, uniformly from
  0 .. n_tokens - block_size - 1, from a generator seeded by (seed, e) alone, so every
  process of a data-parallel run sees the same batches and a resumed run the same rest
  of its epoch. By default an epoch has n_tokens // (batch_size * block_size) batches:
  about one pass over the stream in tokens, though offsets are drawn independently.
- `collate(offsets)` reads the windows into tensors (a `TrainingBatch` whose one input
  is the (batch, block_size) block and whose targets are the next tokens).

The stream is a numpy array of a small integer type (uint16 below 65,536 ids, else
int32), so it can live in a memory-mapped .npy file; `as_stream` converts.
"""

from collections.abc import Sequence

import numpy as np
import torch

from aiayn.training.batching import TrainingBatch


def as_stream(ids: Sequence[int] | np.ndarray, vocab_size: int) -> np.ndarray:
    """Token ids as a flat array of the smallest type that holds the vocabulary."""
    dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32
    stream = np.asarray(ids)
    if stream.ndim != 1:
        raise ValueError(f"as_stream: token ids must be one flat sequence, got shape {stream.shape}")
    if stream.size and (int(stream.min()) < 0 or int(stream.max()) >= vocab_size):
        found = f"{int(stream.min())}..{int(stream.max())}"
        raise ValueError(f"as_stream: token ids must lie in [0, {vocab_size}), found {found}")
    return stream.astype(dtype, copy=False)


class TokenBlocks:
    """Batches of `batch_size` random contiguous blocks of a token stream (see the module docstring)."""

    def __init__(
        self,
        stream: np.ndarray,
        block_size: int,
        batch_size: int,
        seed: int,
        batches_per_epoch: int | None = None,
    ) -> None:
        for name, value in (("block_size", block_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TokenBlocks: {name} must be a positive integer, got {value!r}")
        if not isinstance(stream, np.ndarray) or stream.ndim != 1 or not np.issubdtype(stream.dtype, np.integer):
            raise ValueError("TokenBlocks: the stream must be a flat numpy array of integer token ids (see as_stream)")
        if len(stream) < block_size + 1:
            raise ValueError(
                f"TokenBlocks: the stream has {len(stream)} tokens, too few for one block of "
                f"block_size + 1 = {block_size + 1}"
            )
        default = max(1, len(stream) // (batch_size * block_size))
        n_batches = default if batches_per_epoch is None else batches_per_epoch
        if isinstance(n_batches, bool) or not isinstance(n_batches, int) or n_batches < 1:
            raise ValueError(f"TokenBlocks: batches_per_epoch must be a positive integer or None, got {n_batches!r}")
        self.stream, self.block_size, self.batch_size = stream, block_size, batch_size
        self.seed, self.batches_per_epoch = seed, n_batches

    @property
    def n_offsets(self) -> int:
        """How many distinct blocks the stream holds: start offsets 0 .. n_tokens - block_size - 1."""
        return len(self.stream) - self.block_size

    def epoch(self, epoch: int) -> tuple[tuple[int, ...], ...]:
        """The start offsets of every batch of this epoch, a function of (seed, epoch) only."""
        rng = np.random.default_rng([self.seed, epoch])
        offsets = rng.integers(0, self.n_offsets, size=(self.batches_per_epoch, self.batch_size))
        return tuple(tuple(int(o) for o in row) for row in offsets)

    def collate(self, items: Sequence[int]) -> TrainingBatch:
        """Blocks starting at `items`: input tokens [o, o + block_size), targets one further."""
        if len(items) == 0:
            raise ValueError("TokenBlocks.collate: no offsets given")
        bad = [o for o in items if not 0 <= o < self.n_offsets]
        if bad:
            raise ValueError(f"TokenBlocks.collate: offset {bad[0]} is outside [0, {self.n_offsets})")
        windows = np.stack([self.stream[o : o + self.block_size + 1] for o in items]).astype(np.int64)
        blocks = torch.from_numpy(windows)
        inputs, targets = blocks[:, :-1], blocks[:, 1:]
        n = targets.numel()
        return TrainingBatch((inputs,), targets, n, n)
