"""The fine-tuning report's figures per kind (aiayn/evaluation/answers.py)."""

import math

import pytest

from aiayn.data.questions import PromptResponse
from aiayn.evaluation.answers import answer_figures, as_record, before_after_table

ITEMS = [
    PromptResponse("q1", "Macbeth", "title", ("Hamlet", "Macbeth", "Othello")),
    PromptResponse("q2", "had", "missing_word", ("had", "Yes", "can")),
    PromptResponse("q3", "had", "missing_word", ("had", "Yes", "can")),
    PromptResponse("open", "x", "other"),  # no choices: not counted
]


def test_format_exact_match_and_likelihood_accuracy_are_counted_apart() -> None:
    answers = [" Macbeth ", "Yes", "had and more"]
    stopped = [True, True, True]
    lls = [(-3.0, -1.0, -2.0), (-2.0, -1.0, -5.0), (-9.0, -1.0, -5.0)]
    figures = answer_figures(ITEMS, [*answers, "x"], [*stopped, True], [*lls, ()])
    assert set(figures) == {"title", "missing_word", "all"}
    assert figures["title"] == {"format": 1.0, "exact_match": 1.0, "acc": 1.0, "acc_norm": 1.0,
                                "chance": pytest.approx(1 / 3), "n": 1, "n_scored": 1}  # fmt: skip
    word = figures["missing_word"]
    # "Yes" is a listed choice (format) but wrong; "had and more" is neither a choice nor right
    assert (word["format"], word["exact_match"]) == (0.5, 0.0)
    # "Yes" has the largest ll in both, and per character too (-1/3 against -2/3 and -3 for "had")
    assert word["acc"] == 0.0 and word["acc_norm"] == 0.0
    assert figures["all"]["n"] == 3 and figures["all"]["exact_match"] == pytest.approx(1 / 3)


def test_an_answer_that_did_not_stop_is_out_of_format_and_unscored_questions_are_said() -> None:
    figures = answer_figures(ITEMS[:1], ["Macbeth"], [False], [()])
    assert figures["title"]["format"] == 0.0 and figures["title"]["exact_match"] == 1.0
    assert figures["title"]["n_scored"] == 0 and math.isnan(figures["title"]["acc"])
    record = as_record(figures, figures)
    assert record["title"]["acc"] == {"base": None, "fine_tuned": None}  # JSON has no NaN
    lines = before_after_table(figures, figures)
    assert lines[0].startswith("kind") and lines[-1].startswith("all")
    with pytest.raises(ValueError, match="1 items, 2 answers"):
        answer_figures(ITEMS[:1], ["a", "b"], [True], [()])
