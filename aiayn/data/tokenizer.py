"""§5.1 One shared byte-pair-encoding vocabulary for source and target.

The paper encodes English and German with one BPE vocabulary of about 37,000 tokens
(shared, so that the source, target and pre-softmax weights can be tied, §3.4). We train
it with the Hugging Face `tokenizers` library:

- byte-level BPE (as in GPT-2): text is NFC-normalised, split on words and punctuation,
  and every word is spelled in bytes before merging, so any character, seen in training
  or not (Cyrillic, emoji), encodes without an unknown token, and decoding gives the
  text back: decode(encode(s)) == s for NFC text that does not start with whitespace
  (a space is put before the first word so that it is spelled like the others, and
  decode removes it again);
- special tokens in fixed places: "<pad>" = 0, "<unk>" = 1 (kept for compatibility;
  byte-level BPE never emits it), "<s>" = 2 (beginning of sentence), "</s>" = 3 (end).
  `encode` adds none of them; `decode` drops them.

Sizes: about 37,000 for WMT 2014 (the paper's figure). The number task has few distinct
English words but a new German compound for nearly every number, so merges never run
out; 1,000 (`aiayn.data.numbers.VOCAB_SIZE`) is a good size: validation sources average
15.2 tokens and targets 6.5 (8.3 at 500, 6.2 at 2,000). `vocab_size` counts everything,
the 256 byte symbols and the 4 specials included.

Which pairs it learns from: `train_on_pairs(..., sample_pairs=k, seed=s)` learns from a
seeded uniform sample of k pairs of the whole training set, never its first k: WMT 2014's
training set lists Europarl (about 1.9M pairs of parliamentary text) first, so its first
million pairs would be one domain only.

Speed (measured on a slow, shared 2-core machine): training on both sides of 200,000
number pairs takes 14 to 17 s of CPU time; on 20,000 of them
(`aiayn.data.numbers.TOKENIZER_PAIRS`) 1.5 to 3 s, with the same token counts on
held-out pairs. Encoding runs at about 25,000
sentences per CPU-second.

`fingerprint()` is a SHA-256 of the tokenizer's canonical JSON, so a checkpoint can tell
whether it is being decoded with the vocabulary it was trained on.
"""

import hashlib
import json
import os
from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from aiayn.data.pairs import Pair

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")  # ids 0, 1, 2, 3
PAD, UNK, BOS, EOS = SPECIALS
BYTE_SYMBOLS = 256


class TokenizerError(ValueError):
    """A tokenizer file that cannot be used: missing, corrupt, or with other special ids."""


def _check_specials(tokenizer: Tokenizer, where: str) -> None:
    ids = [tokenizer.token_to_id(token) for token in SPECIALS]
    if ids != [0, 1, 2, 3]:
        found = ", ".join(f"{token}={i}" for token, i in zip(SPECIALS, ids))
        raise TokenizerError(f"{where}: special tokens must have ids <pad>=0 <unk>=1 <s>=2 </s>=3, found {found}")


class SpecialIds:
    """The ids every aiayn tokenizer gives its special tokens (`SPECIALS`, in that order)."""

    pad_id = 0
    unk_id = 1
    bos_id = 2
    eos_id = 3


class BpeTokenizer(SpecialIds):
    """A shared byte-level BPE vocabulary with <pad>, <unk>, <s>, </s> at ids 0 to 3."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        _check_specials(tokenizer, "BpeTokenizer")
        self._tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> "BpeTokenizer":
        """Learn merges on `texts` until the vocabulary has `vocab_size` entries (or merges run out)."""
        least = len(SPECIALS) + BYTE_SYMBOLS
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < least:
            raise ValueError(
                f"BpeTokenizer.train: vocab_size must be an integer >= {least} (specials + bytes), got {vocab_size!r}"
            )
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"BpeTokenizer.train: min_frequency must be a positive integer, got {min_frequency!r}")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @classmethod
    def train_on_pairs(
        cls, pairs: Sequence[Pair], vocab_size: int, min_frequency: int = 2, sample_pairs: int | None = None,
        seed: int = 0,
    ) -> "BpeTokenizer":  # fmt: skip
        """`train` on both sides of the pairs: one shared vocabulary. With `sample_pairs`, on a
        uniform sample of that many pairs drawn without replacement from all of them (the same
        seed, the same sample), taken in their order in the data (`sample_indices`)."""
        chosen = pairs if sample_pairs is None else [pairs[i] for i in sample_indices(len(pairs), sample_pairs, seed)]
        return cls.train((text for pair in chosen for text in (pair.src, pair.tgt)), vocab_size, min_frequency)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` for many texts at once (in parallel inside `tokenizers`)."""
        # encode_batch_fast skips the character offsets that we never use (about 40% faster)
        return [e.ids for e in self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`; special tokens (padding, <s>, </s>) are dropped."""
        text = self._tokenizer.decode(list(ids), skip_special_tokens=True)
        return text[1:] if text.startswith(" ") else text  # the space put before the first word

    def token(self, token_id: int) -> str:
        """The vocabulary entry of one id, in byte-level spelling (a leading "Ġ" is a space)."""
        token = self._tokenizer.id_to_token(token_id)
        if token is None:
            raise IndexError(f"token id {token_id} is outside the vocabulary [0, {self.vocab_size})")
        return token

    def token_id(self, token: str) -> int | None:
        """The id of a vocabulary entry (special tokens included), or None when it has none."""
        return self._tokenizer.token_to_id(token)

    def to_json(self) -> str:
        return self._tokenizer.to_str()

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace) of the tokenizer."""
        canonical = json.dumps(json.loads(self.to_json()), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write tokenizer.json; a directory path gets `tokenizer.json` inside it."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        self._tokenizer.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "BpeTokenizer":
        """Read a tokenizer.json written by `save` (a directory path reads `tokenizer.json` in it)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise TokenizerError(f"{path}: no such tokenizer file") from None
        except UnicodeDecodeError:
            raise TokenizerError(f"{path}: not a tokenizer file (not UTF-8 text)") from None
        try:
            tokenizer = Tokenizer.from_str(text)
        except Exception as err:  # tokenizers raises a bare Exception for bad JSON
            raise TokenizerError(f"{path}: not a valid tokenizer.json ({str(err).splitlines()[0][:200]})") from None
        _check_specials(tokenizer, path)
        return cls(tokenizer)


def sample_indices(n: int, k: int, seed: int) -> list[int]:
    """min(k, n) distinct indices of range(n), drawn uniformly with `seed`, in increasing order."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"sample_pairs must be a positive integer, got {k!r}")
    if k >= n:
        return list(range(n))
    import numpy as np

    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False)).tolist()
