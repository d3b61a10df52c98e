"""Shakespeare for language modelling: 39 public-domain works, split by whole works.

The corpus is read in place, never copied: by default from ../shared/data/shakespeare
beside the repository, else from the folder in the environment variable
AIAYN_SHAKESPEARE, or from a `path` argument (which wins). Each work is one
`<name>_gut.txt` file; its name here is the file name without `_gut.txt`.

Held-out works, whole plays so that no passage of an evaluation is also a training
passage (about 7% of the 4,661,433 characters each, a comedy, a tragedy and a history):

    validation  twelfth_night, macbeth, richard_ii              348,596 characters
    test        comedy_of_errors, julius_caesar, john           325,512 characters
    train       the other 33 works, poems included            3,987,325 characters

Both tokenizers learn from the training works only: byte-level BPE (`train_bpe`,
`aiayn.data.tokenizer.BpeTokenizer`, vocabulary size a parameter) and characters
(`train_characters`, `aiayn.data.characters.CharTokenizer`). `token_stream` turns
texts into one flat id array, each text preceded by the end token </s>, which thus
marks where a work begins: the model trains on it and evaluation conditions the first
token of a text on it.

The nanoGPT comparison corpus: the works' files in sorted name order, concatenated
with no separator, cut to the first 1,115,394 characters (the size of nanoGPT's
"tiny Shakespeare"); the first 90% train, the rest validate (`nanogpt_text`).
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiayn.data.characters import CharTokenizer
from aiayn.data.files import DataError
from aiayn.data.tokenizer import BpeTokenizer

ENV_VAR = "AIAYN_SHAKESPEARE"
DEFAULT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "shakespeare"
SUFFIX = "_gut.txt"
HELD_OUT = {
    "validation": ("twelfth_night", "macbeth", "richard_ii"),
    "test": ("comedy_of_errors", "julius_caesar", "john"),
}
SPLITS = ("train", "validation", "test")
N_WORKS = 39
NANOGPT_CHARS = 1_115_394
NANOGPT_TRAIN_FRACTION = 0.9

Works = tuple[tuple[str, str], ...]  # (name, text) per work


def corpus_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The corpus folder: `path`, else $AIAYN_SHAKESPEARE, else ../shared/data/shakespeare."""
    where = Path(path) if path is not None else Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)
    if not where.is_dir() or not any(where.glob(f"*{SUFFIX}")):
        found = "is not a folder" if not where.is_dir() else f"holds no *{SUFFIX} files"
        raise DataError(
            f"Shakespeare corpus not found: {where} {found}; point {ENV_VAR} (or the path argument) "
            f"at the folder of the 39 *{SUFFIX} works"
        )
    return where


def all_names(path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Names of every work in the corpus folder, in the sorted order of their file names."""
    return tuple(f[: -len(SUFFIX)] for f in sorted(f.name for f in corpus_dir(path).glob(f"*{SUFFIX}")))


def split_names(split: str, path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Names of the works of a split ("train", "validation" or "test")."""
    if split not in SPLITS:
        raise ValueError(f"shakespeare: split must be one of {SPLITS}, got {split!r}")
    names = all_names(path)
    missing = sorted({n for held in HELD_OUT.values() for n in held} - set(names))
    if missing:
        raise DataError(f"{corpus_dir(path)}: the held-out works {missing} are missing ({N_WORKS} works expected)")
    if split in HELD_OUT:
        return HELD_OUT[split]
    held = {n for names_ in HELD_OUT.values() for n in names_}
    return tuple(n for n in names if n not in held)


def read_work(name: str, path: str | os.PathLike[str] | None = None) -> str:
    """The text of one work (UTF-8; line ends as "\\n")."""
    file = corpus_dir(path) / f"{name}{SUFFIX}"
    try:
        return file.read_text(encoding="utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise DataError(f"{file}: no such work") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not valid UTF-8 at byte {err.start}") from None


def works(split: str, path: str | os.PathLike[str] | None = None) -> Works:
    """The works of a split as (name, text) pairs, in the order of `split_names`."""
    return tuple((name, read_work(name, path)) for name in split_names(split, path))


def train_bpe(vocab_size: int, path: str | os.PathLike[str] | None = None, min_frequency: int = 2) -> BpeTokenizer:
    """Byte-level BPE learned from the training works only."""
    return BpeTokenizer.train((text for _, text in works("train", path)), vocab_size, min_frequency)


def train_characters(path: str | os.PathLike[str] | None = None) -> CharTokenizer:
    """The character vocabulary of the training works."""
    return CharTokenizer.train(text for _, text in works("train", path))


def token_stream(tokenizer: BpeTokenizer | CharTokenizer, texts: Sequence[str]) -> np.ndarray:
    """One flat int64 array: for each text, </s> then the text's tokens."""
    if isinstance(tokenizer, CharTokenizer):
        encoded = [tokenizer.encode_array(text) for text in texts]
    else:
        encoded = [np.asarray(ids, dtype=np.int64) for ids in tokenizer.encode_batch(list(texts))]
    eos = np.array([tokenizer.eos_id], dtype=np.int64)
    return np.concatenate([part for ids in encoded for part in (eos, ids)]) if encoded else eos[:0]


def nanogpt_text(split: str, path: str | os.PathLike[str] | None = None) -> str:
    """nanoGPT-comparison text of a split ("train": first 90%, "validation": the rest)."""
    if split not in ("train", "validation"):
        raise ValueError(f"nanogpt_text: split must be 'train' or 'validation', got {split!r}")
    text = "".join(read_work(name, path) for name in all_names(path))[:NANOGPT_CHARS]
    cut = int(len(text) * NANOGPT_TRAIN_FRACTION)
    return text[:cut] if split == "train" else text[cut:]
