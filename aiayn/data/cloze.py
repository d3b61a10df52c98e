"""Last-word cloze items (LAMBADA-style): a passage, and the word that ends it.

LAMBADA (Paperno et al., 2016) asks a model for the last word of a passage. An item here
is a `ClozeItem(context, target)`: the passage up to the space before its last word,
and that word; a model is asked for " " + target after the context (as
lm-evaluation-harness does, so the space belongs to the word).

- `split_last_word(text)`: LAMBADA's own rule: the context is the text up to its last
  space, the target everything after it (`aiayn.data.lambada`).
- `cloze_items(texts)`: items built from held-out works, deterministically:
  1. a text is cut into paragraphs at blank lines (in the plays, one speech each, its
     speaker's name on the first line; in the poems, one stanza);
  2. a paragraph of at least two lines qualifies when its last line holds no stage
     direction (no "[" or "]") and no word of two or more capitals (which leaves out
     the lists of persons and the headings), and ends in a word of at least
     `MIN_LETTERS` ASCII letters that follows a space, with only punctuation
     (. , ; : ! ? ' " -) after it; that word is the target, the punctuation is dropped;
  3. the context is the text before that space, back to the start of the first whole
     line within `CONTEXT_CHARS` characters (earlier speeches included, as in LAMBADA's
     passages; mid-line when no whole line fits; a model's window may cut it further);
  4. with `max_items`, items are taken evenly spaced from the full list, so a small set
     samples every text.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

MIN_LETTERS = 4
CONTEXT_CHARS = 1000
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_CAPITALS = re.compile(r"\b[A-Z]{2,}\b")
_LAST_WORD = re.compile(rf" ([A-Za-z]{{{MIN_LETTERS},}})[.,;:!?'\"-]*\s*\Z")


@dataclass(frozen=True)
class ClozeItem:
    """A passage without its last word (`context`), and that word (`target`, no space)."""

    context: str
    target: str


def split_last_word(text: str) -> ClozeItem:
    """LAMBADA's rule: context = the text up to its last space, target = the rest."""
    cut = text.rstrip().rfind(" ")
    if cut <= 0:
        raise ValueError(f"split_last_word: no space to split at in {text[:60]!r}")
    return ClozeItem(text[:cut], text[cut + 1 :].rstrip())


def _items_of(text: str, context_chars: int) -> list[ClozeItem]:
    items, start = [], 0
    for match in _PARAGRAPH.finditer(text + "\n\n"):
        paragraph, at = text[start : match.start()], start
        start = match.end()
        lines = paragraph.strip("\n").split("\n")
        if len(lines) < 2 or "[" in lines[-1] or "]" in lines[-1] or _CAPITALS.search(lines[-1]):
            continue
        word = _LAST_WORD.search(paragraph)
        if word is None:
            continue
        end = at + word.start()  # the space before the target
        first = max(0, end - context_chars)
        if first > 0:  # start at a whole line
            newline = text.find("\n", first, end)
            first = newline + 1 if newline >= 0 else first
        items.append(ClozeItem(text[first:end], word.group(1)))
    return items


def cloze_items(
    texts: Sequence[str], max_items: int | None = None, context_chars: int = CONTEXT_CHARS
) -> tuple[ClozeItem, ...]:
    """Items from `texts` by the rule of the module docstring, in text order."""
    items = [item for text in texts for item in _items_of(text, context_chars)]
    if max_items is None or max_items >= len(items):
        return tuple(items)
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"cloze_items: max_items must be a positive integer or None, got {max_items!r}")
    return tuple(items[i * len(items) // max_items] for i in range(max_items))
