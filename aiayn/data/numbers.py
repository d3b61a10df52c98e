"""The built-in task: translating lists of numbers written out in words, offline.

A pair is a comma-separated list of 1 to `max_items` numbers in English and in German,
as `num2words` writes them:

    en  "three hundred and twenty-one, seven"
    de  "dreihunderteinundzwanzig, sieben"

German writes a number as one compound word and English as several, and the two order
tens and units differently ("twenty-one" / "einundzwanzig"), so the model must learn to
split, join and locally reorder words: a small stand-in for WMT that trains on a CPU.

Writing. Numbers come from `num2words` (English "en", German "de"), with one change:
num2words puts a comma after "thousand" ("ninety-nine thousand, nine hundred and
ninety-nine"); we drop it, so that ", " only ever separates list items and every list
reads back unambiguously. German keeps num2words' spelling, quirks included (it writes
101,000 as "einhunderteinstausend"). To be fast, a number n = 1000 t + r is written from
the cached words of 1000 t and r (English joins them with " and " when r < 100, else a
space; German concatenates). This reproduces num2words for every n below 200,000 and for
30,000 random n up to 1,000,000 (checked one by one), and the tests check a sample.

Splits. Every number belongs to exactly one split, by a fixed arithmetic rule
(Fibonacci hashing; no salt, no state, O(1) per number):

    bucket(n) = ((n * 2654435761) mod 2**32) * 100 // 2**32      in 0..99
    split_of(n) = "train" if n < 100, else
                  "test" if bucket < 5, "validation" if bucket < 10, else "train"

Zero to ninety-nine are the words every other number is built from, so they are all
training numbers: a held-out number is a new composition (with hundreds and
thousands) of pieces seen in training, never an unseen word. (Holding out, say, 68
would hide the German word "achtundsechzig" at the start of an item, a piece the
shared BPE vocabulary writes differently from the same letters inside "einhundert-
achtundsechzig", so no training example could teach it.) From 100 on, about 5% of
numbers are test numbers, 5% validation and 90% train, spread evenly over magnitudes
and last digits. An example of a split uses only numbers of that split, so no number
of a validation or test example ever appears in a training example.

Sampling. Each example has a number of items drawn uniformly from 1..max_items; each item
draws a digit count uniformly among those that the split has numbers of, then a number of
that split with that many digits uniformly. Every magnitude is thus equally common, and
small numbers repeat often (validation and test hold numbers of 3 to 5 digits only). Draws depend
only on (split, seed, max_number, max_items), so "en-de" and "de-en" give the same
examples with sides swapped.
"""

import random
from functools import lru_cache
from typing import no_type_check

import numpy as np
from num2words import num2words

from aiayn.data.pairs import Pair

SPLITS = ("train", "validation", "test")
DIRECTIONS = ("en-de", "de-en")
MAX_NUMBER_LIMIT = 1_000_000  # composition below is exact up to here

# Default sizes used by the trainer. 200,000 training pairs take 2 to 4 s to generate.
TRAIN_EXAMPLES = 200_000
VALIDATION_EXAMPLES = 500
TEST_EXAMPLES = 1000
MAX_NUMBER = 100_000
MAX_ITEMS = 4
# Suggested tokenizer for the task (see aiayn.data.tokenizer): vocabulary size, and how many
# training pairs to learn it from (more give the same token counts, ten times slower).
VOCAB_SIZE = 1000
TOKENIZER_PAIRS = 20_000
SEPARATOR = ", "
ALWAYS_TRAIN = 100  # numbers below this are training numbers whatever their bucket


def _bucket(n: int) -> int:
    return (n * 2654435761 % 2**32) * 100 >> 32


