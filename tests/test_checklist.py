"""The living checklist: TODO.md tells the truth about spec/, the suite runs the same from a
checkout and from a wheel, and the spec gate refuses anything but a green suite."""

import importlib.util
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from aiayn.checks import checklist, claims, suite

TOY = "sec9_9_toy"


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
        if not section.path.name.startswith("variant_"):  # model families beyond the paper have free titles
            assert section.title.startswith(("§", "Table")), section.path
        assert section.claims, f"{section.path} has no claims"
        for code in section.code.split(","):
            assert (checklist.REPO_ROOT / code.strip()).exists(), f"{section.path}: CODE names missing {code}"


def test_pyproject_collects_and_packages_what_the_checklist_runs() -> None:
    """pytest's python_files cover the spec patterns, and the wheel carries spec/ where the checklist looks."""
    text = (checklist.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")  # no tomllib on Python 3.10

    def table(name: str) -> str:
        return re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)

    python_files = re.search(r"^python_files = \[(.*?)\]", table("tool.pytest.ini_options"), re.M).group(1)
    assert {f'"{p}"' for p in claims.SPEC_PATTERNS} <= {p.strip() for p in python_files.split(",")}
    assert re.findall(r'^"(.*?)" = "(.*?)"', table("tool.hatch.build.targets.wheel.force-include"), re.M) == [
        ("spec", "aiayn/_spec")
    ]
    assert checklist.PACKAGE_DIR.name == "aiayn" and claims.SPEC_DIR.name == "spec"
    dependencies = re.search(r"^dependencies = \[(.*?)^\]", table("project"), re.M | re.S).group(1)
    for tool in ("pytest", "hypothesis"):
        assert re.search(rf'^\s*"{tool}>=', dependencies, re.M), f"{tool} must be a runtime dependency"


def _load_claims_module_from(site: Path):  # noqa: ANN202
    """aiayn/checks/claims.py as it would run from `site` (only the standard library: it loads alone)."""
    target = site / "aiayn" / "checks" / "claims.py"
    target.parent.mkdir(parents=True)
    shutil.copy(checklist.PACKAGE_DIR / "checks" / "claims.py", target)
    spec = importlib.util.spec_from_file_location("claims_elsewhere", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_specs_are_found_in_a_checkout_and_in_an_installed_wheel(tmp_path: Path) -> None:
    """A checkout uses its top-level spec/ and TODO.md; a wheel uses aiayn/_spec and has no TODO.md."""
    assert checklist.IN_CHECKOUT and checklist.SPEC_DIR == checklist.REPO_ROOT / "spec"
    assert checklist.TODO_PATH == checklist.REPO_ROOT / "TODO.md"
    wheel = _load_claims_module_from(tmp_path / "site-packages")
    assert not wheel.IN_CHECKOUT and wheel.TODO_PATH is None
    assert wheel.SPEC_DIR == tmp_path / "site-packages" / "aiayn" / "_spec"
    checkout = _load_claims_module_from(tmp_path / "clone")
    (tmp_path / "clone" / "spec").mkdir()
    assert not checkout.IN_CHECKOUT, "a spec/ folder alone (no pyproject.toml) is not a checkout"
    # in a wheel, `aiayn specs` says why it does not write TODO.md
    assert "installed package" in checklist.write_todo("x", None)
    with pytest.raises(checklist.SpecFileError, match="installed package"):
        checklist.update_todo("x", None)


def _write_spec_dir(tmp_path: Path, body: str, name: str = f"{TOY}.py") -> Path:
    """A spec folder like spec/, with spec/'s own conftest.py (hardware markers, profile)."""
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir(exist_ok=True)
    shutil.copy(checklist.SPEC_DIR / "conftest.py", spec_dir / "conftest.py")
    (spec_dir / name).write_text(textwrap.dedent(body))
    return spec_dir


GOOD_BAD_SKIPPED = '''
    """§9.9 A toy section

    Claims used to test the checklist itself.
    """

    import pytest
    import torch

    CODE = "aiayn/checks/checklist.py"


    def test_arithmetic_holds() -> None:
        """Two and two make four."""
        assert 2 + 2 == 4


    def test_a_broken_claim() -> None:
        """This claim fails on purpose."""
        assert 2 + 2 == 5


    def test_a_skipped_claim() -> None:
        """This claim skips itself."""
        pytest.skip("not today")


    @pytest.mark.needs_cuda
    def test_a_claim_on_a_gpu() -> None:
        """This claim needs a CUDA device."""
        assert torch.cuda.is_available()
'''

VARIANT = '''
    """A toy model family beyond the paper"""

    CODE = "aiayn/checks/checklist.py"


    def test_shape_checks_are_on_without_any_config_file() -> None:
        """aiayn's shape checks are switched on."""
        from aiayn.checks.shapecheck import active

        assert active()
'''


def test_run_records_passed_failed_skipped_and_absent_hardware_per_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_dir = _write_spec_dir(tmp_path, GOOD_BAD_SKIPPED)
    _write_spec_dir(tmp_path, VARIANT, "variant_toy.py")
    (spec_dir / "helper.py").write_text("def test_not_a_claim():\n    assert False\n")  # not a spec file: not run
    monkeypatch.setenv("PYTEST_ADDOPTS", "-k arithmetic")  # the caller's pytest options do not change the run
    sections = checklist.collect(spec_dir)
    assert [s.path.name for s in sections] == [f"{TOY}.py", "variant_toy.py"]
    results = checklist.run(spec_dir)
    outcomes = {c.test: results.of(s, c) for s in sections for c in s.claims}
    gpu = "passed" if torch.cuda.is_available() else "absent hardware"
    assert outcomes == {
        "test_arithmetic_holds": "passed", "test_a_broken_claim": "failed", "test_a_skipped_claim": "skipped",
        "test_a_claim_on_a_gpu": gpu, "test_shape_checks_are_on_without_any_config_file": "passed",
    }  # fmt: skip
    assert len(results.outcomes) == 5 and not results.green
    report = checklist.format_report(sections, results)
    assert "FAIL  This claim fails on purpose." in report and "[1/4]" in report
    assert "SKIP  This claim skips itself.  (not today)" in report and "1 skipped" in report
    markdown = checklist.render_markdown(sections, results)
    assert "- [ ] This claim fails on purpose." in markdown and "- [x] Two and two make four." in markdown
    assert "- [~] This claim skips itself. (`test_a_skipped_claim`) (not today)" in markdown
    if not torch.cuda.is_available():
        assert "NOHW  This claim needs a CUDA device.  (absent hardware: needs_cuda" in report
        assert "- [-] This claim needs a CUDA device." in markdown


def test_results_are_green_only_when_every_claim_passed_or_needs_absent_hardware() -> None:
    passed, skipped = (TOY, "test_arithmetic_holds"), (TOY, "test_a_skipped_claim")
    assert checklist.Results({passed: "passed"}).green
    assert checklist.Results({passed: "passed", skipped: "absent hardware"}).green
    assert not checklist.Results({passed: "passed", skipped: "skipped"}).green, "a skipped claim is not a passed one"
    assert not checklist.Results({passed: "failed"}).green and not checklist.Results({}).green


def _fake_run(monkeypatch: pytest.MonkeyPatch, outcomes: dict[str, str], reasons: dict[str, str] | None = None) -> list:
    calls: list[Path] = []

    def fake(spec_dir: Path) -> checklist.Results:
        calls.append(spec_dir)
        return checklist.Results({(TOY, t): o for t, o in outcomes.items()}, 1.0,
                                 {(TOY, t): r for t, r in (reasons or {}).items()})  # fmt: skip

    monkeypatch.setattr(checklist, "run", fake)
    return calls


ALL = ("test_arithmetic_holds", "test_a_broken_claim", "test_a_skipped_claim", "test_a_claim_on_a_gpu")


@pytest.mark.parametrize(
    ("bad", "named"),
    [("failed", "fail"), ("skipped", "were skipped"), ("missing", "did not run")],
)
def test_spec_gate_refuses_a_failed_skipped_or_unrun_claim_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, named: str
) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec_dir = _write_spec_dir(tmp_path, GOOD_BAD_SKIPPED)
    outcomes = dict.fromkeys(ALL, "passed")
    if bad == "missing":
        del outcomes["test_a_broken_claim"]
    else:
        outcomes["test_a_broken_claim"] = bad
    _fake_run(monkeypatch, outcomes, {"test_a_broken_claim": "why"} if bad == "skipped" else None)
    with pytest.raises(checklist.SpecGateError, match=f"(?s)these specs {named}.*test_a_broken_claim") as err:
        checklist.gate(spec_dir, log=lambda _: None)
    assert "This claim fails on purpose." in str(err.value)
    assert not (tmp_path / "cache" / "spec-gate.json").exists()


