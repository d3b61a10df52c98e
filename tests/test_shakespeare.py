"""The Shakespeare corpus: read in place, split by whole works; character and BPE vocabularies."""

import glob
import os
from pathlib import Path

import numpy as np
import pytest

from aiayn.data import shakespeare
from aiayn.data.characters import CharTokenizer, load_tokenizer
from aiayn.data.parallel import DataError
from aiayn.data.tokenizer import BpeTokenizer, TokenizerError

real_corpus = pytest.mark.skipif(
    not shakespeare.DEFAULT_DIR.is_dir() and not os.environ.get(shakespeare.ENV_VAR),
    reason="the Shakespeare corpus (../shared/data/shakespeare) is not beside this checkout",
)


def fake_corpus(folder: Path, held_out_text: str = "zzqx zzqx zzqx zzqx\n", train_text: str = "") -> Path:
    """A corpus folder with the real works' names: held-out works and training works hold different text."""
    held = {n for split in shakespeare.HELD_OUT.values() for n in split}
    names = [*held, *(f"training_work_{i:02d}" for i in range(shakespeare.N_WORKS - len(held)))]
    for name in names:
        text = held_out_text if name in held else train_text or f"{name} and more and more and more\n"
        (folder / f"{name}{shakespeare.SUFFIX}").write_text(text, encoding="utf-8")
    return folder


@real_corpus
def test_the_three_splits_are_whole_disjoint_works_covering_the_corpus() -> None:
    """Train, validation and test are disjoint sets of whole works that together are all 39."""
    names = {split: shakespeare.split_names(split) for split in shakespeare.SPLITS}
    assert len(names["train"]) + len(names["validation"]) + len(names["test"]) == shakespeare.N_WORKS
    assert set().union(*names.values()) == set(shakespeare.all_names())
    assert not set(names["train"]) & set(names["validation"]) and not set(names["validation"]) & set(names["test"])


@real_corpus
def test_held_out_splits_hold_five_to_eight_percent_of_the_characters_each() -> None:
    """Validation and test each hold 5-8% of the characters, with the counts the module docstring gives."""
    sizes = {split: sum(len(text) for _, text in shakespeare.works(split)) for split in shakespeare.SPLITS}
    total = sum(sizes.values())
    assert total == 4_661_433
    assert sizes == {"train": 3_987_325, "validation": 348_596, "test": 325_512}
    for split in ("validation", "test"):
        assert 0.05 <= sizes[split] / total <= 0.08


@real_corpus
def test_nanogpt_corpus_is_the_sorted_files_concatenated_cut_and_split_ninety_ten() -> None:
    """The comparison text is sorted(glob("*_gut.txt")) joined with no separator, 1,115,394 characters, 90/10."""
    files = sorted(glob.glob(str(shakespeare.corpus_dir() / "*_gut.txt")))
    text = "".join(Path(f).read_text(encoding="utf-8") for f in files)[:1_115_394]
    train, validation = shakespeare.nanogpt_text("train"), shakespeare.nanogpt_text("validation")
    assert train + validation == text
    assert len(train) == int(1_115_394 * 0.9) == 1_003_854
    with pytest.raises(ValueError, match="split"):
        shakespeare.nanogpt_text("test")


