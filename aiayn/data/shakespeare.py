"""Shakespeare for language modelling: 39 public-domain works, split by whole works.

The corpus travels with aiayn: `aiayn/data/corpora/shakespeare` holds each work as
`<name>_gut.txt.xz`, the titles in TITLES.tsv, and MANIFEST.tsv with the SHA-256 and
size of every file's uncompressed bytes, checked on every read, so that a clone, an
editable install and a wheel all train and score on byte-for-byte the same text. Another
folder in the same layout (plain `<name>_gut.txt` files, or `.xz` ones; a MANIFEST.tsv is
optional there and checked when present) can stand in for it: the `path` argument wins,
then the environment variable AIAYN_SHAKESPEARE, then the packaged copy. A work's name is
its file name without `_gut.txt`. (`scripts/pack_corpus.py` made the packaged copy.)

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

import functools
import hashlib
import lzma
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiayn.data.characters import CharTokenizer
from aiayn.data.files import DataError
from aiayn.data.tokenizer import BpeTokenizer

ENV_VAR = "AIAYN_SHAKESPEARE"
PACKAGED_DIR = Path(__file__).resolve().parent / "corpora" / "shakespeare"
SUFFIX = "_gut.txt"
XZ = ".xz"
MANIFEST = "MANIFEST.tsv"  # file, SHA-256 and size in bytes of its uncompressed content, a line each
TITLES = "TITLES.tsv"
HELD_OUT = {
    "validation": ("twelfth_night", "macbeth", "richard_ii"),
    "test": ("comedy_of_errors", "julius_caesar", "john"),
}
SPLITS = ("train", "validation", "test")
N_WORKS = 39
NANOGPT_CHARS = 1_115_394
NANOGPT_TRAIN_FRACTION = 0.9

Works = tuple[tuple[str, str], ...]  # (name, text) per work
CorpusPath = str | os.PathLike[str]


def corpus_dir(path: CorpusPath | None = None) -> Path:
    """The corpus folder: `path`, else $AIAYN_SHAKESPEARE, else the copy packaged with aiayn."""
    if path is not None:
        where, hint = Path(path), f"point the path argument (or {ENV_VAR}) at a folder of the {N_WORKS} works"
    elif os.environ.get(ENV_VAR):
        where, hint = Path(os.environ[ENV_VAR]), f"point {ENV_VAR} at a folder of the {N_WORKS} works, or unset it"
    else:
        where, hint = PACKAGED_DIR, "the copy packaged with aiayn is missing: reinstall aiayn"
    if not where.is_dir() or not _work_files(where):
        found = "is not a folder" if not where.is_dir() else f"holds no *{SUFFIX} (or *{SUFFIX}{XZ}) files"
        raise DataError(f"Shakespeare corpus not found: {where} {found}; {hint}")
    return where


def _work_files(where: Path) -> dict[str, Path]:
    """Work name -> its file in the folder (a plain text file wins over its .xz)."""
    files = {f.name[: -len(SUFFIX + XZ)]: f for f in where.glob(f"*{SUFFIX}{XZ}")}
    files.update({f.name[: -len(SUFFIX)]: f for f in where.glob(f"*{SUFFIX}")})
    return files


def _manifest(where: Path) -> dict[str, tuple[str, int]] | None:
    """File name -> (SHA-256, size) from the folder's MANIFEST.tsv; None when it has none."""
    file = where / MANIFEST
    if not file.is_file():
        return None
    out = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or len(fields[1]) != 64 or not fields[2].isdigit():
            raise DataError(f"{file}:{number}: expected '<file><TAB><sha256><TAB><bytes>'")
        out[fields[0]] = (fields[1], int(fields[2]))
    return out


def corpus_bytes(file_name: str, path: CorpusPath | None = None) -> bytes:
    """One file of the corpus (a work's `<name>_gut.txt`, or TITLES.tsv), uncompressed, and
    checked against the folder's MANIFEST.tsv when it has one."""
    where = corpus_dir(path)
    if where == PACKAGED_DIR:
        return _read_packaged(file_name)
    manifest = _manifest(where)
    return _read_checked(where / file_name, None if manifest is None else manifest.get(file_name, ("", -1)))


@functools.lru_cache(maxsize=N_WORKS + 1)
def _read_packaged(file_name: str) -> bytes:
    """A file of the packaged copy, read and checked once per process (it does not change)."""
    manifest = _manifest(PACKAGED_DIR)
    if manifest is None:
        raise DataError(f"{PACKAGED_DIR / MANIFEST}: missing, so the packaged corpus cannot be checked; reinstall aiayn")
    return _read_checked(PACKAGED_DIR / file_name, manifest.get(file_name, ("", -1)))


