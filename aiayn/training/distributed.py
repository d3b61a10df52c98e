"""Data parallelism through torchrun: which process this is, and its device (§5.2).

The process group's timeout (how long a collective waits for the slowest process before
the run fails) is a setting: `init_distributed(timeout_s)`, `aiayn train --dist-timeout`,
or AIAYN_DIST_TIMEOUT, in seconds; 30 minutes by default (NCCL's own default is 10).
"""

import datetime
import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world_size): (0, 1) unless running under torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


DEFAULT_TIMEOUT_S = 1800


def dist_timeout_s(timeout_s: float | int | None = None) -> float:
    """The process group's timeout: the argument, else AIAYN_DIST_TIMEOUT, else 30 minutes."""
    if timeout_s is None:
        raw = os.environ.get("AIAYN_DIST_TIMEOUT", "")
        try:
            timeout_s = float(raw) if raw else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ValueError(f"AIAYN_DIST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not timeout_s > 0:
        raise ValueError(f"the process-group timeout must be a positive number of seconds, got {timeout_s}")
    return float(timeout_s)


def init_distributed(timeout_s: float | int | None = None) -> tuple[int, int, torch.device]:
    """Join the torchrun group if launched by torchrun (with the timeout of `dist_timeout_s`);
    pick this process's device."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=dist_timeout_s(timeout_s)))
    rank, world_size = world()
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world_size, torch.device("cuda", local)
    return rank, world_size, torch.device("cpu")


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if world()[1] > 1:
        dist.barrier()


def broadcast_object(value: object) -> object:
    """Rank 0's value, on every process (the value itself in a single process)."""
    if world()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_true(flag: bool) -> bool:
    """True when `flag` is True on every process (the flag itself in a single process)."""
    if world()[1] == 1:
        return flag
    flags: list[object] = [None] * world()[1]
    dist.all_gather_object(flags, bool(flag))
    return all(flags)


def gather_object(value: object) -> list[object]:
    """Every process's value, in rank order, on every process ([value] in a single process)."""
    if world()[1] == 1:
        return [value]
    values: list[object] = [None] * world()[1]
    dist.all_gather_object(values, value)
    return values
