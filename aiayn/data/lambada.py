"""LAMBADA, OpenAI's version: 5,153 passages, each to be completed by its last word.

`load_lambada()` reads `datasets.load_dataset("EleutherAI/lambada_openai", "default",
split="test")`: one column `text`, one passage per row. Each passage becomes a
`aiayn.data.cloze.ClozeItem` by LAMBADA's rule: the context is the text up to its last
space, the target the word after it (scored as in lm-evaluation-harness by
`aiayn.evaluation.language_model.score_cloze`).

`path` may also be a local folder in the same layout (a README.md whose `configs:`
front matter names config "default" and its test file; tests/fixtures/lambada_tiny is
one). When the hub cannot be reached, a one-line `DataError` says so.
"""

import os

from aiayn.data.cloze import ClozeItem, split_last_word
from aiayn.data.parallel import DataError, _is_unreachable

LAMBADA_PATH = "EleutherAI/lambada_openai"
LAMBADA_SIZE = 5_153  # passages in the test split


def load_lambada(
    path: str = LAMBADA_PATH,
    split: str = "test",
    config: str = "default",
    cache_dir: str | None = None,
    limit: int | None = None,
) -> tuple[ClozeItem, ...]:
    """The passages of LAMBADA (OpenAI's test set) as cloze items; `limit` keeps the first rows."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"load_lambada: limit must be a non-negative integer or None, got {limit!r}")
    try:
        import datasets
    except ImportError:
        raise DataError("load_lambada needs the `datasets` package: pip install datasets") from None
    path = os.path.expanduser(path)
    local = os.path.isdir(path)
    if not local and path.startswith((".", "/")):
        raise DataError(f"{path}: no such directory")
    where = f"split {split!r} of {path}"
    try:
        ds = datasets.load_dataset(
            path, config, split=split if limit is None else f"{split}[:{limit}]", cache_dir=cache_dir
        )
    except Exception as err:
        if not local and _is_unreachable(err):
            raise DataError(
                f"the Hugging Face hub is unreachable ({type(err).__name__}), so {path!r} cannot be loaded; "
                f"pass a local copy of it instead (a folder in the same layout)"
            ) from err
        raise DataError(f"cannot load {where}: {type(err).__name__}: {err}") from err
    if "text" not in ds.column_names:
        raise DataError(f"{where}: no 'text' column (columns: {ds.column_names})")
    items = []
    for row, text in enumerate(ds["text"], start=1):
        if not isinstance(text, str) or " " not in text.strip():
            raise DataError(f"{where}, row {row}: a passage must be text with a space before its last word")
        items.append(split_last_word(text))
    return tuple(items)
