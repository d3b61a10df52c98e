"""Model weights as safetensors files, with tied tensors stored once (§3.4).

The shared source/target/pre-softmax embedding is one tensor under three names in a
state dict; a safetensors file holds it once, and loading ties it again. Reading is
strict about names and shapes and names the file in every error, and nothing in the
model changes unless the whole file fits it. Writing is atomic (`aiayn.training.atomic`).
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from torch import Tensor, nn

from aiayn.training.atomic import atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint or weights file that cannot be used: missing, truncated, corrupted or from another run."""


def _storage_key(t: Tensor) -> tuple[object, ...]:
    """Two entries of a state dict are the same tensor when this key is equal."""
    return (t.device, t.dtype, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())


def tied_groups(state: Mapping[str, Tensor]) -> tuple[tuple[str, ...], ...]:
    """Keys that name one and the same tensor, in state-dict order, each group listed once."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for key, t in state.items():
        groups.setdefault(_storage_key(t), []).append(key)
    return tuple(tuple(keys) for keys in groups.values())


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Weights to safetensors, atomically. Tied tensors (the shared embedding) are stored once."""
    atomic_write(Path(path), lambda tmp: save_model(unwrap(model), str(tmp), metadata=metadata))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`, re-tying shared tensors; strict about names and shapes."""
    state = read_weights(path)
    apply_weights(unwrap(model), state, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; CheckpointError naming the file if it is missing or damaged."""
    if not path.exists():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable weights file (truncated or corrupted?): {err}") from err


def apply_weights(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
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


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or compiled wrapper."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)
