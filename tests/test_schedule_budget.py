"""The cosine learning-rate option and the time budget (aiayn/training/schedule.py, trainer.py `fit`)."""

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from aiayn.cli.train import duration
from aiayn.tasks.runner import train_run
from aiayn.training.checkpoint import checkpoint_dirs
from aiayn.training.schedule import lrate, lrate_cosine, make_optimizer
from aiayn.training.trainer import TrainingError, TrainSettings

sys.path.insert(0, str(Path(__file__).parent))
from train_driver import tiny_spec  # noqa: E402


def rates(schedule: torch.optim.lr_scheduler.LambdaLR, optimizer: torch.optim.Optimizer, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    return out


def test_cosine_warms_up_as_eq3_then_falls_to_the_floor_at_the_last_step() -> None:
    d_model, warmup, steps, floor = 64, 10, 50, 0.1
    optimizer, schedule = make_optimizer(nn.Linear(2, 3), d_model, warmup, scale=0.5, schedule="cosine", steps=steps,
                                         floor=floor)  # fmt: skip
    got = rates(schedule, optimizer, steps + 5)
    peak = d_model**-0.5 * warmup**-0.5
    for step in range(1, warmup + 1):  # warmup: Eq. 3 itself
        assert got[step - 1] == pytest.approx(0.5 * lrate(step, d_model, warmup))
    # half-way through the decay: (1 + floor) / 2 of the peak; at the last step and after: the floor
    assert got[(warmup + steps) // 2 - 1] == pytest.approx(0.5 * peak * (floor + (1 - floor) * 0.5))
    assert got[steps - 1] == pytest.approx(0.5 * peak * floor) and got[-1] == pytest.approx(0.5 * peak * floor)
    assert all(a >= b for a, b in zip(got[warmup - 1 :], got[warmup:]))  # never rises after the peak
    # Eq. 3 stays the default, and it has not decayed to the floor by then
    _, eq3 = make_optimizer(nn.Linear(2, 3), d_model, warmup)
    assert eq3.lr_lambdas[0](steps - 1) == pytest.approx(lrate(steps, d_model, warmup))
    assert lrate(steps, d_model, warmup) > 2 * peak * floor


def test_a_spent_time_budget_brings_the_cosine_to_its_floor_before_the_last_step() -> None:
    at = lrate_cosine(30, 64, 10, 1000, floor=0.2, time_share=0.5)
    peak = lrate(10, 64, 10)
    assert at == pytest.approx(peak * (0.2 + 0.8 * 0.5))  # r = 0.5 from the clock, not 20 / 990 from the steps
    assert lrate_cosine(30, 64, 10, 1000, floor=0.2, time_share=1.0) == pytest.approx(0.2 * peak)
    assert lrate_cosine(999, 64, 10, 1000, floor=0.2, time_share=0.0) < lrate_cosine(30, 64, 10, 1000, floor=0.2)
    with pytest.raises(ValueError, match="floor"):
        lrate_cosine(3, 64, 2, 10, floor=1.5)
    with pytest.raises(ValueError, match="needs the run's steps"):
        make_optimizer(nn.Linear(2, 3), 64, 2, schedule="cosine")
    for bad in ({"schedule": "linear"}, {"lr_floor": -0.1}, {"time_budget": -1.0}):
        with pytest.raises(TrainingError):
            TrainSettings(**bad)


def test_durations_read_seconds_minutes_and_hours() -> None:
    assert [duration(t) for t in ("300", "300s", "5m", "1.5h")] == [300.0, 300.0, 300.0, 5400.0]
    for bad in ("5 minutes", "0", "-2m", "m"):
        with pytest.raises(Exception, match="duration"):
            duration(bad)


def test_a_time_budget_ends_training_with_a_checkpoint_and_the_final_model(tmp_path: Path) -> None:
    spec = tiny_spec(400, 1)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, time_budget=1e-6, save_every=100,
                                                               schedule="cosine"))  # fmt: skip
    lines: list[str] = []
    result = train_run(spec, tmp_path / "run", evaluate=False, progress_bar=False, log=lines.append)
    assert result["steps"] == 1  # the first step already ends past the budget
    assert any("time budget of 1e-06 s reached at step 1 of 400" in line for line in lines)
    assert [d.name for d in checkpoint_dirs(tmp_path / "run")] == ["step-00000001"]
    assert (tmp_path / "run" / "model.safetensors").exists()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 1 and math.isfinite(metrics[-1]["loss"])
