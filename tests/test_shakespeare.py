"""The Shakespeare corpus: packaged with aiayn and checked, split by whole works; character and BPE vocabularies."""

import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest

from aiayn.data import shakespeare
from aiayn.data.characters import CharTokenizer, load_tokenizer
from aiayn.data.parallel import DataError
from aiayn.data.plays import titles
from aiayn.data.tokenizer import BpeTokenizer, TokenizerError


@pytest.fixture(autouse=True)
def _corpus_from_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here reads the packaged copy unless it sets the variable itself."""
    monkeypatch.delenv(shakespeare.ENV_VAR, raising=False)


def fake_corpus(folder: Path, held_out_text: str = "zzqx zzqx zzqx zzqx\n", train_text: str = "") -> Path:
    """A corpus folder with the real works' names: held-out works and training works hold different text."""
    held = {n for split in shakespeare.HELD_OUT.values() for n in split}
    names = [*held, *(f"training_work_{i:02d}" for i in range(shakespeare.N_WORKS - len(held)))]
    for name in names:
        text = held_out_text if name in held else train_text or f"{name} and more and more and more\n"
        (folder / f"{name}{shakespeare.SUFFIX}").write_text(text, encoding="utf-8")
    return folder


def test_the_three_splits_are_whole_disjoint_works_covering_the_corpus() -> None:
    """Train, validation and test are disjoint sets of whole works that together are all 39."""
    names = {split: shakespeare.split_names(split) for split in shakespeare.SPLITS}
    assert len(names["train"]) + len(names["validation"]) + len(names["test"]) == shakespeare.N_WORKS
    assert set().union(*names.values()) == set(shakespeare.all_names())
    assert not set(names["train"]) & set(names["validation"]) and not set(names["validation"]) & set(names["test"])


def test_held_out_splits_hold_five_to_eight_percent_of_the_characters_each() -> None:
    """Validation and test each hold 5-8% of the characters, with the counts the module docstring gives."""
    sizes = {split: sum(len(text) for _, text in shakespeare.works(split)) for split in shakespeare.SPLITS}
    total = sum(sizes.values())
    assert total == 4_661_433
    assert sizes == {"train": 3_987_325, "validation": 348_596, "test": 325_512}
    for split in ("validation", "test"):
        assert 0.05 <= sizes[split] / total <= 0.08


def test_nanogpt_corpus_is_the_sorted_works_concatenated_cut_and_split_ninety_ten() -> None:
    """The comparison text is the works in sorted file-name order joined with no separator, 1,115,394
    characters, 90/10."""
    text = "".join(shakespeare.read_work(name) for name in sorted(shakespeare.all_names()))[:1_115_394]
    train, validation = shakespeare.nanogpt_text("train"), shakespeare.nanogpt_text("validation")
    assert train + validation == text
    assert len(train) == int(1_115_394 * 0.9) == 1_003_854
    with pytest.raises(ValueError, match="split"):
        shakespeare.nanogpt_text("test")


def test_the_packaged_copy_is_the_default_and_every_file_matches_its_manifest() -> None:
    """With no path and no variable, the 39 works and the titles come from aiayn/data/corpora/shakespeare,
    each file's uncompressed bytes matching the SHA-256 and size MANIFEST.tsv gives."""
    import hashlib

    assert shakespeare.corpus_dir() == shakespeare.PACKAGED_DIR
    manifest = shakespeare._manifest(shakespeare.PACKAGED_DIR)
    assert manifest is not None and len(manifest) == shakespeare.N_WORKS + 1
    for name, (digest, size) in manifest.items():
        stored = shakespeare.PACKAGED_DIR / name
        data = stored.read_bytes() if stored.exists() else lzma.decompress(Path(f"{stored}.xz").read_bytes())
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (digest, size), name
    assert len(titles()) == shakespeare.N_WORKS and titles()["macbeth"] == "Macbeth"


def test_the_packaged_copy_is_the_folder_beside_the_project_byte_for_byte() -> None:
    """Where the source folder is at hand (../shared/data/shakespeare), every work reads the same from it."""
    source = Path(__file__).resolve().parents[2] / "shared" / "data" / "shakespeare"
    if not source.is_dir():
        pytest.skip(f"{source} is not here to compare with")
    assert shakespeare.all_names(source) == shakespeare.all_names()
    for name in shakespeare.all_names():
        assert shakespeare.read_work(name, source) == shakespeare.read_work(name), name


@pytest.fixture
def packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the packaged corpus standing in for it (the read cache cleared before and after)."""
    copy = tmp_path / "packaged"
    shutil.copytree(shakespeare.PACKAGED_DIR, copy)
    monkeypatch.setattr(shakespeare, "PACKAGED_DIR", copy)
    shakespeare._read_packaged.cache_clear()
    yield copy
    shakespeare._read_packaged.cache_clear()


def test_an_altered_packaged_work_fails_in_one_line_naming_it_and_its_checksum(packaged_copy: Path) -> None:
    """One changed character in a work (validly compressed again) is caught by the manifest's SHA-256."""
    work = packaged_copy / "macbeth_gut.txt.xz"
    text = lzma.decompress(work.read_bytes())
    work.write_bytes(lzma.compress(text.replace(b"Macbeth", b"Macbath", 1)))
    with pytest.raises(DataError, match=r"macbeth_gut\.txt\.xz: damaged or altered: SHA-256 [0-9a-f]{16}") as err:
        shakespeare.works("validation")
    assert "\n" not in str(err.value)
    assert shakespeare.read_work("john")  # the other works still read


