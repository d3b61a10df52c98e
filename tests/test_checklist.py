"""The living checklist: TODO.md tells the truth about spec/, and the spec gate refuses red suites."""

import textwrap
from pathlib import Path

import pytest

from aiayn.checks import checklist


def test_todo_generated_part_is_current() -> None:
    """TODO.md lists exactly the claims in spec/ (all passing, as they must on main)."""
    expected = checklist.render_markdown(checklist.collect())
    actual = checklist.generated_part(checklist.TODO_PATH.read_text(encoding="utf-8"))
    assert actual is not None, "TODO.md has no generated part: run `aiayn specs`"
    assert actual == expected, "TODO.md is stale: run `aiayn specs` and commit TODO.md"


def test_every_spec_file_names_title_code_and_claims() -> None:
    sections = checklist.collect()
    assert len(sections) >= 10
    for section in sections:
        assert section.title.startswith(("§", "Table")), section.path
        assert section.claims, f"{section.path} has no claims"
        for code in section.code.split(","):
            assert (checklist.REPO_ROOT / code.strip()).exists(), f"{section.path}: CODE names missing {code}"


def _write_spec_dir(tmp_path: Path, body: str) -> Path:
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "sec9_9_toy.py").write_text(textwrap.dedent(body))
    return spec_dir


GOOD_AND_BAD = '''
    """§9.9 A toy section

    Claims used to test the checklist itself.
    """

    CODE = "aiayn/checks/checklist.py"


    def test_arithmetic_holds() -> None:
        """Two and two make four."""
        assert 2 + 2 == 4


    def test_a_broken_claim() -> None:
        """This claim fails on purpose."""
        assert 2 + 2 == 5
'''


def test_run_records_pass_and_fail_per_claim(tmp_path: Path) -> None:
    spec_dir = _write_spec_dir(tmp_path, GOOD_AND_BAD)
    sections = checklist.collect(spec_dir)
    results = checklist.run(spec_dir, extra_args=("-p", "no:jaxtyping"))
    (section,) = sections
    outcomes = {c.test: results.of(section, c) for c in section.claims}
    assert outcomes == {"test_arithmetic_holds": "passed", "test_a_broken_claim": "failed"}
    assert not results.green
    report = checklist.format_report(sections, results)
    assert "FAIL  This claim fails on purpose." in report and "[1/2]" in report
    markdown = checklist.render_markdown(sections, results)
    assert "- [ ] This claim fails on purpose." in markdown and "- [x] Two and two make four." in markdown


def test_spec_gate_refuses_when_a_spec_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec_dir = _write_spec_dir(tmp_path, GOOD_AND_BAD)
    monkeypatch.setattr(checklist, "run", lambda d: checklist.Results({("sec9_9_toy", "test_a_broken_claim"): "failed",
                                                                      ("sec9_9_toy", "test_arithmetic_holds"): "passed"}))
    with pytest.raises(checklist.SpecGateError, match="test_a_broken_claim"):
        checklist.gate(spec_dir, log=lambda _: None)
    assert not (tmp_path / "cache" / "spec-gate.json").exists()


def test_spec_gate_reuses_green_result_for_unchanged_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec_dir = _write_spec_dir(tmp_path, GOOD_AND_BAD.replace("2 + 2 == 5", "2 + 2 == 4"))
    calls = []

    def fake_run(d: Path) -> checklist.Results:
        calls.append(d)
        return checklist.Results({("sec9_9_toy", "test_arithmetic_holds"): "passed",
                                  ("sec9_9_toy", "test_a_broken_claim"): "passed"})

    monkeypatch.setattr(checklist, "run", fake_run)
    checklist.gate(spec_dir, log=lambda _: None)
    checklist.gate(spec_dir, log=lambda _: None)
    assert len(calls) == 1, "a green result for identical sources is reused"
    (spec_dir / "sec9_9_toy.py").write_text((spec_dir / "sec9_9_toy.py").read_text() + "\n# changed\n")
    checklist.gate(spec_dir, log=lambda _: None)
    assert len(calls) == 2, "changed sources are checked again"


def test_update_todo_keeps_hand_written_text(tmp_path: Path) -> None:
    todo = tmp_path / "TODO.md"
    todo.write_text(f"# Plans\n\nhand above\n\n{checklist.BEGIN}\nold\n{checklist.END}\n\nhand below\n")
    assert checklist.update_todo(f"{checklist.BEGIN}\nnew\n{checklist.END}", todo)
    text = todo.read_text()
    assert "hand above" in text and "hand below" in text and "new" in text and "old" not in text
    assert not checklist.update_todo(f"{checklist.BEGIN}\nnew\n{checklist.END}", todo)
