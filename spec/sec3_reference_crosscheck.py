"""§3 Cross-check against torch's reference Transformer

Claims, in our words:
- The encoder-decoder stack of §3.1 to §3.3 (post-norm layers, multi-head attention,
  feed-forward networks, the two masks of §3.2.3) is the same function as
  torch.nn.Transformer configured the paper's way, once the weights are copied over:
  post-norm (norm_first=False), ReLU, no dropout, and no LayerNorm after the last
  layer of either stack (torch adds one by default; the paper's post-norm stack ends
  with the last sub-layer's LayerNorm already).
- Our MultiHeadAttention is the same function as torch.nn.MultiheadAttention with
  in_proj_weight = [W^Q; W^K; W^V] and out_proj = W^O, key padding included, and its
  recorded attention maps are torch's per-head weights.

Conventions translated in the oracle calls: torch's boolean masks mean True = blocked,
ours True = may attend, so each of our masks is inverted on the way in (torch's float
masks put -inf exactly where ours is False). Embeddings, positions and the tied
output map are outside nn.Transformer, so both sides are fed the same embedded inputs
and compared on the decoder output, then on logits through the same E^T.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn import MultiHeadAttention, Transformer, TransformerConfig, padding_mask, subsequent_mask
from aiayn.inspect.attention_maps import capture_attention

CODE = "aiayn/model/transformer.py, aiayn/model/multi_head.py"

# nn.Transformer always asks for nested tensors, then declines them for odd head counts
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")

VOCAB, PAD = 37, 0
D_MODEL, H, D_FF, N_LAYERS = 30, 3, 22, 2


def copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)


def copy_linear(ours: nn.Linear, theirs: nn.Linear) -> None:
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)


def copy_norm(ours: nn.LayerNorm, theirs: nn.LayerNorm) -> None:
    assert ours.eps == theirs.eps
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)


def models(seed: int, dtype: torch.dtype, norm_first: bool = False) -> tuple[Transformer, nn.Transformer]:
    """Our tiny Transformer and torch's, configured as in the paper, with our weights copied in."""
    torch.manual_seed(seed)
    cfg = TransformerConfig.tiny(
        vocab_size=VOCAB, d_model=D_MODEL, h=H, d_ff=D_FF, n_layers=N_LAYERS, p_drop=0.0, pad_id=PAD
    )
    ours = Transformer(cfg).to(dtype).eval()
    with torch.no_grad():  # LayerNorm parameters away from (1, 0), so copying them matters
        for module in ours.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    theirs = nn.Transformer(
        d_model=D_MODEL,
        nhead=H,
        num_encoder_layers=N_LAYERS,
        num_decoder_layers=N_LAYERS,
        dim_feedforward=D_FF,
        dropout=0.0,
        activation="relu",
        batch_first=True,
        norm_first=norm_first,
    ).to(dtype).eval()
    theirs.encoder.norm = nn.Identity()  # the paper's post-norm stack has no final LayerNorm
    theirs.decoder.norm = nn.Identity()
    for mine, ref in zip(ours.encoder.layers, theirs.encoder.layers, strict=True):
        copy_attention(mine.self_attn, ref.self_attn)
        copy_linear(mine.feed_forward.w_1, ref.linear1)
        copy_linear(mine.feed_forward.w_2, ref.linear2)
        copy_norm(mine.self_attn_residual.norm, ref.norm1)
        copy_norm(mine.feed_forward_residual.norm, ref.norm2)
    for mine, ref in zip(ours.decoder.layers, theirs.decoder.layers, strict=True):
        copy_attention(mine.self_attn, ref.self_attn)
        copy_attention(mine.cross_attn, ref.multihead_attn)
        copy_linear(mine.feed_forward.w_1, ref.linear1)
        copy_linear(mine.feed_forward.w_2, ref.linear2)
        copy_norm(mine.self_attn_residual.norm, ref.norm1)
        copy_norm(mine.cross_attn_residual.norm, ref.norm2)
        copy_norm(mine.feed_forward_residual.norm, ref.norm3)
    return ours, theirs


def torch_masks(
    src: Int[Tensor, "batch n_src"], tgt: Int[Tensor, "batch n_tgt"]
) -> tuple[Bool[Tensor, "n_tgt n_tgt"], Bool[Tensor, "batch n_src"], Bool[Tensor, "batch n_tgt"]]:
    """Our masks in torch's convention, True = blocked: the causal mask and the padding masks."""
    n_tgt = tgt.shape[1]
    return ~subsequent_mask(n_tgt)[0, 0], ~padding_mask(src, PAD)[:, 0, 0], ~padding_mask(tgt, PAD)[:, 0, 0]


def batch_with_padding(
    seed: int, n_src: int, n_tgt: int
) -> tuple[Int[Tensor, "batch n_src"], Int[Tensor, "batch n_tgt"]]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, VOCAB, (3, n_src), generator=g)
    tgt = torch.randint(1, VOCAB, (3, n_tgt), generator=g)
    src[1, n_src - 2 :] = PAD  # sentences of different lengths
    src[2, max(1, n_src - 4) :] = PAD
    tgt[2, n_tgt - 1 :] = PAD
    return src, tgt


