"""Data for training and evaluation: the built-in number task and WMT 2014 English-German.

    numbers   lists of numbers in English and German words (num2words), fully offline,
              with a fixed rule keeping validation and test numbers out of training
    parallel  WMT 2014 from the Hugging Face hub, or local JSON Lines / aligned text files

Both give `Pair(src, tgt)` tuples; `aiayn.data.tokenizer` and `aiayn.training.batching` take it from there.
"""

from aiayn.data.numbers import (
    MAX_NUMBER,
    TEST_EXAMPLES,
    TOKENIZER_PAIRS,
    TRAIN_EXAMPLES,
    VALIDATION_EXAMPLES,
    VOCAB_SIZE,
    Pair,
    number_pairs,
    number_words,
    split_of,
)
from aiayn.data.parallel import DataError, Pairs, load_data_dir, load_wmt14, read_aligned_text, read_jsonl

__all__ = [
    "MAX_NUMBER",
    "TEST_EXAMPLES",
    "TOKENIZER_PAIRS",
    "TRAIN_EXAMPLES",
    "VALIDATION_EXAMPLES",
    "VOCAB_SIZE",
    "DataError",
    "Pair",
    "Pairs",
    "load_data_dir",
    "load_wmt14",
    "number_pairs",
    "number_words",
    "read_aligned_text",
    "read_jsonl",
    "split_of",
]
