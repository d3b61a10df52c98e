"""Instruction data for supervised fine-tuning: (prompt, response) pairs.

Every source yields `PromptResponse(prompt, response, kind, choices)` (`aiayn.data.questions`):

- `corpus_instructions(split)`: built offline from the Shakespeare corpus, with answers
  that are scored by exact match (`exact_match_by_kind`) and, among their listed choices,
  by likelihood (`aiayn.evaluation.answers`). Three kinds need knowledge of the work:
      "speaker"    Who speaks these lines?   the first lines of a speech -> the speaker's
                   name as printed ("LADY MACBETH", "Glou")
      "title"      Which play is this from?  four consecutive spoken lines -> the title
                   as in TITLES.tsv ("King Henry IV, Part 1")
      "next_line"  What is the next line?    three lines of a speech (or of a poem) ->
                   the line that follows
  and three are answered by the passage alone (`aiayn.data.reading_questions`): which
  line is in the passage ("in_passage"), who speaks first ("first_speaker"), which word
  fills the blank ("missing_word").
  For training, `drills` adds copying drills per work (`aiayn.data.drills`): a line of
  random words of the work to repeat, never scored.
  A held-out work's characters, title and lines are never answers in training, so
  each question lists `n_choices` candidate answers (3 by default; 0 asks it open):
  the right one and others of the same kind (other main speakers of the play, titles
  of other plays of the same split, other lines of the work), in a seeded random order.
  Wrong titles come from the same split because a held-out title offered as a wrong
  answer in training would teach the model that held-out titles are never right. A model
  scores only by answering with one of them, copied exactly; picking at random scores
  1 / n_choices.
  The split is by whole works, the language model's (`aiayn.data.shakespeare.HELD_OUT`):
  validation and test items come only from works the pre-trained model never read.
  Training uses the other plays (Pericles and Troilus and Cressida included) and, for
  "next_line", "in_passage" and "missing_word", the poems. Items are drawn with
  `random.Random(f"{seed}:{work}:{kind}")`, so the set is the same on every machine; a main
  speaker has at least `MIN_SPEECHES` speeches. Per split (`PER_WORK` = 40): train 7,440
  items (1,160 each of speaker, title and first_speaker; 1,320 each of next_line, in_passage
  and missing_word), validation and test 720 each (120 of each kind).
- `load_alpaca()`: `tatsu-lab/alpaca` (instruction, input, output): the prompt is the
  instruction, then a blank line and the input when there is one.
- `load_dolly()`: `databricks/databricks-dolly-15k` (instruction, context, response,
  category): the prompt is the instruction, then a blank line and the context when
  there is one; `kind` is the category.
Rows whose instruction or response is empty are skipped; a field that is not text is
an error naming the split and row. `path` may be a local folder in the hub's layout.
"""

import random
from collections import Counter
from collections.abc import Sequence

from aiayn.data.drills import REPEAT_KIND, work_drills
from aiayn.data.hub import load_split, rows
from aiayn.data.files import DataError
from aiayn.data.plays import (
    POEMS,
    CorpusPath,
    Speech,
    read_play,
    read_poem,
    split_of,
    titles,
)
from aiayn.data.questions import PromptResponse, make_question
from aiayn.data.reading_questions import READING_KINDS, READING_QUESTIONS, reading_items

KNOWLEDGE_KINDS = ("speaker", "title", "next_line")
KINDS = KNOWLEDGE_KINDS + READING_KINDS
QUESTIONS = {
    "speaker": "Who speaks these lines?",
    "title": "Which play is this from?",
    "next_line": "What is the next line?",
    **READING_QUESTIONS,
}
SPLITS = ("train", "validation", "test")
PER_WORK = 40  # items of each kind per work
MIN_SPEECHES = 5
SPEECH_LINES, TITLE_LINES, CONTEXT_LINES = 4, 4, 3
MIN_WORDS = 3  # a candidate next line has at least this many words


def _question(
    kind: str, passage: Sequence[str], answer: str, others: Sequence[str], rng: random.Random
) -> PromptResponse:
    return make_question(kind, QUESTIONS[kind], passage, answer, others, rng)


def _speaker_items(speeches: Sequence[Speech], n: int, others: int, rng: random.Random) -> list[PromptResponse]:
    counts = Counter(s.speaker for s in speeches)
    main = sorted(name for name, c in counts.items() if c >= MIN_SPEECHES)
    if len(main) < others + 1:
        return []
    pool = [s for s in speeches if s.speaker in main and len(s.lines) >= 2]
    items = []
    for speech in rng.sample(pool, min(n, len(pool))):
        wrong = rng.sample([m for m in main if m != speech.speaker], others)
        items.append(_question("speaker", speech.lines[:SPEECH_LINES], speech.speaker, wrong, rng))
    return items


def _title_items(lines: Sequence[str], title: str, other_titles: Sequence[str], n: int, others: int,
                 rng: random.Random) -> list[PromptResponse]:  # fmt: skip
    starts = rng.sample(range(len(lines) - TITLE_LINES), min(n, len(lines) - TITLE_LINES))
    return [
        _question("title", lines[i : i + TITLE_LINES], title, rng.sample(list(other_titles), others), rng)
        for i in starts
    ]


