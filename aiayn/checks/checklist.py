"""The living checklist: the spec suite read as the paper's table of contents.

Each file in spec/ covers one section of the paper. Its module docstring opens
with the section title ("§3.2.1 Scaled dot-product attention (Eq. 1)"), a module
constant CODE names the files that implement it, and each test is one claim,
stated in the first line of its docstring. This module

- reads those claims without running them (`collect`),
- runs the suite and records which claims pass (`run`),
- prints the result by section (`format_report`),
- writes the generated part of TODO.md (`update_todo`), leaving hand-written text
  above and below the markers alone,
- and gates training on a green suite (`gate`), reusing a green result for
  unchanged code.
"""

import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- BEGIN GENERATED: spec checklist (aiayn specs) -->"
END = "<!-- END GENERATED: spec checklist -->"

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "spec"
TODO_PATH = REPO_ROOT / "TODO.md"


@dataclass(frozen=True)
class Claim:
    test: str  # the test function's name (methods: Class::name)
    text: str  # the first line of its docstring, or the name made readable


@dataclass(frozen=True)
class Section:
    path: Path
    title: str
    code: str
    claims: tuple[Claim, ...]

    @property
    def module(self) -> str:
        return self.path.stem


@dataclass
class Results:
    """Outcome of every claim, by (module, test): "passed", "failed" or "skipped"."""

    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0

    def of(self, section: Section, claim: Claim) -> str:
        return self.outcomes.get((section.module, claim.test), "not run")

    @property
    def green(self) -> bool:
        return bool(self.outcomes) and all(v in ("passed", "skipped") for v in self.outcomes.values())


class SpecFileError(ValueError):
    """A spec file that the checklist cannot read."""


def _claim_text(node: ast.FunctionDef) -> str:
    doc = ast.get_docstring(node)
    if doc:
        return doc.strip().splitlines()[0].strip()
    name = node.name.removeprefix("test_").replace("_", " ")
    return name[:1].upper() + name[1:]


def read_section(path: Path) -> Section:
    """Title, CODE and claims of one spec file, read from its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    doc = ast.get_docstring(tree)
    if not doc:
        raise SpecFileError(f"{path}: a spec file must open with a docstring whose first line is its section title")
    code = ""
    claims: list[Claim] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CODE" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                code = node.value.value
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            claims.append(Claim(node.name, _claim_text(node)))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    claims.append(Claim(f"{node.name}::{item.name}", _claim_text(item)))
    if not code:
        raise SpecFileError(f"{path}: missing the module constant CODE naming the implementing files")
    return Section(path, doc.strip().splitlines()[0].strip(), code, tuple(claims))


def spec_files(spec_dir: Path = SPEC_DIR) -> tuple[Path, ...]:
    return tuple(sorted(p for p in spec_dir.glob("*.py") if p.name.startswith(("sec", "table"))))


def collect(spec_dir: Path = SPEC_DIR) -> tuple[Section, ...]:
    """Every section and its claims, in the paper's order (by file name)."""
    if not spec_dir.is_dir():
        raise SpecFileError(
            f"spec directory {spec_dir} not found: the checklist needs a source checkout of aiayn "
            f"(git clone, then pip install -e .)"
        )
    return tuple(read_section(p) for p in spec_files(spec_dir))


def _test_key(classname: str, name: str) -> tuple[str, str]:
    """Map a JUnit test case to (module, test): strips packages and parametrisation."""
    parts = classname.split(".")
    module, cls = parts[-1], None
    if module.startswith("Test") and len(parts) > 1:
        module, cls = parts[-2], parts[-1]
    test = name.split("[", 1)[0]
    return module, f"{cls}::{test}" if cls else test