def both_decoder_outputs(
    ours: Transformer, theirs: nn.Module, src: Int[Tensor, "batch n_src"], tgt: Int[Tensor, "batch n_tgt"]
) -> tuple[Float[Tensor, "batch n_tgt d_model"], Float[Tensor, "batch n_tgt d_model"]]:
    """Our decoder output and torch's, from the same embedded source and target."""
    x_src = ours.stem.positions(ours.src_embed(src))
    x_tgt = ours.stem.positions(ours.tgt_embed(tgt))
    memory = ours.encoder(x_src, padding_mask(src, PAD))
    mine = ours.decoder(x_tgt, memory, subsequent_mask(tgt.shape[1]) & padding_mask(tgt, PAD), padding_mask(src, PAD))
    causal, src_pad, tgt_pad = torch_masks(src, tgt)
    ref = theirs(
        x_src,
        x_tgt,
        tgt_mask=causal,
        src_key_padding_mask=src_pad,
        tgt_key_padding_mask=tgt_pad,
        memory_key_padding_mask=src_pad,
    )
    return mine, ref


@settings(max_examples=10)
@given(seed=st.integers(0, 2**16), n_src=st.sampled_from([5, 7, 11]), n_tgt=st.sampled_from([2, 3, 13]))
def test_transformer_matches_torch_nn_transformer(seed: int, n_src: int, n_tgt: int) -> None:
    """With copied weights, our encoder-decoder equals nn.Transformer configured as the paper, in float64."""
    ours, theirs = models(seed, torch.float64)
    src, tgt = batch_with_padding(seed, n_src, n_tgt)
    with torch.no_grad():
        mine, ref = both_decoder_outputs(ours, theirs, src, tgt)
        assert mine.shape == ref.shape == (3, n_tgt, D_MODEL)
        torch.testing.assert_close(mine, ref, rtol=0, atol=1e-10)
        # and the logits, through the same tied map E^T (§3.4)
        torch.testing.assert_close(ours(src, tgt), ours.tgt_embed.logits(ref), rtol=0, atol=1e-9)


def test_transformer_matches_torch_nn_transformer_in_float32() -> None:
    """The same agreement holds in float32, the training precision, to 1e-5."""
    ours, theirs = models(1, torch.float32)
    src, tgt = batch_with_padding(1, 7, 5)
    with torch.no_grad():
        mine, ref = both_decoder_outputs(ours, theirs, src, tgt)
    torch.testing.assert_close(mine, ref, rtol=0, atol=1e-5)


def test_torch_defaults_are_not_the_papers_stack() -> None:
    """Broken variants: torch's final LayerNorms, or norm_first=True, give a different function."""
    ours, theirs = models(2, torch.float64)
    src, tgt = batch_with_padding(2, 7, 5)
    with torch.no_grad():
        mine, ref = both_decoder_outputs(ours, theirs, src, tgt)
        torch.testing.assert_close(mine, ref, rtol=0, atol=1e-10)  # the paper's configuration agrees
        # nn.Transformer's default: a LayerNorm after each stack re-normalises the result
        theirs.encoder.norm = nn.LayerNorm(D_MODEL, dtype=torch.float64)
        theirs.decoder.norm = nn.LayerNorm(D_MODEL, dtype=torch.float64)
        _, with_final_norms = both_decoder_outputs(ours, theirs, src, tgt)
        assert (with_final_norms - mine).abs().max() > 1e-2
        # pre-norm with the same weights
        _, pre = models(2, torch.float64, norm_first=True)
        _, pre_out = both_decoder_outputs(ours, pre, src, tgt)
        assert (pre_out - mine).abs().max() > 1e-2


@given(
    seed=st.integers(0, 2**16),
    h=st.sampled_from([1, 3, 5]),
    n_q=st.sampled_from([2, 3, 7]),
    n_kv=st.sampled_from([5, 11, 13]),
)
def test_multi_head_attention_matches_nn_multihead_attention(seed: int, h: int, n_q: int, n_kv: int) -> None:
    """Our MultiHeadAttention equals nn.MultiheadAttention with copied weights, key padding included, to 1e-6."""
    d_model = 30
    torch.manual_seed(seed)
    ours = MultiHeadAttention(d_model, h).eval()
    theirs = nn.MultiheadAttention(d_model, h, dropout=0.0, bias=True, batch_first=True).eval()
    copy_attention(ours, theirs)
    g = torch.Generator().manual_seed(seed)
    x_q = torch.randn(3, n_q, d_model, generator=g)
    x_kv = torch.randn(3, n_kv, d_model, generator=g)
    keys = torch.randint(1, VOCAB, (3, n_kv), generator=g)
    keys[1, n_kv - 2 :] = PAD
    keys[2, 1:] = PAD  # a single real key
    attend = padding_mask(keys, PAD)
    with torch.no_grad():
        ref, ref_maps = theirs(
            x_q, x_kv, x_kv, key_padding_mask=~attend[:, 0, 0], need_weights=True, average_attn_weights=False
        )
        torch.testing.assert_close(ours(x_q, x_kv, attend), ref, rtol=0, atol=1e-6)  # fused path
        with capture_attention(ours) as recorder:  # the written-out path, which hands over the maps
            torch.testing.assert_close(ours(x_q, x_kv, attend), ref, rtol=0, atol=1e-6)
        (maps,) = recorder.of(ours)
        torch.testing.assert_close(maps, ref_maps, rtol=0, atol=1e-6)
        # self-attention without a mask too
        ref_self, _ = theirs(x_kv, x_kv, x_kv, need_weights=False)
        torch.testing.assert_close(ours(x_kv, x_kv), ref_self, rtol=0, atol=1e-6)
