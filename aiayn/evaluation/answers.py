"""What a fine-tuned model's answers to questions with listed choices show, per kind of question.

Three figures tell apart "has not learned the format", "answers in the format but picks
wrongly" and "picks well":

    format       the generated answer is exactly one of the listed choices (after
                 `normalize_answer`) and the model ended it with <|end|>
    exact_match  the generated answer is the right choice
    acc          the right choice has the largest log-likelihood given the prompt
    acc_norm     ... the largest log-likelihood per character (`aiayn.evaluation.choices`)

and beside them `chance`, the mean of 1 / (number of choices). Every figure is the share
of the kind's questions, and "all" pools every question. A question whose scores are
missing (a choice too long for the model's context) counts for format and exact match
only; `n_scored` says how many were scored by likelihood.
"""

import math
from collections.abc import Sequence
from typing import Any

from aiayn.data.instructions import normalize_answer
from aiayn.data.questions import PromptResponse
from aiayn.evaluation.choices import picks

FIGURES = ("format", "exact_match", "acc", "acc_norm")


def answer_figures(
    items: Sequence[PromptResponse],
    answers: Sequence[str],
    stopped: Sequence[bool],
    lls: Sequence[Sequence[float]],
) -> dict[str, dict[str, float]]:
    """kind (and "all") -> {format, exact_match, acc, acc_norm, chance, n} over questions with choices."""
    if not len(items) == len(answers) == len(stopped) == len(lls):
        raise ValueError(f"answer_figures: {len(items)} items, {len(answers)} answers, {len(stopped)} stop flags and "
                         f"{len(lls)} rows of scores")  # fmt: skip
    hits: dict[str, dict[str, list[float]]] = {}
    for item, answer, stop, ll in zip(items, answers, stopped, lls):
        if not item.choices:
            continue
        if ll and len(ll) != len(item.choices):
            raise ValueError(f"answer_figures: {len(item.choices)} choices but {len(ll)} scores")
        said = normalize_answer(answer)
        row = {"format": float(stop and said in map(normalize_answer, item.choices)),
               "exact_match": float(said == normalize_answer(item.response)),
               "chance": 1 / len(item.choices), "n": 1.0, "n_scored": float(bool(ll))}  # fmt: skip
        if ll:
            gold = item.choices.index(item.response)
            by_ll, by_norm = picks(ll, item.choices)
            row.update(acc=float(by_ll == gold), acc_norm=float(by_norm == gold))
        for key in (item.kind or "other", "all"):
            for name, value in row.items():
                hits.setdefault(key, {}).setdefault(name, []).append(value)
    out = {key: {name: (sum(v) if name.startswith("n") else sum(v) / len(v)) for name, v in figures.items()}
           for key, figures in hits.items()}  # fmt: skip
    for figures in out.values():
        for name in ("acc", "acc_norm"):
            figures.setdefault(name, float("nan"))
    return out


def before_after_table(tuned: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> list[str]:
    """Lines of a table: each kind's figures for the base model and after fine-tuning, and chance."""
    head = f"{'kind':14s} {'n':>4s} {'chance':>6s}" + "".join(f" {name + ' before/after':>22s}" for name in FIGURES)
    lines = [head]
    for kind in [*sorted(k for k in tuned if k != "all"), "all"]:
        if kind not in tuned:
            continue
        t, b = tuned[kind], base.get(kind, {})
        cells = "".join(f" {b.get(name, float('nan')):>14.3f} {t[name]:>7.3f}" for name in FIGURES)
        lines.append(f"{kind:14s} {int(t['n']):>4d} {t['chance']:>6.3f}{cells}")
    return lines


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def as_record(tuned: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> dict[str, Any]:
    """eval.json's part: per kind, {figure: {"base": .., "fine_tuned": ..}} and the kind's chance and size."""
    return {kind: {"n": int(t["n"]), "n_scored": int(t["n_scored"]), "chance": round(t["chance"], 4),
                   **{name: {"base": _number(base.get(kind, {}).get(name)), "fine_tuned": _number(t[name])}
                      for name in FIGURES}}
            for kind, t in tuned.items()}  # fmt: skip
