"""Checkpoints: weights as safetensors, training state for exact resumption.

A checkpoint is a folder `checkpoints/step-00001234/` holding

    model.safetensors   the weights (the tied embedding stored once, §3.4)
    state.pt            optimiser, schedule, step, data position, random generators;
                        plain tensors and Python values, so torch.load(weights_only=True) reads it
    meta.json           step, the model config, the tokenizer's fingerprint, and the
                        sha256 of the two files above; written last

The folder is first written as `step-....tmp` and renamed when complete, so a
crash never leaves a half-written checkpoint under a real name, and a good
checkpoint is never overwritten. Loading checks meta.json, the hashes, the config
and the tokenizer before anything in the model or optimiser changes.
"""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from torch import nn

from aiayn.training.averaging import tied_groups

CHECKPOINT_DIR = "checkpoints"
_PREFIX = "step-"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupted or from another run."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file through a temporary name and a rename: readers see old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Weights to safetensors, atomically. Tied tensors (the shared embedding) are stored once."""
    tmp = path.with_name(path.name + ".tmp")
    save_model(_unwrap(model), str(tmp), metadata=metadata)
    tmp.replace(path)


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`, re-tying shared tensors; strict about names and shapes."""
    state = read_weights(path)
    _apply_state(_unwrap(model), state, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; CheckpointError naming the file if it is missing or damaged."""
    if not path.exists():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable weights file (truncated or corrupted?): {err}") from err


def _apply_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    # a tied tensor appears under several names in state_dict() (one storage); the file holds one
    full: dict[str, torch.Tensor] = {}
    for names in tied_groups(expected):
        present = [n for n in names if n in state]
        if not present:
            raise CheckpointError(f"{path}: missing tensor {names[0]!r} (a checkpoint of another model?)")
        for n in names:
            full[n] = state[present[0]]
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensors {unexpected[:5]} (a checkpoint of another model?)")
    for name, tensor in full.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, the model expects {tuple(expected[name].shape)}"
            )
    model.load_state_dict(full, strict=True)


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or compiled wrapper."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


@dataclass(frozen=True)
class CheckpointMeta:
    step: int
    config: dict[str, Any]
    tokenizer: str  # fingerprint
    files: dict[str, str]  # name -> sha256

    def to_json(self) -> str:
        return json.dumps(
            {"step": self.step, "config": self.config, "tokenizer": self.tokenizer, "files": self.files}, indent=2
        )


def checkpoint_dirs(run_dir: Path) -> tuple[Path, ...]:
    """Complete checkpoints of a run (those with meta.json), oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return ()
    found = [
        p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX) and p.suffix != ".tmp"
        and (p / "meta.json").exists()
    ]  # fmt: skip
    return tuple(sorted(found, key=lambda p: int(p.name[len(_PREFIX) :])))


def latest_checkpoint(run_dir: Path) -> Path | None:
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: nn.Module,
    state: dict[str, Any],
    config: dict[str, Any],
    tokenizer_fingerprint: str,
    keep_last: int = 5,
) -> Path:
    """Write checkpoint `step` atomically and keep only the newest `keep_last` ones."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    if final.exists():
        raise CheckpointError(f"{final} exists already; a good checkpoint is never overwritten")
    tmp = root / f"{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(_unwrap(model), str(tmp / "model.safetensors"), metadata={"step": str(step)})
    torch.save(state, tmp / "state.pt")
    files = {name: _sha256(tmp / name) for name in ("model.safetensors", "state.pt")}
    meta = CheckpointMeta(step, config, tokenizer_fingerprint, files)
    atomic_write_text(tmp / "meta.json", meta.to_json())
    _fsync_dir(tmp)
    tmp.rename(final)
    _fsync_dir(root)
    for old in checkpoint_dirs(run_dir)[:-keep_last] if keep_last > 0 else ():
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_meta(ckpt: Path) -> CheckpointMeta:
    path = Path(ckpt) / "meta.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return CheckpointMeta(int(raw["step"]), dict(raw["config"]), str(raw["tokenizer"]), dict(raw["files"]))
    except FileNotFoundError as err:
        raise CheckpointError(f"{ckpt}: not a complete checkpoint (no meta.json)") from err
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupted checkpoint metadata: {err}") from err


def verify_checkpoint(ckpt: Path, config: dict[str, Any] | None = None, tokenizer: str | None = None) -> CheckpointMeta:
    """Check hashes, config and tokenizer of a checkpoint without loading it into anything."""
    meta = read_meta(ckpt)
    for name, digest in meta.files.items():
        path = Path(ckpt) / name
        if not path.exists():
            raise CheckpointError(f"{path}: missing from checkpoint")
        if _sha256(path) != digest:
            raise CheckpointError(f"{path}: contents do not match the hash in meta.json (truncated or corrupted)")
    if config is not None and meta.config != config:
        diff = sorted(k for k in set(config) | set(meta.config) if config.get(k) != meta.config.get(k))
        raise CheckpointError(f"{ckpt}: written for a different model config (differs in {', '.join(diff)})")
    if tokenizer is not None and meta.tokenizer != tokenizer:
        raise CheckpointError(f"{ckpt}: written with a different tokenizer (fingerprints differ)")
    return meta


def load_checkpoint(
    ckpt: Path, model: nn.Module, config: dict[str, Any] | None = None, tokenizer: str | None = None
) -> dict[str, Any]:
    """Verify, then load weights into `model`; return the training state (for the caller to apply)."""
    verify_checkpoint(ckpt, config, tokenizer)
    weights = read_weights(Path(ckpt) / "model.safetensors")
    try:
        state = torch.load(Path(ckpt) / "state.pt", weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises several types for a damaged pickle
        raise CheckpointError(f"{Path(ckpt) / 'state.pt'}: unreadable training state: {err}") from err
    _apply_state(_unwrap(model), weights, Path(ckpt) / "model.safetensors")
    return state
