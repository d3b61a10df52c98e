"""LAMBADA (OpenAI's test set) through `datasets`, on a local fixture of the hub layout."""

import json
from pathlib import Path

import pytest

from aiayn.data.cloze import ClozeItem
from aiayn.data.lambada import LAMBADA_PATH, load_lambada
from aiayn.data.parallel import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "lambada_tiny"


def passages() -> list[str]:
    lines = (FIXTURE / "default" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines]


def test_fixture_loads_through_datasets_as_context_and_last_word(tmp_path: Path) -> None:
    """Each row becomes (text up to its last space, the word after it), in order."""
    items = load_lambada(str(FIXTURE), cache_dir=str(tmp_path))
    texts = passages()
    assert len(items) == len(texts) == 6
    for item, text in zip(items, texts):
        assert item.context + " " + item.target == text
        assert " " not in item.target and item.target
    assert items[0] == ClozeItem(texts[0].rsplit(" ", 1)[0], "bakery")
    assert load_lambada(str(FIXTURE), cache_dir=str(tmp_path), limit=2) == items[:2]


def test_unreachable_hub_raises_one_line_data_error(tmp_path: Path) -> None:
    """Offline, the real data set fails with one line that says the hub cannot be reached."""
    with pytest.raises(DataError) as err:
        load_lambada(cache_dir=str(tmp_path))  # HF_HUB_OFFLINE=1 in the test run
    message = str(err.value)
    assert "\n" not in message and "hub is unreachable" in message and LAMBADA_PATH in message


def test_a_network_failure_gives_the_same_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection error from `datasets` (not only offline mode) gives the unreachable-hub DataError."""
    import datasets

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataError, match="hub is unreachable"):
        load_lambada(cache_dir=str(tmp_path))


def copy_fixture(folder: Path, records: list[dict[str, object]]) -> Path:
    (folder / "default").mkdir(parents=True)
    (folder / "README.md").write_text((FIXTURE / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    with open(folder / "default" / "test.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return folder


def test_a_wrong_layout_is_named(tmp_path: Path) -> None:
    """A folder without a `text` column, or a passage without a space, raises a DataError saying which."""
    other = copy_fixture(tmp_path / "other", [{"passage": "a b"}])
    with pytest.raises(DataError, match=r"no column 'text' \(columns: \['passage'\]\)"):
        load_lambada(str(other), cache_dir=str(tmp_path / "cache"))
    spaceless = copy_fixture(tmp_path / "spaceless", [{"text": "one two"}, {"text": "lonely"}])
    with pytest.raises(DataError, match="row 2: a passage must be text with a space"):
        load_lambada(str(spaceless), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match="no such directory"):
        load_lambada(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="limit must be a non-negative integer"):
        load_lambada(str(FIXTURE), limit=-1)
