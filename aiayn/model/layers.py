"""§3.1 Encoder and decoder layers.

Encoder layer: self-attention, then the feed-forward network, each wrapped in a
residual connection with layer normalisation.

Decoder layer: masked self-attention (a position sees only earlier positions),
encoder-decoder attention (queries from the decoder, keys and values from the
encoder output), then the feed-forward network; three wrapped sub-layers.

A GPT-style decoder-only model is a stack of encoder layers under a subsequent-
position mask: the same block, no cross-attention (see `aiayn.model.decoder_only`).
"""

from jaxtyping import Bool, Float
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.feed_forward import PositionWiseFeedForward
from aiayn.model.multi_head import KVCache, MultiHeadAttention
from aiayn.model.residual import residual


class EncoderLayer(nn.Module):
    """Self-attention and feed-forward sub-layers (§3.1, left half of Figure 1)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.h, cfg.d_k, cfg.d_v)
        self.feed_forward = PositionWiseFeedForward(cfg.d_model, cfg.d_ff)
        self.self_attn_residual = residual(cfg.norm, cfg.d_model, cfg.p_drop)
        self.feed_forward_residual = residual(cfg.norm, cfg.d_model, cfg.p_drop)

    def forward(
        self,
        x: Float[Tensor, "batch n {self.d_model}"],
        attend: Bool[Tensor, "#batch 1 #n n_all"] | None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        x = self.self_attn_residual(x, lambda y: self.self_attn(y, y, attend, cache))
        return self.feed_forward_residual(x, self.feed_forward)


class DecoderLayer(nn.Module):
    """Masked self-attention, encoder-decoder attention, feed-forward (§3.1, Figure 1 right)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.h, cfg.d_k, cfg.d_v)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.h, cfg.d_k, cfg.d_v)
        self.feed_forward = PositionWiseFeedForward(cfg.d_model, cfg.d_ff)
        self.self_attn_residual = residual(cfg.norm, cfg.d_model, cfg.p_drop)
        self.cross_attn_residual = residual(cfg.norm, cfg.d_model, cfg.p_drop)
        self.feed_forward_residual = residual(cfg.norm, cfg.d_model, cfg.p_drop)

    def forward(
        self,
        x: Float[Tensor, "batch n_tgt {self.d_model}"],
        memory: Float[Tensor, "batch n_src {self.d_model}"],
        self_attend: Bool[Tensor, "#batch 1 #n_tgt n_all"] | None,
        memory_attend: Bool[Tensor, "#batch 1 #n_tgt n_src"] | None,
        self_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
    ) -> Float[Tensor, "batch n_tgt {self.d_model}"]:
        x = self.self_attn_residual(x, lambda y: self.self_attn(y, y, self_attend, self_cache))
        # queries from the decoder, keys and values from the encoder output (§3.2.3)
        x = self.cross_attn_residual(x, lambda y: self.cross_attn(y, memory, memory_attend, cross_cache))
        return self.feed_forward_residual(x, self.feed_forward)
