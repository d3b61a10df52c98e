"""Classification data: the plays read as speeches, the genre task, JSON Lines files and SST-2."""

import json
import shutil
from pathlib import Path

import pytest

from aiayn.data import genre
from aiayn.data.classification import LabelledText, load_sst2, read_labelled_jsonl
from aiayn.data.parallel import DataError
from aiayn.data.plays import POEMS, is_speaker_line, read_play, read_poem, titles
from aiayn.data.shakespeare import HELD_OUT

SST2 = Path(__file__).parent / "fixtures" / "sst2_tiny"


def test_speeches_keep_the_speaker_and_drop_headings_and_stage_directions() -> None:
    """The first speeches of Macbeth, as printed, without the act and scene headings or '[Enter ...]'."""
    speeches = read_play("macbeth")
    assert speeches[0].speaker == "FIRST WITCH"
    assert speeches[0].lines == ("When shall we three meet again?", "In thunder, lightning, or in rain?")
    assert [s.speaker for s in speeches[:4]] == ["FIRST WITCH", "SECOND WITCH", "THIRD WITCH", "FIRST WITCH"]
    assert "LADY MACBETH" in {s.speaker for s in speeches}
    for work in set(titles()) - set(POEMS):  # misprinted brackets ("{Aside.]", never closed) go too
        every_line = [line for s in read_play(work) for line in s.lines]
        assert not [line for line in every_line if any(c in line for c in "[]{}")], work
        assert not any(line.startswith(("ACT ", "SCENE ", "Scene ")) for line in every_line), work


def test_other_layouts_of_speaker_names_are_read_too() -> None:
    """Mixed-case abbreviations (King Lear), names without a stop (A Midsummer Night's Dream), and a
    speech that goes on after a stage direction."""
    assert [s.speaker for s in read_play("lear")[:3]] == ["Kent", "Glou", "Kent"]
    theseus = read_play("midsummer_nights_dream")[2]
    assert theseus.speaker == "THESEUS"
    assert theseus.lines[0] == "Go, Philostrate," and "Hippolyta, I woo'd thee with my sword," in theseus.lines
    assert is_speaker_line("MRS. PAGE.") and is_speaker_line("Lady Montague.") and is_speaker_line("THESEUS")
    assert not is_speaker_line("Saddle my horse.") and not is_speaker_line("ACT I.") and not is_speaker_line("IV.")


def test_poems_are_verse_without_title_or_speakers() -> None:
    lines = read_poem("phoenix_and_the_turtle")
    assert lines[0] == "Let the bird of loudest lay," and len(lines) > 60
    assert read_poem("rape_of_lucrece")[0] == "From the besieged Ardea all in post,"
    with pytest.raises(DataError, match="a poem, not a play"):
        read_play("rape_of_lucrece")
    with pytest.raises(DataError, match="no such work"):
        read_play("hamlet")


def test_every_work_is_labelled_by_the_folio_or_left_out_on_purpose() -> None:
    """33 works carry their First Folio group (13 comedies, 10 histories, 10 tragedies); the six others
    (Pericles, Troilus and Cressida, the four poems) are left out, and nothing is both."""
    works = set(titles())
    assert len(works) == 39
    assert set(genre.FOLIO_GENRE) | set(genre.LEFT_OUT) == works
    assert not set(genre.FOLIO_GENRE) & set(genre.LEFT_OUT) and set(POEMS) <= set(genre.LEFT_OUT)
    counts = [list(genre.FOLIO_GENRE.values()).count(label) for label in range(3)]
    assert counts == [13, 10, 10]
    assert genre.FOLIO_GENRE["cymbeline"] == genre.TRAGEDY and genre.FOLIO_GENRE["winters_tale"] == genre.COMEDY


def test_the_split_is_by_whole_works_and_every_split_has_every_label() -> None:
    """Validation and test are the language model's held-out works; each holds one work of each group."""
    splits = {split: genre.genre_works(split) for split in genre.SPLITS}
    assert set(splits["validation"]) == set(HELD_OUT["validation"])
    assert set(splits["test"]) == set(HELD_OUT["test"])
    assert sum(len(w) for w in splits.values()) == 33 and len(set().union(*splits.values())) == 33
    for works in splits.values():
        assert {genre.FOLIO_GENRE[w] for w in works} == {0, 1, 2}
    train = {item.text for item in genre.genre_split("train")}
    assert not train & {item.text for item in genre.genre_split("test")}


