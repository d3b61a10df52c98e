"""§5.3 Optimizer: Adam with beta1 = 0.9, beta2 = 0.98, eps = 1e-9, and Eq. 3:

    lrate = d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

The rate rises linearly for the first warmup_steps steps, peaks at
d_model^-0.5 * warmup_steps^-0.5 when step = warmup_steps, then decays as
step^-0.5. Steps count from 1 (at step 0 the formula would divide by zero).

The update is torch's fused Adam (one kernel for all parameters) where every parameter
lives on a CPU or a CUDA device, and the multi-tensor ("foreach") form elsewhere: the same
rule as the per-parameter loop, about three times faster than it on a CPU.

Not in the paper: `schedule="cosine"` (for language models trained for a fixed number of
steps, as GPT-style recipes are) keeps Eq. 3's linear warmup to the same peak, then
follows half a cosine from the peak at warmup_steps down to `floor` x peak at the run's
last step, and stays there:

    lrate_cos(step) = lrate(step)                                      step <= warmup_steps
                    = peak * (floor + (1 - floor) * (1 + cos(pi * r)) / 2)  otherwise,
    peak = d_model^-0.5 * warmup_steps^-0.5,  r = min(1, (step - warmup_steps) / (steps - warmup_steps))

Eq. 3's step^-0.5 tail never gets small within a short run; the cosine ends near zero,
which is where a fixed-length run gains most. Eq. 3 stays the default.

A run with a time budget (`TrainSettings.time_budget`) may end before `steps`; there the
cosine's progress r is the larger of the step share above and the share of the budget
spent after warmup (`time_share`), so the rate reaches the floor when the time runs out,
however fast the machine is that day. Such a run is not reproducible step for step.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-9
WARMUP_STEPS = 4000


def lrate(step: int, d_model: int, warmup_steps: int = WARMUP_STEPS) -> float:
    """Eq. 3 at optimiser step `step` (1-based)."""
    if step < 1:
        raise ValueError(f"lrate: step counts from 1, got {step}")
    if warmup_steps < 1 or d_model < 1:
        raise ValueError(f"lrate: d_model and warmup_steps must be positive, got {d_model}, {warmup_steps}")
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


SCHEDULES = ("eq3", "cosine")


def lrate_cosine(
    step: int, d_model: int, warmup_steps: int, steps: int, floor: float = 0.1, time_share: float = 0.0
) -> float:
    """Eq. 3's warmup, then a cosine from its peak down to `floor` x peak at step `steps` (1-based),
    or sooner when `time_share` (the share of a time budget spent after warmup) is further on."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"lrate_cosine: floor is a share of the peak in [0, 1], got {floor}")
    if step <= warmup_steps:
        return lrate(step, d_model, warmup_steps)
    peak = lrate(warmup_steps, d_model, warmup_steps)
    r = min(1.0, max((step - warmup_steps) / max(1, steps - warmup_steps), time_share))
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * r)))


def make_optimizer(
    model: nn.Module,
    d_model: int,
    warmup_steps: int = WARMUP_STEPS,
    scale: float = 1.0,
    schedule: str = "eq3",
    steps: int = 0,
    floor: float = 0.1,
    time_share: Callable[[], float] | None = None,
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with the §5.3 settings and a scheduler that applies Eq. 3 (times `scale`), or with
    `schedule="cosine"` Eq. 3's warmup then a cosine to `floor` x peak at step `steps` (or when
    `time_share()`, read at each step, reaches 1).

    The scheduler's internal epoch starts at 0, so it is shifted by one: the first
    optimiser step uses lrate(1).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"make_optimizer: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "cosine" and steps < 1:
        raise ValueError(f"make_optimizer: the cosine schedule needs the run's steps, got {steps}")
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kind = {"fused": True} if fused else {"foreach": True}  # the same update rule, fewer kernels
    optimizer = torch.optim.Adam(params, lr=1.0, betas=ADAM_BETAS, eps=ADAM_EPS, **kind)
    if schedule == "cosine":
        def rule(epoch: int) -> float:
            spent = time_share() if time_share is not None else 0.0
            return scale * lrate_cosine(epoch + 1, d_model, warmup_steps, steps, floor, spent)

    else:
        def rule(epoch: int) -> float:
            return scale * lrate(epoch + 1, d_model, warmup_steps)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, rule)

