"""§5.1 batching: length-sorted batches under separate source and target token budgets, from
Examples or from the lengths of binarized pairs, and collated without a loop over rows."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import TypeCheckError

from aiayn.training.batching import (
    Batch,
    Example,
    collate,
    encode_pairs,
    group_for_accumulation,
    length_batches,
    padding_ratio,
    shard,
    token_batches,
)
from aiayn.data.binarized import PairTokens
from aiayn.data.numbers import Pair, number_pairs
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.training.loader import Prefetcher
from aiayn.training.pair_batches import PairBatches

PAD, BOS, EOS = 0, 2, 3


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    pairs = number_pairs("train", 1000, seed=5)
    return BpeTokenizer.train([p.src for p in pairs] + [p.tgt for p in pairs], vocab_size=500)


@pytest.fixture(scope="module")
def number_examples(tokenizer: BpeTokenizer) -> tuple[Example, ...]:
    examples, dropped = encode_pairs(number_pairs("train", 3000, seed=6), tokenizer, max_len=128)
    assert dropped == 0
    return examples


def _random_examples(seed: int, n: int, longest: int = 40) -> tuple[Example, ...]:
    rng = random.Random(seed)
    def ids(least: int) -> tuple[int, ...]:
        return tuple(rng.randrange(4, 50) for _ in range(rng.randint(least, longest)))

    return tuple(Example((*ids(1), EOS), ids(0)) for _ in range(n))


def _padded(examples: tuple[Example, ...], batch: tuple[int, ...]) -> tuple[int, int]:
    """(padded source size, padded target size) of a batch: target counts len(tgt) + 1."""
    return (
        len(batch) * max(len(examples[i].src) for i in batch),
        len(batch) * max(len(examples[i].tgt) + 1 for i in batch),
    )


def test_encode_pairs_ends_sources_with_eos_and_keeps_targets_bare(tokenizer: BpeTokenizer) -> None:
    """A source is its ids then </s>; a target is its ids alone (collate adds <s> and </s>)."""
    pair = Pair("three hundred and twenty-one, seven", "dreihunderteinundzwanzig, sieben")
    (example,), dropped = encode_pairs([pair], tokenizer, max_len=64)
    assert dropped == 0
    assert example.src == (*tokenizer.encode(pair.src), tokenizer.eos_id)
    assert example.tgt == tuple(tokenizer.encode(pair.tgt))


def test_encode_pairs_drops_and_counts_pairs_longer_than_max_len(tokenizer: BpeTokenizer) -> None:
    """Pairs whose source + </s> or target + 1 exceeds max_len are dropped and counted, the rest kept in order."""
    pairs = number_pairs("validation", 200, seed=1)
    max_len = 12
    examples, dropped = encode_pairs(pairs, tokenizer, max_len=max_len)
    fits = [p for p in pairs if max(len(tokenizer.encode(p.src)), len(tokenizer.encode(p.tgt))) + 1 <= max_len]
    assert 0 < dropped < len(pairs) and len(examples) == len(fits) == len(pairs) - dropped
    assert [tokenizer.decode(e.tgt) for e in examples] == [p.tgt for p in fits]
    assert all(len(e.src) <= max_len and len(e.tgt) + 1 <= max_len for e in examples)
    # the limits exactly: a target of L tokens needs max_len >= L + 1 (for <s> or </s>), a source too (for </s>)
    for pair in (Pair("seven", "drei, vier, fünf, sechs"), Pair("drei, vier, fünf, sechs", "seven")):
        longest = max(len(tokenizer.encode(pair.src)), len(tokenizer.encode(pair.tgt)))
        assert encode_pairs([pair], tokenizer, max_len=longest + 1)[1] == 0
        assert encode_pairs([pair], tokenizer, max_len=longest)[1] == 1


@given(seed=st.integers(0, 2**16), budget_src=st.integers(1, 400), budget_tgt=st.integers(1, 400))
def test_every_example_is_in_exactly_one_batch_per_epoch(seed: int, budget_src: int, budget_tgt: int) -> None:
    """The batches of an epoch partition the example indices, whatever the budgets."""
    examples = _random_examples(seed, 97)
    batches = token_batches(examples, budget_src, budget_tgt, seed=seed, epoch=seed % 3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(examples)))
    assert all(batch for batch in batches)


@given(seed=st.integers(0, 2**16), budget_src=st.integers(1, 400), budget_tgt=st.integers(1, 400))
def test_padded_batches_stay_within_both_budgets_unless_alone(seed: int, budget_src: int, budget_tgt: int) -> None:
    """Every batch of 2+ keeps batch * max source length and batch * max(target + 1) within their budgets."""
    examples = _random_examples(seed, 97)
    for batch in token_batches(examples, budget_src, budget_tgt, seed=seed):
        src, tgt = _padded(examples, batch)
        assert len(batch) == 1 or (src <= budget_src and tgt <= budget_tgt)


def test_an_example_over_the_budget_gets_a_batch_of_its_own() -> None:
    """An example longer than a budget on its own is put alone in a batch, not dropped."""
    examples = _random_examples(0, 50, longest=10) + (Example(tuple(range(4, 40)) + (EOS,), (5, 6)),)
    batches = token_batches(examples, max_src_tokens=30, max_tgt_tokens=100, seed=0)
    assert (len(examples) - 1,) in batches


def test_batches_are_as_full_as_the_budget_allows() -> None:
    """Cutting is greedy: adding the next example in sorted order would have broken a budget."""
    examples = _random_examples(3, 200)
    batches = token_batches(examples, 300, 300, shuffle=False)
    for batch, following in zip(batches, batches[1:]):
        src, tgt = _padded(examples, (*batch, following[0]))
        assert src > 300 or tgt > 300


def test_same_seed_and_epoch_give_the_same_batches_and_new_epochs_reshuffle() -> None:
    """Batches depend only on (seed, epoch): repeatable, and different for another epoch or seed."""
    examples = _random_examples(1, 300)
    first = token_batches(examples, 200, 200, seed=4, epoch=0)
    assert first == token_batches(examples, 200, 200, seed=4, epoch=0)
    assert first != token_batches(examples, 200, 200, seed=4, epoch=1)
    assert first != token_batches(examples, 200, 200, seed=5, epoch=0)
    unshuffled = token_batches(examples, 200, 200, shuffle=False, epoch=7)
    assert unshuffled == token_batches(examples, 200, 200, shuffle=False, epoch=8)
    assert [len(examples[b[0]].src) for b in unshuffled] == sorted(len(examples[b[0]].src) for b in unshuffled)


def test_padding_waste_is_small_on_the_number_task(number_examples: tuple[Example, ...]) -> None:
    """Length-sorted batches pad the number task by under 15%; random batches of the same count waste far more."""
    batches = token_batches(number_examples, 800, 800, seed=0)
    ratio = padding_ratio(number_examples, batches)
    order = list(range(len(number_examples)))
    random.Random(0).shuffle(order)
    size = len(number_examples) // len(batches)
    unsorted = [tuple(order[k : k + size]) for k in range(0, len(order), size)]
    unsorted_ratio = padding_ratio(number_examples, unsorted)
    print(f"padded/real tokens: {ratio:.3f} sorted, {unsorted_ratio:.3f} unsorted ({len(batches)} batches)")
    assert ratio < 1.15
    assert unsorted_ratio > 1.5


def test_collate_builds_shifted_decoder_input_and_output() -> None:
    """tgt_in is [<s>] + tgt and tgt_out is tgt + [</s>], right-padded; src is right-padded."""
    examples = (Example((7, 8, EOS), (9,)), Example((5, EOS), (10, 11, 12)))
    batch = collate(examples, PAD, BOS, EOS)
    assert batch.src.tolist() == [[7, 8, EOS], [5, EOS, PAD]]
    assert batch.tgt_in.tolist() == [[BOS, 9, PAD, PAD], [BOS, 10, 11, 12]]
    assert batch.tgt_out.tolist() == [[9, EOS, PAD, PAD], [10, 11, 12, EOS]]
    assert batch.src.dtype == torch.long
    assert (batch.n_src_tokens, batch.n_tgt_tokens) == (5, 6)


@given(seed=st.integers(0, 2**16))
def test_collate_output_is_input_shifted_left_by_one(seed: int) -> None:
    """At every real position t, tgt_out[t] == tgt_in[t + 1]: the decoder predicts the next token."""
    examples = _random_examples(seed, 5, longest=7)
    batch = collate(examples, PAD, BOS, EOS)
    for row, e in enumerate(examples):
        n = len(e.tgt) + 1
        assert batch.tgt_in[row, 1:n].tolist() == batch.tgt_out[row, : n - 1].tolist() == list(e.tgt)
        assert (batch.tgt_out[row, n:] == PAD).all() and (batch.src[row, len(e.src):] == PAD).all()
    assert batch.n_src_tokens == sum(len(e.src) for e in examples)
    assert batch.n_tgt_tokens == sum(len(e.tgt) + 1 for e in examples)


def test_batch_shapes_are_checked() -> None:
    """A Batch whose decoder input and output lengths differ is refused by the shape annotations."""
    good = collate((Example((4, EOS), (5, 6)),), PAD, BOS, EOS)
    with pytest.raises(TypeCheckError):
        Batch(good.src, good.tgt_in, good.tgt_out[:, :-1], PAD)


@given(n_batches=st.integers(1, 60), world_size=st.integers(1, 8))
def test_shards_are_equal_sized_disjoint_and_miss_only_the_leftover(n_batches: int, world_size: int) -> None:
    """Every rank gets len // world_size batches, no batch twice, and only len % world_size are skipped."""
    batches = tuple((k,) for k in range(n_batches))
    if n_batches < world_size:
        with pytest.raises(ValueError, match="cannot give each"):
            shard(batches, 0, world_size)
        return
    shards = [shard(batches, rank, world_size) for rank in range(world_size)]
    assert {len(s) for s in shards} == {n_batches // world_size}
    taken = [b for s in shards for b in s]
    assert len(set(taken)) == len(taken)
    assert len(batches) - len(taken) == n_batches % world_size


def test_shard_rejects_bad_rank() -> None:
    """A rank outside [0, world_size) is refused."""
    with pytest.raises(ValueError, match="rank"):
        shard(((0,), (1,)), 2, 2)


@given(n_batches=st.integers(0, 40), accum_steps=st.integers(1, 9))
def test_accumulation_groups_cover_batches_in_order(n_batches: int, accum_steps: int) -> None:
    """Groups hold accum_steps consecutive batches (the last may be shorter) and together give back every batch."""
    batches = tuple((k,) for k in range(n_batches))
    groups = group_for_accumulation(batches, accum_steps)
    assert tuple(b for g in groups for b in g) == batches
    assert all(len(g) == accum_steps for g in groups[:-1]) and all(1 <= len(g) <= accum_steps for g in groups)


# -- batches from lengths, and binarized pairs ---------------------------------------------


def _greedy_reference(src: list[int], tgt: list[int], max_src: int, max_tgt: int) -> list[tuple[int, ...]]:
    """The cut retyped as a plain loop: sort by (src, tgt, index), add items while both budgets hold."""
    order = sorted(range(len(src)), key=lambda i: (src[i], tgt[i], i))
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last is not None:
            size = len(last) + 1
            if size * max(src[j] for j in (*last, i)) <= max_src and size * max(tgt[j] for j in (*last, i)) <= max_tgt:
                last.append(i)
                continue
        batches.append([i])
    return [tuple(b) for b in batches]


@given(seed=st.integers(0, 2**16), budget_src=st.integers(1, 400), budget_tgt=st.integers(1, 400))
def test_vectorised_cut_equals_the_greedy_loop(seed: int, budget_src: int, budget_tgt: int) -> None:
    """length_batches cuts exactly where the item-by-item greedy loop does (unshuffled, so in sorted order)."""
    rng = random.Random(seed)
    src = [rng.randint(1, 40) for _ in range(301)]
    tgt = [rng.randint(1, 40) for _ in range(301)]
    batches = length_batches(np.array(src), np.array(tgt), budget_src, budget_tgt, shuffle=False).as_tuples()
    assert list(batches) == _greedy_reference(src, tgt, budget_src, budget_tgt)
    # the broken variant: a cut on the source budget alone breaks the target budget somewhere
    if budget_tgt < budget_src // 2:
        src_only = length_batches(np.array(src), np.array(tgt), budget_src, 10**9, shuffle=False).as_tuples()
        assert any(len(b) > 1 and len(b) * max(tgt[i] for i in b) > budget_tgt for b in src_only)


def _store(seed: int, n: int, longest: int = 40) -> tuple[PairTokens, tuple[Example, ...]]:
    """The same random pairs as a PairTokens store and as Examples (source with </s>)."""
    rng = random.Random(seed)
    src = [[rng.randrange(4, 50) for _ in range(rng.randint(0, longest))] for _ in range(n)]
    tgt = [[rng.randrange(4, 50) for _ in range(rng.randint(0, longest))] for _ in range(n)]
    return PairTokens.from_ids(src, tgt), tuple(Example((*s, EOS), tuple(t)) for s, t in zip(src, tgt))


@given(seed=st.integers(0, 2**16))
def test_pair_batches_collate_equals_the_row_by_row_collate(seed: int) -> None:
    """The vectorised collate of stored pairs gives the tensors and counts of `collate` on the same examples."""
    store, examples = _store(seed, 60)
    source = PairBatches(store, 300, 300, seed, PAD, BOS, EOS)
    batches = source.epoch(seed % 4)
    assert sorted(i for b in batches for i in b.tolist()) == list(range(60))
    for items in list(batches)[:5]:
        got = source.collate(items)
        want = collate([examples[i] for i in items], PAD, BOS, EOS)
        assert torch.equal(got.inputs[0], want.src) and torch.equal(got.inputs[1], want.tgt_in)
        assert torch.equal(got.targets, want.tgt_out)
        assert got.n_targets == want.n_tgt_tokens and got.n_tokens == want.n_src_tokens + want.n_tgt_tokens
        assert source.counts(items) == (got.n_targets, got.n_tokens)


def test_pairs_longer_than_max_len_are_counted_and_never_batched() -> None:
    """With max_len, a pair whose source + </s> or target + 1 exceeds it is dropped from every epoch."""
    store, examples = _store(7, 200)
    source = PairBatches(store, 400, 400, 0, PAD, BOS, EOS, max_len=30)
    fits = {i for i, e in enumerate(examples) if len(e.src) <= 30 and len(e.tgt) + 1 <= 30}
    assert 0 < source.n_dropped == 200 - len(fits) and len(source) == len(fits)
    for epoch in range(3):
        assert sorted(i for b in source.epoch(epoch) for i in b.tolist()) == sorted(fits)


def test_epoch_batches_depend_only_on_seed_and_epoch() -> None:
    """Two sources over the same pairs give the same batches for a (seed, epoch), others for another."""
    store, _ = _store(3, 500)
    a, b = (PairBatches(store, 250, 250, 11, PAD, BOS, EOS) for _ in range(2))
    assert a.epoch(2).as_tuples() == b.epoch(2).as_tuples()
    assert a.epoch(2).as_tuples() != a.epoch(3).as_tuples()
    sliced = a.epoch(2)[1:4]  # what a trainer takes for one step: a tuple of id arrays
    assert len(sliced) == 3 and all(np.array_equal(x, a.epoch(2)[k]) for x, k in zip(sliced, (1, 2, 3)))


def test_prefetched_batches_equal_those_collated_when_asked() -> None:
    """A batch collated ahead in the background is the batch collated on demand; errors surface on get."""
    store, _ = _store(5, 120)
    source = PairBatches(store, 300, 300, 0, PAD, BOS, EOS)
    batches = list(source.epoch(0))
    with Prefetcher(source.collate) as loader:
        loader.ahead(batches[:3])
        for items in batches[:4]:  # the fourth was not asked for ahead
            got, want = loader.get(items), source.collate(items)
            assert all(torch.equal(x, y) for x, y in zip(got.inputs, want.inputs)) and torch.equal(got.targets, want.targets)
        loader.ahead([np.array([10**6])])
        with pytest.raises(IndexError):
            loader.get(np.array([10**6]))


def _one_by_one(examples, max_src, max_tgt, seed, epoch):  # noqa: ANN001, ANN202
    """The batches as first written: Python's random for the tie-breaks and the batch order."""
    import random

    rng = random.Random(f"token_batches:{seed}:{epoch}")
    ties = [rng.random() for _ in range(len(examples))]
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].src), len(examples[i].tgt), ties[i]))
    batches, current, n_src, n_tgt = [], [], 0, 0
    for i in order:
        s, t = len(examples[i].src), len(examples[i].tgt) + 1
        new_src, new_tgt = max(n_src, s), max(n_tgt, t)
        if current and ((len(current) + 1) * new_src > max_src or (len(current) + 1) * new_tgt > max_tgt):
            batches.append(tuple(current))
            current, new_src, new_tgt = [], s, t
        current.append(i)
        n_src, n_tgt = new_src, new_tgt
    if current:
        batches.append(tuple(current))
    rng.shuffle(batches)
    return tuple(batches)


def test_vectorised_batches_are_the_batches_runs_have_always_had() -> None:
    """Same seed and epoch, same batches in the same order as the one-by-one loop: runs stay comparable."""
    import random

    examples = [Example(tuple(range(random.Random(i).randint(1, 9))), tuple(range(random.Random(-i).randint(0, 7))))
                for i in range(2000)]  # fmt: skip
    for seed, epoch in ((0, 0), (3, 1), (7, 5)):
        assert token_batches(examples, 60, 50, seed=seed, epoch=epoch) == _one_by_one(examples, 60, 50, seed, epoch)
