"""§5.1 Binarized sentence pairs: tokenized once, memory-mapped, shared by every process.

A data set of 4.5 million pairs held as Python lists of ints costs about 120 bytes a
token in every process. Here the pairs of one split are tokenized once, in parallel by
the `tokenizers` library, into a folder of plain arrays:

    {split}.tokens      every pair's source ids, then its target ids, back to back, with
                        no special tokens; uint16 (2 bytes a token) when the vocabulary has
                        at most 65,536 entries, else uint32
    {split}.index.npy   2 n + 1 int64 offsets into the tokens: pair i's source is
                        tokens[offsets[2i] : offsets[2i+1]], its target
                        tokens[offsets[2i+1] : offsets[2i+2]]
    meta.json           the format, the token type, the vocabulary size, the data and
                        tokenizer fingerprints, and each split's pair and token counts

`PairTokens.open` maps both arrays read-only (numpy memory maps), so the operating
system keeps one copy in its page cache for all the processes of a machine, and a
process pays only for the pages it touches plus the lengths it computes from the index.

The cache: `cache_dir(data_fingerprint, tokenizer_fingerprint)` is
AIAYN_CACHE/binarized/KEY (by default ~/.cache/aiayn/binarized/KEY), KEY a hash of the
format, the data's fingerprint and the tokenizer's, so later runs on the same data and
vocabulary reuse it and any change of either builds a new one. `binarize` writes the
folder under a temporary name and renames it into place (`aiayn.training.atomic`): a
reader finds the folder complete or not at all.
"""

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from aiayn.data.pairs import Pair
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.training.atomic import atomic_write

FORMAT = 1
CHUNK = 100_000  # pairs encoded at a time: bounds the memory of a build


class BinarizedError(ValueError):
    """A binarized folder that cannot be read: missing, damaged, or of another format."""


def cache_root() -> Path:
    """Where binarized data sets live: AIAYN_CACHE/binarized, by default ~/.cache/aiayn/binarized."""
    base = os.environ.get("AIAYN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aiayn")
    return Path(base) / "binarized"


def cache_dir(data_fingerprint: str, tokenizer_fingerprint: str, root: Path | None = None) -> Path:
    """The cache folder for this data tokenized with this tokenizer."""
    key = hashlib.sha256(f"{FORMAT}\0{data_fingerprint}\0{tokenizer_fingerprint}".encode()).hexdigest()[:32]
    return (cache_root() if root is None else Path(root)) / key


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def _write_split(folder: Path, split: str, chunks: Iterable[Sequence[Pair]], tokenizer: BpeTokenizer) -> dict:
    dtype = token_dtype(tokenizer.vocab_size)
    lengths: list[np.ndarray] = []
    n_tokens = 0
    with open(folder / f"{split}.tokens", "wb") as f:
        for chunk in chunks:
            src = tokenizer.encode_batch([p.src for p in chunk])  # all cores, inside `tokenizers`
            tgt = tokenizer.encode_batch([p.tgt for p in chunk])
            both = np.empty(2 * len(chunk), dtype=np.int64)  # source and target lengths, interleaved
            both[0::2] = np.fromiter(map(len, src), np.int64, len(chunk))
            both[1::2] = np.fromiter(map(len, tgt), np.int64, len(chunk))
            count = int(both.sum())
            ids = np.fromiter(chain.from_iterable(chain.from_iterable(zip(src, tgt))), dtype, count)
            if count and int(ids.max()) >= tokenizer.vocab_size:
                raise BinarizedError(f"{split}: the tokenizer produced id {int(ids.max())} >= its vocabulary")
            ids.tofile(f)
            lengths.append(both)
            n_tokens += count
    offsets = np.zeros(1 + sum(len(x) for x in lengths), dtype=np.int64)
    np.cumsum(np.concatenate(lengths) if lengths else np.zeros(0, np.int64), out=offsets[1:])
    np.save(folder / f"{split}.index.npy", offsets)
    n_pairs = (len(offsets) - 1) // 2
    return {"pairs": n_pairs, "tokens": n_tokens, "source_tokens": int((offsets[1::2] - offsets[0:-1:2]).sum())}


