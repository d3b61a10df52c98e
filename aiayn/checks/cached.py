"""Shape checks that run in full once per distinct call signature, and cost a lookup after.

`checked(fn)` wraps a function so that its jaxtyping annotations are enforced by beartype,
exactly as `jaxtyped(fn, typechecker=beartype)` would, but without paying for the full
check on every call. The import hook in `aiayn.checks.shapecheck` applies it to every
function and dataclass of the package.

Why it is sound. A full check is a predicate of two things only:
- the *call key*: what the argument check reads (aiayn/checks/signature.py: per tensor
  its type, shape and dtype; None or not; the type, or for Literal annotations
  the value, of other arguments), plus the value of every "{...}" expression in the
  annotations ("{self.d_model}", "{self.vocab_size}"), formatted as jaxtyping formats
  it, so two models of different widths never share a key;
- the *return signature*: the same structural signature of the value returned.

The first call with a new key runs the full check (arguments before the call, the
return value after it). A call whose key has passed skips the argument check, runs the
function, and still computes the return signature: if that (key, return) pair has
passed before, the call is done; if not (the return shape may depend on values, not
only on shapes), the return is checked in full against the same arguments without
running the function again. Nothing is recorded unless its full check passed, so a
wrong shape fails with jaxtyping's own message on every occurrence, first or later.

Not cached (always checked in full): generators and coroutines; functions whose body
itself calls isinstance on a jaxtyping type (it needs the argument dimensions bound);
calls whose key cannot be computed (an argument without the attributes a tensor has, a
container of more than 32 items, unhashable values). The cache of each function holds
at most 4096 keys and starts afresh when full. What the key assumes: an object that is
not a tensor, container or scalar passes a check by its type alone (true of classes and
Callables; not of runtime-checkable protocols that look at instance attributes, which
aiayn does not annotate with), and a function does not change the attributes its own
annotations name ("{self.d_model}") while it runs. Arguments left out are left out of
the full check too, so a default value is never checked, as without the cache.
"""

import dataclasses
import functools
import inspect
import sys
import threading
import types
import typing
from collections.abc import Callable

import beartype
from jaxtyping import jaxtyped

from aiayn.checks.signature import Uncacheable, checks_in_body, expressions, part, sig, sig_values

MAX_KEYS = 4096
OMITTED = object()  # the fast path's default for every parameter that has one


_TEMPLATE = """
def _aiayn_key({params}):
    return ({key})

def _aiayn_out(_aiayn_o):
    return ({out})

def {name}({fast_params}):{defaults}
    try:
        _aiayn_outs = _aiayn_seen[({key})]
    except Exception:  # a new key, or one that cannot be computed
        return _aiayn_call(({values}), ({raws}), {varargs}, {varkw})
    _aiayn_o = _aiayn_fn({call})
    try:
        if ({out}) in _aiayn_outs:
            return _aiayn_o
    except Exception:
        pass
    return _aiayn_return(_aiayn_outs, ({values}), ({raws}), {varargs}, {varkw}, _aiayn_o)
"""


def _generate(fn: types.FunctionType, state: "_State") -> tuple[Callable, ...]:
    """Write fn's call key, return signature and fast path as Python source with fn's own
    parameters, so that Python binds the arguments and the key is one flat tuple."""
    ps = list(inspect.signature(fn, follow_wrapped=False).parameters.values())
    scope: dict[str, object] = {"_aiayn_sig": sig, "_aiayn_sigv": sig_values, "_aiayn_fn": fn,
                                "_aiayn_seen": state.seen, "_aiayn_call": state.call,
                                "_aiayn_return": state.check_return, "_aiayn_M": OMITTED,
                                "_aiayn_type": type}  # fmt: skip
    params, fast_params, parts, values, raws, call, defaults = [], [], [], [], [], [], []
    varargs, varkw, star = "()", "{}", False
    for i, p in enumerate(ps):
        if p.name.startswith("_aiayn_") or not p.name.isidentifier():
            raise Uncacheable
        if p.kind is p.KEYWORD_ONLY and not star:
            params.append("*")
            fast_params.append("*")
        star = star or p.kind in (p.VAR_POSITIONAL, p.KEYWORD_ONLY)
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        call.append(f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else text)
        if p.kind is p.VAR_POSITIONAL:
            varargs = p.name
        elif p.kind is p.VAR_KEYWORD:
            varkw = p.name
        else:
            values.append(f"{p.name}, ")
            raws.append(f"_aiayn_r{i}, " if p.default is not p.empty else "None, ")
        fast_text = text
        if p.default is not p.empty:  # the fast path also learns which arguments were left out
            scope[f"_aiayn_d{i}"] = p.default
            text, fast_text = text + f"=_aiayn_d{i}", text + "=_aiayn_M"
            defaults.append(f"\n    _aiayn_r{i} = {p.name}\n    if {p.name} is _aiayn_M:\n        {p.name} = _aiayn_d{i}")
        last_positional_only = p.kind is p.POSITIONAL_ONLY and (i + 1 == len(ps) or ps[i + 1].kind is not p.kind)
        params.append(text + (", /" if last_positional_only else ""))
        fast_params.append(fast_text + (", /" if last_positional_only else ""))
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            parts.append(f"_aiayn_sig({p.name})")
        elif (piece := part(p.annotation, p.name)) is not None:
            parts.append(piece)
    returns = inspect.signature(fn, follow_wrapped=False).return_annotation
    parts += expressions([p.annotation for p in ps] + [returns])
    source = _TEMPLATE.format(
        name=fn.__name__, params=", ".join(params), key="".join(f"{p}, " for p in parts),
        out=part(returns, "_aiayn_o") or "None", values="".join(values), varargs=varargs, varkw=varkw,
        call=", ".join(call), fast_params=", ".join(fast_params), defaults="".join(defaults), raws="".join(raws),
    )  # fmt: skip
    exec(compile(source, f"<shape check of {fn.__module__}.{fn.__qualname__}>", "exec"), scope)
    fast = scope[fn.__name__]
    if sys.version_info >= (3, 11):  # so that a call with wrong arguments names fn as fn would
        fast.__code__ = fast.__code__.replace(co_qualname=fn.__qualname__)
    return scope["_aiayn_key"], scope["_aiayn_out"], fast


