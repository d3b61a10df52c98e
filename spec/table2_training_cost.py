"""Table 2 Training cost: the paper's FLOPs come from hours x GPUs x rate, and a count from the model agrees

Table 2 gives the training cost of the base model as 3.3e18 FLOPs and of the big model as
2.3e19. They are not counted operations: §5.2 trains base for 12 hours and big for 3.5
days, each on 8 P100 GPUs, and Table 2's note multiplies time, GPU count and a sustained
single-precision rate of 9.5 TFLOPS per P100. The first claim retypes that product.

Our own count (`aiayn.results.training_cost.estimate`, printed by `aiayn params --cost`)
takes 6 FLOPs per weight and token (forward 2, backward 4), 25,000 source and 25,000
target tokens a step (§5.1), 100k steps for base and 300k for big (§5.2), and adds the
attention scores. It must come out below the paper's figure, since no run uses its GPUs
at their full rate all the time, and not more than 5 times below (a utilisation under
20% would mean we miscounted, not that the GPUs idled): base gives 0.29 of 3.3e18 and
big 0.42 of 2.3e19. Counting the forward pass alone (2 FLOPs per weight and token, a
common slip) falls out of that window for base (0.10), which the last claim shows.
"""

import pytest

from aiayn.model.config import preset
from aiayn.results.training_cost import GPUS, HOURS, P100_FLOPS, PAPER_FLOPS, STEPS, estimate, paper_flops

CODE = "aiayn/results/training_cost.py, aiayn/cli/inspect.py"

LOWEST_SHARE = 0.2  # our count / the paper's figure: at least this, and at most 1


@pytest.mark.parametrize(("model", "hours", "figure"), [("base", 12.0, 3.3e18), ("big", 3.5 * 24, 2.3e19)])
def test_the_papers_cost_is_hours_times_gpus_times_the_p100_rate(model: str, hours: float, figure: float) -> None:
    """Table 2's 3.3e18 (base) and 2.3e19 (big) are 12 h and 3.5 days x 8 GPUs x 9.5 TFLOPS, to two digits."""
    assert HOURS[model] == hours and GPUS == 8 and P100_FLOPS == 9.5e12 and PAPER_FLOPS[model] == figure
    product = hours * 3600 * 8 * 9.5e12
    assert paper_flops(hours) == product
    assert float(f"{product:.1e}") == figure  # 3.283e18 -> 3.3e18; 2.298e19 -> 2.3e19
    assert float(f"{paper_flops(hours, gpus=1):.1e}") != figure  # one GPU, or another rate, would not give it
    assert float(f"{paper_flops(hours, rate=6.0e12):.1e}") != figure  # an M40's rate


@pytest.mark.parametrize("model", ["base", "big"])
def test_our_count_lies_below_the_papers_figure_and_within_a_factor_of_5(model: str) -> None:
    """6 x weights x tokens (plus attention) over the paper's steps is 20% to 100% of Table 2's figure."""
    ours = estimate(preset(model), STEPS[model]).total
    share = ours / PAPER_FLOPS[model]
    assert LOWEST_SHARE <= share <= 1.0, f"{model}: our count is {share:.2f} of the paper's"
    assert estimate(preset(model), STEPS[model]).attention < 0.01 * ours  # attention is a small part at these lengths


def test_the_count_grows_with_weights_tokens_and_steps() -> None:
    """Twice the steps or the tokens doubles the count; a wider model costs more per token."""
    base = preset("base")
    one = estimate(base, 1000).total
    assert estimate(base, 2000).total == pytest.approx(2 * one)
    assert estimate(base, 1000, tokens=50_000).total == pytest.approx(2 * one)
    assert estimate(preset("C5"), 1000).total > 2 * one  # d_model 1024 against 512


def test_counting_the_forward_pass_alone_falls_outside_the_window() -> None:
    """Forgetting the backward pass (2, not 6, FLOPs per weight and token) puts base below a fifth of 3.3e18."""
    forward_only = estimate(preset("base"), STEPS["base"], backward=False).total
    assert forward_only / PAPER_FLOPS["base"] < LOWEST_SHARE