def run(spec_dir: Path = SPEC_DIR, extra_args: tuple[str, ...] = (), quiet: bool = True) -> Results:
    """Run the spec suite in a fresh interpreter (shape checks on) and record outcomes."""
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = Path(tmp) / "specs.xml"
        cmd = [
            sys.executable, "-m", "pytest", str(spec_dir), "-q", "-p", "no:cacheprovider",
            "-o", "python_files=sec*.py table*.py", f"--junitxml={xml_path}", *extra_args,
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run(
            cmd, cwd=spec_dir.parent, env=env, text=True,
            stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
        )  # fmt: skip
        if not xml_path.exists():
            output = proc.stdout or ""
            raise RuntimeError(f"the spec suite did not run (pytest exit {proc.returncode}):\n{output[-3000:]}")
        results = Results()
        root = ET.parse(xml_path).getroot()
        for suite in root.iter("testsuite"):
            results.seconds += float(suite.get("time", 0.0))
        for case in root.iter("testcase"):
            key = _test_key(case.get("classname", ""), case.get("name", ""))
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            else:
                outcome = "passed"
            previous = results.outcomes.get(key)
            if previous != "failed":  # one failing parametrisation fails the claim
                results.outcomes[key] = outcome if previous in (None, "passed", "skipped") else previous
        return results


_MARK = {"passed": "x", "skipped": "~", "failed": " ", "not run": " "}
_SYMBOL = {"passed": "PASS", "skipped": "SKIP", "failed": "FAIL", "not run": "----"}


def format_report(sections: tuple[Section, ...], results: Results) -> str:
    """One block per section: the title, pass count, and each claim's outcome."""
    lines: list[str] = []
    total = passed = 0
    for section in sections:
        outcomes = [results.of(section, c) for c in section.claims]
        ok = sum(o == "passed" for o in outcomes)
        total, passed = total + len(outcomes), passed + ok
        lines.append(f"{section.title}  [{ok}/{len(outcomes)}]  ({section.path.name} -> {section.code})")
        for claim, outcome in zip(section.claims, outcomes):
            lines.append(f"  {_SYMBOL[outcome]}  {claim.text}")
        lines.append("")
    lines.append(f"{passed}/{total} claims pass in {len(sections)} sections ({results.seconds:.1f} s)")
    return "\n".join(lines)


def render_markdown(sections: tuple[Section, ...], results: Results | None = None) -> str:
    """The generated part of TODO.md. Without results every claim is shown as passing:
    on main the suite is green, so that is the truthful rendering there."""
    n_claims = sum(len(s.claims) for s in sections)
    out = [
        BEGIN,
        "",
        f"## The paper, claim by claim ({n_claims} claims in {len(sections)} spec files)",
        "",
        "Generated by `aiayn specs` from spec/; do not edit by hand. [x] passes, [ ] fails.",
        "",
    ]
    for section in sections:
        outcomes = [results.of(section, c) if results else "passed" for c in section.claims]
        ok = sum(o == "passed" for o in outcomes)
        out.append(f"### {section.title} ({ok}/{len(outcomes)})")
        out.append("")
        out.append(f"Spec: `spec/{section.path.name}`; code: {', '.join(f'`{c.strip()}`' for c in section.code.split(','))}")
        out.append("")
        for claim, outcome in zip(section.claims, outcomes):
            out.append(f"- [{_MARK[outcome]}] {claim.text} (`{claim.test}`)")
        out.append("")
    out.append(END)
    return "\n".join(out)


def generated_part(text: str, path: Path = TODO_PATH) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def update_todo(markdown: str, path: Path = TODO_PATH) -> bool:
    """Replace the generated part of TODO.md, keeping hand-written text; True if it changed."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# TODO\n\n"
    current = generated_part(text, path)
    new = text.replace(current, markdown) if current else text.rstrip("\n") + "\n\n" + markdown + "\n"
    if new == text:
        return False
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
    return True


# The spec gate --------------------------------------------------------------


def source_fingerprint(spec_dir: Path = SPEC_DIR) -> str:
    """A hash of every source the specs exercise: aiayn/, spec/, conftest.py, pyproject and torch's version."""
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    root = spec_dir.parent
    files = sorted([*root.joinpath("aiayn").rglob("*.py"), *spec_dir.rglob("*.py")])
    files += [p for p in (root / "conftest.py", root / "pyproject.toml") if p.exists()]
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _gate_cache() -> Path:
    base = os.environ.get("AIAYN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aiayn")
    return Path(base) / "spec-gate.json"


class SpecGateError(RuntimeError):
    """Training refused: some spec fails."""


def gate(spec_dir: Path = SPEC_DIR, reuse: bool = True, log=print) -> Results | None:  # noqa: ANN001
    """Run the spec suite (or reuse a green result for identical sources); raise if any claim fails."""
    fingerprint = source_fingerprint(spec_dir)
    cache = _gate_cache()
    if reuse and cache.exists():
        try:
            record = json.loads(cache.read_text())
        except (OSError, json.JSONDecodeError):
            record = {}
        if record.get("fingerprint") == fingerprint and record.get("green"):
            log(f"spec gate: all {record.get('claims', '?')} claims passed for this exact code (cached)")
            return None
    sections = collect(spec_dir)
    log(f"spec gate: running {sum(len(s.claims) for s in sections)} claims in {len(sections)} spec files ...")
    results = run(spec_dir)
    texts = {(s.module, c.test): c.text for s in sections for c in s.claims}
    failed = [
        f"{module}.py::{test}" + (f" ({texts[module, test]})" if (module, test) in texts else "")
        for (module, test), outcome in sorted(results.outcomes.items())
        if outcome == "failed"
    ]
    if failed or not results.green:
        raise SpecGateError(
            "training refused: these specs fail (run `aiayn specs` for the full checklist):\n  " + "\n  ".join(failed)
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    n_claims = sum(len(s.claims) for s in sections)
    cache.write_text(json.dumps({"fingerprint": fingerprint, "green": True, "claims": n_claims}))
    log(f"spec gate: all {n_claims} claims pass ({results.seconds:.0f} s)")
    return results
