"""The built-in number task: num2words lists, a fixed split rule, determinism, errors."""

import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from num2words import num2words

from aiayn.data.numbers import (
    MAX_ITEMS,
    MAX_NUMBER,
    SEPARATOR,
    Pair,
    number_pairs,
    _numbers_by_digits,
    number_words,
    split_of,
)

SMALL = 3000  # a smaller max_number keeps the reverse word lookups quick


def _documented_split(n: int) -> str:
    """The rule of the module docstring, retyped."""
    if n < 100:
        return "train"
    bucket = ((n * 2654435761) % 2**32) * 100 // 2**32
    return "test" if bucket < 5 else "validation" if bucket < 10 else "train"


def _reverse(lang: str, max_number: int) -> dict[str, int]:
    return {number_words(n, lang): n for n in range(max_number)}


def test_split_of_follows_the_documented_rule() -> None:
    """split_of is the Fibonacci-hashing rule of the docstring (sampled over 0..99,999)."""
    assert all(split_of(n) == _documented_split(n) for n in range(0, MAX_NUMBER, 37))
    assert all(split_of(n) == "train" for n in range(100)), "zero to ninety-nine are always training numbers"
    held_out = {s: [n for n in range(100, 400) if split_of(n) == s] for s in ("test", "validation")}
    assert held_out["test"] and held_out["validation"], "from 100 on, numbers are held out"


def test_sampling_pools_are_exactly_the_numbers_split_of_assigns() -> None:
    """The pools number_pairs draws from partition 0..max_number-1 as split_of says."""
    pools = {s: {n for group in _numbers_by_digits(s, SMALL) for n in group} for s in ("train", "validation", "test")}
    assert sum(map(len, pools.values())) == SMALL and set().union(*pools.values()) == set(range(SMALL))
    assert all(split_of(n, SMALL) == s for s, pool in pools.items() for n in pool)


def test_splits_hold_about_5_5_and_90_percent_of_numbers_at_every_magnitude() -> None:
    """Each digit count from 3 to 5 splits about 5% test, 5% validation, 90% train."""
    sizes = {s: {len(str(g[0])): len(g) for g in _numbers_by_digits(s, MAX_NUMBER)} for s in ("train", "validation", "test")}
    for digits in (3, 4, 5):
        total = 9 * 10 ** (digits - 1)
        for split in ("test", "validation"):
            assert abs(sizes[split][digits] / total - 0.05) < 0.005
        assert sum(sizes[s][digits] for s in sizes) == total


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_examples_use_only_numbers_of_their_split(split: str) -> None:
    """Every number in an example of a split belongs to that split (so none leaks into training)."""
    en, de = _reverse("en", SMALL), _reverse("de", SMALL)
    pairs = number_pairs(split, 400, max_number=SMALL, seed=3)
    seen = set()
    for pair in pairs:
        src_numbers = [en[item] for item in pair.src.split(SEPARATOR)]
        tgt_numbers = [de[item] for item in pair.tgt.split(SEPARATOR)]
        assert src_numbers == tgt_numbers  # the two sides say the same numbers
        seen.update(src_numbers)
    assert {split_of(n, SMALL) for n in seen} == {split}
    assert len(seen) > 50


def test_training_examples_never_contain_a_test_or_validation_number() -> None:
    """At the default max_number, no item of 5,000 training examples names a validation or test number."""
    held_out = {
        number_words(n, lang): n
        for split in ("validation", "test")
        for group in _numbers_by_digits(split, MAX_NUMBER)
        for n in group
        for lang in ("en", "de")
    }
    train_pairs = number_pairs("train", 5000)
    train_items = {item for p in train_pairs for item in (*p.src.split(SEPARATOR), *p.tgt.split(SEPARATOR))}
    n_held_out = sum(split_of(n) != "train" for n in range(MAX_NUMBER))
    assert 9_900 < n_held_out < 10_100 and len(held_out) == 2 * n_held_out and len(train_items) > 10_000
    assert train_items.isdisjoint(held_out)
    test_items = {item for p in number_pairs("test", 200) for item in p.src.split(SEPARATOR)}
    assert test_items <= held_out.keys()  # the check can see a held-out number when there is one


@given(n=st.integers(0, 999_999))
@example(n=321)
@example(n=99_999)
@example(n=101_000)  # num2words' German quirk "einhunderteinstausend" is kept
@example(n=1_001)
@example(n=0)
def test_words_are_num2words_with_englishs_comma_removed(n: int) -> None:
    """A number reads as num2words writes it ("en" without its comma after thousand, "de" unchanged)."""
    assert number_words(n, "de") == num2words(n, lang="de")
    assert number_words(n, "en") == num2words(n, lang="en").replace(",", "")


