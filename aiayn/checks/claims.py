"""The claims of the spec suite, read from the spec files' source without running them.

Each spec file covers one section of the paper (or, for variant_*.py, one model family
beyond it): its module docstring opens with the section title, a module constant CODE
names the files that implement it, and each test is one claim, stated in the first
line of its docstring.

Where the specs are: in a checkout, the top-level spec/ (with TODO.md beside it); in an
installed wheel, the copy packaged as aiayn/_spec (and no TODO.md).
"""

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the aiayn package that is running
REPO_ROOT = PACKAGE_DIR.parent  # a checkout's root; site-packages for a wheel (CODE paths are relative to it)
IN_CHECKOUT = (REPO_ROOT / "spec").is_dir() and (REPO_ROOT / "pyproject.toml").is_file()
SPEC_DIR = REPO_ROOT / "spec" if IN_CHECKOUT else PACKAGE_DIR / "_spec"
TODO_PATH: Path | None = REPO_ROOT / "TODO.md" if IN_CHECKOUT else None
SPEC_PATTERNS = ("sec*.py", "table*.py", "variant_*.py")  # pyproject.toml's python_files lists them too


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
    """The spec files pytest collects (SPEC_PATTERNS), by name: the paper's order."""
    return tuple(sorted(p for p in spec_dir.glob("*.py") if any(fnmatch.fnmatch(p.name, pat) for pat in SPEC_PATTERNS)))


def collect(spec_dir: Path = SPEC_DIR) -> tuple[Section, ...]:
    """Every section and its claims, in the paper's order (by file name)."""
    if not spec_dir.is_dir():
        raise SpecFileError(
            f"spec directory {spec_dir} not found: a checkout has spec/ at its top, and an installed "
            f"wheel carries it as aiayn/_spec (reinstall aiayn if it is missing)"
        )
    return tuple(read_section(p) for p in spec_files(spec_dir))

