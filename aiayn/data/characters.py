"""A character vocabulary, for character-level language models.

The counterpart of `aiayn.data.tokenizer.BpeTokenizer` with one token per character:
the same four special tokens at the same ids ("<pad>" = 0, "<unk>" = 1, "<s>" = 2,
"</s>" = 3), then every character seen in training, in code-point order. A character
never seen in training encodes as <unk> (decoded as U+FFFD), so bits per character stay
defined on any text. `encode` adds no special tokens and `decode` drops them;
decode(encode(s)) == s for text made of known characters.

Saved as a small JSON file ({"kind": "characters", "characters": "..."}), by default
`tokenizer.json` in a run folder, like the BPE vocabulary; `load_tokenizer` reads either
kind. `fingerprint()` is a SHA-256 of the canonical JSON, as for BPE.
"""

import hashlib
import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from aiayn.data.tokenizer import SPECIALS, BpeTokenizer, SpecialIds, TokenizerError

KIND = "characters"
REPLACEMENT = "\ufffd"  # how <unk> decodes


def _tokenizer_path(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    return os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path


class CharTokenizer(SpecialIds):
    """One id per character: <pad>, <unk>, <s>, </s> at ids 0 to 3, then the characters."""

    def __init__(self, characters: str) -> None:
        chars = "".join(sorted(set(characters)))
        if not chars or chars != characters:
            raise TokenizerError("CharTokenizer: characters must be non-empty, distinct and in code-point order")
        self.characters = chars
        self._codes = np.array([ord(c) for c in chars], dtype=np.int64)  # sorted, for searchsorted

    @classmethod
    def train(cls, texts: Iterable[str]) -> "CharTokenizer":
        """The vocabulary of every character that occurs in `texts`."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        if not seen:
            raise ValueError("CharTokenizer.train: the texts hold no characters")
        return cls("".join(sorted(seen)))

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.characters)

    def encode_array(self, text: str) -> np.ndarray:
        """Token ids of `text` as an int64 array (fast for whole books)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        where = np.searchsorted(self._codes, codes).clip(max=len(self._codes) - 1)
        known = self._codes[where] == codes
        return np.where(known, where + len(SPECIALS), self.unk_id)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, one per character, without special tokens."""
        return self.encode_array(text).tolist()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`; padding, <s> and </s> are dropped, <unk> reads as U+FFFD."""
        first = len(SPECIALS)
        out = []
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise IndexError(f"token id {i} is outside the vocabulary [0, {self.vocab_size})")
            if i >= first:
                out.append(self.characters[i - first])
            elif i == self.unk_id:
                out.append(REPLACEMENT)
        return "".join(out)

    def token(self, token_id: int) -> str:
        """The vocabulary entry of one id."""
        if not 0 <= token_id < self.vocab_size:
            raise IndexError(f"token id {token_id} is outside the vocabulary [0, {self.vocab_size})")
        return SPECIALS[token_id] if token_id < len(SPECIALS) else self.characters[token_id - len(SPECIALS)]

    def to_json(self) -> str:
        return json.dumps({"kind": KIND, "specials": list(SPECIALS), "characters": self.characters}, ensure_ascii=False)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace)."""
        canonical = json.dumps(json.loads(self.to_json()), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON file; a directory path gets `tokenizer.json` inside it."""
        with open(_tokenizer_path(path), "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def from_json(cls, text: str, where: str = "CharTokenizer") -> "CharTokenizer":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise TokenizerError(f"{where}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("characters"), str):
            raise TokenizerError(f"{where}: not a character vocabulary (expected {{\"kind\": \"{KIND}\", ...}})")
        if data.get("specials") != list(SPECIALS):
            raise TokenizerError(f"{where}: special tokens must be {list(SPECIALS)}, found {data.get('specials')}")
        return cls(data["characters"])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "CharTokenizer":
        """Read a file written by `save` (a directory path reads `tokenizer.json` in it)."""
        path = _tokenizer_path(path)
        return cls.from_json(_read(path), path)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise TokenizerError(f"{path}: no such tokenizer file") from None
    except UnicodeDecodeError:
        raise TokenizerError(f"{path}: not a tokenizer file (not UTF-8 text)") from None


def load_tokenizer(path: str | os.PathLike[str]) -> BpeTokenizer | CharTokenizer:
    """A tokenizer file of either kind: a character vocabulary, or a BPE tokenizer.json."""
    path = _tokenizer_path(path)
    text = _read(path)
    try:
        kind = json.loads(text).get("kind")
    except (json.JSONDecodeError, AttributeError):
        kind = None
    return CharTokenizer.from_json(text, path) if kind == KIND else BpeTokenizer.load(path)
