"""What a jaxtyping + beartype check of a value reads, written as key source for aiayn.checks.cached.

A check of one argument depends on: for a tensor, its type, shape and dtype (jaxtyping
reads no device); for a plain-class annotation (int, KVCache, a Callable), the value's type only;
for anything else (unions, tuples, dicts, Literal, ...), a structural signature: tensors
as above, containers item by item, scalars by type, or by value where the annotation
holds a Literal or Annotated. "{...}" dims ("{self.d_model}") depend on the arguments
they name, and are keyed by the string jaxtyping makes of them.
"""

import collections.abc
import inspect
import types
import typing
from collections.abc import Iterable, Iterator
from enum import Enum

import jaxtyping
from jaxtyping import AbstractArray
from torch import Tensor

MAX_ITEMS = 32
_SCALARS = (int, float, bool, str, bytes, complex, type(None))


class Uncacheable(Exception):
    """The call key cannot be computed; the call is checked in full."""


def sig(v: object, values: bool = False) -> object:
    """Structural signature of a value: what a check of it can depend on."""
    if isinstance(v, Tensor):
        return (type(v), v.shape, v.dtype)
    if v is None:
        return None
    t = type(v)
    if t in _SCALARS or isinstance(v, Enum):
        return (t, v) if values else t
    if isinstance(v, (tuple, list, dict)):
        if len(v) > MAX_ITEMS:
            raise Uncacheable
        items = v.items() if isinstance(v, dict) else enumerate(v)
        return (t, tuple((i, sig(x, values)) for i, x in items))
    shape = getattr(v, "shape", None)  # other array types
    return t if shape is None else (t, tuple(shape), str(getattr(v, "dtype", None)))


def sig_values(v: object) -> object:
    return sig(v, True)


def _walk(ann: object) -> Iterator[object]:
    yield ann
    for arg in typing.get_args(ann):
        yield from _walk(arg)


def _is_array(ann: object) -> bool:
    return inspect.isclass(ann) and issubclass(ann, AbstractArray)


def _is_plain(ann: object) -> bool:
    """A class (or None), or a Callable: beartype's check of it depends on the value's type only."""
    if ann is None or typing.get_origin(ann) is collections.abc.Callable:
        return True
    return inspect.isclass(ann) and typing.get_origin(ann) is None and not _is_array(ann)


def part(ann: object, name: str) -> str | None:
    """Source of the key components for one annotated value named `name` (None: nothing read)."""
    if ann is inspect.Parameter.empty or ann is typing.Any or ann is object:
        return None
    tensor = f"_aiayn_type({name}), {name}.shape, {name}.dtype"
    options = typing.get_args(ann) if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union else ()
    if _is_array(ann):
        return tensor
    if _is_plain(ann) or (options and all(_is_plain(a) for a in options)):
        return f"_aiayn_type({name})"
    if len(options) == 2 and type(None) in options and any(_is_array(a) for a in options):
        return f"None if {name} is None else ({tensor})"  # an optional tensor
    by_value = any(typing.get_origin(a) in (typing.Literal, typing.Annotated) for a in _walk(ann))
    return f"_aiayn_sig{'v' if by_value else ''}({name})"


def expressions(annotations: Iterable[object]) -> list[str]:
    """The "{...}" dims of every jaxtyping annotation, as jaxtyping formats them (f-strings)."""
    out: dict[str, None] = {}
    for ann in annotations:
        for a in _walk(ann):
            if inspect.isclass(a) and issubclass(a, AbstractArray):
                out.update((f"f'{token}'", None) for token in a.dim_str.split() if "{" in token)
    return list(out)


def checks_in_body(fn: types.FunctionType) -> bool:
    """Whether the body calls isinstance with something from jaxtyping in reach (conservative)."""
    names, stack = set(), [fn.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    if "isinstance" not in names:
        return False
    seen = [fn.__globals__.get(n) for n in names] + [c.cell_contents for c in fn.__closure__ or ()]
    return any(v is jaxtyping or getattr(v, "__module__", "") == "jaxtyping" for v in seen)
