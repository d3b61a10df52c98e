"""§3.2.1 Scaled dot-product attention (Eq. 1).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Each query row scores every key row by a dot product, the scores are divided by
sqrt(d_k) so their spread does not grow with the width (footnote 4), a softmax over
the keys turns each row of scores into weights, and the output is that weighted
average of the value rows.

Two forms, proven equal by spec/sec3_2_1_scaled_dot_product_attention.py:
- `scaled_dot_product_attention` / `attention_weights`: the formula written out, so
  the weights can be inspected (attention maps).
- `fused_attention`: torch's fused kernel, which the model uses (in bf16 or fp16 on a
  CPU, torch's plain kernel: there the fused one runs about 8x slower, measured with
  the backward pass at the tiny model's sizes).

Masks are boolean with True meaning "may attend" (see `aiayn.model.masks`). A masked
score is set to -inf before the softmax, so its weight is exactly 0.
"""

import math

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel


def attention_weights(
    q: Float[Tensor, "*batch n_q d_k"],
    k: Float[Tensor, "*batch n_kv d_k"],
    attend: Bool[Tensor, "*#batch #n_q n_kv"] | None = None,
) -> Float[Tensor, "*batch n_q n_kv"]:
    """softmax(Q K^T / sqrt(d_k)): one row of weights over the keys per query.

    A query whose every key is masked gets a row of zeros rather than NaN.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # Q K^T / sqrt(d_k)
    if attend is not None:
        scores = scores.masked_fill(~attend, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if attend is not None:
        weights = weights.nan_to_num(0.0)  # rows with nothing to attend to
    return weights


def scaled_dot_product_attention(
    q: Float[Tensor, "*batch n_q d_k"],
    k: Float[Tensor, "*batch n_kv d_k"],
    v: Float[Tensor, "*batch n_kv d_v"],
    attend: Bool[Tensor, "*#batch #n_q n_kv"] | None = None,
) -> Float[Tensor, "*batch n_q d_v"]:
    """Eq. 1 written out: softmax(Q K^T / sqrt(d_k)) V."""
    return attention_weights(q, k, attend) @ v


def fused_attention(
    q: Float[Tensor, "*batch n_q d_k"],
    k: Float[Tensor, "*batch n_kv d_k"],
    v: Float[Tensor, "*batch n_kv d_v"],
    attend: Bool[Tensor, "*#batch #n_q n_kv"] | None = None,
    dropout_p: float = 0.0,
) -> Float[Tensor, "*batch n_q d_v"]:
    """Eq. 1 through torch's fused kernel (same mask polarity: True = may attend).

    `dropout_p` is 0 in the paper's model; it exists for named departures only.
    """
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout_p)
