"""Collating the next step's batches while the device computes this one.

`Prefetcher(collate)` runs a `BatchSource`'s collate in background threads: `ahead(items)`
starts collating batches that will be needed soon, and `get(items)` returns a batch,
from the background if it was asked for ahead, else collated now. Threads suffice: the
vectorised collate of `aiayn.training.pair_batches` spends its time in numpy gathers
and copies, which release the interpreter lock, and a batch collated into pinned memory
(on CUDA) is then copied to the device with non_blocking=True while the previous step
still computes. What a batch holds depends only on its items, so prefetching changes
no result: `get` gives the same batch, ahead or not.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from aiayn.training.batching import TrainingBatch

Items = Sequence[int] | np.ndarray


def _key(items: Items) -> bytes:
    return np.asarray(items, dtype=np.int64).tobytes()


class Prefetcher:
    """Background collation of batches asked for ahead (see the module docstring)."""

    def __init__(self, collate: Callable[[Items], TrainingBatch], workers: int = 1) -> None:
        self.collate, self.workers = collate, workers
        self._pool: ThreadPoolExecutor | None = None  # started by the first `ahead`
        self._pending: dict[bytes, Future[TrainingBatch]] = {}

    def ahead(self, batches: Sequence[Items]) -> None:
        """Start collating these batches in the background (each at most once)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="aiayn-collate")
        for items in batches:
            key = _key(items)
            if key not in self._pending:
                self._pending[key] = self._pool.submit(self.collate, items)

    def get(self, items: Items) -> TrainingBatch:
        """The batch of `items`: the one collated ahead (its errors raised here), or collated now."""
        future = self._pending.pop(_key(items), None)
        return future.result() if future is not None else self.collate(items)

    def close(self) -> None:
        """Drop what was asked for ahead and stop the threads (a later `ahead` starts them again)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
