"""The translation task's training data: one BPE vocabulary and one binarized copy per data set.

`prepare(task, run_dir, log)` gives a run its tokenizer (run_dir/tokenizer.json) and its
training pairs as `PairBatches` over a memory-mapped `PairTokens` store
(`aiayn.data.binarized`). Both are made once and kept in the cache (AIAYN_CACHE, by
default ~/.cache/aiayn):

    tokenizers/KEY.json   the BPE vocabulary trained on this data with these options
                          (KEY: the data fingerprint, vocabulary size, the size and
                          seed of the sample it learns from, tokenizers version and
                          aiayn.data.tokenizer's source),
                          copied into each new run folder
    binarized/KEY/        the training pairs tokenized with that vocabulary

`data_fingerprint` names the data without reading it: the task's options, the source of
the code that makes or reads the pairs, and for local files their names, sizes and
modification times. So a second run on the same data reads the cache instead of
reading and tokenizing the text again, and a change to any of these builds anew.

Who makes what: `aiayn prepare` (`prepare_data`, one process) or the first `aiayn train`
learns the vocabulary from a seeded uniform sample of the training pairs (`tokenizer_pairs`,
`tokenizer_seed`; `aiayn.data.tokenizer.sample_indices`) and binarizes them, printing its
progress. Under torchrun a large data set (PREPARE_FIRST: WMT 2014) must be prepared
first, or every process refuses at once with the command to run: building it takes hours
and the other processes would wait for it past any sensible process-group timeout. Small
data sets are built by rank 0 while the others wait at a barrier (local rank 0 of another
machine binarizes its own copy). The making runs in a child process, so that no training
process ever holds the text of the pairs: its memory is given back when the child exits.
"""

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from aiayn.data.binarized import PairTokens, binarize, cache_dir, cache_root, chunked
from aiayn.data.numbers import TOKENIZER_PAIRS
from aiayn.data.pairs import Pair
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.tasks.base import Log, RunError, RunSpec
from aiayn.training.atomic import atomic_write
from aiayn.training.distributed import all_true, barrier, world
from aiayn.training.pair_batches import PairBatches


# tasks whose data takes long to build: under torchrun they must be prepared first (`aiayn prepare`)
PREPARE_FIRST = ("wmt14",)


def _file_stats(path: Path, pattern: str = "**/*") -> list[tuple[str, int, int]]:
    """(name, size, modification time) of the files under a local folder; [] for a hub name."""
    if not path.is_dir():
        return []
    files = sorted(p for p in path.glob(pattern) if p.is_file())
    return [(p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def data_fingerprint(task: Any, split: str) -> str:
    """A hash of what defines a split's pairs (see the module docstring)."""
    o, name = task.options, task.spec.task
    if name == "numbers":
        import num2words

        from aiayn.data import numbers

        modules: tuple[Any, ...] = (numbers,)
        what: dict[str, Any] = {"n": int(o[f"n_{split}"]), "seed": int(o.get("seed", 0)),
                                "max_number": int(o["max_number"]), "max_items": int(o["max_items"]),
                                "num2words": getattr(num2words, "__version__", "?")}  # fmt: skip
    else:
        from aiayn.data import files, hub, parallel

        modules = (parallel, hub, files)
        if name == "wmt14":
            path = str(o.get("path", "wmt/wmt14"))
            what = {"path": path, "limit": o.get(f"limit_{split}"), "files": _file_stats(Path(path).expanduser())}
        else:
            if "data_dir" not in o:
                raise RunError("the files task needs a data folder: aiayn train --task files --data-dir DIR")
            folder = Path(o["data_dir"]).resolve()
            what = {"data_dir": str(folder), "files": _file_stats(folder, f"{split}.*")}
    code = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in modules)).hexdigest()
    record = {"task": name, "split": split, "direction": task.direction, "code": code, **what}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _tokenizer_options(task: Any) -> tuple[int, int, int]:
    """(vocabulary size, pairs in the uniform sample it is learned from, the sample's seed)."""
    # 20,000 number pairs already hold every piece; for real data a million is plenty
    default = TOKENIZER_PAIRS if task.spec.task == "numbers" else 1_000_000
    o = task.options
    return int(o["bpe_vocab"]), int(o.get("tokenizer_pairs", default)), int(o.get("tokenizer_seed", 0))


def tokenizer_cache(task: Any) -> Path:
    """Where the vocabulary trained on the task's training data with its options is kept."""
    import tokenizers

    from aiayn.data import tokenizer as module

    vocab, sample, seed = _tokenizer_options(task)
    code = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
    record = f"{data_fingerprint(task, 'train')}\0{vocab}\0{sample}\0{seed}\0{tokenizers.__version__}\0{code}"
    return cache_root().parent / "tokenizers" / f"{hashlib.sha256(record.encode()).hexdigest()[:32]}.json"


def binarized_dir(task: Any, tok_path: Path) -> Path:
    """The cache folder of the task's training pairs tokenized with the tokenizer at tok_path."""
    return cache_dir(data_fingerprint(task, "train"), BpeTokenizer.load(tok_path).fingerprint())


