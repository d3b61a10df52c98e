"""A decoder-only language model (GPT-style), built from the paper's blocks.

Not in the paper, which pairs an encoder with a decoder; the learners this project
serves ask for it. Without an encoder there is nothing to cross-attend to, so the
body is the encoder stack of §3.1 run under the subsequent-position mask of §3.2.3:
position i sees positions 0..i only. Embeddings, positions, post-norm residuals and
the tied pre-softmax map are those of the paper.
"""

from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.embedding import Embedding, EmbeddingStem
from aiayn.model.inputs import check_tokens
from aiayn.model.masks import padding_mask, subsequent_mask
from aiayn.model.multi_head import Cache
from aiayn.model.transformer import Encoder


class DecoderOnlyLM(nn.Module):
    """`DecoderOnlyLM(cfg)(tokens)` -> next-token logits at every position."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_model, self.vocab_size = cfg.d_model, cfg.vocab_size
        self.embed = Embedding(cfg.vocab_size, cfg.d_model)  # also the pre-softmax map (§3.4)
        self.stem = EmbeddingStem(cfg)
        self.blocks = Encoder(cfg)  # N self-attention + feed-forward layers, and the final norm

    def new_cache(self) -> Cache:
        return Cache.empty(self.cfg.n_layers)

    def forward(
        self, tokens: Int[Tensor, "batch n"], cache: Cache | None = None
    ) -> Float[Tensor, "batch n {self.vocab_size}"]:
        """Logits for the token after each position. With a cache, `tokens` holds only
        the new positions."""
        check_tokens("tokens", tokens, self.vocab_size)
        offset = len(cache) if cache is not None else 0
        n_new = tokens.shape[1]
        attend = subsequent_mask(n_new, offset + n_new, device=tokens.device)
        if cache is None:
            attend = attend & padding_mask(tokens, self.cfg.pad_id)
        x = self.blocks(self.stem(self.embed, tokens, offset), attend, cache)
        return self.embed.logits(x)
