"""Shape checking is on in every test run, names the offending argument, costs a lookup for a
call signature it has passed before without letting a wrong shape through, and can be
switched off for torch.compile (aiayn/checks/shapecheck.py, aiayn/checks/cached.py)."""

import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import beartype
import pytest
import torch
from jaxtyping import Bool, Float, TypeCheckError, jaxtyped
from torch import Tensor

from aiayn import Transformer, TransformerConfig, scaled_dot_product_attention
from aiayn.checks.cached import checked
from aiayn.checks.shapecheck import active, in_use


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(TypeCheckError) as err:
        call()
    return str(err.value)


def _full(fn: Callable) -> Callable:
    """The same function checked in full on every call (plain jaxtyping + beartype)."""
    return jaxtyped(getattr(fn, "__wrapped__", fn), typechecker=beartype.beartype)


def test_checking_is_on_in_pytest() -> None:
    q, k = torch.zeros(2, 3, 5), torch.zeros(2, 7, 5)
    v_wrong = torch.zeros(2, 6, 11)  # 6 keys but 7 values: n_kv disagrees
    with pytest.raises(TypeCheckError, match="v"):
        scaled_dot_product_attention(q, k, v_wrong)
    assert active()


def test_pytest_checks_with_the_cached_checker() -> None:
    """pytest runs the package under the cached checker (`-p aiayn.checks.shapecheck` in addopts)."""
    assert in_use() == "cached"


def test_wrong_width_into_model_names_argument_and_dimension() -> None:
    cfg = TransformerConfig.tiny(vocab_size=31, d_model=16, d_ff=32, h=2, n_layers=1)
    model = Transformer(cfg)
    with pytest.raises(TypeCheckError) as err:
        model.encoder(torch.zeros(2, 5, 12), None)  # width 12, model expects d_model = 16
    message = str(err.value)
    assert "parameter 'x'" in message and "d_model" in message and "f32[2,5,12]" in message


def test_wrong_dtype_is_rejected() -> None:
    with pytest.raises(TypeCheckError):
        scaled_dot_product_attention(torch.zeros(2, 3, 5, dtype=torch.int64), torch.zeros(2, 7, 5), torch.zeros(2, 7, 5))