def _copy(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def is_prepared(task: Any, run_dir: Path | None = None) -> bool:
    """True when the tokenizer (the run's own, else the cached one) and the training pairs
    binarized with it are both in place: training then only maps files."""
    tok_path = run_dir / "tokenizer.json" if run_dir is not None and (run_dir / "tokenizer.json").exists() else None
    tok_path = tok_path or tokenizer_cache(task)
    return tok_path.exists() and (binarized_dir(task, tok_path) / "meta.json").exists()


def prepare_data(task: Any, log: Log, run_dir: Path | None = None) -> bool:
    """Make the cached tokenizer (unless the run has its own) and the binarized training pairs,
    in this one process (the work itself in a child); False when both were there already."""
    if is_prepared(task, run_dir):
        return False
    log("data: learning the vocabulary and tokenizing the training pairs once (later runs on the same data "
        "reuse them) ...")  # fmt: skip
    _in_child(_make, task.spec, run_dir)
    return True


def unprepared_message(task: Any) -> str:
    """One line: the data is not prepared, and the command that prepares it."""
    o, name = task.options, task.spec.task
    flags = f" --direction {o['direction']} --bpe-vocab {o['bpe_vocab']}"
    flags += "".join(f" --{k.replace('_', '-')} {o[k]}" for k in ("tokenizer_pairs", "path", "data_dir") if k in o)
    return (f"the {name} training data is not prepared, and building it under torchrun would keep the other "
            f"processes waiting for hours: run `aiayn prepare --task {name}{flags}` once (one process; on each "
            f"machine of a multi-machine run), then start torchrun again")  # fmt: skip


def prepare(task: Any, run_dir: Path, log: Log) -> tuple[BpeTokenizer, PairBatches]:
    """The run's tokenizer and its training batches, made or read back (see the module docstring)."""
    t0 = time.perf_counter()
    rank, world_size = world()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    tok_path = run_dir / "tokenizer.json"
    ready = is_prepared(task, run_dir)
    if world_size > 1 and task.spec.task in PREPARE_FIRST and not all_true(ready):
        raise RunError(unprepared_message(task))
    built = False
    if rank == 0:
        built = prepare_data(task, log, run_dir)
        if not tok_path.exists():
            _copy(tokenizer_cache(task), tok_path)
    barrier()  # the other processes wait here: a short wait for small data (the rest is prepared first)
    tokenizer = BpeTokenizer.load(tok_path)
    folder = binarized_dir(task, tok_path)
    if local_rank == 0 and rank != 0 and not (folder / "meta.json").exists():
        prepare_data(task, log, run_dir)  # the first run on another machine
    barrier()
    s, max_len = task.spec.train, int(task.options["max_len"])
    try:
        source = PairBatches(PairTokens.open(folder, "train"), s.max_src_tokens, s.max_tgt_tokens, s.seed,
                             tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, max_len=max_len,
                             pin_memory=torch.cuda.is_available())  # fmt: skip
    except ValueError as err:  # a damaged cache folder (BinarizedError), or no pair within max_len
        raise RunError(str(err)) from None
    log(f"data: {len(source)} training pairs ({source.n_dropped} longer than {max_len} tokens dropped), "
        f"{source.pairs.n_tokens:,} tokens {'binarized' if built else 'read'} at {folder}, "
        f"shared BPE vocabulary {tokenizer.vocab_size}, {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return tokenizer, source


def _in_child(fn: Callable[..., None], *args: Any) -> None:
    """Run fn(*args) in a fresh interpreter and wait for it; its errors are raised here."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(fn, *args).result()


def _make(spec: RunSpec, run_dir: Path | None) -> None:
    """In the child: train the cached tokenizer if neither the run nor the cache has one, then
    binarize the training pairs with the run's (else the cached) tokenizer if no cache folder
    holds them yet. Progress goes to standard output."""
    from aiayn.tasks.translation import TranslationTask

    task = TranslationTask(spec)
    own = run_dir / "tokenizer.json" if run_dir is not None else None
    tok_path = own if own is not None and own.exists() else tokenizer_cache(task)
    pairs: Sequence[Pair] | None = None
    t0 = time.perf_counter()
    if not tok_path.exists():
        pairs = task.pairs("train")
        vocab, sample, seed = _tokenizer_options(task)
        _say(f"data: {len(pairs):,} training pairs read ({time.perf_counter() - t0:.0f} s); learning a BPE "
             f"vocabulary of {vocab:,} from a uniform sample of {min(sample, len(pairs)):,} of them (seed {seed}) ...")
        trained = BpeTokenizer.train_on_pairs(pairs, vocab, sample_pairs=sample, seed=seed)
        tok_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(tok_path, trained.save)
        _say(f"data: vocabulary learned ({time.perf_counter() - t0:.0f} s), kept at {tok_path}")
    folder = binarized_dir(task, tok_path)
    if not (folder / "meta.json").exists():
        pairs = task.pairs("train") if pairs is None else pairs
        total, done, t1 = len(pairs), 0, time.perf_counter()

        def chunks() -> Any:
            nonlocal done
            for chunk in chunked(pairs):
                yield chunk
                done += len(chunk)
                _say(f"data: tokenized {done:,} / {total:,} pairs ({done / max(total, 1):.0%}, "
                     f"{time.perf_counter() - t1:.0f} s)")  # fmt: skip

        binarize(folder, {"train": chunks()}, BpeTokenizer.load(tok_path), data_fingerprint(task, "train"))


def _say(line: str) -> None:
    print(line, flush=True)
