"""A fine-tuning example, and the layout of a question with listed choices.

    QUESTION

    passage line 1
    ...

    Choices:
    - choice 1
    - choice 2

The choices are the right answer and the others in a seeded random order; the example
keeps them (`choices`) so that they can be scored by likelihood
(`aiayn.evaluation.choices`) as well as by exact match of a generated answer.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptResponse:
    """One fine-tuning example: what the user says, what the assistant should answer, the kind of
    question, and the listed choices (empty for an open question)."""

    prompt: str
    response: str
    kind: str = ""
    choices: tuple[str, ...] = ()


def make_question(
    kind: str, question: str, passage: Sequence[str], answer: str, others: Sequence[str], rng: random.Random
) -> PromptResponse:
    """The question, a blank line, the passage, and (when `others` are given) the shuffled choices."""
    text = f"{question}\n\n" + "\n".join(passage)
    if not others:
        return PromptResponse(text, answer, kind)
    choices = [answer, *others]
    rng.shuffle(choices)
    text += "\n\nChoices:\n" + "\n".join(f"- {c}" for c in choices)
    return PromptResponse(text, answer, kind, tuple(choices))
