"""§5.1 The paper's batch on any number of devices: tokens per optimiser step, split up.

The paper's batches held about 25,000 source and 25,000 target tokens, on 8 GPUs. What
fixes the optimisation is the tokens per optimiser step, not the tokens per device:
one step consumes `world_size x accum_steps` batches, each of at most
`per_device_tokens` tokens per side, so

    effective_tokens = world_size * accum_steps * per_device_tokens  ~  tokens_per_step

`step_budget` takes the tokens per step (a setting of the run) and the most one device
can hold per batch, and picks the fewest accumulation steps that reach the setting
(fewer, larger batches run faster), then the per-device budget that splits it evenly,
rounded to a whole token. When world_size x accum_steps does not divide the setting
the product misses it by at most world_size x accum_steps / 2 tokens: for 25,000 on
1, 2, 3 or 8 devices with at most 6,250 each, 25,000, 25,000, 25,002 and 25,000.

What stays the same across device counts: tokens per step, hence the learning-rate
schedule's meaning, the gradient's noise and the number of steps to a given quality.
What does not: the per-device batch (so padding, and the way length-grouped batches
fill), the order in which sentences meet, and floating-point summation order. The
budgets are upper bounds: a length-grouped batch is filled up to its budget, not
beyond, so the tokens actually seen per step run a little below `effective_tokens`.
The same numbers serve source and target.
"""

import math
from dataclasses import dataclass

MAX_ERROR = 0.05  # the product must be within 5% of the setting


class BudgetError(ValueError):
    """Settings from which no per-device budget reaches the tokens per step."""


@dataclass(frozen=True)
class StepBudget:
    """How one optimiser step's tokens are split across devices and accumulation steps."""

    tokens_per_step: int
    world_size: int
    per_device_tokens: int
    accum_steps: int

    @property
    def effective_tokens(self) -> int:
        """Tokens per side in one optimiser step: world_size x accum_steps x per_device_tokens."""
        return self.world_size * self.accum_steps * self.per_device_tokens

    @property
    def relative_error(self) -> float:
        """effective_tokens / tokens_per_step - 1 (0.0 when it divides exactly)."""
        return self.effective_tokens / self.tokens_per_step - 1

    def describe(self) -> str:
        """One line for the start of a run: the product and how close it is to the setting."""
        exact = "exactly" if self.effective_tokens == self.tokens_per_step else f"{self.relative_error:+.3%} of"
        return (
            f"{self.world_size} process{'es' if self.world_size > 1 else ''} x {self.accum_steps} accumulation "
            f"x {self.per_device_tokens:,} tokens per device = {self.effective_tokens:,} tokens per step per side "
            f"({exact} the setting {self.tokens_per_step:,})"
        )


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BudgetError(f"{name} must be a positive whole number, got {value!r}")
    return value


def step_budget(tokens_per_step: int, world_size: int, max_tokens_per_device: int) -> StepBudget:
    """Per-device budget and accumulation steps whose product with world_size is tokens_per_step.

    tokens_per_step: tokens per side in one optimiser step (the paper: 25,000).
    world_size: number of processes (devices) taking part.
    max_tokens_per_device: the most tokens per side one device's batch may hold.
    """
    tokens_per_step = _positive("tokens_per_step", tokens_per_step)
    world_size = _positive("world_size", world_size)
    max_tokens_per_device = _positive("max_tokens_per_device", max_tokens_per_device)
    accum = math.ceil(tokens_per_step / (world_size * max_tokens_per_device))
    per_device = min(max_tokens_per_device, max(1, round(tokens_per_step / (world_size * accum))))
    budget = StepBudget(tokens_per_step, world_size, per_device, accum)
    if abs(budget.relative_error) > MAX_ERROR:
        raise BudgetError(
            f"{tokens_per_step:,} tokens per step cannot be split over {world_size} processes within "
            f"{MAX_ERROR:.0%}: the best is {budget.describe()}; raise tokens_per_step or use fewer processes"
        )
    return budget
