"""Language-model training blocks: random contiguous windows of one stream, fixed by (seed, epoch)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from aiayn.training.batching import shard
from aiayn.training.blocks import TokenBlocks, as_stream

STREAM = np.arange(1, 1000, dtype=np.uint16) % 251


@given(seed=st.integers(0, 2**31), epoch=st.integers(0, 50), block=st.sampled_from([1, 7, 13, 64]))
def test_an_epoch_is_a_function_of_seed_and_epoch_only(seed: int, epoch: int, block: int) -> None:
    """Two sources built alike give the same batches for an epoch; another epoch or seed gives others."""
    a, b = TokenBlocks(STREAM, block, 5, seed), TokenBlocks(STREAM, block, 5, seed)
    assert a.epoch(epoch) == b.epoch(epoch)
    assert a.epoch(epoch) != a.epoch(epoch + 1)
    assert a.epoch(epoch) != TokenBlocks(STREAM, block, 5, seed + 1).epoch(epoch)


def test_default_epoch_covers_the_stream_once_in_tokens_with_offsets_in_range() -> None:
    """n_tokens // (batch * block) batches of `batch` offsets, each in 0 .. n_tokens - block - 1."""
    blocks = TokenBlocks(STREAM, block_size=13, batch_size=7, seed=3)
    batches = blocks.epoch(0)
    assert len(batches) == len(STREAM) // (7 * 13) and all(len(b) == 7 for b in batches)
    offsets = [o for b in batches for o in b]
    assert min(offsets) >= 0 and max(offsets) <= len(STREAM) - 13 - 1
    assert len(TokenBlocks(STREAM, 13, 7, 3, batches_per_epoch=4).epoch(0)) == 4
    # every offset can be drawn, the last one included
    drawn = {o for b in TokenBlocks(STREAM, 990, 50, 0, batches_per_epoch=20).epoch(0) for o in b}
    assert drawn == set(range(len(STREAM) - 990))


def test_collate_reads_inputs_and_the_next_tokens_as_targets() -> None:
    """Inputs are stream[o : o + block], targets stream[o + 1 : o + block + 1], int64; every target counts."""
    blocks = TokenBlocks(STREAM, block_size=11, batch_size=3, seed=0)
    batch = blocks.collate((0, 5, len(STREAM) - 12))
    (inputs,) = batch.inputs
    assert inputs.dtype == batch.targets.dtype == torch.int64 and inputs.shape == (3, 11)
    for row, o in enumerate((0, 5, len(STREAM) - 12)):
        assert inputs[row].tolist() == STREAM[o : o + 11].tolist()
        assert batch.targets[row].tolist() == STREAM[o + 1 : o + 12].tolist()
    assert batch.n_targets == batch.n_tokens == 33
    with pytest.raises(ValueError, match="offset 988 is outside"):
        blocks.collate((len(STREAM) - 11,))


def test_data_parallel_ranks_share_out_the_same_epoch(tmp_path: Path) -> None:
    """Ranks that each build the source from a memory-mapped stream deal out one epoch between them."""
    path = tmp_path / "train.npy"
    np.save(path, as_stream(STREAM, vocab_size=251))
    mapped = np.load(path, mmap_mode="r")
    epoch = TokenBlocks(STREAM, 9, 4, seed=7, batches_per_epoch=10).epoch(2)
    ranks = [shard(TokenBlocks(mapped, 9, 4, seed=7, batches_per_epoch=10).epoch(2), rank, 2) for rank in range(2)]
    assert sorted(ranks[0] + ranks[1]) == sorted(epoch)
    batch = TokenBlocks(mapped, 9, 4, seed=7).collate(epoch[0])
    assert batch.inputs[0].tolist() == TokenBlocks(STREAM, 9, 4, seed=7).collate(epoch[0]).inputs[0].tolist()


def test_streams_use_the_smallest_integer_type_and_refuse_bad_ids() -> None:
    """uint16 up to 65,536 ids, int32 beyond; ids outside the vocabulary are refused."""
    assert as_stream([0, 5, 65_535], vocab_size=65_536).dtype == np.uint16
    assert as_stream([0, 70_000], vocab_size=100_000).dtype == np.int32
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\)"):
        as_stream([3, 10], vocab_size=10)
    with pytest.raises(ValueError, match="one flat sequence"):
        as_stream(np.zeros((2, 3), dtype=np.int64), vocab_size=10)


def test_bad_settings_are_refused_with_the_setting_named() -> None:
    """A stream too short for one block, a non-positive size or a stream of floats are refused."""
    with pytest.raises(ValueError, match="too few for one block"):
        TokenBlocks(STREAM[:10], block_size=10, batch_size=1, seed=0)
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        TokenBlocks(STREAM, block_size=0, batch_size=1, seed=0)
    with pytest.raises(ValueError, match="batches_per_epoch"):
        TokenBlocks(STREAM, block_size=4, batch_size=1, seed=0, batches_per_epoch=0)
    with pytest.raises(ValueError, match="flat numpy array"):
        TokenBlocks(np.zeros(100), block_size=4, batch_size=1, seed=0)
