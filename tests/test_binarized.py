"""Binarized pairs: tokenized once into a memory-mapped token file and an index, cached by
data and tokenizer, reused by later runs, built once for all processes of a machine."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiayn.data.binarized import (
    BinarizedError,
    PairTokens,
    binarize,
    cache_dir,
    cache_root,
    chunked,
    read_meta,
    token_dtype,
)
from aiayn.data.numbers import number_pairs
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.tasks.translation import TranslationTask

sys.path.insert(0, str(Path(__file__).parent))
from train_driver import tiny_spec  # noqa: E402

DRIVER = Path(__file__).parent / "train_driver.py"


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    pairs = number_pairs("train", 500, seed=3, max_number=2000)
    return BpeTokenizer.train_on_pairs(pairs, 300)


def test_binarized_pairs_read_back_as_the_tokenizer_encodes_them(tmp_path: Path, tokenizer: BpeTokenizer) -> None:
    """Every pair reads back as its source and target ids; the token file holds 2 bytes a token."""
    pairs = number_pairs("validation", 257, seed=4, max_number=2000)
    folder = binarize(tmp_path / "set", {"train": chunked(pairs, 50)}, tokenizer, "data-1")  # chunks of 50
    store = PairTokens.open(folder, "train")
    assert len(store) == len(pairs) and store.tokens.dtype == np.uint16
    assert isinstance(store.tokens, np.memmap), "the tokens are mapped, not read into memory"
    for i in (0, 1, 49, 50, 51, 256):
        assert store.pair(i) == (tokenizer.encode(pairs[i].src), tokenizer.encode(pairs[i].tgt))
    src_len, tgt_len = store.lengths()
    assert src_len.tolist() == [len(tokenizer.encode(p.src)) for p in pairs]
    assert tgt_len.tolist() == [len(tokenizer.encode(p.tgt)) for p in pairs]
    assert (folder / "train.tokens").stat().st_size == 2 * store.n_tokens == 2 * int(src_len.sum() + tgt_len.sum())
    meta = read_meta(folder)
    assert meta["tokenizer_fingerprint"] == tokenizer.fingerprint() and meta["data_fingerprint"] == "data-1"
    assert not list(tmp_path.glob("*.tmp")), "no temporary folder is left behind"


def test_token_type_is_uint16_up_to_65536_entries_then_uint32() -> None:
    """Ids are stored in 2 bytes while every id fits, in 4 beyond."""
    assert token_dtype(37000) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_a_damaged_split_is_refused_naming_the_folder(tmp_path: Path, tokenizer: BpeTokenizer) -> None:
    """A token file cut short, a missing meta.json or an unknown split give a BinarizedError naming the folder."""
    pairs = number_pairs("test", 40, seed=1, max_number=2000)
    folder = binarize(tmp_path / "set", {"train": chunked(pairs)}, tokenizer, "data")
    with pytest.raises(BinarizedError, match="no split 'test'"):
        PairTokens.open(folder, "test")
    path = folder / "train.tokens"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(BinarizedError, match=rf"{folder}: train is damaged .*remove the folder"):
        PairTokens.open(folder, "train")
    (folder / "meta.json").unlink()
    with pytest.raises(BinarizedError, match="no meta.json"):
        PairTokens.open(folder, "train")


def test_a_failed_build_leaves_nothing(tmp_path: Path, tokenizer: BpeTokenizer) -> None:
    """If reading the pairs fails halfway, neither the folder nor its temporary copy remains."""
    pairs = number_pairs("test", 30, seed=2, max_number=2000)

    def chunks():  # noqa: ANN202
        yield pairs[:10]
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        binarize(tmp_path / "set", {"train": chunks()}, tokenizer, "data")
    assert list(tmp_path.iterdir()) == []


def test_cache_folder_follows_both_fingerprints_and_aiayn_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another data set or another tokenizer gets another folder, under AIAYN_CACHE/binarized."""
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "binarized"
    folders = {cache_dir("data-a", "tok-a"), cache_dir("data-b", "tok-a"), cache_dir("data-a", "tok-b")}
    assert len(folders) == 3 and all(f.parent == tmp_path / "binarized" for f in folders)
    assert cache_dir("data-a", "tok-a") == cache_dir("data-a", "tok-a")


def test_a_second_run_reads_the_cache_and_gets_the_same_batches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A new run on the same data copies the cached tokenizer and maps the cached pairs: nothing is built."""
    import aiayn.tasks.translation_data as translation_data

    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec = tiny_spec(2, 1)
    first_log: list[str] = []
    (tmp_path / "a").mkdir()
    tok_a, source_a = TranslationTask(spec).prepare(tmp_path / "a", first_log.append)
    assert any("binarized at" in line for line in first_log), first_log

    def no_build(*args: object) -> None:
        raise AssertionError("the second run built its data again")

    monkeypatch.setattr(translation_data, "_in_child", no_build)
    second_log: list[str] = []
    (tmp_path / "b").mkdir()
    tok_b, source_b = TranslationTask(spec).prepare(tmp_path / "b", second_log.append)
    assert any(" read at " in line for line in second_log), second_log
    assert tok_b.fingerprint() == tok_a.fingerprint()
    assert source_a.epoch(3).as_tuples() == source_b.epoch(3).as_tuples()
    more = spec.__class__(**{**spec.__dict__, "data": {**spec.data, "n_train": 401}})
    assert translation_data.data_fingerprint(TranslationTask(more), "train") != translation_data.data_fingerprint(
        TranslationTask(spec), "train")  # fmt: skip


def test_two_processes_build_the_data_once_and_share_it(tmp_path: Path) -> None:
    """Under torchrun, from an empty cache, rank 0 builds while rank 1 waits; both train from the one copy."""
    cache = tmp_path / "cache"
    env = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "AIAYN_CACHE": str(cache)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run([*torchrun, str(DRIVER), str(tmp_path / "run"), "2", "1"], check=True, env=env, timeout=300)
    built = [p.parent for p in (cache / "binarized").glob("*/meta.json")]
    assert len(built) == 1 and len(list((cache / "tokenizers").glob("*.json"))) == 1
    assert not list(cache.rglob("*.tmp")), "no half-written copy is left"
    assert (tmp_path / "run" / "model.safetensors").exists()
