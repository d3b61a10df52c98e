"""Real parallel data: WMT 2014 English-German from the Hugging Face hub, or local files.

Sources:
- `load_wmt14(split)`: `datasets.load_dataset("wmt/wmt14", "de-en", split=...)`; splits
  "train" (4,508,785 pairs), "validation" (newstest2013, 3,000) and "test" (the full
  3,003-line newstest2014, not the 2,737-line filtered one). Records look like
  {"translation": {"de": ..., "en": ...}}. `path` may also be a local directory in the
  same layout (a README.md whose `configs:` front matter names config "de-en" and its
  data files per split; tests/fixtures/wmt14_tiny is one).
- `read_jsonl(path)`: one such record per line.
- `read_aligned_text(src_path, tgt_path)`: two UTF-8 files, line i of one translating
  line i of the other.
- `load_data_dir(data_dir, split)`: what `--data-dir` points at: `{split}.jsonl`, or
  `{split}.en` and `{split}.de` aligned text files.

Policy for bad input: a missing file, malformed JSON, a record without both languages,
undecodable UTF-8 or aligned files of different lengths raise `DataError`, naming the
file (and the line where there is one). Text is stripped of surrounding whitespace; a
pair with an empty side after that is skipped, not an error, and counted: every loader
returns `Pairs`, a tuple of `Pair` whose `n_skipped` says how many were left out. Blank
lines in a JSON Lines file are not records and are ignored.
"""

import json
import os
from collections.abc import Iterable, Iterator

from aiayn.data.files import DataError, read_lines
from aiayn.data.hub import load_split
from aiayn.data.numbers import DIRECTIONS
from aiayn.data.pairs import Pair

WMT14_SPLITS = ("train", "validation", "test")
WMT14_SIZES = {"train": 4_508_785, "validation": 3_000, "test": 3_003}


class Pairs(tuple[Pair, ...]):
    """A tuple of pairs that also tells how many input pairs were skipped for an empty side."""

    n_skipped: int

    def __new__(cls, pairs: Iterable[Pair] = (), n_skipped: int = 0) -> "Pairs":
        self = super().__new__(cls, pairs)
        self.n_skipped = n_skipped
        return self


def _sides(direction: str) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, tgt = direction.split("-")
    return src, tgt


def _collect(texts: Iterable[tuple[str, str]]) -> Pairs:
    pairs, skipped = [], 0
    for src, tgt in texts:
        src, tgt = src.strip(), tgt.strip()
        if src and tgt:
            pairs.append(Pair(src, tgt))
        else:
            skipped += 1
    return Pairs(pairs, skipped)


def _record_texts(record: object, src: str, tgt: str, where: str) -> tuple[str, str]:
    translation = record.get("translation") if isinstance(record, dict) else None
    if not isinstance(translation, dict):
        raise DataError(f"{where}: expected a record like {{\"translation\": {{\"de\": ..., \"en\": ...}}}}")
    for lang in (src, tgt):
        if not isinstance(translation.get(lang), str):
            raise DataError(f"{where}: record has no {lang!r} text under \"translation\"")
    return translation[src], translation[tgt]


def read_jsonl(path: str | os.PathLike[str], direction: str = "en-de") -> Pairs:
    """Pairs from a JSON Lines file of {"translation": {"de": ..., "en": ...}} records."""
    src, tgt = _sides(direction)
    name = os.fspath(path)

    def texts() -> Iterator[tuple[str, str]]:
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{name}:{number}: malformed JSON ({err.msg} at column {err.colno})") from None
            yield _record_texts(record, src, tgt, f"{name}:{number}")

    return _collect(texts())


def read_aligned_text(src_path: str | os.PathLike[str], tgt_path: str | os.PathLike[str]) -> Pairs:
    """Pairs from two line-aligned UTF-8 text files (source, target)."""
    src_lines, tgt_lines = read_lines(src_path), read_lines(tgt_path)
    if len(src_lines) != len(tgt_lines):
        raise DataError(
            f"aligned files differ in length: {os.fspath(src_path)} has {len(src_lines)} lines, "
            f"{os.fspath(tgt_path)} has {len(tgt_lines)}"
        )
    return _collect(zip(src_lines, tgt_lines))


def load_data_dir(data_dir: str | os.PathLike[str], split: str, direction: str = "en-de") -> Pairs:
    """A split from a local directory: `{split}.jsonl`, else `{split}.{src}` + `{split}.{tgt}`."""
    src, tgt = _sides(direction)
    jsonl = os.path.join(data_dir, f"{split}.jsonl")
    if os.path.isfile(jsonl):
        return read_jsonl(jsonl, direction)
    src_path, tgt_path = (os.path.join(data_dir, f"{split}.{lang}") for lang in (src, tgt))
    if os.path.isfile(src_path) and os.path.isfile(tgt_path):
        return read_aligned_text(src_path, tgt_path)
    raise DataError(
        f"{os.fspath(data_dir)}: no data for split {split!r}; expected {split}.jsonl or {split}.{src} + {split}.{tgt}"
    )


def load_wmt14(
    split: str,
    direction: str = "en-de",
    cache_dir: str | None = None,
    path: str = "wmt/wmt14",
    limit: int | None = None,
) -> Pairs:
    """WMT 2014 English-German pairs of a split ("train", "validation", "test"), via `datasets`.

    `limit` keeps the first `limit` pairs of the split (before skipping empty ones).
    """
    src, tgt = _sides(direction)
    if split not in WMT14_SPLITS:
        raise ValueError(f"load_wmt14: split must be one of {WMT14_SPLITS}, got {split!r}")
    hint = (f"--data-dir DIR holding {split}.jsonl (or {split}.{src} + {split}.{tgt}), or "
            f"aiayn.data.parallel.read_jsonl / read_aligned_text")
    ds = load_split(path, split, ("translation",), hint, config="de-en", cache_dir=cache_dir, limit=limit)
    where = f"split {split!r} of {path}"

    def texts() -> Iterator[tuple[str, str]]:
        row = 0
        for batch in ds.iter(batch_size=10_000):
            for record in batch["translation"]:
                row += 1
                yield _record_texts({"translation": record}, src, tgt, f"{where}, row {row}")

    return _collect(texts())
