"""The Shakespeare corpus read as speeches: who says which lines, in each play.

The corpus (`aiayn.data.shakespeare`: the copy packaged with aiayn, or a folder in its
layout) holds 39 works, one file `{work}_gut.txt` each, and TITLES.tsv. A work is named by its file stem without
`_gut` ("macbeth", "henry_iv_part_1"). Four are poems, not plays (`POEMS`, read
with `read_poem`): they have no speakers.

How a play file is read (`read_play`):
- everything before the first act, scene, prologue or induction heading is front
  matter (title, list of persons, setting) and is dropped;
- stage directions in square brackets are removed, inline ones ("[Aside.]") too, and
  so are the source's misprints: "{" for "[", nested brackets, a bracket never
  closed (to the end of its line, or of its block when it opens the line) or never
  opened (the block up to it);
- text comes in blocks separated by blank lines. A block whose first line is a
  speaker's name is a speech: "MACBETH.", "LADY MACBETH.", "THESEUS" (no stop),
  "Glou." and "Lady Montague." (the mixed-case files: lear, romeo_and_juliet).
  A block without a name that follows a speech continues it (a speech interrupted
  by a stage direction); after an act or scene heading (dropped, with the rest of
  its block) nobody speaks until a name comes.
- a name is stored as printed, without its final stop and with spaces collapsed
  ("LADY MACBETH"); lines are stripped of the indentation of split verse lines.

The corpus folder and the split by whole works are those of the language model
(`aiayn.data.shakespeare`: `corpus_bytes`, `HELD_OUT`), so that a task built on a
pre-trained language model never tests on a work the model trained on.
"""

import re
from dataclasses import dataclass

from aiayn.data.files import DataError
from aiayn.data.shakespeare import HELD_OUT, TITLES, CorpusPath, corpus_bytes, corpus_dir, read_work

POEMS = ("lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle", "rape_of_lucrece")

_START = re.compile(r"^(THE )?(ACT|Act|PROLOGUE|Prologue|INDUCTION|Induction)\b|^(SCENE|Scene) (I|1)\b")
_HEADING = re.compile(r"^(ACT|Act|SCENE|Scene)\b")  # drops its whole block (headings run on)
_TITLE = re.compile(r"^(THE )?(PROLOGUE|Prologue|EPILOGUE|Epilogue|INDUCTION|Induction)\.?$")
_CAPS_NAME = re.compile(r"^[A-Z][A-Z '&.,\-]{0,39}$")  # KING HENRY.  MRS. PAGE.  THESEUS
_MIXED_NAME = re.compile(r"^[A-Z][a-zA-Z'\-]*\.?( (?:[A-Z][a-zA-Z'\-]*|of|and|de)\.?){0,3}\.$")  # Kent.  Lady Montague.
_ROMAN = re.compile(r"^[IVXL]+\.?$")
_BRACKETS = re.compile(r"[\[{][^\[\]{}]{0,2000}[\]}]")  # "{" for "[" is a misprint of the source
_MARK = "\x00"


@dataclass(frozen=True)
class Speech:
    """One speech of a play: the speaker's name as printed (no final stop) and the lines spoken."""

    speaker: str
    lines: tuple[str, ...]


def split_of(work: str) -> str:
    """"validation", "test" or "train": where a work belongs (`aiayn.data.shakespeare.HELD_OUT`)."""
    return next((split for split, names in HELD_OUT.items() if work in names), "train")


def titles(path: CorpusPath | None = None) -> dict[str, str]:
    """Work name -> title, from TITLES.tsv ("macbeth" -> "Macbeth")."""
    file = corpus_dir(path) / TITLES
    text = corpus_bytes(TITLES, path).decode("utf-8")
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, title = line.partition("\t")
        if not sep or not name.endswith("_gut.txt") or not title.strip():
            raise DataError(f"{file}:{number}: expected '<work>_gut.txt<TAB>title'")
        out[name.removesuffix("_gut.txt")] = title.strip()
    return out