def _next_line_items(blocks: Sequence[Sequence[str]], n: int, others: int, rng: random.Random) -> list[PromptResponse]:
    candidates = sorted({line for block in blocks for line in block if len(line.split()) >= MIN_WORDS})
    places = [(b, i) for b, block in enumerate(blocks) for i in range(CONTEXT_LINES, len(block))
              if len(block[i].split()) >= MIN_WORDS]  # fmt: skip
    items = []
    for b, i in rng.sample(places, min(n, len(places))):
        answer = blocks[b][i]
        wrong = rng.sample([line for line in candidates if line != answer], others)
        items.append(_question("next_line", blocks[b][i - CONTEXT_LINES : i], answer, wrong, rng))
    return items


def corpus_instructions(
    split: str, per_work: int = PER_WORK, n_choices: int = 3, seed: int = 0, path: CorpusPath | None = None,
    drills: int = 0,
) -> tuple[PromptResponse, ...]:
    """The built-in questions of a split: up to `per_work` of each kind per work, work by work;
    for training, `drills` copying drills per work after its questions (`aiayn.data.drills`)."""
    if split not in SPLITS:
        raise ValueError(f"corpus_instructions: split must be one of {SPLITS}, got {split!r}")
    if isinstance(drills, bool) or not isinstance(drills, int) or drills < 0 or (drills and split != "train"):
        raise ValueError(f"corpus_instructions: drills must be a non-negative integer, and 0 outside training "
                         f"(they are never scored); got drills={drills!r} for {split}")  # fmt: skip
    if isinstance(n_choices, bool) or not isinstance(n_choices, int) or n_choices < 0 or n_choices == 1:
        raise ValueError(f"corpus_instructions: n_choices must be 0 (open questions) or at least 2, got {n_choices!r}")
    names = titles(path)
    plays = [w for w in names if w not in POEMS]
    others = max(n_choices - 1, 0)
    out: list[PromptResponse] = []
    title_words = [w for work, title in names.items() if split_of(work) == "train" for w in title.split()]
    for work in (w for w in names if split_of(w) == split):
        rng = {kind: random.Random(f"{seed}:{work}:{kind}") for kind in (*KINDS, REPEAT_KIND)}
        if work in POEMS:
            poem = read_poem(work, path)
            out.extend(_next_line_items([poem], per_work, others, rng["next_line"]))
            out.extend(reading_items(poem, (), per_work, others, rng))
            out.extend(work_drills(poem, title_words, drills, rng[REPEAT_KIND]))
            continue
        speeches = read_play(work, path)
        # the other titles come from the same split: were held-out titles offered as wrong
        # answers in training, a model would learn that they are never right
        other_titles = [names[p] for p in plays if p != work and split_of(p) == split]
        out.extend(_speaker_items(speeches, per_work, others, rng["speaker"]))
        out.extend(_title_items([line for s in speeches for line in s.lines], names[work], other_titles, per_work,
                                others, rng["title"]))  # fmt: skip
        out.extend(_next_line_items([s.lines for s in speeches], per_work, others, rng["next_line"]))
        lines = [line for s in speeches for line in s.lines]
        out.extend(reading_items(lines, speeches, per_work, others, rng))
        out.extend(work_drills(lines, [*{s.speaker for s in speeches}, *title_words], drills, rng[REPEAT_KIND]))
    return tuple(out)


def normalize_answer(text: str) -> str:
    """An answer as exact match compares it: surrounding space stripped, inner runs of space made one."""
    return " ".join(text.split())


def exact_match_by_kind(items: Sequence[PromptResponse], answers: Sequence[str]) -> dict[str, float]:
    """The share of answers equal to the expected response (after `normalize_answer`), per kind and "all"."""
    if len(items) != len(answers):
        raise ValueError(f"exact_match_by_kind: {len(items)} items but {len(answers)} answers")
    hits: dict[str, list[bool]] = {}
    for item, answer in zip(items, answers):
        right = normalize_answer(answer) == normalize_answer(item.response)
        for key in (item.kind or "other", "all"):
            hits.setdefault(key, []).append(right)
    return {key: sum(v) / len(v) for key, v in hits.items()}


def _text(row: dict[str, object], column: str, where: str) -> str:
    value = row[column]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: column {column!r} must be text, got {type(value).__name__}")
    return value.strip()


def _load(path: str, split: str, columns: tuple[str, str, str], kind_column: str | None,
          cache_dir: str | None, limit: int | None) -> tuple[PromptResponse, ...]:  # fmt: skip
    wanted = columns + ((kind_column,) if kind_column else ())
    hint = f"path=DIR, a local folder holding a JSON Lines file with columns {', '.join(wanted)}"
    ds = load_split(path, split, wanted, hint, cache_dir=cache_dir, limit=limit)
    out = []
    for number, row in enumerate(rows(ds, wanted), start=1):
        where = f"split {split!r} of {path}, row {number}"
        ask, more, answer = (_text(row, c, where) for c in columns)
        if ask and answer:
            kind = _text(row, kind_column, where) if kind_column else ""
            out.append(PromptResponse(f"{ask}\n\n{more}" if more else ask, answer, kind))
    return tuple(out)


def load_alpaca(
    split: str = "train", path: str = "tatsu-lab/alpaca", cache_dir: str | None = None, limit: int | None = None
) -> tuple[PromptResponse, ...]:
    """Alpaca's 52,002 instructions (one split, "train") as prompt/response pairs, via `datasets`."""
    return _load(path, split, ("instruction", "input", "output"), None, cache_dir, limit)


def load_dolly(
    split: str = "train",
    path: str = "databricks/databricks-dolly-15k",
    cache_dir: str | None = None,
    limit: int | None = None,
) -> tuple[PromptResponse, ...]:
    """Dolly's 15,011 human-written instructions (one split, "train") as prompt/response pairs."""
    return _load(path, split, ("instruction", "context", "response"), "category", cache_dir, limit)
