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


from aiayn.data.cloze import ClozeItem, split_last_word
from aiayn.data.files import DataError
from aiayn.data.hub import load_split

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
    ds = load_split(path, split, ("text",), "pass a local copy of it instead (a folder in the same layout)",
                    config=config, cache_dir=cache_dir, limit=limit)
    where = f"split {split!r} of {path}"
    items = []
    for row, text in enumerate(ds["text"], start=1):
        if not isinstance(text, str) or " " not in text.strip():
            raise DataError(f"{where}, row {row}: a passage must be text with a space before its last word")
        items.append(split_last_word(text))
    return tuple(items)
