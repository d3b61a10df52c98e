"""§6.1 Checkpoint averaging.

The paper translates with a model whose weights are the average of the last
checkpoints of a run: the last 5 for base models, the last 20 for big ones, written
10 minutes apart. Averaging is element-wise, tensor by tensor:

    theta_avg[key] = (1 / k) * sum_i theta_i[key]        for k state dicts

Choices made here (pinned by spec/sec6_1_decoding.py):
- The mean is accumulated in float64 and cast back to each tensor's dtype.
- Weights tied in the first state dict (one tensor under several keys, such as the
  shared source/target embedding of §3.4) are averaged once and stay one tensor in
  the result, so `load_state_dict` keeps them tied. A later state dict must hold equal
  values under tied keys.
- Tensors that are not floating point (counters, masks) are not averaged: they must
  be equal in every state dict, and are kept.
- Differing keys, shapes or dtypes raise a ValueError that names the key.

`average_checkpoints` applies this to checkpoint folders of a run (see
`aiayn.training.checkpoint`) and writes the averaged weights as one safetensors file;
`average_last_checkpoints` picks the newest k that verify, skipping damaged ones.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from aiayn.training.atomic import atomic_write
from aiayn.training.checkpoint import CheckpointError, config_difference, last_good_checkpoints, verify_checkpoint
from aiayn.training.weights import read_weights, tied_groups

BASE_CHECKPOINTS = 5  # §6.1: base models average the last 5 checkpoints
BIG_CHECKPOINTS = 20  # §6.1: big models average the last 20


def average_state_dicts(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of k state dicts with the same keys, shapes and dtypes (§6.1)."""
    if len(states) == 0:
        raise ValueError("average_state_dicts: no state dicts to average")
    first = states[0]
    for i, state in enumerate(states[1:], start=1):
        missing, extra = sorted(set(first) - set(state)), sorted(set(state) - set(first))
        if missing or extra:
            raise ValueError(
                f"average_state_dicts: state dict {i} does not match state dict 0: "
                f"missing keys {missing}, unexpected keys {extra}"
            )
        for key, t in first.items():
            if state[key].shape != t.shape:
                raise ValueError(
                    f"average_state_dicts: key {key!r} has shape {tuple(state[key].shape)} in state dict {i} "
                    f"but {tuple(t.shape)} in state dict 0"
                )
            if state[key].dtype != t.dtype:
                raise ValueError(
                    f"average_state_dicts: key {key!r} has dtype {state[key].dtype} in state dict {i} "
                    f"but {t.dtype} in state dict 0"
                )
    result: dict[str, Tensor] = {}
    for group in tied_groups(first):
        key = group[0]
        for other in group[1:]:
            for i, state in enumerate(states):
                if not torch.equal(state[other], state[key]):
                    raise ValueError(
                        f"average_state_dicts: {key!r} and {other!r} are one tied tensor in state dict 0 "
                        f"but differ in state dict {i}"
                    )
        t = first[key]
        if t.is_floating_point() or t.is_complex():
            total = torch.zeros(t.shape, dtype=torch.complex128 if t.is_complex() else torch.float64, device=t.device)
            for state in states:
                total += state[key].to(device=t.device, dtype=total.dtype)
            mean = (total / len(states)).to(t.dtype)  # (1/k) sum_i theta_i
        else:
            for i, state in enumerate(states):
                if not torch.equal(state[key].to(t.device), t):
                    raise ValueError(
                        f"average_state_dicts: key {key!r} holds {t.dtype} values, which are not averaged, "
                        f"and they differ between state dict 0 and state dict {i}"
                    )
            mean = t.clone()
        for name in group:
            result[name] = mean  # tied keys share one tensor
    return {key: result[key] for key in first}  # the first state dict's key order


def average_checkpoints(checkpoints: Sequence[Path], out: Path) -> None:
    """Average the weights of checkpoint folders into the safetensors file `out` (§6.1).

    Every checkpoint named is verified (hashes in meta.json) and must come from the same
    model config; `out` is written atomically. Raises `CheckpointError` for anything
    unusable (`average_last_checkpoints` skips damaged checkpoints instead).
    """
    if len(checkpoints) == 0:
        raise CheckpointError("average_checkpoints: no checkpoints to average")
    metas = [verify_checkpoint(Path(c)) for c in checkpoints]
    for c, meta in zip(checkpoints[1:], metas[1:], strict=True):
        diff = config_difference(meta.config, metas[0].config)
        if diff:
            raise CheckpointError(f"{c}: a different model config from {checkpoints[0]} (differs in {', '.join(diff)})")
    states = [read_weights(Path(c) / "model.safetensors") for c in checkpoints]
    try:
        averaged = average_state_dicts(states)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    # a safetensors file holds each tensor once: keep one name per tied group (the files do too)
    single = {group[0]: averaged[group[0]].contiguous() for group in tied_groups(averaged)}
    steps = ",".join(str(m.step) for m in metas)
    atomic_write(Path(out), lambda tmp: save_file(single, str(tmp), metadata={"averaged_steps": steps}))


def average_last_checkpoints(
    run_dir: Path,
    k: int,
    out: Path,
    config: dict[str, Any] | None = None,
    tokenizer: str | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, ...]:
    """Average the newest `k` checkpoints of a run that verify into `out`; return the ones used.

    A checkpoint that fails verification (damaged files, no meta.json, another config
    or tokenizer when those are given) is skipped and logged, and the next older one
    taken in its place. Fewer than `k` good checkpoints are averaged as they are.
    """
    chosen = last_good_checkpoints(run_dir, k, config, tokenizer, log)
    if not chosen:
        raise CheckpointError(f"{run_dir}: no checkpoint that verifies, nothing to average")
    average_checkpoints(chosen, out)
    return chosen
