"""Text classification data: the `LabelledText` record, local JSON Lines files, and SST-2.

Every source yields a tuple of `LabelledText(text, label)`, the label being a class
index 0 .. n_classes - 1 (the built-in genre task, `aiayn.data.genre`, yields the same).

- `read_labelled_jsonl(path, label_names)`: one `{"text": ..., "label": ...}` per line;
  a label is a class index, or one of `label_names` when they are given. Blank lines
  are not records.
- `load_sst2(split)`: the Stanford Sentiment Treebank, binary, through
  `datasets.load_dataset("stanfordnlp/sst2")`: columns idx, sentence, label (0 negative,
  1 positive); train 67,349 sentences, validation 872, test 1,821 whose labels are
  hidden (-1), so the test split is refused and validation is the one to evaluate
  on. `path` may be a local folder in the hub's layout (tests/fixtures/sst2_tiny).

Bad input raises `DataError` naming the file and line (or the split and row): missing
or undecodable files, malformed JSON, a record without a text or with an unknown label,
text that is empty once stripped.
"""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from aiayn.data.hub import load_split, rows
from aiayn.data.files import DataError, read_lines

SST2_LABELS = ("negative", "positive")
SST2_SPLITS = ("train", "validation")
SST2_SIZES = {"train": 67_349, "validation": 872, "test": 1_821}


@dataclass(frozen=True)
class LabelledText:
    """One classification example: a text and its class index."""

    text: str
    label: int


def _label(value: object, label_names: Sequence[str] | None, where: str) -> int:
    if label_names is not None and isinstance(value, str):
        if value not in label_names:
            raise DataError(f"{where}: label {value!r} is not one of {tuple(label_names)}")
        return list(label_names).index(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        names = f" or one of {tuple(label_names)}" if label_names is not None else ""
        raise DataError(f"{where}: label must be a class index (an integer >= 0){names}, got {value!r}")
    if label_names is not None and value >= len(label_names):
        raise DataError(f"{where}: label {value} is outside the {len(label_names)} classes {tuple(label_names)}")
    return value


def _record(text: object, label: object, label_names: Sequence[str] | None, where: str) -> LabelledText:
    if not isinstance(text, str):
        raise DataError(f"{where}: \"text\" must be a string, got {type(text).__name__}")
    if not text.strip():
        raise DataError(f"{where}: \"text\" is empty")
    return LabelledText(text.strip(), _label(label, label_names, where))


def read_labelled_jsonl(
    path: str | os.PathLike[str], label_names: Sequence[str] | None = None
) -> tuple[LabelledText, ...]:
    """Examples from a JSON Lines file of {"text": ..., "label": ...} records."""
    name = os.fspath(path)
    out = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: malformed JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict) or "text" not in record or "label" not in record:
            raise DataError(f"{where}: expected a record like {{\"text\": ..., \"label\": ...}}")
        out.append(_record(record["text"], record["label"], label_names, where))
    if not out:
        raise DataError(f"{name}: no records")
    return tuple(out)


def load_sst2(
    split: str, path: str = "stanfordnlp/sst2", cache_dir: str | None = None, limit: int | None = None
) -> tuple[LabelledText, ...]:
    """SST-2 sentences of "train" or "validation" (the test labels are hidden), via `datasets`."""
    if split == "test":
        raise DataError("SST-2's test labels are hidden (every label is -1): evaluate on split 'validation'")
    if split not in SST2_SPLITS:
        raise ValueError(f"load_sst2: split must be one of {SST2_SPLITS}, got {split!r}")
    hint = "a JSON Lines file of {\"text\": ..., \"label\": 0 or 1} records, read with read_labelled_jsonl"
    ds = load_split(path, split, ("idx", "sentence", "label"), hint, cache_dir=cache_dir, limit=limit)
    where = f"split {split!r} of {path}"
    return tuple(
        _record(row["sentence"], row["label"], SST2_LABELS, f"{where}, row {i} (idx {row['idx']})")
        for i, row in enumerate(rows(ds, ("idx", "sentence", "label")), start=1)
    )
