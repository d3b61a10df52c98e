"""§3.1 The encoder-decoder Transformer (Figure 1).

    src ids -> Embedding * sqrt(d_model) + PE -> Dropout -> N encoder layers -> memory
    tgt ids -> Embedding * sqrt(d_model) + PE -> Dropout -> N decoder layers (with memory)
            -> x E^T = logits

The encoder maps the source to a sequence of d_model vectors (the "memory"); the
decoder, fed the target shifted right, predicts each next target token from the
earlier ones and the memory. The model returns logits; the softmax is applied by
the loss and by decoding.
"""

from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.embedding import Embedding, EmbeddingStem
from aiayn.model.inputs import check_tokens
from aiayn.model.layers import DecoderLayer, EncoderLayer
from aiayn.model.masks import cached_self_mask, decoder_self_mask, padding_mask
from aiayn.model.multi_head import Cache
from aiayn.model.residual import final_norm


class Encoder(nn.Module):
    """A stack of N encoder layers, each with its own parameters (§3.1).

    Under a subsequent-position mask, and with a cache, the same stack is the body of
    the decoder-only model (`aiayn.model.decoder_only`)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = final_norm(cfg.norm, cfg.d_model)

    def forward(
        self,
        x: Float[Tensor, "batch n {self.d_model}"],
        attend: Bool[Tensor, "#batch 1 #n n_all"] | None,
        cache: Cache | None = None,
    ) -> Float[Tensor, "batch n {self.d_model}"]:
        for i, layer in enumerate(self.layers):
            x = layer(x, attend, cache.self_attn[i] if cache is not None else None)
        return self.final_norm(x)


class Decoder(nn.Module):
    """A stack of N decoder layers, each with its own parameters (§3.1)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.d_model = cfg.d_model
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = final_norm(cfg.norm, cfg.d_model)

    def forward(
        self,
        x: Float[Tensor, "batch n_tgt {self.d_model}"],
        memory: Float[Tensor, "batch n_src {self.d_model}"],
        self_attend: Bool[Tensor, "#batch 1 #n_tgt n_all"] | None,
        memory_attend: Bool[Tensor, "#batch 1 #n_tgt n_src"] | None,
        cache: Cache | None = None,
    ) -> Float[Tensor, "batch n_tgt {self.d_model}"]:
        for i, layer in enumerate(self.layers):
            self_cache = cache.self_attn[i] if cache is not None else None
            cross_cache = cache.cross_attn[i] if cache is not None else None
            x = layer(x, memory, self_attend, memory_attend, self_cache, cross_cache)
        return self.final_norm(x)


class Transformer(nn.Module):
    """The encoder-decoder Transformer: `Transformer(cfg)(src, tgt)` -> logits."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_model, self.vocab_size = cfg.d_model, cfg.vocab_size
        self.tgt_embed = Embedding(cfg.vocab_size, cfg.d_model)
        # §3.4: source embedding, target embedding and pre-softmax map share one matrix
        self.src_embed = self.tgt_embed if cfg.share_embeddings else Embedding(cfg.vocab_size, cfg.d_model)
        self.stem = EmbeddingStem(cfg)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(
        self, src: Int[Tensor, "batch n_src"]
    ) -> tuple[Float[Tensor, "batch n_src {self.d_model}"], Bool[Tensor, "batch 1 1 n_src"]]:
        """The memory (encoder output) and the mask of real source positions."""
        check_tokens("src", src, self.vocab_size)
        src_attend = padding_mask(src, self.cfg.pad_id)
        return self.encoder(self.stem(self.src_embed, src), src_attend), src_attend

    def decode(
        self,
        tgt: Int[Tensor, "batch n_tgt"],
        memory: Float[Tensor, "batch n_src {self.d_model}"],
        src_attend: Bool[Tensor, "batch 1 1 n_src"],
        cache: Cache | None = None,
    ) -> Float[Tensor, "batch n_tgt {self.vocab_size}"]:
        """Logits for each target position. With a cache, `tgt` holds only the new
        positions; earlier ones are read from the cache."""
        check_tokens("tgt", tgt, self.vocab_size)
        offset = len(cache) if cache is not None else 0
        n_new = tgt.shape[1]
        if cache is None:  # §3.2.3: earlier-or-same, non-padding positions
            self_attend = decoder_self_mask(tgt, self.cfg.pad_id)
        else:  # the new positions see every cached one
            self_attend = cached_self_mask(n_new, offset, device=tgt.device)
        x = self.decoder(self.stem(self.tgt_embed, tgt, offset), memory, self_attend, src_attend, cache)
        return self.tgt_embed.logits(x)

    def forward(
        self, src: Int[Tensor, "batch n_src"], tgt: Int[Tensor, "batch n_tgt"]
    ) -> Float[Tensor, "batch n_tgt {self.vocab_size}"]:
        memory, src_attend = self.encode(src)
        return self.decode(tgt, memory, src_attend)

    def new_cache(self) -> Cache:
        return Cache.empty(self.cfg.n_layers, cross_attention=True)