def test_passages_are_fixed_chunks_of_spoken_lines_without_speaker_names() -> None:
    passages = genre.passages("macbeth")
    assert passages[0].split("\n") == [
        "When shall we three meet again?", "In thunder, lightning, or in rain?", "When the hurlyburly's done,",
        "When the battle's lost and won.", "That will be ere the set of sun.", "Where the place?",
        "Upon the heath.", "There to meet with Macbeth.",
    ]  # fmt: skip
    assert all(len(p.split("\n")) == genre.LINES_PER_PASSAGE for p in passages)
    lines = [line for p in passages for line in p.split("\n")]
    spoken = [line for s in read_play("macbeth") for line in s.lines]
    assert lines == spoken[: len(lines)] and len(spoken) - len(lines) < genre.LINES_PER_PASSAGE
    assert "MACBETH." not in lines and "FIRST WITCH." not in lines
    assert len(genre.passages("macbeth", 3)) == len(spoken) // 3
    with pytest.raises(ValueError, match="lines_per_passage must be a positive integer"):
        genre.passages("macbeth", 0)


def test_the_task_is_deterministic_and_its_documented_balance_is_current() -> None:
    test = genre.genre_split("test")
    assert test == genre.genre_split("test") and all(isinstance(x, LabelledText) for x in test)
    assert genre.class_balance(test) == (217, 330, 322)
    table = genre.balance_table()
    for line in table.splitlines()[1:]:  # the module docstring shows the same numbers
        assert line.split() == next(
            d.split()[: len(line.split())] for d in genre.__doc__.splitlines() if d.split()[:1] == line.split()[:1]
        )
    with pytest.raises(ValueError, match="split must be one of"):
        genre.genre_works("dev")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_labelled_jsonl_files_give_text_and_class_index(tmp_path: Path) -> None:
    path = _write(tmp_path / "train.jsonl", [
        json.dumps({"text": " A merry jest ", "label": 0}), "", json.dumps({"text": "Hail, king!", "label": 2}),
    ])  # fmt: skip
    assert read_labelled_jsonl(path) == (LabelledText("A merry jest", 0), LabelledText("Hail, king!", 2))
    named = _write(tmp_path / "named.jsonl", [json.dumps({"text": "a", "label": "tragedy"})])
    assert read_labelled_jsonl(named, genre.GENRES) == (LabelledText("a", 2),)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "a", "label": 0', "malformed JSON"),
        ('{"label": 0}', 'expected a record like {"text": ..., "label": ...}'),
        ('{"text": 3, "label": 0}', '"text" must be a string'),
        ('{"text": "  ", "label": 0}', '"text" is empty'),
        ('{"text": "a", "label": -1}', "label must be a class index"),
        ('{"text": "a", "label": true}', "label must be a class index"),
        ('{"text": "a", "label": 7}', "label 7 is outside the 3 classes"),
        ('{"text": "a", "label": "romance"}', "label 'romance' is not one of"),
    ],
)
def test_bad_jsonl_records_are_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [json.dumps({"text": "fine", "label": 1}), line])
    with pytest.raises(DataError, match=f"^{path}:2: ") as err:
        read_labelled_jsonl(path, genre.GENRES)
    assert message in str(err.value)


def test_missing_or_empty_jsonl_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_labelled_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="no records"):
        read_labelled_jsonl(_write(tmp_path / "empty.jsonl", [""]))


def test_sst2_from_a_local_copy_in_the_hub_layout(tmp_path: Path) -> None:
    """Sentences and 0/1 labels of train and validation, in order; `limit` keeps the first rows."""
    validation = load_sst2("validation", path=str(SST2), cache_dir=str(tmp_path))
    rows = [json.loads(line) for line in (SST2 / "data" / "validation.jsonl").read_text().splitlines()]
    assert validation == tuple(LabelledText(r["sentence"], r["label"]) for r in rows)
    assert len(load_sst2("train", path=str(SST2), cache_dir=str(tmp_path))) == 8
    assert len(load_sst2("train", path=str(SST2), cache_dir=str(tmp_path), limit=3)) == 3


def test_sst2_test_split_is_refused_because_its_labels_are_hidden(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="test labels are hidden.*evaluate on split 'validation'"):
        load_sst2("test", path=str(SST2))
    copy = tmp_path / "sst2"
    shutil.copytree(SST2, copy)
    shutil.copy(copy / "data" / "test.jsonl", copy / "data" / "validation.jsonl")  # -1 labels in validation
    with pytest.raises(DataError, match=r"row 1 \(idx 0\): label must be a class index.*got -1"):
        load_sst2("validation", path=str(copy), cache_dir=str(tmp_path / "cache"))


def test_sst2_from_an_unreachable_hub_is_one_line_naming_the_local_alternative(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_sst2("validation", cache_dir=str(tmp_path))  # HF_HUB_OFFLINE=1 in the test run
    assert "\n" not in str(err.value)
    assert "hub is unreachable" in str(err.value) and "read_labelled_jsonl" in str(err.value)
    with pytest.raises(ValueError, match="split must be one of"):
        load_sst2("dev")
