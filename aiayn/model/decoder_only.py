"""A decoder-only language model (GPT-style), built from the paper's blocks.

Not in the paper, which pairs an encoder with a decoder; the learners this project
serves ask for it. Without an encoder there is nothing to cross-attend to, so each
block is the encoder layer of §3.1 run under the subsequent-position mask of §3.2.3:
position i sees positions 0..i only. Embeddings, positions, post-norm residuals and
the tied pre-softmax map are those of the paper.
"""

from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.embedding import Embedding
from aiayn.model.inputs import check_tokens
from aiayn.model.layers import EncoderLayer
from aiayn.model.masks import padding_mask, subsequent_mask
from aiayn.model.transformer import positions
from aiayn.model.multi_head import KVCache
from aiayn.model.residual import final_norm


class DecoderOnlyLM(nn.Module):
    """`DecoderOnlyLM(cfg)(tokens)` -> next-token logits at every position."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_model, self.vocab_size = cfg.d_model, cfg.vocab_size
        self.embed = Embedding(cfg.vocab_size, cfg.d_model)  # also the pre-softmax map (§3.4)
        self.positions = positions(cfg)
        self.embed_dropout = nn.Dropout(cfg.p_drop)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = final_norm(cfg.norm, cfg.d_model)

    def new_cache(self) -> tuple[KVCache, ...]:
        return tuple(KVCache() for _ in range(self.cfg.n_layers))

    def forward(
        self, tokens: Int[Tensor, "batch n"], cache: tuple[KVCache, ...] | None = None
    ) -> Float[Tensor, "batch n {self.vocab_size}"]:
        """Logits for the token after each position. With a cache, `tokens` holds only
        the new positions."""
        check_tokens("tokens", tokens, self.vocab_size)
        offset = len(cache[0]) if cache else 0
        n_new = tokens.shape[1]
        attend = subsequent_mask(n_new, offset + n_new, device=tokens.device)
        if cache is None:
            attend = attend & padding_mask(tokens, self.cfg.pad_id)
        x = self.embed_dropout(self.positions(self.embed(tokens), offset))
        for i, layer in enumerate(self.layers):
            x = layer(x, attend, cache[i] if cache is not None else None)
        return self.embed.logits(self.final_norm(x))
