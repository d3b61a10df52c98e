"""Random generators of a run, saved and restored per process.

Dropout's masks are seeded per batch (`aiayn.training.trainer`), so a run's numbers do not
hang on these states; they are kept so that anything else drawn from torch's generators
continues as if the run never stopped. Each process keeps its own: its CPU generator and
the generator of its own CUDA device only (`torch.cuda.get_rng_state(device)`), never
"every visible device", so a checkpoint restores on a machine that shows fewer or more
GPUs. A checkpoint holds one entry per process, in rank order (`gather_object`).
"""

from typing import Any

import torch

from aiayn.training.distributed import gather_object


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's generators: the CPU's, and its own CUDA device's when it trains on one."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def gathered_rng_states(device: torch.device) -> list[dict[str, Any]]:
    """Every process's `rng_state`, in rank order (a collective: every process calls it)."""
    return [dict(s) for s in gather_object(rng_state(device))]  # type: ignore[call-overload]


def set_rng_state(saved: list[dict[str, Any]] | dict[str, Any], rank: int, device: torch.device) -> None:
    """Restore this process's generators from a checkpoint's entry for its rank.

    A checkpoint of fewer processes gives rank r the entry r mod their number. An older
    checkpoint holding one entry with every visible device's CUDA state gives this device
    its own index's state when it has one."""
    if isinstance(saved, dict):  # one entry, written by rank 0 of an older version
        entry: dict[str, Any] = {"torch": saved["torch"]}
        cuda = saved.get("cuda")
        if isinstance(cuda, (list, tuple)) and device.type == "cuda" and (device.index or 0) < len(cuda):
            entry["cuda"] = cuda[device.index or 0]
    else:
        entry = saved[rank % len(saved)]
    torch.set_rng_state(entry["torch"])
    if "cuda" in entry and device.type == "cuda":
        torch.cuda.set_rng_state(entry["cuda"], device)
