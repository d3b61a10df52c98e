"""What fixes the batches of a step, recorded in each checkpoint and checked on resume.

A step takes the next `world_size x accum_steps` batches of the epoch's list, and that
list depends only on the token budgets per batch (and the seed): so two runs whose
budgets agree and whose processes x accumulation agree see the same batches, step for
step, whatever the process count. A run resumed on another number of processes
continues exactly when the budgets agree and the new process count divides the
batches per step (the accumulation is then adjusted); otherwise it could not continue
where it stopped, and is refused with the reason and the process count to use.
"""

from typing import Any

KEYS = ("max_src_tokens", "max_tgt_tokens", "batches_per_step")


def batch_layout(settings: Any, world_size: int) -> dict[str, int]:
    """The layout of a run with these `TrainSettings` on `world_size` processes."""
    return {"max_src_tokens": settings.max_src_tokens, "max_tgt_tokens": settings.max_tgt_tokens,
            "batches_per_step": world_size * settings.accum_steps, "world_size": world_size}  # fmt: skip


def resume_accum(saved: dict[str, int] | None, settings: Any, world_size: int, name: str) -> tuple[int, str | None]:
    """(accumulation steps to resume with, None) when checkpoint `name` can be continued exactly
    on `world_size` processes, else (0, the one-line reason)."""
    now = batch_layout(settings, world_size)
    if saved is None or all(saved[k] == now[k] for k in KEYS):
        return settings.accum_steps, None
    per_step = saved["batches_per_step"]
    if all(saved[k] == now[k] for k in KEYS[:2]) and per_step % world_size == 0:
        return per_step // world_size, None
    return 0, (f"{name} was written by {saved['world_size']} process(es) taking {per_step} batches of at most "
               f"{saved['max_src_tokens']:,} tokens per step, and this run takes {now['batches_per_step']} of at most "
               f"{now['max_src_tokens']:,}: the batches would differ, so it could not continue where it stopped; "
               f"resume with {saved['world_size']} processes (torchrun --nproc_per_node={saved['world_size']})")  # fmt: skip
