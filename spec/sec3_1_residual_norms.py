"""§3.1 Residual connections and layer normalisation: what the norms do

Every sub-layer of the paper is wrapped as

    y = LayerNorm(x + Dropout(Sublayer(x)))          (post-norm, §3.1 with §5.4)

and LayerNorm, per position and before its learned gain g and bias b, maps a vector
z of width d_model to

    (z - mean(z)) / sqrt(var(z) + eps)               (biased variance, eps = 1e-5)

so every sub-layer output has zero mean and unit variance across its d_model
features, and (with g = 1, b = 0 at initialisation) the per-position norm of the
residual stream is sqrt(d_model) after every layer, however deep the stack.

Pre-norm, x + Dropout(Sublayer(LayerNorm(x))), is a later departure (kept off by
default as `norm="pre"`): nothing re-normalises the stream, each sub-layer adds to
it, and its norm grows with depth. The spec shows both.

With P_drop = 1 in training mode the sub-layer's contribution is dropped entirely
and the wrapper reduces to LayerNorm(x). The model's config forbids p_drop = 1, so
the wrapper is built directly for that check.

Choices the paper leaves open: eps (torch's 1e-5) and the biased variance are those
of `nn.LayerNorm`; LayerNorm has a learned gain and bias (initialised 1 and 0).
"""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor, nn

from aiayn.model.config import ConfigError, TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.model.residual import PostNormResidual

CODE = "aiayn/model/residual.py"

VOCAB = 53


def small_config(**changes: object) -> TransformerConfig:
    """A tiny model whose sizes are distinct primes where the architecture allows."""
    base = dict(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2, p_drop=0.1)
    return TransformerConfig(**{**base, **changes})  # type: ignore[arg-type]


def layer_output_norms(model: Transformer, src: Tensor) -> Float[Tensor, " n_layers"]:
    """Mean per-position L2 norm of the residual stream after each encoder layer."""
    norms: list[Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _mod, _inp, out: norms.append(out.norm(dim=-1).mean()))
        for layer in model.encoder.layers
    ]
    try:
        with torch.no_grad():
            model.encode(src)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack(norms)


@given(
    batch=st.integers(1, 3),
    n=st.integers(1, 13),
    seed=st.integers(0, 2**16),
    shift=st.floats(-50, 50),
    scale=st.floats(0.5, 20),
)
@example(batch=2, n=7, seed=0, shift=3.0, scale=11.0)
def test_layer_norm_gives_zero_mean_unit_variance_per_position(
    batch: int, n: int, seed: int, shift: float, scale: float
) -> None:
    """Before its gain and bias, LayerNorm leaves each position with zero mean and unit variance."""
    torch.manual_seed(seed)
    cfg = small_config()
    model = Transformer(cfg).eval().double()
    norm = model.encoder.layers[0].self_attn_residual.norm
    with torch.no_grad():
        norm.weight.fill_(1.0)  # strip the affine part: g = 1, b = 0
        norm.bias.fill_(0.0)
    z = torch.randn(batch, n, cfg.d_model, dtype=torch.float64) * scale + shift
    with torch.no_grad():
        y = norm(z)

    # the formula, retyped: (z - mean) / sqrt(var + eps), biased variance
    mean = z.mean(dim=-1, keepdim=True)
    var = ((z - mean) ** 2).mean(dim=-1, keepdim=True)
    torch.testing.assert_close(y, (z - mean) / torch.sqrt(var + norm.eps), rtol=1e-12, atol=1e-12)

    # the property: per position (not per batch, not per feature), mean 0 and variance 1
    torch.testing.assert_close(y.mean(dim=-1), torch.zeros(batch, n, dtype=torch.float64), rtol=0, atol=1e-12)
    expected_var = var.squeeze(-1) / (var.squeeze(-1) + norm.eps)  # 1 up to eps
    torch.testing.assert_close(y.var(dim=-1, unbiased=False), expected_var, rtol=1e-12, atol=1e-12)
    assert torch.all((y.var(dim=-1, unbiased=False) - 1).abs() < 1e-4)
    # and the input was far from it, so the check can fail
    assert z.mean(dim=-1).abs().max() > 1e-3 or (z.var(dim=-1, unbiased=False) - 1).abs().max() > 1e-3


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 11))
@example(seed=0, n=7)
def test_post_norm_keeps_residual_stream_norm_at_sqrt_d_model_through_all_layers(seed: int, n: int) -> None:
    """With post-norm (the paper) the residual stream's per-position norm is sqrt(d_model) after every one of N=12 layers."""
    torch.manual_seed(seed)
    cfg = small_config(n_layers=12, norm="post")
    model = Transformer(cfg).eval()
    src = torch.randint(1, VOCAB, (3, n))
    norms = layer_output_norms(model, src)
    assert norms.shape == (12,)
    # LayerNorm with g = 1, b = 0 (its initialisation) puts every position on the
    # sphere of radius sqrt(d_model) (less a hair for eps)
    torch.testing.assert_close(norms, torch.full((12,), math.sqrt(cfg.d_model)), rtol=1e-3, atol=0)


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 11))
@example(seed=0, n=7)
def test_pre_norm_departure_lets_residual_stream_grow_with_depth(seed: int, n: int) -> None:
    """With pre-norm (a departure) nothing re-normalises the stream, so its norm grows through N=12 layers."""
    torch.manual_seed(seed)
    cfg = small_config(n_layers=12, norm="pre")
    model = Transformer(cfg).eval()
    src = torch.randint(1, VOCAB, (3, n))
    norms = layer_output_norms(model, src)
    assert norms.shape == (12,)
    assert norms[-1] > 1.15 * norms[0], f"pre-norm stream did not grow: {norms.tolist()}"
    assert norms[-1] > 1.15 * math.sqrt(cfg.d_model)
    # the same model with post-norm stays put (the contrast this departure is named for)
    post = Transformer(cfg.replace(norm="post")).eval()
    post.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith(("encoder.final_norm", "decoder.final_norm"))})
    post_norms = layer_output_norms(post, src)
    assert post_norms[-1] / post_norms[0] < 1.001


@given(batch=st.integers(1, 3), n=st.integers(1, 11), seed=st.integers(0, 2**16))
@example(batch=2, n=5, seed=0)
def test_dropout_probability_one_reduces_sublayer_to_layer_norm_of_input(batch: int, n: int, seed: int) -> None:
    """With P_drop = 1 in training mode, LayerNorm(x + Dropout(Sublayer(x))) is just LayerNorm(x)."""
    torch.manual_seed(seed)
    d_model = 26
    with pytest.raises(ConfigError, match="p_drop"):
        small_config(p_drop=1.0)  # the model refuses it; the wrapper alone can show it
    wrapper = PostNormResidual(d_model, 1.0).double().train()
    sublayer = nn.Linear(d_model, d_model).double()
    x = torch.randn(batch, n, d_model, dtype=torch.float64)

    y = wrapper(x, sublayer)
    torch.testing.assert_close(y, wrapper.norm(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, nn.functional.layer_norm(x, (d_model,)), rtol=1e-12, atol=1e-12)

    # in evaluation mode dropout is off and the sub-layer counts again
    wrapper.eval()
    torch.testing.assert_close(wrapper(x, sublayer), nn.functional.layer_norm(x + sublayer(x), (d_model,)))
    assert not torch.allclose(wrapper(x, sublayer), y, atol=1e-6)
