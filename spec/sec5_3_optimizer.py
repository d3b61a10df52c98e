"""§5.3 Optimizer: Adam and the warm-up-then-decay learning rate (Eq. 3)

The model is trained with Adam, beta1 = 0.9, beta2 = 0.98, eps = 1e-9 (a smaller eps
and a shorter second-moment memory than Adam's usual 1e-8 and 0.999). The learning
rate is not fixed; it follows Eq. 3 of the optimiser step number:

    lrate(step) = d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

For step <= warmup_steps the second term is the smaller one: the rate grows in
proportion to the step. The two terms meet at step = warmup_steps, where the rate
peaks at d_model^-0.5 * warmup_steps^-0.5 (about 6.99e-4 for d_model = 512,
warmup_steps = 4000). After that the rate falls as step^-0.5: four times the step,
half the rate.

Choices the paper leaves open, made here:
- Steps count from 1: the first update uses lrate(1), and lrate(0) is an error
  (the formula would divide by zero; a guard that returned the second term would
  silently make the first update a no-op).
- torch's LambdaLR calls its function with 0 for the first step, so
  `make_optimizer` hands it lrate(epoch + 1). The spec shows the unshifted
  scheduler wasting the first step.

A departure, off by default (the language-model recipes use it): `schedule="cosine"`
keeps Eq. 3's warmup and peak, then falls along half a cosine to `floor` x peak at the
run's last step. Started at step 1 instead of after the warmup it would skip the warmup.
"""

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

import math

from aiayn.training.schedule import lrate, make_optimizer

CODE = "aiayn/training/schedule.py"


def eq3(step: int, d_model: int, warmup_steps: int) -> float:
    """Eq. 3 retyped in float64 (Python floats)."""
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def eq3_numpy_style(step: int, d_model: int, warmup_steps: int) -> float:
    """Eq. 3 as tensor code writes it: at step 0, 0^-0.5 = inf and min(inf, 0) = 0."""
    s = torch.tensor(float(step), dtype=torch.float64)
    return float(d_model**-0.5 * torch.minimum(s.pow(-0.5), s * warmup_steps**-1.5))


def test_adam_uses_beta1_0_9_beta2_0_98_eps_1e_9() -> None:
    """Adam runs with beta1 = 0.9, beta2 = 0.98 and eps = 1e-9."""
    optimizer, _ = make_optimizer(nn.Linear(3, 5), d_model=16, warmup_steps=7)
    assert isinstance(optimizer, torch.optim.Adam)
    for group in optimizer.param_groups:
        assert group["betas"] == (0.9, 0.98)
        assert group["eps"] == 1e-9
        assert group["weight_decay"] == 0  # the paper names no weight decay
    # PyTorch's defaults differ: the settings were chosen, not inherited
    default = torch.optim.Adam(nn.Linear(3, 5).parameters())
    assert default.param_groups[0]["betas"] != (0.9, 0.98) and default.param_groups[0]["eps"] != 1e-9


@given(
    d_model=st.sampled_from([16, 64, 512, 1024]),
    warmup=st.integers(1, 10_000),
    fraction=st.floats(0.0, 1.0),
)
@example(d_model=512, warmup=4000, fraction=0.5)
def test_rate_rises_in_proportion_to_step_during_warmup(d_model: int, warmup: int, fraction: float) -> None:
    """Up to warmup_steps the rate is proportional to the step: lrate(s) = s * lrate(1)."""
    step = max(1, round(fraction * warmup))
    assert lrate(step, d_model, warmup) == pytest.approx(eq3(step, d_model, warmup), rel=1e-12)
    assert lrate(step, d_model, warmup) == pytest.approx(step * lrate(1, d_model, warmup), rel=1e-12)
    assert lrate(step, d_model, warmup) == pytest.approx(step * d_model**-0.5 * warmup**-1.5, rel=1e-12)


@given(d_model=st.sampled_from([16, 64, 512, 1024]), warmup=st.integers(2, 10_000))
@example(d_model=512, warmup=4000)
@example(d_model=1024, warmup=4000)
def test_rate_peaks_at_warmup_steps_at_inverse_sqrt_d_model_times_warmup(d_model: int, warmup: int) -> None:
    """The rate peaks at step = warmup_steps, at d_model^-0.5 * warmup_steps^-0.5."""
    peak = lrate(warmup, d_model, warmup)
    assert peak == pytest.approx(d_model**-0.5 * warmup**-0.5, rel=1e-12)
    assert lrate(warmup - 1, d_model, warmup) < peak
    assert lrate(warmup + 1, d_model, warmup) < peak
    # the paper's base model: 512^-0.5 * 4000^-0.5 = 6.988e-4
    assert lrate(4000, 512, 4000) == pytest.approx(6.98771e-4, rel=1e-5)