def _replay_of(fn: types.FunctionType, box: threading.local) -> Callable:
    """A function with fn's signature, annotations and globals that returns `box.out`:
    checking it checks fn's arguments and a given return value without running fn again."""
    namespace = {**fn.__globals__, "_aiayn_box": box}
    exec("def replay(*args, **kwargs):\n    return _aiayn_box.out\n", namespace)
    return jaxtyped(functools.update_wrapper(namespace["replay"], fn), typechecker=beartype.beartype)


class _State:
    """One checked function's cache, and its full checks (built on first use)."""

    def __init__(self, fn: types.FunctionType) -> None:
        self.fn, self.full, self.replay, self.box = fn, None, None, threading.local()
        self.params = tuple(inspect.signature(fn, follow_wrapped=False).parameters.values())
        self.seen: dict[object, set[object]] = {}
        self.key = self.out = None

    def arguments(self, values: tuple, raws: tuple, varargs: tuple, varkw: dict) -> tuple[tuple, dict]:
        """The call as it was made, from the bound values: arguments left out stay out (so,
        as without this cache, a default value is not checked against its annotation)."""
        args, kwargs, by_name = [], dict(varkw), False
        named = (p for p in self.params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        for p, v, raw in zip(named, values, raws, strict=True):
            omitted = raw is OMITTED and p.kind is not p.POSITIONAL_ONLY
            if omitted:
                by_name = by_name or p.kind is p.POSITIONAL_OR_KEYWORD
            elif p.kind is p.KEYWORD_ONLY or by_name:
                kwargs[p.name] = v
            else:
                args.append(v)
        return (*args, *varargs), kwargs

    def call(self, values: tuple, raws: tuple, varargs: tuple, varkw: dict) -> object:
        """Full check of the arguments, the call, full check of the return value; then remember."""
        args, kwargs = self.arguments(values, raws, varargs, varkw)
        if self.full is None:
            self.full = jaxtyped(self.fn, typechecker=beartype.beartype)
            self.cacheable = self.key is not None and not checks_in_body(self.fn)
        key = None
        if self.cacheable:
            try:
                key = self.key(*args, **kwargs)
                hash(key)
            except Exception:
                key = None
        out = self.full(*args, **kwargs)
        if key is not None:
            try:
                returned = self.out(out)
                hash(returned)
            except Exception:
                return out
            if len(self.seen) >= MAX_KEYS:
                self.seen.clear()
            self.seen.setdefault(key, set()).add(returned)
        return out

    def check_return(self, outs: set, values: tuple, raws: tuple, varargs: tuple, varkw: dict, out: object) -> object:
        """Arguments passed before with this key; the return value is new: check it in full."""
        args, kwargs = self.arguments(values, raws, varargs, varkw)
        if self.replay is None:
            self.replay = _replay_of(self.fn, self.box)
        self.box.out = out
        try:
            self.replay(*args, **kwargs)
        finally:
            self.box.out = None
        try:
            outs.add(self.out(out))
        except Exception:
            pass
        return out


def checked(obj: typing.Any) -> typing.Any:
    """Decorator: jaxtyping + beartype checks, in full once per call signature (see module doc)."""
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj) and not getattr(obj, "__no_type_check__", False):
            obj.__init__ = checked(obj.__init__)
        return obj
    if not isinstance(obj, types.FunctionType) or getattr(obj, "__no_type_check__", False):
        return obj
    if inspect.isgeneratorfunction(obj) or inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        return jaxtyped(obj, typechecker=beartype.beartype)
    state = _State(obj)
    try:
        state.key, state.out, wrapper = _generate(obj, state)
    except Exception:  # a signature the generator does not handle: every call checked in full

        def wrapper(*args: object, **kwargs: object) -> object:
            return state.call((), (), args, kwargs)

    wrapper = functools.update_wrapper(wrapper, obj)
    wrapper.__aiayn_checked__ = True
    return wrapper
