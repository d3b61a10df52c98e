"""Checkpoints: weights as safetensors, training state for exact resumption.

A checkpoint is a folder `checkpoints/step-00001234/` holding

    model.safetensors   the weights (the tied embedding stored once, §3.4; see
                        `aiayn.training.weights`)
    state.pt            optimiser, schedule, step, data position, random generators;
                        plain tensors and Python values, so torch.load(weights_only=True) reads it
    meta.json           step, the model config, the tokenizer's fingerprint, and the
                        sha256 of the two files above

The folder is written as `step-....tmp`, every file in it fsynced, then renamed
(`aiayn.training.atomic`), so a crash never leaves a half-written checkpoint under a
real name, and a good checkpoint is never overwritten. Loading checks meta.json, the
hashes, the config and the tokenizer before anything in the model or optimiser
changes; `last_good_checkpoints` walks a run's checkpoints newest first and skips,
naming the reason, any that fail those checks (a disk error, a copy cut short).

Config identity: `p_drop` and `eps_ls` are training settings (regularisation, §5.4),
not part of what the weights mean, so checkpoints that differ only in them match.
"""

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

# atomic_write_text, load_weights and save_weights are also imported from here by the run's writers
from aiayn.training.atomic import atomic_write, atomic_write_text  # noqa: F401
from aiayn.training.weights import (  # noqa: F401
    CheckpointError, apply_weights, load_weights, read_weights, save_weights, tied_groups, unwrap,
)  # fmt: skip

CHECKPOINT_DIR = "checkpoints"
_PREFIX = "step-"
FILES = ("model.safetensors", "state.pt")  # hashed in meta.json
IGNORED_CONFIG_FIELDS = frozenset({"p_drop", "eps_ls"})  # training settings, not model identity


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    """The model-config fields in which `a` and `b` differ, ignoring IGNORED_CONFIG_FIELDS."""
    return tuple(sorted(k for k in (set(a) | set(b)) - IGNORED_CONFIG_FIELDS if a.get(k) != b.get(k)))


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


def _step_dirs(run_dir: Path) -> tuple[Path, ...]:
    """Every folder named like a checkpoint (`step-<digits>`, not `.tmp`), oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return ()
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX) and p.name[len(_PREFIX) :].isdigit()]
    return tuple(sorted(found, key=lambda p: int(p.name[len(_PREFIX) :])))


def checkpoint_dirs(run_dir: Path) -> tuple[Path, ...]:
    """Complete checkpoints of a run (those with meta.json), oldest first; not verified."""
    return tuple(p for p in _step_dirs(run_dir) if (p / "meta.json").exists())


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, unverified (see `latest_good_checkpoint`)."""
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
    """Write checkpoint `step` atomically (all fsynced before the rename); keep the newest `keep_last`."""
    return write_checkpoint(run_dir, step, host_weights(model), state, config, tokenizer_fingerprint, keep_last)


def host_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights in host memory; tied names share one copy, as in the model."""
    state = unwrap(model).state_dict()
    host: dict[str, torch.Tensor] = {}
    for names in tied_groups(state):
        copy = state[names[0]].detach().to("cpu", copy=True)
        host.update(dict.fromkeys(names, copy))
    return host


def _save_weights_file(weights: dict[str, torch.Tensor], path: Path, step: int) -> None:
    """What safetensors' save_model writes for a module with these weights: each tied group
    once, under the name save_model keeps (so files written either way average together)."""
    from safetensors.torch import _remove_duplicate_names, save_file

    kept, metadata = dict(weights), {"step": str(step)}
    for name, dropped in _remove_duplicate_names(weights).items():
        for other in dropped:
            metadata[other] = name
            del kept[other]
    save_file({k: v.contiguous() for k, v in kept.items()}, str(path), metadata=metadata)


def write_checkpoint(
    run_dir: Path,
    step: int,
    weights: dict[str, torch.Tensor],
    state: dict[str, Any],
    config: dict[str, Any],
    tokenizer_fingerprint: str,
    keep_last: int = 5,
) -> Path:
    """`save_checkpoint` from weights and state already in host memory (`host_weights`): what a
    background writer runs (`aiayn.training.async_save`) while training goes on."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    if final.exists():
        raise CheckpointError(f"{final} exists already; a good checkpoint is never overwritten")

    def write(tmp: Path) -> None:
        tmp.mkdir()
        _save_weights_file(weights, tmp / "model.safetensors", step)
        torch.save(state, tmp / "state.pt")
        meta = CheckpointMeta(step, config, tokenizer_fingerprint, {name: _sha256(tmp / name) for name in FILES})
        (tmp / "meta.json").write_text(meta.to_json(), encoding="utf-8")

    atomic_write(final, write)
    for old in checkpoint_dirs(run_dir)[:-keep_last] if keep_last > 0 else ():
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_meta(ckpt: Path) -> CheckpointMeta:
    path = Path(ckpt) / "meta.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        meta = CheckpointMeta(int(raw["step"]), dict(raw["config"]), str(raw["tokenizer"]), dict(raw["files"]))
    except FileNotFoundError as err:
        raise CheckpointError(f"{ckpt}: not a complete checkpoint (no meta.json)") from err
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupted checkpoint metadata: {err}") from err
    missing = [name for name in FILES if name not in meta.files]
    if missing:
        raise CheckpointError(f"{path}: corrupted checkpoint metadata: no hash for {', '.join(missing)}")
    return meta


def verify_checkpoint(ckpt: Path, config: dict[str, Any] | None = None, tokenizer: str | None = None) -> CheckpointMeta:
    """Check hashes, config and tokenizer of a checkpoint without loading it into anything."""
    meta = read_meta(ckpt)
    for name, digest in meta.files.items():
        path = Path(ckpt) / name
        if not path.exists():
            raise CheckpointError(f"{path}: missing from checkpoint")
        if _sha256(path) != digest:
            raise CheckpointError(f"{path}: contents do not match the hash in meta.json (truncated or corrupted)")
    diff = config_difference(config, meta.config) if config is not None else ()
    if diff:
        raise CheckpointError(f"{ckpt}: written for a different model config (differs in {', '.join(diff)})")
    if tokenizer is not None and meta.tokenizer != tokenizer:
        raise CheckpointError(f"{ckpt}: written with a different tokenizer (fingerprints differ)")
    return meta


def last_good_checkpoints(
    run_dir: Path,
    k: int,
    config: dict[str, Any] | None = None,
    tokenizer: str | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, ...]:
    """The newest `k` checkpoints that verify, oldest first; each one skipped is logged with why."""
    if k < 1:
        raise CheckpointError(f"asked for the last {k} checkpoints; the number must be at least 1")
    good: list[Path] = []
    for ckpt in reversed(_step_dirs(run_dir)):
        try:
            verify_checkpoint(ckpt, config, tokenizer)
        except CheckpointError as err:
            log(f"skipping checkpoint {ckpt.name}: {err}")
            continue
        good.append(ckpt)
        if len(good) == k:
            break
    return tuple(reversed(good))


def latest_good_checkpoint(
    run_dir: Path, config: dict[str, Any] | None, tokenizer: str | None, log: Callable[[str], None] = print
) -> Path | None:
    """The newest checkpoint that verifies (hashes, meta.json, config, tokenizer), or None.

    Newer ones that fail are skipped and logged with the reason, so a run damaged by a
    crash or a disk error resumes from the newest checkpoint it can trust.
    """
    found = last_good_checkpoints(run_dir, 1, config, tokenizer, log)
    return found[-1] if found else None


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
    apply_weights(unwrap(model), weights, Path(ckpt) / "model.safetensors")
    return state
