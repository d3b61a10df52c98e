"""§3.3 Position-wise feed-forward network (Eq. 2)

Every encoder and decoder layer ends with the same small network applied to each
position on its own:

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2        W_1: d_model x d_ff, W_2: d_ff x d_model

- It is Eq. 2 exactly: a linear map up to the inner width d_ff, a ReLU, a linear map
  back down to d_model (base model: 512 -> 2048 -> 512).
- It is two convolutions with kernel size 1, the paper's second description of it.
- Position-wise: it never mixes positions, so permuting the positions of the input
  permutes the output the same way. (A kernel-size-3 convolution, which does mix
  neighbours, fails this.)
- The transformation is the same across positions but each layer has its own
  W_1, b_1, W_2, b_2.

Choice of ours: nn.Linear stores W as (out, in), so x W_1 is `x @ w_1.weight.T`.
"""

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.feed_forward import PositionWiseFeedForward
from aiayn.model.transformer import Transformer

CODE = "aiayn/model/feed_forward.py"


def eq2(
    x: Float[Tensor, "*batch n d_model"],
    w_1: Float[Tensor, "d_model d_ff"],
    b_1: Float[Tensor, " d_ff"],
    w_2: Float[Tensor, "d_ff d_model"],
    b_2: Float[Tensor, " d_model"],
) -> Float[Tensor, "*batch n d_model"]:
    """max(0, x W_1 + b_1) W_2 + b_2, written out."""
    return torch.clamp(x @ w_1 + b_1, min=0.0) @ w_2 + b_2


shapes = dict(
    batch=st.integers(1, 3),
    n=st.integers(1, 13),
    d_model=st.sampled_from([2, 3, 5, 7, 11]),
    d_ff=st.sampled_from([13, 17, 19, 23]),
    seed=st.integers(0, 2**16),
)


@given(**shapes)
@example(batch=2, n=3, d_model=512, d_ff=2048, seed=0)  # the base model's sizes (Table 3)
@example(batch=2, n=7, d_model=5, d_ff=11, seed=1)
def test_ffn_equals_eq2_retyped_in_float64(batch: int, n: int, d_model: int, d_ff: int, seed: int) -> None:
    """The feed-forward sub-layer computes max(0, x W_1 + b_1) W_2 + b_2 (Eq. 2)."""
    torch.manual_seed(seed)
    ffn = PositionWiseFeedForward(d_model, d_ff).double()
    with torch.no_grad():  # nonzero biases, so forgetting either one shows
        ffn.w_1.bias.normal_()
        ffn.w_2.bias.normal_()
    x = torch.randn(batch, n, d_model, dtype=torch.float64)
    w_1, b_1 = ffn.w_1.weight.T, ffn.w_1.bias  # d_model x d_ff
    w_2, b_2 = ffn.w_2.weight.T, ffn.w_2.bias  # d_ff x d_model
    with torch.no_grad():
        got = ffn(x)
        torch.testing.assert_close(got, eq2(x, w_1, b_1, w_2, b_2), rtol=1e-12, atol=1e-12)
        # the ReLU matters: without max(0, .) it is one linear map, and differs
        linear_only = (x @ w_1 + b_1) @ w_2 + b_2
        assert (got - linear_only).abs().max() > 1e-6


@given(**shapes)
@example(batch=2, n=7, d_model=5, d_ff=11, seed=0)
def test_ffn_equals_two_convolutions_with_kernel_size_one(batch: int, n: int, d_model: int, d_ff: int, seed: int) -> None:
    """Eq. 2 is two kernel-size-1 convolutions over the positions, with the same weights."""
    torch.manual_seed(seed)
    ffn = PositionWiseFeedForward(d_model, d_ff).double()
    conv_1 = nn.Conv1d(d_model, d_ff, kernel_size=1).double()
    conv_2 = nn.Conv1d(d_ff, d_model, kernel_size=1).double()
    with torch.no_grad():
        conv_1.weight.copy_(ffn.w_1.weight[:, :, None])
        conv_1.bias.copy_(ffn.w_1.bias)
        conv_2.weight.copy_(ffn.w_2.weight[:, :, None])
        conv_2.bias.copy_(ffn.w_2.bias)
        x = torch.randn(batch, n, d_model, dtype=torch.float64)
        by_conv = conv_2(torch.relu(conv_1(x.transpose(1, 2)))).transpose(1, 2)  # channels = features
        torch.testing.assert_close(ffn(x), by_conv, rtol=1e-12, atol=1e-12)