def binarize(
    folder: Path,
    splits: Mapping[str, Iterable[Sequence[Pair]]],
    tokenizer: BpeTokenizer,
    data_fingerprint: str,
) -> Path:
    """Tokenize each split's pairs (given as chunks of pairs) into `folder`, atomically.

    Returns the folder. If another process completed the same folder first, its copy
    is kept (the contents are the same by construction)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def write(tmp: Path) -> None:
        tmp.mkdir()
        stats = {split: _write_split(tmp, split, chunks, tokenizer) for split, chunks in splits.items()}
        meta = {"format": FORMAT, "dtype": token_dtype(tokenizer.vocab_size).name, "vocab_size": tokenizer.vocab_size,
                "data_fingerprint": data_fingerprint, "tokenizer_fingerprint": tokenizer.fingerprint(),
                "splits": stats, "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    try:
        atomic_write(folder, write)
    except OSError:
        if not (folder / "meta.json").exists():  # not a finished copy by another process
            raise
    return folder


def chunked(pairs: Sequence[Pair], size: int = CHUNK) -> Iterable[Sequence[Pair]]:
    """Consecutive slices of `size` pairs: what `binarize` takes for one split."""
    return (pairs[k : k + size] for k in range(0, len(pairs), size))


def read_meta(folder: Path) -> dict:
    """meta.json of a binarized folder, checked for this format."""
    path = Path(folder) / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BinarizedError(f"{folder}: not a binarized data set (no meta.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BinarizedError(f"{path} is damaged ({err}); remove {folder} to build it again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BinarizedError(f"{folder}: binarized with another format; remove it to build it again")
    return meta


class PairTokens:
    """Tokenized pairs as two flat arrays (see the module docstring): memory-mapped from a
    binarized folder (`open`), or built in memory from id lists (`from_ids`)."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or len(offsets) % 2 != 1 or offsets[0] != 0 or offsets[-1] != len(tokens):
            raise BinarizedError(f"PairTokens: {len(offsets)} offsets do not index {len(tokens)} tokens by pairs")
        self.tokens, self.offsets = tokens, offsets

    @classmethod
    def open(cls, folder: Path, split: str) -> "PairTokens":
        """Map a split of a binarized folder read-only; its sizes are checked against meta.json."""
        folder = Path(folder)
        meta = read_meta(folder)
        stats = meta.get("splits", {}).get(split)
        if stats is None:
            raise BinarizedError(f"{folder}: no split {split!r} (it holds {', '.join(meta.get('splits', {}))})")
        dtype = np.dtype(meta["dtype"])
        path = folder / f"{split}.tokens"
        try:
            size = path.stat().st_size
            offsets = np.load(folder / f"{split}.index.npy", mmap_mode="r")
        except (OSError, ValueError) as err:
            raise BinarizedError(f"{folder}: {split} cannot be read ({err}); remove the folder to build it again") from None
        if size != stats["tokens"] * dtype.itemsize or len(offsets) != 2 * stats["pairs"] + 1:
            raise BinarizedError(f"{folder}: {split} is damaged (its sizes differ from meta.json); remove the folder "
                                 f"to build it again")  # fmt: skip
        tokens = np.memmap(path, dtype=dtype, mode="r") if size else np.zeros(0, dtype)
        return cls(tokens, offsets)

    @classmethod
    def from_ids(cls, src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]]) -> "PairTokens":
        """In-memory pairs from id lists (no special tokens), for small data and tests."""
        if len(src) != len(tgt):
            raise ValueError(f"PairTokens.from_ids: {len(src)} sources but {len(tgt)} targets")
        both = [len(x) for pair in zip(src, tgt) for x in pair]
        offsets = np.zeros(len(both) + 1, dtype=np.int64)
        np.cumsum(both, out=offsets[1:])
        tokens = np.fromiter(chain.from_iterable(chain.from_iterable(zip(src, tgt))), np.int64, int(offsets[-1]))
        return cls(tokens, offsets)

    def __len__(self) -> int:
        return (len(self.offsets) - 1) // 2

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(source lengths, target lengths) of every pair, int32, without special tokens."""
        o = self.offsets
        return (o[1::2] - o[0:-1:2]).astype(np.int32), (o[2::2] - o[1::2]).astype(np.int32)

    def spans(self, ids: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) in `tokens` of the source (side 0) or target (side 1) of pairs `ids`."""
        start = np.asarray(self.offsets[2 * ids + side], dtype=np.int64)
        return start, np.asarray(self.offsets[2 * ids + side + 1], dtype=np.int64) - start

    def pair(self, i: int) -> tuple[list[int], list[int]]:
        """The (source, target) ids of pair i."""
        a, b, c = (int(x) for x in self.offsets[2 * i : 2 * i + 3])
        return self.tokens[a:b].tolist(), self.tokens[b:c].tolist()
