"""§6.2's qualitative claims about Table 3, as checks on a rerun of it.

Each claim names the row it rests on and the direction of its change in dev perplexity
against the base. The verdict compares the difference of the means with its standard
error over the seeds (`aiayn.results.table3_report.delta`):

    d = mean_row - mean_base,  se = sqrt(s_row^2 / n_row + s_base^2 / n_base)

    "worse" / "better":  reproduced      if d points the claimed way and |d| > 2 se
                         not reproduced  if d points the other way and |d| > 2 se
                         within noise    otherwise (|d| <= 2 se)
    "same":              reproduced      if |d| <= 2 se and 2 se <= 10% of the base's mean
                         not reproduced  if |d| > 2 se
                         within noise    otherwise (the seeds cannot tell "same" from a 10% change)

Perplexity is the measure (as in Table 3's first column); BLEU and the dev exact match
(the share of greedy answers equal to the reference) are printed beside it, never judged.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiayn.results.table3_report import delta

REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, NOT_RUN = "reproduced", "not reproduced", "within noise", "not run"
Z = 2.0  # standard errors a difference must exceed to count
SAME = 0.10  # "about as good": the interval +- 2 se must be within this share of the base's mean


@dataclass(frozen=True)
class Claim:
    key: str  # the name of its check in spec/results/sec6_2_model_variations.py
    row: str
    direction: Literal["worse", "better", "same"]  # the row against the base, in dev perplexity

    @property
    def text(self) -> str:
        """The check's name, read: "test_dropout_helps" -> "dropout helps"."""
        return self.key.removeprefix("test_").replace("_", " ")


# §6.2's findings, one row each (stated in words once, as the checks of
# spec/results/sec6_2_model_variations.py); "bigger models are better" rests on every row of (C).
CLAIMS: tuple[Claim, ...] = (
    Claim("test_one_head_is_worse_than_the_base", "A1", "worse"),
    Claim("test_too_many_heads_is_worse_than_the_base", "A4", "worse"),
    Claim("test_a_smaller_key_width_hurts", "B1", "worse"),
    Claim("test_a_shallower_model_is_worse", "C1", "worse"),
    Claim("test_a_deeper_model_is_better", "C3", "better"),
    Claim("test_a_narrower_model_is_worse", "C4", "worse"),
    Claim("test_a_wider_model_is_better", "C5", "better"),
    Claim("test_a_smaller_inner_width_is_worse", "C6", "worse"),
    Claim("test_a_bigger_inner_width_is_better", "C7", "better"),
    Claim("test_dropout_helps", "D1", "worse"),
    Claim("test_learned_positions_are_about_as_good_as_sinusoids", "E", "same"),
)
BY_KEY = {c.key: c for c in CLAIMS}


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    outcome: str
    d: float = 0.0
    se: float = 0.0
    bleu_d: float = 0.0
    exact_match: tuple[float, float] | None = None  # (row - base, se), shown beside, never judged

    def line(self) -> str:
        c = self.claim
        if self.outcome == NOT_RUN:
            return f"{NOT_RUN:>14}  {c.row:>3}  {c.text}"
        em = f"; exact match {self.exact_match[0]:+.3f} +- {self.exact_match[1]:.3f} se" if self.exact_match else ""
        return (f"{self.outcome:>14}  {c.row:>3}  {c.text}  (PPL {self.d:+.3f} +- {self.se:.3f} se; "
                f"BLEU {self.bleu_d:+.1f}{em})")  # fmt: skip


def judge(table: dict[str, dict[str, Any]], claim: Claim) -> Verdict:
    """The verdict of one claim on a summarized table (module docstring for the rule)."""
    if claim.row not in table or "base" not in table:
        return Verdict(claim, NOT_RUN)
    d, se = delta(table, claim.row, "ppl")
    bleu_d, _ = delta(table, claim.row, "bleu")
    both = "exact_match_mean" in table[claim.row] and "exact_match_mean" in table["base"]
    em = delta(table, claim.row, "exact_match") if both else None
    beyond = abs(d) > Z * se
    if claim.direction == "same":
        tight = Z * se <= SAME * table["base"]["ppl_mean"]
        outcome = NOT_REPRODUCED if beyond else REPRODUCED if tight else WITHIN_NOISE
    elif not beyond:
        outcome = WITHIN_NOISE
    else:
        outcome = REPRODUCED if (d > 0) == (claim.direction == "worse") else NOT_REPRODUCED
    return Verdict(claim, outcome, d, se, bleu_d, em)


def verdicts(table: dict[str, dict[str, Any]]) -> tuple[Verdict, ...]:
    return tuple(judge(table, c) for c in CLAIMS)


def format_verdicts(table: dict[str, dict[str, Any]]) -> str:
    """The lines `aiayn table3` prints: one per claim, with the difference and its standard error."""
    found = verdicts(table)
    counts = {o: sum(v.outcome == o for v in found) for o in (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, NOT_RUN)}
    head = (f"§6.2 claims (dev PPL, row - base, beyond {Z:g} standard errors): "
            + ", ".join(f"{n} {o}" for o, n in counts.items() if n))  # fmt: skip
    return "\n".join([head, *(v.line() for v in found)])


def recorded_table(path: Path) -> dict[str, dict[str, Any]]:
    """The summarized rows of a recorded table3.json."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["rows"]


# TODO.md's section of results, written by `aiayn specs` beside the spec checklist
RESULTS_BEGIN = "<!-- BEGIN GENERATED: results (aiayn specs) -->"
RESULTS_END = "<!-- END GENERATED: results -->"
_MARK = {REPRODUCED: "x", NOT_REPRODUCED: " ", WITHIN_NOISE: "~", NOT_RUN: " "}


def render_markdown(section_title: str, tests: tuple[tuple[str, str], ...], recorded: Path) -> str:
    """The results part of TODO.md: each check of spec/results/ (test name, claim text) with its
    verdict on the recorded table (`not run` where there is none)."""
    table = recorded_table(recorded) if Path(recorded).exists() else {}
    out = [RESULTS_BEGIN, "", f"## The paper's results, rerun: {section_title}", "",
           "Generated by `aiayn specs` from spec/results/ and the recorded docs/table3/table3.json",
           "(`aiayn table3`); not part of the spec gate. [x] reproduced, [ ] not reproduced (or not",
           f"run), [~] within noise: dev perplexity, row minus base, beyond {Z:g} standard errors of the",
           "difference over the seeds.", ""]  # fmt: skip
    for test, text in tests:
        verdict = judge(table, BY_KEY[test]) if test in BY_KEY else None
        outcome = verdict.outcome if verdict else NOT_RUN
        detail = f"PPL {verdict.d:+.3f} +- {verdict.se:.3f} se" if verdict and outcome != NOT_RUN else ""
        out.append(f"- [{_MARK[outcome]}] {text} (`{test}`): {outcome}" + (f" ({detail})" if detail else ""))
    out += ["", RESULTS_END]
    return "\n".join(out)
