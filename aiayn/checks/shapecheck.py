"""Run-time shape checking: jaxtyping annotations enforced by beartype, switched on from outside.

Every tensor argument and return value in aiayn carries a jaxtyping annotation
such as `Float[Tensor, "batch n_q d_k"]`. Nothing is decorated in the library:
checking is switched on by an import hook, before aiayn's modules are imported, so
unchecked runs pay nothing and `torch.compile` works. Three modes:

- "cached" (the default): each function is checked in full the first time it meets a
  call signature (shapes, dtypes, devices, None-ness, the config values its annotations
  name) and by a lookup after that; see `aiayn.checks.cached` for why that loses nothing.
- "full": every call checked in full (`jaxtyped(typechecker=beartype.beartype)`, the
  same as `pytest --jaxtyping-packages=aiayn,beartype.beartype`).
- "off".

Where it is switched on:
- pytest: `-p aiayn.checks.shapecheck` loads this module as a plugin; its option
  `--aiayn-shape-checks=cached|full|off` (default cached) picks the mode.
- the `aiayn` command: on by default; `aiayn --no-shape-checks ...` or
  `AIAYN_SHAPE_CHECKS=0` turns it off, `AIAYN_SHAPE_CHECKS=full` checks every call.
- your own code: call `aiayn.checks.shapecheck.enable()` before importing anything else
  from aiayn.
"""

import ast
import os
import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import PathFinder, SourceFileLoader

ENV_VAR = "AIAYN_SHAPE_CHECKS"
MODES = ("cached", "full", "off")
_MODEL_MODULES = ("aiayn.model.attention", "aiayn.model.multi_head", "aiayn.model.transformer", "aiayn.model.layers")
_NOT_INSTRUMENTED = ("aiayn.checks.shapecheck", "aiayn.checks.cached", "aiayn.checks.signature")
_DECORATOR = "_aiayn_checked"


def requested(flag: bool | None = None) -> str:
    """The mode asked for: an explicit flag wins (True: cached, False: off), then the environment."""
    if flag is not None:
        return "cached" if flag else "off"
    value = os.environ.get(ENV_VAR, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "full" if value == "full" else "cached"


def wanted(flag: bool | None = None) -> bool:
    """Whether checking should be on: an explicit flag wins, then the environment."""
    return requested(flag) != "off"


def enable(mode: str | None = None) -> None:
    """Install the import hook for the aiayn package. Must run before model code is imported.

    mode: "cached" or "full"; by default "full" when AIAYN_SHAPE_CHECKS=full, else "cached".
    """
    mode = mode or ("full" if requested() == "full" else "cached")
    if mode not in ("cached", "full"):
        raise ValueError(f"enable(mode={mode!r}): mode must be 'cached' or 'full'")
    already = [m for m in _MODEL_MODULES if m in sys.modules]
    if already and active():  # checked already (the pytest plugin, or a second call)
        return
    if already:
        raise RuntimeError(
            f"aiayn.checks.shapecheck.enable() called after {', '.join(already)} was imported; "
            f"call it first, before importing models from aiayn"
        )
    if mode == "full":
        from jaxtyping import install_import_hook

        install_import_hook("aiayn", "beartype.beartype")
    else:
        import aiayn.checks.cached  # noqa: F401  (imported here, so never instrumented itself)

        sys.meta_path.insert(0, _Finder("aiayn"))


def active() -> bool:
    """True when aiayn's attention function is wrapped by a checker (probes with a bad shape)."""
    import torch
    from jaxtyping import TypeCheckError

    from aiayn.model.attention import scaled_dot_product_attention

    q = torch.zeros(1, 2, 3)
    try:
        scaled_dot_product_attention(q, torch.zeros(1, 4, 3), torch.zeros(1, 5, 3))  # n_kv 4 != 5
    except TypeCheckError:
        return True
    except RuntimeError:
        return False
    return False


def in_use() -> str:
    """The mode aiayn's modules were imported under: "cached", "full" or "off"."""
    from aiayn.model.attention import scaled_dot_product_attention

    if getattr(scaled_dot_product_attention, "__aiayn_checked__", False):
        return "cached"
    return "full" if active() else "off"


# The import hook of the cached mode: adds `@checked` to every function (innermost) and
# class (outermost) of the package, as jaxtyping's hook adds `@jaxtyped`.


def _no_type_check(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", ())
    return any(ast.unparse(d).split("(")[0].split(".")[-1] == "no_type_check" for d in decorators)


class _Instrument(ast.NodeTransformer):
    def visit_Module(self, node: ast.Module) -> ast.Module:
        i = 0
        while i < len(node.body) and (
            isinstance(node.body[i], ast.ImportFrom) and node.body[i].module == "__future__"
            or isinstance(node.body[i], ast.Expr) and isinstance(node.body[i].value, ast.Constant)
        ):
            i += 1
        node.body.insert(i, ast.parse(f"from aiayn.checks.cached import checked as {_DECORATOR}").body[0])
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if _no_type_check(node):
            return node
        node.decorator_list.append(ast.Name(_DECORATOR, ast.Load()))
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        if _no_type_check(node):
            return node
        node.decorator_list.insert(0, ast.Name(_DECORATOR, ast.Load()))
        self.generic_visit(node)
        return node


class _Loader(SourceFileLoader):
    def get_code(self, fullname: str) -> object:  # compiled afresh: never shares __pycache__
        tree = _Instrument().visit(ast.parse(self.get_data(self.path), self.path))
        return compile(ast.fix_missing_locations(tree), self.path, "exec", dont_inherit=True)


class _Finder(MetaPathFinder):
    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname in _NOT_INSTRUMENTED or not (fullname == self.package or fullname.startswith(self.package + ".")):
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, SourceFileLoader):
            return None
        spec.loader = _Loader(spec.loader.name, spec.loader.path)
        return spec


# pytest plugin (`-p aiayn.checks.shapecheck`)


def pytest_addoption(parser: object) -> None:
    parser.getgroup("aiayn").addoption(  # type: ignore[attr-defined]
        "--aiayn-shape-checks", choices=MODES, default="cached",
        help="run-time shape checking of the aiayn package: cached (default), full or off",
    )  # fmt: skip


def pytest_load_initial_conftests(early_config: object, parser: object, args: list[str]) -> None:
    """Before any conftest or test imports aiayn's models, install the chosen hook."""
    options = parser.parse_known_args(args)  # type: ignore[attr-defined]
    if getattr(options, "jaxtyping_packages", None):
        raise RuntimeError("give either --jaxtyping-packages or -p aiayn.checks.shapecheck, not both")
    if options.aiayn_shape_checks != "off":
        enable(options.aiayn_shape_checks)
