"""Real data: WMT 2014 through `datasets` (on a local fixture), JSON Lines and aligned text."""

import json
from pathlib import Path

import pytest

from aiayn.data.numbers import Pair
from aiayn.data.parallel import (
    DataError,
    Pairs,
    load_data_dir,
    load_wmt14,
    read_aligned_text,
    read_jsonl,
)

FIXTURE = Path(__file__).parent / "fixtures" / "wmt14_tiny"


def _write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _fixture_records(split: str) -> list[dict[str, str]]:
    lines = (FIXTURE / "de-en" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["translation"] for line in lines]


def test_load_wmt14_reads_every_split_of_a_local_copy_in_the_hub_layout(tmp_path: Path) -> None:
    """load_wmt14 gives each split's records in order, English source and German target for en-de."""
    for split in ("train", "validation", "test"):
        pairs = load_wmt14(split, path=str(FIXTURE), cache_dir=str(tmp_path))
        records = _fixture_records(split)
        assert isinstance(pairs, Pairs) and pairs.n_skipped == 0
        assert pairs == tuple(Pair(r["en"], r["de"]) for r in records)
    assert len(load_wmt14("test", path=str(FIXTURE), cache_dir=str(tmp_path))) == 4


def test_de_en_direction_and_limit(tmp_path: Path) -> None:
    """direction="de-en" swaps the sides; limit keeps the first pairs of the split."""
    en_de = load_wmt14("train", path=str(FIXTURE), cache_dir=str(tmp_path))
    de_en = load_wmt14("train", "de-en", path=str(FIXTURE), cache_dir=str(tmp_path), limit=3)
    assert de_en == tuple(Pair(p.tgt, p.src) for p in en_de[:3])
    assert "ü" in "".join(p.src for p in load_wmt14("train", "de-en", path=str(FIXTURE), cache_dir=str(tmp_path)))


def test_unreachable_hub_raises_one_line_data_error_pointing_to_local_files(tmp_path: Path) -> None:
    """Offline, loading wmt/wmt14 fails with one line saying the hub is unreachable and what to use instead."""
    with pytest.raises(DataError) as err:
        load_wmt14("test", cache_dir=str(tmp_path))  # HF_HUB_OFFLINE=1 in the test run
    message = str(err.value)
    assert "\n" not in message
    assert "hub is unreachable" in message and "--data-dir" in message and "read_jsonl" in message