def is_speaker_line(line: str) -> bool:
    """True for a line that names a speaker: "MACBETH.", "THESEUS", "Glou.", "Lady Montague."."""
    line = line.strip()
    if not line or _ROMAN.match(line) or _HEADING.match(line) or _TITLE.match(line):
        return False
    return bool(_CAPS_NAME.match(line) and any(c.isalpha() for c in line)) or bool(_MIXED_NAME.match(line))


def _without_directions(block: str) -> str:
    """A block with its stage directions replaced by a mark: matched brackets (innermost first,
    "[" and "{" alike), then an unclosed "[" to the end of its line (or of the block, when the
    line starts with it), and a block's text up to an unopened "]"."""
    while True:
        stripped = _BRACKETS.sub(_MARK, block)
        if stripped == block:
            break
        block = stripped
    closer = max(block.rfind("]"), block.rfind("}"))
    if closer >= 0:
        block = _MARK + block[closer + 1 :]
    opener = min((i for i in (block.find("["), block.find("{")) if i >= 0), default=-1)
    if opener >= 0:
        line_start = block.rfind("\n", 0, opener) + 1
        inline = block[line_start:opener].strip(_MARK + " ")
        end = block.find("\n", opener) if inline and "\n" in block[opener:] else len(block)
        block = block[:opener] + _MARK + block[end:]
    return block


def _blocks(text: str) -> list[list[str]]:
    """Blocks of stripped lines between blank lines, without stage directions; a line that held
    only a direction goes, so a name and its speech stay in one block."""
    blocks = []
    for raw in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in _without_directions(raw).split("\n")]
        lines = [line.replace(_MARK, "").strip() for line in lines if line.strip(_MARK + " ")]
        if lines:
            blocks.append(lines)
    return blocks


def read_play(work: str, path: CorpusPath | None = None) -> tuple[Speech, ...]:
    """The speeches of a play, in order (see the module docstring for the rules)."""
    if work in POEMS:
        raise DataError(f"{work}: a poem, not a play; it has no speeches (use read_poem)")
    lines = read_work(work, path).split("\n")
    start = next((i for i, line in enumerate(lines) if _START.match(line.strip())), None)
    if start is None:
        raise DataError(f"{work}_gut.txt: no act, scene, prologue or induction heading where the play starts")
    speeches: list[Speech] = []
    pending: str | None = None  # a name alone in its block: its speech is the next block
    open_speech = False  # whether a block without a name continues the last speech
    for block in _blocks("\n".join(lines[start:])):
        if _HEADING.match(block[0]) or (len(block) == 1 and _TITLE.match(block[0])):
            pending, open_speech = None, False  # a new scene: nobody is speaking yet
            continue
        if is_speaker_line(block[0]) or _TITLE.match(block[0]):
            name, spoken = block[0], block[1:]
        elif pending is not None:
            name, spoken = pending, block
        elif open_speech:  # the speech goes on after a stage direction
            speeches[-1] = Speech(speeches[-1].speaker, speeches[-1].lines + tuple(block))
            continue
        else:
            continue
        open_speech = True
        pending = None if spoken else name
        if spoken:
            speeches.append(Speech(" ".join(name.rstrip(".").split()), tuple(spoken)))
    return tuple(speeches)


def read_poem(work: str, path: CorpusPath | None = None) -> tuple[str, ...]:
    """The verse lines of a poem: no title, byline, dedication or stanza numbers."""
    if work not in POEMS:
        raise DataError(f"{work}: not one of the poems {POEMS}")
    lines = [line.strip() for line in read_work(work, path).split("\n")]
    body = lines[lines.index("by William Shakespeare") + 1 :] if "by William Shakespeare" in lines else lines
    if work == "rape_of_lucrece":  # a prose dedication and argument come before the verse
        body = body[next((i for i, line in enumerate(body) if line.startswith("From the besieged Ardea")), 0) :]
    return tuple(line for line in body if line and not _ROMAN.match(line) and line.upper() != line)
