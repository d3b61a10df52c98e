"""One split of a Hugging Face hub data set (or a local folder in the hub's layout), via `datasets`.

The loaders of real data (SST-2, Alpaca, Dolly) go through `load_split`: it checks the
split and the columns, and turns every failure into one `DataError` line. When the hub
cannot be reached (offline mode, no network) the line says so and names the local
alternative the caller passes in `local_hint`. A `path` that is a directory is read
offline, as the tests read their fixtures under tests/fixtures/.
"""

import os
from collections.abc import Iterator, Sequence
from typing import Any

from aiayn.data.files import DataError


def is_unreachable(err: BaseException) -> bool:
    """True for the errors datasets / huggingface_hub raise when the hub cannot be reached."""
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    return type(err).__name__ in ("OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectTimeout")


def check_limit(limit: int | None, where: str) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"{where}: limit must be a non-negative integer or None, got {limit!r}")


def load_split(
    path: str,
    split: str,
    columns: Sequence[str],
    local_hint: str,
    config: str | None = None,
    cache_dir: str | None = None,
    limit: int | None = None,
) -> Any:  # a datasets.Dataset
    """`datasets.load_dataset(path, config, split=...)`, its first `limit` rows, with `columns` present."""
    check_limit(limit, path)
    try:
        import datasets
    except ImportError:
        raise DataError(f"loading {path!r} needs the `datasets` package: pip install datasets") from None
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
        if not local and is_unreachable(err):
            raise DataError(
                f"the Hugging Face hub is unreachable ({type(err).__name__}), so {path!r} cannot be loaded; "
                f"use local files instead: {local_hint}"
            ) from err
        message = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"cannot load {where}: {type(err).__name__}: {message}") from err
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(f"{where}: no column {', '.join(map(repr, missing))} (columns: {ds.column_names})")
    return ds


def rows(ds: Any, columns: Sequence[str]) -> Iterator[dict[str, object]]:
    """The rows of a data set as dicts of `columns`, in order."""
    for batch in ds.iter(batch_size=10_000):
        for values in zip(*(batch[c] for c in columns)):
            yield dict(zip(columns, values))