def test_spec_gate_lets_claims_for_absent_hardware_pass_and_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec_dir = _write_spec_dir(tmp_path, GOOD_BAD_SKIPPED)
    outcomes = {**dict.fromkeys(ALL, "passed"), "test_a_claim_on_a_gpu": "absent hardware"}
    calls = _fake_run(monkeypatch, outcomes)
    for _ in range(2):  # run, then the cached green result: both name the claim
        logged: list[str] = []
        checklist.gate(spec_dir, log=logged.append)
        assert any("need hardware absent here (needs_cuda)" in line and f"{TOY}.py::test_a_claim_on_a_gpu" in line
                   for line in logged), logged  # fmt: skip
    assert len(calls) == 1


def test_spec_gate_reuses_green_result_only_for_unchanged_code_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    spec_dir = _write_spec_dir(tmp_path, GOOD_BAD_SKIPPED)
    calls = _fake_run(monkeypatch, dict.fromkeys(ALL, "passed"))
    checklist.gate(spec_dir, log=lambda _: None)
    checklist.gate(spec_dir, log=lambda _: None)
    assert len(calls) == 1, "a green result for identical sources is reused"
    for change in (f"{TOY}.py", "conftest.py"):
        (spec_dir / change).write_text((spec_dir / change).read_text() + "\n# changed\n")
        checklist.gate(spec_dir, log=lambda _: None)
    assert len(calls) == 3, "changed specs or spec setup are checked again"
    monkeypatch.setattr(checklist, "pytest_options", lambda: ("-q", "--other"))
    checklist.gate(spec_dir, log=lambda _: None)
    assert len(calls) == 4, "other pytest options are checked again"
    assert set(suite.SHAPE_CHECKS) <= set(suite.pytest_options()), "shape checks are asked for explicitly"


def test_update_todo_keeps_hand_written_text(tmp_path: Path) -> None:
    todo = tmp_path / "TODO.md"
    todo.write_text(f"# Plans\n\nhand above\n\n{checklist.BEGIN}\nold\n{checklist.END}\n\nhand below\n")
    assert checklist.update_todo(f"{checklist.BEGIN}\nnew\n{checklist.END}", todo)
    text = todo.read_text()
    assert "hand above" in text and "hand below" in text and "new" in text and "old" not in text
    assert not checklist.update_todo(f"{checklist.BEGIN}\nnew\n{checklist.END}", todo)
    assert checklist.write_todo(f"{checklist.BEGIN}\nnew\n{checklist.END}", todo) == "TODO.md already current"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TODO.md"], "no temporary file is left behind"
