"""Multiple-choice scoring by log-likelihood, as lm-evaluation-harness scores multiple choice.

A question is a context (token ids) and n candidate answers (token ids each). Each
choice is scored on its own row, context then choice, so no choice ever sees another:

    ll(c) = sum over the choice's tokens c_j of log P(c_j | context, c_1 .. c_{j-1})

The context's own tokens are never in the sum (they are the same for every choice and
would only add noise through the cut at the window). Two accuracies over questions:

    acc       right when the gold choice has the largest ll
    acc_norm  right when the gold choice has the largest ll / (characters of the choice)

acc_norm divides by the choice's length in characters, not tokens, so that it does not
depend on the tokenizer (the harness's `acc_norm`). A tie goes to the first choice listed
(as `argmax` does). Rows longer than `window` lose context tokens from the left.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from aiayn.decoding.search import inference
from aiayn.evaluation.language_model import _target_nats
from aiayn.model.inputs import pad_rows


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: context ids, the ids and texts of its choices, the gold index."""

    context: tuple[int, ...]
    choices: tuple[tuple[int, ...], ...]
    texts: tuple[str, ...]
    gold: int


def choice_logliks(
    model: nn.Module, context: Sequence[int], choices: Sequence[Sequence[int]], window: int
) -> tuple[float, ...]:
    """ll(c) of each choice given the context (one row per choice; see the module docstring)."""
    return score_questions(model, [Question(tuple(context), tuple(map(tuple, choices)), ("",) * len(choices), 0)],
                           window)[0]  # fmt: skip


def score_questions(
    model: nn.Module, questions: Sequence[Question], window: int, batch_size: int = 32
) -> tuple[tuple[float, ...], ...]:
    """ll of every choice of every question, in the order given."""
    rows: list[list[int]] = []
    counts: list[int] = []
    for q in questions:
        if not q.context:
            raise ValueError("score_questions: a question has an empty context; the first choice token needs one")
        for choice in q.choices:
            if not choice or len(choice) > window:
                raise ValueError(f"score_questions: a choice of {len(choice)} tokens cannot be scored in a window "
                                 f"of {window}")  # fmt: skip
            rows.append([*q.context, *choice][-(window + 1) :])
            counts.append(len(choice))
    device, pad = next(model.parameters()).device, model.cfg.pad_id
    lls: list[float] = []
    with inference(model):
        for at in range(0, len(rows), batch_size):
            group, n = rows[at : at + batch_size], counts[at : at + batch_size]
            inputs = pad_rows([r[:-1] for r in group], pad).to(device)  # right-padded: causal rows ignore it
            targets = pad_rows([r[1:] for r in group], pad).to(device)
            nats = _target_nats(model(inputs), targets)
            for i, (row, count) in enumerate(zip(group, n)):
                lls.append(-float(nats[i, len(row) - 1 - count : len(row) - 1].sum()))
    out, at = [], 0
    for q in questions:
        out.append(tuple(lls[at : at + len(q.choices)]))
        at += len(q.choices)
    return tuple(out)


def _first_max(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def picks(lls: Sequence[float], texts: Sequence[str]) -> tuple[int, int]:
    """The choice acc picks (largest ll) and the one acc_norm picks (largest ll per character)."""
    return _first_max(lls), _first_max([ll / max(1, len(t)) for ll, t in zip(lls, texts)])


def accuracies(questions: Sequence[Question], lls: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(acc, acc_norm) over the questions."""
    if not questions or len(questions) != len(lls):
        raise ValueError(f"accuracies: {len(questions)} questions but {len(lls)} rows of scores")
    right = [picks(ll, q.texts) for q, ll in zip(questions, lls)]
    return (sum(a == q.gold for (a, _), q in zip(right, questions)) / len(questions),
            sum(b == q.gold for (_, b), q in zip(right, questions)) / len(questions))  # fmt: skip


def chance(questions: Sequence[Question]) -> float:
    """The accuracy expected from a uniform pick: the mean of 1 / (number of choices)."""
    return sum(1 / len(q.choices) for q in questions) / len(questions)
