"""Data parallelism through torchrun: which process this is, and its device (§5.2)."""

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world_size): (0, 1) unless running under torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int, torch.device]:
    """Join the torchrun group if launched by torchrun; pick this process's device."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
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
