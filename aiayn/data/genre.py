"""The built-in classification task: which kind of play a passage comes from.

Labels are the three groups of the First Folio (1623), the first collected edition,
which printed the plays as Comedies, Histories and Tragedies: a property of each work
that anyone can check against the Folio's catalogue. Label indices follow `GENRES`.

Works of the corpus outside that grouping are left out, not given a label of ours:
- Pericles: not in the First Folio at all;
- Troilus and Cressida: printed between the histories and the tragedies, missing from
  the Folio's catalogue, headed a tragedy in some copies and a history in the quarto;
  the Folio gives it no group;
- the poems (A Lover's Complaint, The Passionate Pilgrim, The Phoenix and the Turtle,
  The Rape of Lucrece): the Folio holds plays only.
Cymbeline, which modern editors often call a romance, is labelled a tragedy, as the
Folio prints it ("The Tragedie of Cymbeline", the last of its tragedies); The Tempest and
The Winter's Tale are comedies there. Measure for Measure and Hamlet are not in the corpus.
That leaves 33 works: 13 comedies, 10 histories, 10 tragedies.

Split by whole works, the language model's split (`aiayn.data.shakespeare.HELD_OUT`),
which holds out one work of each group for validation (Twelfth Night, Richard II,
Macbeth) and for test (The Comedy of Errors, King John, Julius Caesar): no passage of a
held-out work is seen in training, and every label is evaluated.

Passages: the spoken lines of a play in order (`aiayn.data.plays.read_play`), cut into
consecutive, non-overlapping chunks of `lines_per_passage` lines (8 by default), joined
by newlines; the last, shorter chunk of a play is dropped. Front matter, act and scene
headings, stage directions and speaker names are removed: a name such as "KING HENRY."
before every speech would give the group away without reading the verse. Names spoken
inside the lines stay; since the split is by works, a character shared by several plays
(the Henry VI plays share many) helps only as much as a reader's knowledge of the
history would. Everything is deterministic: no sampling, no shuffling.

Class balance (passages of 8 lines; `class_balance`, printed by `python -m aiayn.data.genre`):
    split        comedy  history  tragedy
    train          3420     3054     3020    (27 works: 11 comedies, 8 histories, 8 tragedies)
    validation      290      349      292    (3 works)
    test            217      330      322    (3 works)
The training majority, comedy, is 25.0% of the test passages: that is the accuracy of the
majority-class baseline (`aiayn.evaluation.classification.majority_baseline`); even the
test set's own majority, history, would reach only 38.0%.
"""

import sys

from aiayn.data.classification import LabelledText
from aiayn.data.plays import CorpusPath, read_play, split_of

GENRES = ("comedy", "history", "tragedy")
COMEDY, HISTORY, TRAGEDY = range(3)
SPLITS = ("train", "validation", "test")
LINES_PER_PASSAGE = 8

FOLIO_GENRE: dict[str, int] = {
    **dict.fromkeys(
        ("tempest", "two_gentlemen_of_verona", "merry_wives_of_windsor", "comedy_of_errors",
         "much_ado_about_nothing", "loves_labours_lost", "midsummer_nights_dream", "merchant_of_venice",
         "as_you_like_it", "taming_of_the_shrew", "alls_well_that_ends_well", "twelfth_night",
         "winters_tale"), COMEDY),
    **dict.fromkeys(
        ("john", "richard_ii", "henry_iv_part_1", "henry_iv_part_2", "henry_v", "henry_vi_part_1",
         "henry_vi_part_2", "henry_vi_part_3", "richard_iii", "henry_viii"), HISTORY),
    **dict.fromkeys(
        ("coriolanus", "tragedy_of_titus_andronicus", "romeo_and_juliet", "timon_of_athens",
         "julius_caesar", "macbeth", "lear", "othello", "antony_and_cleopatra", "cymbeline"), TRAGEDY),
}
LEFT_OUT = ("pericles", "troilus_and_cressida", "lovers_complaint", "passionate_pilgrim",
            "phoenix_and_the_turtle", "rape_of_lucrece")  # fmt: skip


def genre_works(split: str) -> tuple[str, ...]:
    """The labelled works of a split, in the Folio's order within each group."""
    if split not in SPLITS:
        raise ValueError(f"genre_works: split must be one of {SPLITS}, got {split!r}")
    return tuple(work for work in FOLIO_GENRE if split_of(work) == split)


def passages(work: str, lines_per_passage: int = LINES_PER_PASSAGE, path: CorpusPath | None = None) -> tuple[str, ...]:
    """The spoken lines of `work` in chunks of `lines_per_passage`, without speaker names."""
    if isinstance(lines_per_passage, bool) or not isinstance(lines_per_passage, int) or lines_per_passage < 1:
        raise ValueError(f"passages: lines_per_passage must be a positive integer, got {lines_per_passage!r}")
    lines = [line for speech in read_play(work, path) for line in speech.lines]
    n = len(lines) // lines_per_passage
    return tuple("\n".join(lines[i * lines_per_passage : (i + 1) * lines_per_passage]) for i in range(n))


def genre_split(
    split: str, lines_per_passage: int = LINES_PER_PASSAGE, path: CorpusPath | None = None
) -> tuple[LabelledText, ...]:
    """Every passage of the split's works, labelled with its work's Folio group, work by work."""
    return tuple(
        LabelledText(text, FOLIO_GENRE[work])
        for work in genre_works(split)
        for text in passages(work, lines_per_passage, path)
    )


def class_balance(items: tuple[LabelledText, ...], n_classes: int = len(GENRES)) -> tuple[int, ...]:
    """How many items carry each label, in label order."""
    counts = [0] * n_classes
    for item in items:
        counts[item.label] += 1
    return tuple(counts)


def balance_table(lines_per_passage: int = LINES_PER_PASSAGE) -> str:
    """The class balance of every split as a text table (the one in the module docstring)."""
    rows = [f"{'split':10s} " + " ".join(f"{g:>8s}" for g in GENRES)]
    for split in SPLITS:
        counts = class_balance(genre_split(split, lines_per_passage))
        rows.append(f"{split:10s} " + " ".join(f"{c:8d}" for c in counts))
    return "\n".join(rows)


if __name__ == "__main__":
    print(balance_table(int(sys.argv[1]) if len(sys.argv) > 1 else LINES_PER_PASSAGE))
