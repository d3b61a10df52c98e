"""Copying drills: a training-only kind of fine-tuning example (not in the paper).

Every built-in question (`aiayn.data.instructions`) is answered by writing out one of its
listed choices token for token. The pre-trained language model does not copy: shown a
string of 30 random tokens twice, it gets 0.2% of the second copy's tokens right, since
on Shakespeare a word is mostly better guessed from the words before it than copied from
earlier in the window. Fine-tuned on the questions alone, it answers with a blend of the
right pieces ("LNENS" for LENNOX, "Twelfight" for Twelfth Night).

A drill asks for a line of words drawn at random, then the same line as the answer:

    Repeat this line.

    pour cousin formal Lear Much HYMEN adieu,

Since the words follow no grammar, the next one can only be read from the line, never
guessed. They are drawn, per training work, from its own lines (words as they stand,
punctuation attached), its speakers' names as printed in its headings, and the words of
the training works' titles: about one in three draws is a name or a title word, because
those are the answers the questions ask for most and are cut into the most pieces by the
BPE. A drill has `MIN_DRILL_WORDS` to `MAX_DRILL_WORDS` draws (a name may be two words or
more). Drills come only from training works and are never scored: they carry no knowledge
of a held-out work, not even its title. Items are drawn with
`random.Random(f"{seed}:{work}:repeat")`.
"""

import random
from collections.abc import Sequence

from aiayn.data.questions import PromptResponse

REPEAT_KIND = "repeat"
REPEAT_QUESTION = "Repeat this line."
MIN_DRILL_WORDS, MAX_DRILL_WORDS = 2, 8
NAME_SHARE = 0.35  # the chance that a drawn word is a name or a title word
LINE_WORDS = (3, 10)  # words are taken from lines of this many words


def drill(words: Sequence[str], names: Sequence[str], rng: random.Random) -> PromptResponse:
    """One drill: a line of random words (a share `NAME_SHARE` of them from `names`) to repeat."""
    if not words:
        raise ValueError("drill: no words to draw from")
    n = rng.randint(MIN_DRILL_WORDS, MAX_DRILL_WORDS)
    text = " ".join(rng.choice(names) if names and rng.random() < NAME_SHARE else rng.choice(words) for _ in range(n))
    return PromptResponse(f"{REPEAT_QUESTION}\n\n{text}", text, REPEAT_KIND)


def work_drills(lines: Sequence[str], names: Sequence[str], n: int, rng: random.Random) -> list[PromptResponse]:
    """`n` drills from one work: the words of its lines of `LINE_WORDS` words, and `names`."""
    low, high = LINE_WORDS
    words = sorted({w for line in lines if low <= len(line.split()) <= high for w in line.split()})
    pool = sorted(set(names))
    return [drill(words, pool, rng) for _ in range(n)] if words else []
