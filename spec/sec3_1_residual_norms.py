"""§3.1 Residual connections and layer normalisation: what the norms do

Every sub-layer of the paper is wrapped as

    y = LayerNorm(x + Dropout(Sublayer(x)))          (post-norm, §3.1 with §5.4)

and LayerNorm, per position, maps a vector z of width d_model to

    LN(z) = g * zhat + b,    zhat = (z - mean(z)) / sqrt(var(z) + eps)

(biased variance, eps = 1e-5, learned gain g and bias b). So zhat has zero mean and
unit variance across the d_model features, ||zhat|| <= sqrt(d_model), and

    ||LN(z)|| <= ||g||_inf * sqrt(d_model) + ||b||

whatever z is. With post-norm the residual stream after every layer is a LayerNorm
output, so its per-position norm obeys this bound (with that layer's last g and b)
through the whole stack, for inputs of any size and for any gains and biases training
may reach; at initialisation (g = 1, b = 0) it is sqrt(d_model) exactly, less a hair
for eps.

Pre-norm, x + Dropout(Sublayer(LayerNorm(x))), is a later departure (kept off by
default as `norm="pre"`): nothing re-normalises the stream, each sub-layer adds to it,
and the input itself passes through. Its norm grows with depth and has no such bound;
the spec shows both.

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
from aiayn.model.residual import PostNormResidual
from aiayn.model.transformer import Encoder, Transformer

CODE = "aiayn/model/residual.py"

VOCAB = 53


def small_config(**changes: object) -> TransformerConfig:
    """A tiny model whose sizes are distinct primes where the architecture allows."""
    base = dict(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2, p_drop=0.1)
    return TransformerConfig(**{**base, **changes})  # type: ignore[arg-type]


def stream_norms(stack: Encoder, x: Float[Tensor, "batch n d_model"]) -> Float[Tensor, "n_layers batch n"]:
    """Per-position L2 norm of the residual stream after each layer of an encoder stack."""
    norms: list[Tensor] = []
    with torch.no_grad():
        for layer in stack.layers:
            x = layer(x, None)
            norms.append(x.norm(dim=-1))
    return torch.stack(norms)


def give_trained_like_norms(stack: Encoder, seed: int) -> None:
    """Every LayerNorm gets gains and biases like those training leaves: |g| in [0.25, 2.5], about
    one in ten negative, and b ~ N(0, 0.5^2) per feature."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in stack.modules():
            if isinstance(module, nn.LayerNorm):
                d = module.weight.numel()
                sign = torch.where(torch.rand(d, generator=g) < 0.1, -1.0, 1.0)
                module.weight.copy_(sign * (0.25 + 2.25 * torch.rand(d, generator=g)))
                module.bias.copy_(0.5 * torch.randn(d, generator=g))


def layer_bounds(stack: Encoder) -> Float[Tensor, " n_layers"]:
    """||g||_inf sqrt(d_model) + ||b|| of each layer's last LayerNorm (the one its output leaves)."""
    bounds = []
    for layer in stack.layers:
        norm = layer.feed_forward_residual.norm
        bounds.append(norm.weight.abs().max() * math.sqrt(norm.weight.numel()) + norm.bias.norm())
    return torch.stack(bounds).detach()


def encoder_stack(seed: int, norm: str) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(small_config(n_layers=12, norm=norm)).double().eval()


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


@settings(max_examples=10)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 11), scale=st.floats(0.1, 1000.0))
@example(seed=0, n=7, scale=1.0)
@example(seed=1, n=5, scale=1000.0)
def test_post_norm_bounds_residual_stream_norm_by_gain_and_bias_through_all_layers(
    seed: int, n: int, scale: float
) -> None:
    """With post-norm (the paper) the stream's per-position norm after each of N=12 layers is at most ||g||_inf sqrt(d_model) + ||b||, for any gains, biases and input."""
    stack = encoder_stack(seed, "post")
    d_model = stack.d_model
    x = scale * torch.randn(3, n, d_model, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    # at initialisation (g = 1, b = 0) the bound is sqrt(d_model), and every position sits on it
    norms = stream_norms(stack, x)
    assert norms.shape == (12, 3, n)
    torch.testing.assert_close(layer_bounds(stack), torch.full((12,), math.sqrt(d_model), dtype=torch.float64))
    torch.testing.assert_close(norms, torch.full_like(norms, math.sqrt(d_model)), rtol=1e-3, atol=0)

    # with gains and biases like trained ones, each layer's output obeys its own last LayerNorm's bound
    give_trained_like_norms(stack, seed)
    norms, bounds = stream_norms(stack, x), layer_bounds(stack)
    assert bool((norms <= bounds[:, None, None] * (1 + 1e-12)).all()), (norms.amax(dim=(1, 2)) / bounds).tolist()
    # and the gains matter here: the norms are no longer sqrt(d_model), so the g = 1 check alone would not do
    assert (norms / math.sqrt(d_model) - 1).abs().max() > 0.1


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 11))
@example(seed=0, n=7)
def test_pre_norm_departure_grows_with_depth_and_has_no_such_bound(seed: int, n: int) -> None:
    """With pre-norm (a departure) nothing re-normalises the stream: it grows through N=12 layers, and ||g||_inf sqrt(d_model) + ||b|| does not bound it."""
    pre, post = encoder_stack(seed, "pre"), encoder_stack(seed, "post")
    give_trained_like_norms(pre, seed)
    post.load_state_dict({k: v for k, v in pre.state_dict().items() if not k.startswith("final_norm")})
    bound = layer_bounds(pre).max()  # the largest bound of any layer: the same LayerNorms in both stacks
    x = torch.randn(3, n, pre.d_model, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    # unit-sized input: the stream grows layer after layer
    norms = stream_norms(pre, x).mean(dim=(1, 2))
    assert norms[-1] > 1.5 * norms[0], f"pre-norm stream did not grow: {norms.tolist()}"
    # the input passes through untouched (x + ...), so a large one stays far above the bound at every layer
    big = 100.0 * x
    assert bool((stream_norms(pre, big) > bound).all())
    # the same weights arranged post-norm stay within it (the contrast this departure is named for)
    assert bool((stream_norms(post, big) <= bound * (1 + 1e-12)).all())


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