def test_pinned_example_from_the_task_description() -> None:
    """321 and 7 read "three hundred and twenty-one" / "dreihunderteinundzwanzig" and "seven" / "sieben"."""
    assert SEPARATOR.join(number_words(n, "en") for n in (321, 7)) == "three hundred and twenty-one, seven"
    assert SEPARATOR.join(number_words(n, "de") for n in (321, 7)) == "dreihunderteinundzwanzig, sieben"


def test_list_separator_is_unambiguous_unlike_raw_num2words() -> None:
    """Splitting either side on ", " gives back the items; raw num2words English would not."""
    assert ", " in num2words(99_999, lang="en")  # the broken variant: one number, two "items"
    for pair in number_pairs("train", 500, seed=1):
        assert len(pair.src.split(SEPARATOR)) == len(pair.tgt.split(SEPARATOR))
    assert all(", " not in number_words(n, lang) for n in range(0, MAX_NUMBER, 97) for lang in ("en", "de"))


def test_items_per_example_range_over_1_to_max_items_and_numbers_stay_below_max_number() -> None:
    """Examples hold 1 to max_items numbers, all below max_number, with every count occurring."""
    de = _reverse("de", 500)
    pairs = number_pairs("train", 300, max_number=500, max_items=3, seed=2)
    counts = {len(p.tgt.split(SEPARATOR)) for p in pairs}
    assert counts == {1, 2, 3}
    assert all(item in de for p in pairs for item in p.tgt.split(SEPARATOR))
    assert {len(p.src.split(SEPARATOR)) for p in number_pairs("test", 300, seed=2)} == set(range(1, MAX_ITEMS + 1))


def test_same_seed_gives_same_pairs_and_other_seeds_differ() -> None:
    """Pairs are a function of (split, seed, sizes): equal for one seed, different for another."""
    first = number_pairs("validation", 50, seed=7)
    assert first == number_pairs("validation", 50, seed=7)
    assert first != number_pairs("validation", 50, seed=8)
    assert number_pairs("validation", 20, seed=7) == first[:20]  # a prefix does not depend on n_examples
    assert all(isinstance(p, Pair) and p.src and p.tgt for p in first)


def test_de_en_swaps_the_sides_of_en_de() -> None:
    """direction="de-en" gives the same examples with source and target exchanged."""
    forward, backward = number_pairs("test", 40, "en-de", seed=5), number_pairs("test", 40, "de-en", seed=5)
    assert [(p.tgt, p.src) for p in backward] == [(p.src, p.tgt) for p in forward]
    assert not any("tausend" in p.src or "hundert" in p.src for p in forward)
    assert any("tausend" in p.tgt or "hundert" in p.tgt for p in forward)


def test_every_digit_count_is_about_equally_common() -> None:
    """Numbers draw their digit count uniformly, so short and long numbers both appear often."""
    en = _reverse("en", 10_000)
    pairs = number_pairs("train", 2000, seed=4, max_number=10_000)
    items = [en[item] for p in pairs for item in p.src.split(SEPARATOR)]
    shares = [sum(len(str(n)) == k for n in items) / len(items) for k in range(1, 5)]
    assert all(abs(share - 0.25) < 0.03 for share in shares), shares


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "dev"}, "split must be one of"),
        ({"direction": "en-fr"}, "direction must be one of"),
        ({"n_examples": -1}, "n_examples"),
        ({"max_number": 0}, "max_number"),
        ({"max_number": 2_000_000}, "max_number"),
        ({"max_items": 0}, "max_items"),
        ({"split": "validation", "max_number": 1}, "no number below max_number=1"),
    ],
)
def test_bad_arguments_are_rejected_with_a_message_naming_them(kwargs: dict[str, object], message: str) -> None:
    """Unknown splits or directions and out-of-range sizes raise ValueError saying which."""
    args = {"split": "train", "n_examples": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        number_pairs(**args)  # type: ignore[arg-type]


def test_split_of_rejects_numbers_outside_the_range() -> None:
    """split_of refuses negative numbers and numbers >= max_number."""
    for bad in (-1, MAX_NUMBER):
        with pytest.raises(ValueError, match="split_of"):
            split_of(bad)
    assert split_of(random.Random(0).randrange(MAX_NUMBER)) in ("train", "validation", "test")