@given(**shapes, perm_seed=st.integers(0, 2**16))
@example(batch=2, n=7, d_model=5, d_ff=11, seed=0, perm_seed=1)
def test_ffn_commutes_with_permuting_positions(
    batch: int, n: int, d_model: int, d_ff: int, seed: int, perm_seed: int
) -> None:
    """Permuting the positions of the input permutes the output the same way, and no position sees another."""
    torch.manual_seed(seed)
    ffn = PositionWiseFeedForward(d_model, d_ff).double()
    x = torch.randn(batch, n, d_model, dtype=torch.float64)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(perm_seed))
    with torch.no_grad():
        torch.testing.assert_close(ffn(x[:, perm]), ffn(x)[:, perm], rtol=1e-12, atol=1e-12)

        # and each output position sees only its own input: change one position, only it moves
        j = int(perm[0])
        poked = x.clone()
        poked[:, j] += torch.randn(batch, d_model, dtype=torch.float64)
        moved = (ffn(poked) - ffn(x)).abs().amax(dim=(0, 2))
        others = torch.arange(n) != j
        assert (moved[others] == 0).all()

        # the broken variant: a kernel-size-3 convolution mixes neighbours and does not commute
        if n >= 3 and not torch.equal(perm, torch.arange(n)):
            mixing = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1).double()

            def conv3(y: Float[Tensor, "batch n d_model"]) -> Float[Tensor, "batch n d_model"]:
                return mixing(y.transpose(1, 2)).transpose(1, 2)

            assert (conv3(x[:, perm]) - conv3(x)[:, perm]).abs().max() > 1e-6


def test_each_layer_has_its_own_feed_forward_parameters() -> None:
    """W_1, b_1, W_2, b_2 are shared across positions but differ from layer to layer."""
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=53, n_layers=2, d_model=26, d_ff=37, h=2)
    model = Transformer(cfg)
    ffns = [layer.feed_forward for layer in (*model.encoder.layers, *model.decoder.layers)]
    assert len(ffns) == 2 * cfg.n_layers
    for name in ("w_1.weight", "w_1.bias", "w_2.weight", "w_2.bias"):
        tensors = [ffn.get_parameter(name) for ffn in ffns]
        for i in range(len(tensors)):
            for j in range(i + 1, len(tensors)):
                assert tensors[i] is not tensors[j], f"{name} of FFN {i} and {j} is one tensor"
                assert tensors[i].data_ptr() != tensors[j].data_ptr(), f"{name} of FFN {i} and {j} share storage"
                assert not torch.equal(tensors[i], tensors[j]), f"{name} of FFN {i} and {j} hold equal values"
    # every one of them is counted among the model's parameters (none is tied away)
    ffn_params = {id(p) for ffn in ffns for p in ffn.parameters()}
    model_params = {id(p) for p in model.parameters()}
    assert ffn_params <= model_params
    per_ffn = 2 * cfg.d_model * cfg.d_ff + cfg.d_ff + cfg.d_model
    assert sum(p.numel() for p in model.parameters() if id(p) in ffn_params) == 2 * cfg.n_layers * per_ffn


@settings(max_examples=10)
@given(**shapes)
@example(batch=2, n=3, d_model=512, d_ff=2048, seed=0)
def test_inner_width_is_d_ff_and_output_width_is_d_model(batch: int, n: int, d_model: int, d_ff: int, seed: int) -> None:
    """The hidden layer has d_ff units; the output is back at d_model."""
    torch.manual_seed(seed)
    ffn = PositionWiseFeedForward(d_model, d_ff)
    assert ffn.w_1.weight.shape == (d_ff, d_model) and ffn.w_1.bias.shape == (d_ff,)
    assert ffn.w_2.weight.shape == (d_model, d_ff) and ffn.w_2.bias.shape == (d_model,)
    seen: list[torch.Size] = []
    hook = ffn.relu.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            y = ffn(torch.randn(batch, n, d_model))
    finally:
        hook.remove()
    assert seen == [torch.Size((batch, n, d_ff))]
    assert y.shape == (batch, n, d_model)
