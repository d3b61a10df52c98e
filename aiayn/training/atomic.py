"""Atomic writes: a file or folder appears complete under its name, or not at all.

Everything is first written under `NAME.tmp`, every file of it is fsynced, then it is
renamed over `NAME` and the folder holding it is fsynced, so that after a crash or a
power cut a reader finds the old contents or the new ones, never a part. Checkpoints
(a folder of weights, state and metadata), model.safetensors, run.json, TODO.md and the
spec gate's cache are all written this way. Standard library only, so that the spec
checklist can use it without importing torch.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents to disk (folders: their list of names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            fsync_path(child)
    fsync_path(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to make `path`'s new contents (a file or a folder) under a temporary
    name, fsync all of it, rename it to `path`, and fsync the parent folder.

    A leftover temporary from an interrupted write is removed first; if `write` raises,
    the temporary is removed and `path` is unchanged. An existing folder at `path` is
    only replaced if it is empty (callers refuse to overwrite anything else).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    _remove(tmp)
    try:
        write(tmp)
        _fsync_tree(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    fsync_path(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8) atomically: readers see the old text or the new, never half."""
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