def test_corpus_folder_comes_from_the_argument_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`path` wins over $AIAYN_SHAKESPEARE, which wins over the default folder."""
    (tmp_path / "env").mkdir()
    env = fake_corpus(tmp_path / "env")
    monkeypatch.setenv(shakespeare.ENV_VAR, str(env))
    assert shakespeare.corpus_dir() == env
    (tmp_path / "arg").mkdir()
    arg = fake_corpus(tmp_path / "arg", held_out_text="other text\n")
    assert shakespeare.corpus_dir(arg) == arg
    assert shakespeare.works("test", arg)[0][1] == "other text\n"


def test_a_missing_corpus_names_the_folder_and_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that does not exist, or holds no works, raises a DataError naming it and AIAYN_SHAKESPEARE."""
    monkeypatch.setenv(shakespeare.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere is not a folder.*AIAYN_SHAKESPEARE"):
        shakespeare.works("train")
    with pytest.raises(DataError, match=r"holds no \*_gut.txt files"):
        shakespeare.works("train", tmp_path)
    (tmp_path / "macbeth_gut.txt").write_text("only one work\n")
    with pytest.raises(DataError, match="held-out works .* are missing"):
        shakespeare.split_names("train", tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        shakespeare.split_names("dev", tmp_path)


def test_bpe_learns_from_the_training_works_only(tmp_path: Path) -> None:
    """A word repeated only in held-out works gets no merges; one repeated in training works does."""
    corpus = fake_corpus(tmp_path, held_out_text="zzqxv " * 200, train_text="mmkwy " * 200)
    bpe = shakespeare.train_bpe(300, corpus)
    assert len(bpe.encode("mmkwy")) == 1  # learned as one token
    assert len(bpe.encode("zzqxv")) == 6  # still one byte each, its space included: never seen in training


def test_character_vocabulary_comes_from_the_training_works_only(tmp_path: Path) -> None:
    """Characters seen only in held-out works encode as <unk>."""
    corpus = fake_corpus(tmp_path, held_out_text="qqq@", train_text="abc abc\n")
    chars = shakespeare.train_characters(corpus)
    assert chars.characters == "\n abc"
    assert chars.encode("q@a") == [chars.unk_id, chars.unk_id, 4 + 2]


def test_character_tokenizer_round_trips_and_keeps_special_ids() -> None:
    """decode(encode(s)) == s for known characters; specials at 0..3 as in BpeTokenizer; unknowns as U+FFFD."""
    tok = CharTokenizer.train(["To be, or not to be:\nthat is the question."])
    text = "not to be, that is the question"
    assert tok.decode(tok.encode(text)) == text
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.vocab_size == 4 + len(set("To be, or not to be:\nthat is the question."))
    assert tok.decode([tok.bos_id, *tok.encode("be"), tok.eos_id, tok.pad_id]) == "be"
    assert tok.decode(tok.encode("bez")) == "be\ufffd"
    with pytest.raises(IndexError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])


def test_tokenizers_of_both_kinds_save_and_load_beside_the_model(tmp_path: Path) -> None:
    """Saved into a run folder, `load_tokenizer` gives back the same vocabulary of either kind (same fingerprint)."""
    chars = CharTokenizer.train(["hello world"])
    bpe = BpeTokenizer.train(["hello world"] * 10, vocab_size=280)
    for tok in (chars, bpe):
        folder = tmp_path / type(tok).__name__
        folder.mkdir()
        tok.save(folder)
        back = load_tokenizer(folder)
        assert type(back) is type(tok) and back.fingerprint() == tok.fingerprint()
        assert back.encode("hello") == tok.encode("hello")
    assert chars.fingerprint() != CharTokenizer.train(["hello worlds"]).fingerprint()


def test_bad_character_vocabulary_files_raise_tokenizer_errors(tmp_path: Path) -> None:
    """Missing, malformed, or foreign files raise TokenizerError naming the file."""
    with pytest.raises(TokenizerError, match="no such tokenizer file"):
        CharTokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TokenizerError, match="bad.json: not valid JSON"):
        CharTokenizer.load(bad)
    bad.write_text('{"kind": "characters", "specials": ["<pad>"], "characters": "ab"}')
    with pytest.raises(TokenizerError, match="special tokens must be"):
        CharTokenizer.load(bad)
    bad.write_text('{"kind": "characters", "specials": ["<pad>", "<unk>", "<s>", "</s>"], "characters": "ba"}')
    with pytest.raises(TokenizerError, match="code-point order"):
        load_tokenizer(bad)


def test_token_stream_puts_the_end_token_before_each_text() -> None:
    """The stream is </s> + text 1 + </s> + text 2 ..., for character and BPE vocabularies."""
    chars = CharTokenizer.train(["abc"])
    stream = shakespeare.token_stream(chars, ["ab", "ca"])
    assert stream.tolist() == [3, 4, 5, 3, 6, 4] and stream.dtype == np.int64
    bpe = BpeTokenizer.train(["abc abc"] * 5, vocab_size=270)
    stream = shakespeare.token_stream(bpe, ["abc", "abc abc"])
    assert stream.tolist() == [3, *bpe.encode("abc"), 3, *bpe.encode("abc abc")]
    assert shakespeare.token_stream(chars, []).size == 0
