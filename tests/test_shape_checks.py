"""Shape checking is on in every test run, names the offending argument, and can be
switched off for torch.compile."""

import subprocess
import sys
import textwrap

import pytest
import torch
from jaxtyping import TypeCheckError

from aiayn import Transformer, TransformerConfig, scaled_dot_product_attention
from aiayn.checks.shapecheck import active


def test_checking_is_on_in_pytest() -> None:
    q, k = torch.zeros(2, 3, 5), torch.zeros(2, 7, 5)
    v_wrong = torch.zeros(2, 6, 11)  # 6 keys but 7 values: n_kv disagrees
    with pytest.raises(TypeCheckError, match="v"):
        scaled_dot_product_attention(q, k, v_wrong)
    assert active()


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


def test_enable_turns_checking_on_outside_pytest() -> None:
    code = """
        from aiayn.checks.shapecheck import enable, active
        enable()
        assert active()
        print("checked")
    """
    result = _run(code, "1")
    assert result.returncode == 0, result.stderr
    assert "checked" in result.stdout