def test_a_damaged_or_missing_packaged_work_fails_naming_it(packaged_copy: Path) -> None:
    """A truncated xz file, a work gone from the folder, a missing manifest: each one line that says which."""
    work = packaged_copy / "julius_caesar_gut.txt.xz"
    work.write_bytes(work.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"julius_caesar_gut\.txt\.xz: damaged, not a readable xz file"):
        shakespeare.read_work("julius_caesar")
    (packaged_copy / "othello_gut.txt.xz").unlink()
    with pytest.raises(DataError, match=r"the works do not match MANIFEST.tsv \(missing: \['othello'\]"):
        shakespeare.split_names("train")
    (packaged_copy / "MANIFEST.tsv").unlink()
    shakespeare._read_packaged.cache_clear()
    with pytest.raises(DataError, match="MANIFEST.tsv: missing, so the packaged corpus cannot be checked"):
        shakespeare.read_work("john")


def test_packing_a_folder_is_reproducible_and_reads_back_the_same_text(tmp_path: Path) -> None:
    """pack_corpus writes .xz works, TITLES.tsv and MANIFEST.tsv; packing twice gives the same bytes, and the
    packed folder reads as the plain one. It refuses, rather than deletes, works the source lacks."""
    (tmp_path / "plain").mkdir()
    source = fake_corpus(tmp_path / "plain")
    (source / "TITLES.tsv").write_text("macbeth_gut.txt\tMacbeth\n", encoding="utf-8")
    one, two = tmp_path / "one", tmp_path / "two"
    shakespeare.pack_corpus(source, one), shakespeare.pack_corpus(source, two)
    assert sorted(f.name for f in one.iterdir()) == sorted(f.name for f in two.iterdir())
    assert all((one / f.name).read_bytes() == (two / f.name).read_bytes() for f in one.iterdir())
    assert not list(one.glob("*_gut.txt")) and len(list(one.glob("*_gut.txt.xz"))) == shakespeare.N_WORKS
    assert shakespeare.works("test", one) == shakespeare.works("test", source)
    assert titles(one) == {"macbeth": "Macbeth"}
    (one / "extra_gut.txt.xz").write_bytes(b"")
    with pytest.raises(DataError, match=r"holds works that .* lacks \(\['extra_gut.txt.xz'\]\)"):
        shakespeare.pack_corpus(source, one)
    assert (one / "extra_gut.txt.xz").exists()


def test_corpus_folder_comes_from_the_argument_then_the_environment_then_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`path` wins over $AIAYN_SHAKESPEARE, which wins over the packaged copy."""
    assert shakespeare.corpus_dir() == shakespeare.PACKAGED_DIR
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
    with pytest.raises(DataError, match=r"holds no \*_gut.txt"):
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


def test_the_plays_in_docs_are_outside_the_corpus() -> None:
    """docs/outside-the-corpus measures the model on plays it never read: no work of the
    corpus is Hamlet or Measure for Measure, and none shares a sentence of 30 characters or
    more with either play or the Hamlet excerpts (the check finds Macbeth's own sentences in
    Macbeth, so it can fail). The whole plays are byte for byte the files whose SHA-256 the
    folder's README gives."""
    import hashlib
    import re

    docs = Path(__file__).parent.parent / "docs" / "outside-the-corpus"
    assert not any("hamlet" in name or "measure" in name for name in shakespeare.all_names())
    corpus = " ".join(" ".join(shakespeare.read_work(n).split()) for n in shakespeare.all_names())

    def sentences(text: str) -> set[str]:
        return {s.strip() for s in re.split(r"(?<=[.!?;:])\s", " ".join(text.split())) if len(s.strip()) >= 30}

    plays = {"hamlet.txt": 1000, "measure-for-measure.txt": 1000, "hamlet-opening.txt": 15,
             "hamlet-opening-corpus-layout.txt": 15}  # fmt: skip
    readme = (docs / "README.md").read_text(encoding="utf-8")
    for name in ("hamlet.txt", "measure-for-measure.txt"):  # unchanged from the source the README names
        assert hashlib.sha256((docs / name).read_bytes()).hexdigest() in readme, name
    for name, at_least in plays.items():
        found = sentences((docs / name).read_text(encoding="utf-8"))
        assert len(found) > at_least and not {s for s in found if s in corpus}, name
    macbeth = sentences(shakespeare.read_work("macbeth")[20000:24000])
    assert macbeth and all(s in corpus for s in macbeth)
