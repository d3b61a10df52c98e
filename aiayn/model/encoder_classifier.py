"""An encoder-only classifier, built from the paper's encoder (§3.1).

Not in the paper; asked for by learners (seeds/002). The encoder stack reads the
whole sequence in both directions; the mean of its outputs over real (non-padding)
positions goes through one linear layer to class logits.
"""

from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.model.embedding import Embedding, EmbeddingStem
from aiayn.model.inputs import check_tokens
from aiayn.model.masks import padding_mask
from aiayn.model.transformer import Encoder


class EncoderClassifier(nn.Module):
    """`EncoderClassifier(cfg, n_classes)(tokens)` -> logits (batch, n_classes)."""

    def __init__(self, cfg: TransformerConfig, n_classes: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"EncoderClassifier: n_classes must be at least 2, got {n_classes}")
        self.cfg, self.n_classes, self.d_model = cfg, n_classes, cfg.d_model
        self.embed = Embedding(cfg.vocab_size, cfg.d_model)
        self.stem = EmbeddingStem(cfg)
        self.encoder = Encoder(cfg)
        self.head = nn.Linear(cfg.d_model, n_classes)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch {self.n_classes}"]:
        check_tokens("tokens", tokens, self.cfg.vocab_size)
        attend = padding_mask(tokens, self.cfg.pad_id)
        x = self.encoder(self.stem(self.embed, tokens), attend)
        real = attend[:, 0, 0, :, None].to(x.dtype)  # (batch, n, 1): 1 at non-padding positions
        pooled = (x * real).sum(1) / real.sum(1).clamp(min=1)  # mean over real positions
        return self.head(pooled)
