"""Built-in questions whose answer the prompt itself fixes: reading, not remembering.

The knowledge kinds of `aiayn.data.instructions` (who speaks, which play, what comes next)
ask about works the model never read. These three can be answered from the passage alone:

    "in_passage"     Which of these lines is in the passage?  two consecutive lines of the
                     work; the answer is one of them, the others are lines of the same work
                     that are not in the passage
    "first_speaker"  Who speaks first in this passage?        three consecutive speeches
                     with their speaker headings ("MACBETH." then one line); the other
                     choices are the other speakers of the passage (topped up with other
                     speakers of the play when fewer), so every name offered is on show
    "missing_word"   Which word fills the blank?              three lines, then one of them
                     again with one word of at least `MIN_LETTERS` letters replaced by
                     "____"; the other choices are words of the passage's other lines

Lines are taken only when they have `MIN_WORDS` to `MAX_WORDS` words, and passages are short,
so that a question with its choices fits the built-in language model's context of 128 tokens
(with its BPE of 2,000, 95% or more of the test questions of these kinds do; a longer passage
would be cut from its start, taking the question with it). The fine-tuning task asks only
the questions that fit whole and says how many it left out (`aiayn.tasks.sft`). Poems (no speakers) give "in_passage" and
"missing_word" only. Items are drawn per work and kind with the generator the caller passes
(`random.Random(f"{seed}:{work}:{kind}")`), so the set is the same on every machine.
"""

import random
import re
from collections.abc import Mapping, Sequence

from aiayn.data.plays import Speech
from aiayn.data.questions import PromptResponse, make_question

READING_KINDS = ("in_passage", "first_speaker", "missing_word")
READING_QUESTIONS = {
    "in_passage": "Which of these lines is in the passage?",
    "first_speaker": "Who speaks first in this passage?",
    "missing_word": "Which word fills the blank?",
}
PASSAGE_LINES, BLANK_LINES, FIRST_SPEECHES, HEADED_LINES = 2, 3, 3, 1
MIN_WORDS, MAX_WORDS, MIN_LETTERS = 3, 8, 3
BLANK = "____"
_WORD = re.compile(r"[A-Za-z]+")


def _fits(line: str) -> bool:
    return MIN_WORDS <= len(line.split()) <= MAX_WORDS


def _in_passage(lines: Sequence[str], n: int, others: int, rng: random.Random) -> list[PromptResponse]:
    starts = [i for i in range(len(lines) - PASSAGE_LINES + 1) if all(map(_fits, lines[i : i + PASSAGE_LINES]))]
    pool = sorted({line for line in lines if _fits(line)})
    items = []
    for i in rng.sample(starts, min(n, len(starts))):
        passage = lines[i : i + PASSAGE_LINES]
        wrong = rng.sample([line for line in pool if line not in passage], others)
        items.append(make_question("in_passage", READING_QUESTIONS["in_passage"], passage, rng.choice(passage), wrong,
                                   rng))  # fmt: skip
    return items


def _first_speaker(speeches: Sequence[Speech], n: int, others: int, rng: random.Random) -> list[PromptResponse]:
    everyone = sorted({s.speaker for s in speeches})
    starts = []
    for i in range(len(speeches) - FIRST_SPEECHES + 1):
        window = speeches[i : i + FIRST_SPEECHES]
        if len({s.speaker for s in window}) > 1 and all(_fits(line) for s in window for line in s.lines[:HEADED_LINES]):
            starts.append(i)
    items = []
    for i in rng.sample(starts, min(n, len(starts))):
        window = speeches[i : i + FIRST_SPEECHES]
        first = window[0].speaker
        shown = sorted({s.speaker for s in window} - {first})
        extra = rng.sample([name for name in everyone if name != first and name not in shown], max(0, others - len(shown)))
        wrong = rng.sample(shown, min(others, len(shown))) + extra
        passage = [row for s in window for row in (f"{s.speaker}.", *s.lines[:HEADED_LINES])]
        items.append(make_question("first_speaker", READING_QUESTIONS["first_speaker"], passage, first, wrong, rng))
    return items


def _missing_word(lines: Sequence[str], n: int, others: int, rng: random.Random) -> list[PromptResponse]:
    starts = [i for i in range(len(lines) - BLANK_LINES + 1) if all(map(_fits, lines[i : i + BLANK_LINES]))]
    items: list[PromptResponse] = []
    for i in rng.sample(starts, len(starts)):
        if len(items) == n:
            break
        passage = lines[i : i + BLANK_LINES]
        k = rng.randrange(BLANK_LINES)
        words = [m for m in _WORD.finditer(passage[k]) if len(m.group()) >= MIN_LETTERS]
        if not words:
            continue
        word = rng.choice(words)
        answer = word.group()
        pool = sorted({w for j, line in enumerate(passage) if j != k for w in _WORD.findall(line)
                       if len(w) >= MIN_LETTERS and w.lower() != answer.lower()})  # fmt: skip
        if len(pool) < others:
            continue
        blanked = passage[k][: word.start()] + BLANK + passage[k][word.end() :]
        items.append(make_question("missing_word", READING_QUESTIONS["missing_word"], [*passage, "", blanked], answer,
                                   rng.sample(pool, others), rng))  # fmt: skip
    return items


def reading_items(
    lines: Sequence[str], speeches: Sequence[Speech], n: int, others: int, rng: Mapping[str, random.Random]
) -> list[PromptResponse]:
    """Up to `n` questions of each reading kind from one work: its lines in order and its speeches
    (none for a poem); `rng` holds one generator per kind."""
    items = _in_passage(lines, n, others, rng["in_passage"])
    if speeches:
        items += _first_speaker(speeches, n, others, rng["first_speaker"])
    return items + _missing_word(lines, n, others, rng["missing_word"])