@given(
    d_model=st.sampled_from([16, 64, 512, 1024]),
    warmup=st.integers(1, 10_000),
    extra=st.integers(0, 1_000_000),
)
@example(d_model=512, warmup=4000, extra=0)
@example(d_model=512, warmup=4000, extra=96_000)  # step 100k, the base run's last step
def test_rate_decays_as_inverse_sqrt_step_after_warmup(d_model: int, warmup: int, extra: int) -> None:
    """Past warmup_steps the rate is d_model^-0.5 * step^-0.5: four times the step, half the rate."""
    step = warmup + extra
    assert lrate(step, d_model, warmup) == pytest.approx(eq3(step, d_model, warmup), rel=1e-12)
    assert lrate(step, d_model, warmup) == pytest.approx(d_model**-0.5 * step**-0.5, rel=1e-12)
    assert lrate(4 * step, d_model, warmup) / lrate(step, d_model, warmup) == pytest.approx(0.5, rel=1e-12)


def test_scheduler_applies_lrate_1_at_first_optimizer_step() -> None:
    """The k-th optimiser step uses lrate(k), starting with lrate(1), not lrate(0) = 0."""
    torch.manual_seed(0)
    d_model, warmup = 16, 3
    model = nn.Linear(5, 3)
    optimizer, scheduler = make_optimizer(model, d_model=d_model, warmup_steps=warmup)
    used = []
    for _ in range(7):
        used.append(optimizer.param_groups[0]["lr"])  # the rate this step will apply
        model(torch.randn(2, 5)).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    assert used == pytest.approx([eq3(k, d_model, warmup) for k in range(1, 8)], rel=1e-12)

    # The trap: LambdaLR calls its function with 0 first. Unshifted, the first step's
    # rate is 0 (tensor arithmetic turns 0^-0.5 into inf, min(inf, 0) = 0) and the
    # first update leaves the weights as they were.
    before = [p.detach().clone() for p in model.parameters()]
    naive = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    unshifted = torch.optim.lr_scheduler.LambdaLR(naive, lambda epoch: eq3_numpy_style(epoch, d_model, warmup))
    assert naive.param_groups[0]["lr"] == 0.0
    model(torch.randn(2, 5)).square().sum().backward()
    naive.step()
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    unshifted.step()
    assert naive.param_groups[0]["lr"] == pytest.approx(eq3(1, d_model, warmup))  # one step late ever after


def test_scale_multiplies_every_step_of_the_schedule() -> None:
    """`scale` multiplies Eq. 3 at every step (a knob for other batch sizes; 1.0 is the paper)."""
    d_model, warmup, scale = 64, 5, 2.0
    optimizer, scheduler = make_optimizer(nn.Linear(3, 2), d_model=d_model, warmup_steps=warmup, scale=scale)
    for k in range(1, 12):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(scale * eq3(k, d_model, warmup), rel=1e-12)
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("step", [0, -1])
def test_lrate_rejects_step_zero_with_a_clear_error(step: int) -> None:
    """lrate(0) is an error that says steps count from 1 (Eq. 3 divides by zero there)."""
    with pytest.raises(ValueError, match="step counts from 1"):
        lrate(step, 512, 4000)
    with pytest.raises(ZeroDivisionError):  # the bare formula fails with no hint of the cause
        eq3(0, 512, 4000)


def test_cosine_option_keeps_the_warmup_then_falls_to_the_floor_at_the_last_step() -> None:
    """The cosine option: Eq. 3 up to warmup_steps, then peak (f + (1 - f)(1 + cos(pi r)) / 2) down to f x peak."""
    d_model, warmup, steps, floor = 64, 6, 30, 0.1
    optimizer, scheduler = make_optimizer(nn.Linear(3, 2), d_model, warmup, schedule="cosine", steps=steps, floor=floor)
    peak = eq3(warmup, d_model, warmup)
    got = []
    for _ in range(steps):
        got.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    for k in range(1, steps + 1):
        r = max(0.0, (k - warmup) / (steps - warmup))
        expected = eq3(k, d_model, warmup) if k <= warmup else peak * (floor + (1 - floor) * (1 + math.cos(math.pi * r)) / 2)
        assert got[k - 1] == pytest.approx(expected, rel=1e-12)
    assert got[-1] == pytest.approx(floor * peak)
    # the wrong variant, a cosine from step 1, starts at the peak: no warmup
    from_one = peak * (floor + (1 - floor) * (1 + math.cos(math.pi * 0 / (steps - 1))) / 2)
    assert from_one == pytest.approx(peak) and got[0] < peak / 5
    _, default = make_optimizer(nn.Linear(3, 2), d_model, warmup)  # Eq. 3 stays the default
    assert default.lr_lambdas[0](steps - 1) == pytest.approx(eq3(steps, d_model, warmup))
