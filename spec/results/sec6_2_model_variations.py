"""§6.2 Model variations: the paper's qualitative findings, checked on Table 3 rerun in miniature

Table 3 trains variants of the base model for the same budget and compares them on the
development set; §6.2 draws qualitative conclusions from it. Each check below states
one conclusion with the row it rests on, and judges it on the recorded rerun
(docs/table3/table3.json, made by `aiayn table3`; AIAYN_TABLE3 names another file) by the
rule of `aiayn.results.claims_6_2`: the change in dev perplexity against the base must
exceed two standard errors of the difference over the seeds, in the claimed direction
(for "about as good", stay within them while they are within 10% of the base).

A check passes when the finding is reproduced, fails when the rerun shows the opposite
beyond the noise, and is skipped ("within noise") when it cannot tell. These are results,
not mechanisms: they are marked `results`, left out of the default run and of the spec
gate, and run with `pytest spec/results -m results`.
"""

import os
from pathlib import Path

import pytest

from aiayn.results.claims_6_2 import BY_KEY, NOT_REPRODUCED, NOT_RUN, WITHIN_NOISE, judge, recorded_table

CODE = "aiayn/results/table3.py, aiayn/results/claims_6_2.py"
RECORDED = Path(__file__).resolve().parents[2] / "docs" / "table3" / "table3.json"

pytestmark = pytest.mark.results


def check(key: str) -> None:
    path = Path(os.environ.get("AIAYN_TABLE3", RECORDED))
    if not path.exists():
        pytest.skip(f"no recorded Table 3 at {path}: run `aiayn table3 --out DIR` and set AIAYN_TABLE3=DIR/table3.json")
    verdict = judge(recorded_table(path), BY_KEY[key])
    print(verdict.line())
    if verdict.outcome == NOT_RUN:
        pytest.skip(f"row {verdict.claim.row} is not in {path}")
    if verdict.outcome == WITHIN_NOISE:
        pytest.skip(f"within noise: {verdict.line().strip()}")
    assert verdict.outcome != NOT_REPRODUCED, verdict.line().strip()


def test_one_head_is_worse_than_the_base() -> None:
    """Row A1: a single head (h=1, d_k = d_v = d_model) is worse than the base."""
    check("test_one_head_is_worse_than_the_base")


def test_too_many_heads_is_worse_than_the_base() -> None:
    """Row A4: too many heads (h=32, d_k = d_v = d_model / 32) is worse than the base too."""
    check("test_too_many_heads_is_worse_than_the_base")


def test_a_smaller_key_width_hurts() -> None:
    """Row B1: shrinking the key width d_k to a quarter of the base's hurts."""
    check("test_a_smaller_key_width_hurts")


def test_a_shallower_model_is_worse() -> None:
    """Row C1: a shallower model (N=2 of 6, in proportion) is worse: bigger is better."""
    check("test_a_shallower_model_is_worse")


def test_a_deeper_model_is_better() -> None:
    """Row C3: a deeper model (N=8 of 6, in proportion) is better: bigger is better."""
    check("test_a_deeper_model_is_better")


def test_a_narrower_model_is_worse() -> None:
    """Row C4: half the width d_model is worse: bigger is better."""
    check("test_a_narrower_model_is_worse")


def test_a_wider_model_is_better() -> None:
    """Row C5: twice the width d_model is better: bigger is better."""
    check("test_a_wider_model_is_better")


def test_a_smaller_inner_width_is_worse() -> None:
    """Row C6: half the feed-forward width d_ff is worse: bigger is better."""
    check("test_a_smaller_inner_width_is_worse")


def test_a_bigger_inner_width_is_better() -> None:
    """Row C7: twice the feed-forward width d_ff is better: bigger is better."""
    check("test_a_bigger_inner_width_is_better")


def test_dropout_helps() -> None:
    """Row D1: without dropout (P_drop = 0) the model is worse: dropout helps against overfitting."""
    check("test_dropout_helps")


def test_learned_positions_are_about_as_good_as_sinusoids() -> None:
    """Row E: learned positional embeddings score about as well as the sinusoids."""
    check("test_learned_positions_are_about_as_good_as_sinusoids")