class Doubler:
    """A module-like object whose annotations name a config value, as aiayn's layers do."""

    def __init__(self, d_model: int) -> None:
        self.d_model = d_model

    def forward(
        self, x: Float[Tensor, "batch n {self.d_model}"], keep: Bool[Tensor, "batch n"] | None = None
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        return x * 2 if keep is None else x * keep[..., None]


Doubler.forward = checked(Doubler.forward)  # what the import hook does to aiayn's functions


def test_wrong_shape_is_caught_on_first_and_later_occurrence_with_the_same_message() -> None:
    layer, good, bad = Doubler(13), torch.zeros(5, 7, 13), torch.zeros(5, 7, 11)
    first = _message(lambda: layer.forward(bad))
    for _ in range(3):  # the good signature is now remembered, and skipped
        layer.forward(good)
    later = _message(lambda: layer.forward(bad))
    assert first == later
    assert "parameter 'x'" in first and "d_model" in first and "f32[5,7,11]" in first
    assert _message(lambda: _full(Doubler.forward)(layer, bad)) == first  # word for word the full check's


def test_model_wrong_shape_is_caught_again_after_good_calls() -> None:
    cfg = TransformerConfig.tiny(vocab_size=31, d_model=16, d_ff=32, h=2, n_layers=1)
    encoder = Transformer(cfg).encoder
    first = _message(lambda: encoder(torch.zeros(2, 5, 12), None))
    encoder(torch.zeros(2, 5, 16), None)
    encoder(torch.zeros(2, 5, 16), None)
    assert _message(lambda: encoder(torch.zeros(2, 5, 12), None)) == first


class _Counting(type):
    checks = 0

    def __instancecheck__(cls, obj: object) -> bool:
        _Counting.checks += 1
        return super().__instancecheck__(obj)


class Tag(metaclass=_Counting):
    """An annotation whose every isinstance check is counted."""


class SubTag(Tag):  # isinstance(x, C) skips __instancecheck__ when type(x) is C exactly
    pass


@checked
def tagged(x: Float[Tensor, " n"], tag: Tag) -> Float[Tensor, " n"]:
    return x + 1


def test_full_check_runs_once_per_call_signature() -> None:
    tagged(torch.zeros(5), SubTag())
    after_first = _Counting.checks
    assert after_first > 0  # the full check looked at `tag`
    for _ in range(4):
        tagged(torch.zeros(5), SubTag())
    assert _Counting.checks == after_first  # repeats: a lookup, no check
    tagged(torch.zeros(7), SubTag())
    assert _Counting.checks > after_first  # a new shape: checked in full


def test_key_covers_config_values_none_and_dtype() -> None:
    x = torch.zeros(5, 7, 13)
    Doubler(13).forward(x)
    Doubler(13).forward(x, None)
    with pytest.raises(TypeCheckError, match="d_model"):
        Doubler(11).forward(x)  # same shapes, another width: not the remembered signature
    with pytest.raises(TypeCheckError, match="keep"):
        Doubler(13).forward(x, torch.ones(5, 3, dtype=torch.bool))  # None before; now a wrong mask
    Doubler(13).forward(x, torch.ones(5, 7, dtype=torch.bool))
    with pytest.raises(TypeCheckError, match="keep"):
        Doubler(13).forward(x, torch.ones(5, 7))  # right shape, float where a bool mask belongs
    with pytest.raises(TypeCheckError, match="'x'"):
        Doubler(13).forward(x.long())


@checked
def take(x: Float[Tensor, " n"], k: int) -> Float[Tensor, " n"]:
    return x[:k]  # the returned shape depends on a value the key does not hold (k is checked as an int)


def test_return_shape_that_depends_on_values_is_still_checked() -> None:
    x = torch.zeros(7)
    take(x, 7)
    take(x, 9)  # same key, same return signature
    first = _message(lambda: take(x, 5))  # same key as the calls that passed, wrong return
    assert "return value" in first and first == _message(lambda: _full(take)(x, 5))
    assert _message(lambda: take(x, 5)) == first


@checked
def head(x: Float[Tensor, " n"], k: int) -> Tensor:
    y = x[:k]
    assert isinstance(y, Float[Tensor, " n"])  # needs n bound from the argument, on every call
    return y


def test_checks_in_the_body_still_see_the_argument_dimensions() -> None:
    x = torch.zeros(7)
    head(x, 7)
    head(x, 7)
    with pytest.raises(AssertionError):
        head(x, 5)


@checked
def norm_kind(x: Float[Tensor, " n"], kind: Literal["post", "pre"]) -> Float[Tensor, " n"]:
    return x


def test_literal_arguments_are_keyed_by_value() -> None:
    norm_kind(torch.zeros(5), "post")
    with pytest.raises(TypeCheckError, match="kind"):
        norm_kind(torch.zeros(5), "side")


@checked
@dataclass
class Box:
    items: dict[str, int] = field(default_factory=dict)
    size: int = 0


def test_a_default_left_out_is_not_checked_and_a_passed_one_is() -> None:
    assert Box().items == {} and Box(size=3).size == 3  # the factory's placeholder never reaches the check
    with pytest.raises(TypeCheckError, match="size"):
        Box(size="3")


def _run(code: str, env_value: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "AIAYN_SHAPE_CHECKS": env_value}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_shape_checks_off_by_switch_and_model_compiles() -> None:
    code = """
        import torch
        from aiayn.checks.shapecheck import active
        from aiayn import Transformer, TransformerConfig
        assert not active(), "checking should be off without enable()"
        cfg = TransformerConfig.tiny(vocab_size=31, d_model=16, d_ff=32, h=2, n_layers=1)
        model = Transformer(cfg).eval()
        compiled = torch.compile(model, backend="eager", fullgraph=False)
        src, tgt = torch.randint(1, 31, (2, 5)), torch.randint(1, 31, (2, 4))
        torch.testing.assert_close(compiled(src, tgt), model(src, tgt))
        print("compiled-ok")
    """
    result = _run(code, "0")
    assert result.returncode == 0, result.stderr
    assert "compiled-ok" in result.stdout


@pytest.mark.parametrize(("env_value", "mode"), [("1", "cached"), ("full", "full")])
def test_enable_turns_checking_on_outside_pytest(env_value: str, mode: str) -> None:
    code = """
        from aiayn.checks.shapecheck import enable, in_use
        enable()
        print("checked:", in_use())
    """
    result = _run(code, env_value)
    assert result.returncode == 0, result.stderr
    assert f"checked: {mode}" in result.stdout