def _read_checked(file: Path, expected: tuple[str, int] | None) -> bytes:
    """The bytes of `file`, or of `file`.xz uncompressed, checked against (SHA-256, size) when given."""
    compressed = file.with_name(file.name + XZ)
    if file.is_file():
        shown, data = file, file.read_bytes()
    elif compressed.is_file():
        shown = compressed
        try:
            data = lzma.decompress(compressed.read_bytes())
        except lzma.LZMAError as err:
            raise DataError(f"{compressed}: damaged, not a readable xz file ({err}); restore it or reinstall aiayn") from None
    else:
        raise DataError(f"{file}: no such file (nor {compressed.name})")
    if expected is not None:
        digest = hashlib.sha256(data).hexdigest()
        if expected[1] < 0:
            raise DataError(f"{shown}: not listed in {file.parent / MANIFEST}, so it cannot be checked")
        if (digest, len(data)) != expected:
            raise DataError(
                f"{shown}: damaged or altered: SHA-256 {digest[:16]}… ({len(data):,} bytes) where {MANIFEST} "
                f"says {expected[0][:16]}… ({expected[1]:,} bytes); restore it or reinstall aiayn"
            )
    return data


def all_names(path: CorpusPath | None = None) -> tuple[str, ...]:
    """Names of every work in the corpus folder, in the sorted order of their file names."""
    where = corpus_dir(path)
    names = tuple(sorted(_work_files(where), key=lambda name: name + SUFFIX))
    manifest = _manifest(where)
    if manifest is not None:
        listed = {f[: -len(SUFFIX)] for f in manifest if f.endswith(SUFFIX)}
        if listed != set(names):
            missing, extra = sorted(listed - set(names)), sorted(set(names) - listed)
            raise DataError(f"{where}: the works do not match {MANIFEST} (missing: {missing or 'none'}; "
                            f"not listed: {extra or 'none'}); restore the folder or reinstall aiayn")  # fmt: skip
    return names


def split_names(split: str, path: CorpusPath | None = None) -> tuple[str, ...]:
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


def read_work(name: str, path: CorpusPath | None = None) -> str:
    """The text of one work (UTF-8; line ends as "\\n")."""
    where = corpus_dir(path)
    if not any((where / f"{name}{SUFFIX}{end}").is_file() for end in ("", XZ)):
        raise DataError(f"{where}: no such work {name!r} (neither {name}{SUFFIX} nor {name}{SUFFIX}{XZ})")
    data = corpus_bytes(f"{name}{SUFFIX}", path)
    try:
        return data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as err:
        raise DataError(f"{corpus_dir(path) / (name + SUFFIX)}: not valid UTF-8 at byte {err.start}") from None


def works(split: str, path: CorpusPath | None = None) -> Works:
    """The works of a split as (name, text) pairs, in the order of `split_names`."""
    return tuple((name, read_work(name, path)) for name in split_names(split, path))


def train_bpe(vocab_size: int, path: CorpusPath | None = None, min_frequency: int = 2) -> BpeTokenizer:
    """Byte-level BPE learned from the training works only."""
    return BpeTokenizer.train((text for _, text in works("train", path)), vocab_size, min_frequency)


def train_characters(path: CorpusPath | None = None) -> CharTokenizer:
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


def nanogpt_text(split: str, path: CorpusPath | None = None) -> str:
    """nanoGPT-comparison text of a split ("train": first 90%, "validation": the rest)."""
    if split not in ("train", "validation"):
        raise ValueError(f"nanogpt_text: split must be 'train' or 'validation', got {split!r}")
    text = "".join(read_work(name, path) for name in all_names(path))[:NANOGPT_CHARS]
    cut = int(len(text) * NANOGPT_TRAIN_FRACTION)
    return text[:cut] if split == "train" else text[cut:]


def pack_corpus(source: CorpusPath, out: CorpusPath) -> Path:
    """Write the works and TITLES.tsv of the folder `source` into `out` as the packaged layout
    (`<name>_gut.txt.xz`, TITLES.tsv, MANIFEST.tsv); returns the manifest's path. The same input
    gives the same bytes. Files of `out` that the new copy would not list are refused, not deleted."""
    source, out = corpus_dir(source), Path(out)
    names = sorted(f"{name}{SUFFIX}" for name in _work_files(source))
    if (out / MANIFEST).exists() or out.is_dir():
        stale = sorted(f.name for f in out.glob(f"*{SUFFIX}{XZ}") if f.name.removesuffix(XZ) not in names)
        if stale:
            raise DataError(f"{out}: holds works that {source} lacks ({stale}); remove them first or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# file\tsha256 of the uncompressed bytes\tbytes"]
    for name in [*names, TITLES]:
        data = _read_checked(source / name, None)
        lines.append(f"{name}\t{hashlib.sha256(data).hexdigest()}\t{len(data)}")
        if name == TITLES:
            (out / name).write_bytes(data)
        else:
            (out / f"{name}{XZ}").write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    (out / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / MANIFEST
