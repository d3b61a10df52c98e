"""Checkpoints written in the background, so that the processes do not stall on the disk.

Saving a base model's checkpoint (weights, Adam's two moments, hashed and fsynced) takes
seconds; done in line on rank 0 every `save_every` steps, every other process waits for
it at the next gradient all-reduce. Here the training thread only copies the weights and
the training state to host memory (`host_weights`, `host_copy`: the one part that must
see the tensors as they are at this step), and a background thread writes, fsyncs,
hashes and renames the folder (`aiayn.training.checkpoint.write_checkpoint`), then drops
the oldest ones. Other writes of host copies (the best checkpoint by validation loss,
`aiayn.training.validation`) go through the same thread with `submit`.

Safety is that of every checkpoint: the folder is written under `step-N.tmp` and renamed
only once complete, so a crash during a background save leaves the checkpoints before
it as they were, and resuming skips the unfinished one (tests/test_async_save.py kills a
run in the middle of one). Writes run one at a time, in order; at most MAX_PENDING
wait with their host copies (a save beyond that waits for the oldest), and `wait` (at
the end of training) waits for all. An error in the background thread is raised in the
training thread at the next `save` that waits for it, or at `wait`.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aiayn.training.checkpoint import CheckpointError, host_weights, write_checkpoint


def host_copy(value: Any) -> Any:
    """`value` with every tensor in it copied to host memory (dicts, lists and tuples walked)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: host_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(host_copy(v) for v in value)
    return value


class AsyncSaver:
    """Runs checkpoint writes in one background thread, in order (see the module docstring)."""

    MAX_PENDING = 2  # host copies held at most (each one a model and its optimiser state)

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending: list[Future[Any]] = []
        self.last: Path | None = None  # the newest checkpoint written completely

    def submit(self, write: Callable[[], Any]) -> None:
        """Run `write` (which must hold only host copies) in the background, after earlier writes."""
        while len(self._pending) >= self.MAX_PENDING:
            self._collect(self._pending[0])
        self._pending.append(self._pool.submit(write))

    def save(self, run_dir: Path, step: int, model: nn.Module, state: dict[str, Any], config: dict[str, Any],
             tokenizer_fingerprint: str, keep_last: int) -> None:  # fmt: skip
        """Copy the weights and `state` to host memory now; write the checkpoint in the background."""
        weights, state = host_weights(model), host_copy(state)

        def write() -> None:
            self.last = write_checkpoint(run_dir, step, weights, state, config, tokenizer_fingerprint, keep_last)

        self.submit(write)

    def _collect(self, future: "Future[Any]") -> None:
        self._pending.remove(future)
        try:
            future.result()
        except CheckpointError:
            raise
        except Exception as err:
            raise CheckpointError(f"writing a checkpoint in the background failed: {type(err).__name__}: {err}") from err

    def wait(self) -> Path | None:
        """Wait for every write in flight; raise the first error; return the newest checkpoint."""
        while self._pending:
            self._collect(self._pending[0])
        return self.last

    def close(self) -> None:
        """Wait for the writes in flight without raising (when training already failed)."""
        for future in self._pending:
            future.exception()
        self._pending.clear()