def split_of(n: int, max_number: int = MAX_NUMBER) -> str:
    """The split that number n belongs to (see the module docstring for the rule)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < max_number:
        raise ValueError(f"split_of: n must be an integer in [0, {max_number}), got {n!r}")
    if n < ALWAYS_TRAIN:
        return "train"
    b = _bucket(n)
    return "test" if b < 5 else "validation" if b < 10 else "train"


@lru_cache(maxsize=None)
@no_type_check  # inner loop of number_pairs: kept out of run-time checking
def _raw(n, lang):
    return num2words(n, lang=lang)


@lru_cache(maxsize=1 << 18)
@no_type_check
def _words(n, lang):
    if n < 1000:
        return _raw(n, lang)
    thousands, rest = divmod(n, 1000)
    head = _raw(thousands * 1000, lang)
    if rest == 0:
        return head
    if lang == "de":
        return head + _raw(rest, lang)
    return head + (" and " if rest < 100 else " ") + _raw(rest, lang)


def number_words(n: int, lang: str) -> str:
    """n in words ("en" or "de") as the task writes it: num2words, English without commas."""
    if not 0 <= n < MAX_NUMBER_LIMIT:
        raise ValueError(f"number_words: n must be in [0, {MAX_NUMBER_LIMIT}), got {n}")
    if lang not in ("en", "de"):
        raise ValueError(f"number_words: lang must be 'en' or 'de', got {lang!r}")
    return _words(n, lang)


@lru_cache(maxsize=8)
def _numbers_by_digits(split: str, max_number: int) -> tuple[tuple[int, ...], ...]:
    """The split's numbers below max_number, grouped by digit count (empty groups left out).

    Vectorised form of `split_of` over the whole range (the same rule, in uint64).
    """
    n = np.arange(max_number, dtype=np.uint64)
    bucket = (n * np.uint64(2654435761) % np.uint64(2**32)) * np.uint64(100) >> np.uint64(32)
    low, high = {"test": (0, 5), "validation": (5, 10), "train": (10, 100)}[split]
    member = (bucket >= low) & (bucket < high) & (n >= np.uint64(ALWAYS_TRAIN))
    if split == "train":
        member |= n < np.uint64(ALWAYS_TRAIN)
    groups = []
    for digits in range(1, len(str(max_number - 1)) + 1):
        start, stop = (0 if digits == 1 else 10 ** (digits - 1)), min(10**digits, max_number)
        numbers = (np.flatnonzero(member[start:stop]) + start).tolist()
        if numbers:
            groups.append(tuple(numbers))
    return tuple(groups)


def _check(split: str, n_examples: int, direction: str, max_number: int, max_items: int) -> None:
    if split not in SPLITS:
        raise ValueError(f"number_pairs: split must be one of {SPLITS}, got {split!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"number_pairs: direction must be one of {DIRECTIONS}, got {direction!r}")
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 0:
        raise ValueError(f"number_pairs: n_examples must be a non-negative integer, got {n_examples!r}")
    if isinstance(max_number, bool) or not isinstance(max_number, int) or not 1 <= max_number <= MAX_NUMBER_LIMIT:
        raise ValueError(f"number_pairs: max_number must be an integer in [1, {MAX_NUMBER_LIMIT}], got {max_number!r}")
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"number_pairs: max_items must be a positive integer, got {max_items!r}")


def number_pairs(
    split: str,
    n_examples: int,
    direction: str = "en-de",
    seed: int = 0,
    max_number: int = MAX_NUMBER,
    max_items: int = MAX_ITEMS,
) -> tuple[Pair, ...]:
    """`n_examples` pairs of the split, deterministic given the arguments."""
    _check(split, n_examples, direction, max_number, max_items)
    groups = _numbers_by_digits(split, max_number)
    if not groups:
        raise ValueError(f"number_pairs: no number below max_number={max_number} belongs to split {split!r}")
    rng = random.Random(f"numbers:{split}:{seed}:{max_number}:{max_items}")
    src_lang, tgt_lang = direction.split("-")
    pairs = []
    for _ in range(n_examples):
        items = [rng.choice(rng.choice(groups)) for _ in range(rng.randint(1, max_items))]
        src = SEPARATOR.join(_words(n, src_lang) for n in items)
        tgt = SEPARATOR.join(_words(n, tgt_lang) for n in items)
        pairs.append(Pair(src, tgt))
    return tuple(pairs)
