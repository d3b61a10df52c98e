"""The paper's 25,000 + 25,000 tokens per optimiser step on any process count (aiayn/training/budget.py,
scripts/wmt14.sh)."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import TypeCheckError

from aiayn.training.budget import MAX_ERROR, BudgetError, step_budget

PAPER_TOKENS = 25_000  # per side per step (§5.1)
PER_DEVICE = 6_250  # the WMT recipes' most tokens per side in one device's batch
WMT14 = Path(__file__).resolve().parents[1] / "scripts" / "wmt14.sh"


def _old_wmt14_sh(nproc: int) -> int:
    """The rule wmt14.sh used before: a fixed per-device budget, accumulation rounded up."""
    return nproc * PER_DEVICE * math.ceil(PAPER_TOKENS / (nproc * PER_DEVICE))


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_tokens_per_step_is_the_papers_on_1_2_3_and_8_processes(world_size: int) -> None:
    budget = step_budget(PAPER_TOKENS, world_size, PER_DEVICE)
    assert budget.effective_tokens == world_size * budget.accum_steps * budget.per_device_tokens
    assert abs(budget.effective_tokens - PAPER_TOKENS) <= MAX_ERROR * PAPER_TOKENS
    assert budget.per_device_tokens <= PER_DEVICE
    assert f"{budget.effective_tokens:,}" in budget.describe()


def test_the_fixed_per_device_rule_misses_the_papers_batch() -> None:
    """What the derived budget replaces: 50,000 per step on the paper's own 8 GPUs, 37,500 on 3."""
    assert _old_wmt14_sh(8) == 50_000 and _old_wmt14_sh(3) == 37_500
    for nproc in (3, 8):
        assert abs(_old_wmt14_sh(nproc) / PAPER_TOKENS - 1) > MAX_ERROR
        assert abs(step_budget(PAPER_TOKENS, nproc, PER_DEVICE).relative_error) <= MAX_ERROR


def test_known_splits() -> None:
    splits = {n: step_budget(PAPER_TOKENS, n, PER_DEVICE) for n in (1, 2, 3, 8)}
    assert [(b.accum_steps, b.per_device_tokens, b.effective_tokens) for b in splits.values()] == [
        (4, 6250, 25_000), (2, 6250, 25_000), (2, 4167, 25_002), (1, 3125, 25_000),
    ]  # fmt: skip
    assert "exactly" in splits[8].describe() and "+0.008%" in splits[3].describe()


@given(
    tokens=st.integers(1_000, 1_000_000),
    world=st.integers(1, 67),
    max_per_device=st.integers(503, 40_009),
)
def test_fewest_accumulation_steps_and_even_split(tokens: int, world: int, max_per_device: int) -> None:
    budget = step_budget(tokens, world, max_per_device)
    assert budget.per_device_tokens <= max_per_device
    assert abs(budget.effective_tokens - tokens) <= world * budget.accum_steps / 2  # rounding to whole tokens
    assert world * (budget.accum_steps - 1) * max_per_device < tokens  # one accumulation step fewer falls short


@pytest.mark.parametrize(
    ("args", "name"),
    [((25_000, 0, 6250), "world_size"), ((0, 2, 6250), "tokens_per_step"), ((25_000, 2, True), "max_tokens_per_device"),
     ((25_000, 2.0, 6250), "world_size")],
)  # fmt: skip
def test_bad_settings_name_the_setting(args: tuple, name: str) -> None:
    with pytest.raises((BudgetError, TypeCheckError), match=name):  # a float is a TypeCheckError when checks are on
        step_budget(*args)


def test_a_split_that_cannot_come_within_5_percent_is_refused() -> None:
    with pytest.raises(BudgetError, match="within 5%"):
        step_budget(100, 67, 6250)  # 1 or 2 tokens per process: 67 or 134, not 100


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_wmt14_sh_dry_run_prints_the_budget_accumulation_validation_interval_and_hours() -> None:
    """Without a GPU here the plan is for an assumed 80 GiB H100: base fits the whole step in
    one batch, so 1 GPU needs no accumulation; MAX_TOKENS_PER_DEVICE overrides the estimate."""
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(["bash", str(WMT14), "base", "--dry-run", "2"], capture_output=True, text=True, env=env,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "validation every 1000 steps" in out and "--validate-every 1000" in out
    one = next(line for line in out.splitlines() if line.lstrip().startswith("1 GPU:"))
    eight = next(line for line in out.splitlines() if line.lstrip().startswith("8 GPUs:"))
    assert "1 process x 1 accumulation x 25,000 tokens per device" in one
    assert "8 processes x 1 accumulation x 3,125 tokens per device" in eight
    hours = [float(line.split(" steps in about ")[1].split(" h")[0]) for line in (one, eight)]
    assert hours[0] > hours[1] > 0
    assert "--tokens-per-step 25000" in out and "--max-tokens-per-device 25000" in out
    assert "--nproc_per_node=2" in out and "aiayn prepare --task wmt14" in out

    env["MAX_TOKENS_PER_DEVICE"] = "6250"
    result = subprocess.run(["bash", str(WMT14), "base", "--dry-run", "3"], capture_output=True, text=True, env=env,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "with 3: 3 processes x 2 accumulation x 4,167 tokens per device = 25,002" in result.stdout
    assert "overridden: 6,250" in result.stdout and "--max-tokens-per-device 6250" in result.stdout


def test_training_settings_derive_the_batch_from_tokens_per_step_for_each_world_size() -> None:
    from aiayn.training.trainer import TrainSettings, TrainingError, for_world

    settings = TrainSettings(tokens_per_step=25000, max_tokens_per_device=6250)
    for world_size, (per_device, accum) in {1: (6250, 4), 2: (6250, 2), 3: (4167, 2), 8: (3125, 1)}.items():
        derived, line = for_world(settings, world_size)
        assert (derived.max_src_tokens, derived.max_tgt_tokens, derived.accum_steps) == (per_device, per_device, accum)
        assert abs(world_size * accum * per_device / 25000 - 1) <= 0.05 and f"{world_size} process" in line
    plain, _ = for_world(TrainSettings(max_src_tokens=1500, max_tgt_tokens=1500), 2)
    assert plain.max_src_tokens == 1500 and plain.accum_steps == 1  # without the setting nothing is derived
    with pytest.raises(TrainingError, match="go together"):
        TrainSettings(tokens_per_step=25000)