def test_connection_errors_from_datasets_become_the_same_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network failure (not only offline mode) gives the unreachable-hub DataError."""
    import datasets

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Couldn't reach 'wmt/wmt14' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataError, match="hub is unreachable"):
        load_wmt14("validation", cache_dir=str(tmp_path))


def test_bad_wmt14_arguments_are_rejected(tmp_path: Path) -> None:
    """Unknown splits, negative limits and missing local directories are refused with a clear error."""
    with pytest.raises(ValueError, match="split must be one of"):
        load_wmt14("dev", path=str(FIXTURE))
    with pytest.raises(ValueError, match="limit"):
        load_wmt14("test", path=str(FIXTURE), limit=-1)
    with pytest.raises(DataError, match="no such directory"):
        load_wmt14("test", path=str(tmp_path / "missing"))


def test_read_jsonl_reads_records_in_order(tmp_path: Path) -> None:
    """read_jsonl gives one pair per record; blank lines are not records."""
    path = _write_jsonl(tmp_path / "a.jsonl", [{"translation": {"de": "Grüße", "en": "Greetings"}}])
    with path.open("a", encoding="utf-8") as f:
        f.write("\n" + json.dumps({"translation": {"de": "Nein.", "en": "No."}}) + "\n")
    assert read_jsonl(path) == (Pair("Greetings", "Grüße"), Pair("No.", "Nein."))
    assert read_jsonl(path, "de-en")[0] == Pair("Grüße", "Greetings")


def test_read_jsonl_names_file_and_line_of_malformed_or_incomplete_records(tmp_path: Path) -> None:
    """Malformed JSON or a record without one language raises DataError with file:line."""
    good = {"translation": {"de": "Ja.", "en": "Yes."}}
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(good) + "\n" + '{"translation": {"de": "Ja.",\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:2: malformed JSON"):
        read_jsonl(path)
    path = _write_jsonl(tmp_path / "no_en.jsonl", [good, good, {"translation": {"de": "Ja."}}])
    with pytest.raises(DataError, match=rf"{path}:3: record has no 'en' text"):
        read_jsonl(path)
    path = _write_jsonl(tmp_path / "flat.jsonl", [{"de": "Ja.", "en": "Yes."}])
    with pytest.raises(DataError, match=rf"{path}:1: expected a record like"):
        read_jsonl(path)


def test_missing_files_are_named(tmp_path: Path) -> None:
    """A missing file raises DataError naming it, for every reader."""
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=f"{missing}: no such file"):
        read_jsonl(missing)
    other = tmp_path / "there.de"
    other.write_text("Ja\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{tmp_path / 'nope.en'}: no such file"):
        read_aligned_text(tmp_path / "nope.en", other)


def test_read_aligned_text_pairs_line_i_with_line_i(tmp_path: Path) -> None:
    """Line i of the source file pairs with line i of the target; a Windows line end is not text."""
    (tmp_path / "x.en").write_text("Hello.\r\nGood night.\n", encoding="utf-8")
    (tmp_path / "x.de").write_text("Hallo.\r\nGute Nacht.", encoding="utf-8")  # no final newline
    assert read_aligned_text(tmp_path / "x.en", tmp_path / "x.de") == (
        Pair("Hello.", "Hallo."),
        Pair("Good night.", "Gute Nacht."),
    )


def test_aligned_files_of_different_lengths_are_refused_naming_both(tmp_path: Path) -> None:
    """Aligned files with different line counts raise DataError naming both files and counts."""
    src, tgt = tmp_path / "y.en", tmp_path / "y.de"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    tgt.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_aligned_text(src, tgt)
    assert f"{src} has 3 lines" in str(err.value) and f"{tgt} has 2" in str(err.value)


def test_unicode_line_separator_inside_a_sentence_keeps_alignment(tmp_path: Path) -> None:
    """Only "\\n" ends a line: a U+2028 inside a sentence does not shift the pairs."""
    src, tgt = tmp_path / "z.en", tmp_path / "z.de"
    src.write_text("one\u2028two\nthree\n", encoding="utf-8")
    tgt.write_text("eins zwei\ndrei\n", encoding="utf-8")
    assert read_aligned_text(src, tgt)[1] == Pair("three", "drei")


def test_pairs_with_an_empty_side_are_skipped_and_counted(tmp_path: Path) -> None:
    """A pair whose source or target is empty (after stripping) is left out and counted in n_skipped."""
    records = [
        {"translation": {"de": "Ja.", "en": "Yes."}},
        {"translation": {"de": "", "en": "Nothing"}},
        {"translation": {"de": "Nichts", "en": "   "}},
        {"translation": {"de": " Gut. ", "en": "Good."}},
    ]
    pairs = read_jsonl(_write_jsonl(tmp_path / "e.jsonl", records))
    assert pairs == (Pair("Yes.", "Ja."), Pair("Good.", "Gut.")) and pairs.n_skipped == 2
    (tmp_path / "e.en").write_text("Yes.\n\nGood.\n", encoding="utf-8")
    (tmp_path / "e.de").write_text("Ja.\nNein.\nGut.\n", encoding="utf-8")
    aligned = read_aligned_text(tmp_path / "e.en", tmp_path / "e.de")
    assert len(aligned) == 2 and aligned.n_skipped == 1


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 raise DataError naming the file and line."""
    path = tmp_path / "latin1.en"
    path.write_bytes("fine\nstill fine\nGr\xfc\xdfe\n".encode("latin-1"))
    with pytest.raises(DataError, match=rf"{path}:3: not valid UTF-8"):
        read_aligned_text(path, path)


def test_data_dir_holds_jsonl_or_aligned_text_per_split(tmp_path: Path) -> None:
    """load_data_dir reads {split}.jsonl, else {split}.en + {split}.de, else names what it expected."""
    _write_jsonl(tmp_path / "train.jsonl", [{"translation": {"de": "Ja.", "en": "Yes."}}])
    (tmp_path / "test.en").write_text("No.\n", encoding="utf-8")
    (tmp_path / "test.de").write_text("Nein.\n", encoding="utf-8")
    assert load_data_dir(tmp_path, "train") == (Pair("Yes.", "Ja."),)
    assert load_data_dir(tmp_path, "test", "de-en") == (Pair("Nein.", "No."),)
    with pytest.raises(DataError, match="validation.jsonl or validation.en"):
        load_data_dir(tmp_path, "validation")
