"""aiayn: "Attention Is All You Need" (Vaswani et al., 2017) as executable specs.

The modules follow the paper's sections:

    attention        §3.2.1  scaled dot-product attention (Eq. 1)
    multi_head       §3.2.2  multi-head attention, key/value cache
    masks            §3.2.3  padding and subsequent-position masks
    feed_forward     §3.3    position-wise feed-forward network (Eq. 2)
    embedding        §3.4    embeddings and the tied pre-softmax map
    positions        §3.5    sinusoidal and learned positions
    residual         §3.1    LayerNorm(x + Sublayer(x)), and pre-norm as a departure
    layers, model    §3.1    encoder and decoder layers and stacks, the Transformer
    schedule         §5.3    Adam settings and the Eq. 3 learning rate
    loss             §5.4    label smoothing
    batching         §5.1    length-grouped batches under a token budget
    training         §5      the training loop (accumulation, torchrun, bf16, resume)
    decoding         §6.1    greedy and beam search with the GNMT length penalty
    averaging        §6.1    checkpoint averaging
    config           Table 3 hyperparameters and presets

Names are imported lazily, so that shape checking (a jaxtyping import hook) can be
switched on before any model code is imported (see `aiayn.shapecheck`).
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "TransformerConfig": "aiayn.config",
    "ConfigError": "aiayn.config",
    "table3_row": "aiayn.config",
    "preset": "aiayn.config",
    "Transformer": "aiayn.model",
    "Encoder": "aiayn.model",
    "Decoder": "aiayn.model",
    "DecoderOnlyLM": "aiayn.decoder_only",
    "EncoderClassifier": "aiayn.encoder_classifier",
    "MultiHeadAttention": "aiayn.multi_head",
    "KVCache": "aiayn.multi_head",
    "scaled_dot_product_attention": "aiayn.attention",
    "attention_weights": "aiayn.attention",
    "fused_attention": "aiayn.attention",
    "padding_mask": "aiayn.masks",
    "subsequent_mask": "aiayn.masks",
    "PositionWiseFeedForward": "aiayn.feed_forward",
    "sinusoidal_encoding": "aiayn.positions",
    "lrate": "aiayn.schedule",
    "make_optimizer": "aiayn.schedule",
    "label_smoothed_loss": "aiayn.loss",
    "InputError": "aiayn.inputs",
    "greedy_decode": "aiayn.decoding",
    "beam_search": "aiayn.decoding",
    "BpeTokenizer": "aiayn.tokenizer",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from aiayn.attention import attention_weights, fused_attention, scaled_dot_product_attention
    from aiayn.config import ConfigError, TransformerConfig, preset, table3_row
    from aiayn.decoder_only import DecoderOnlyLM
    from aiayn.decoding import beam_search, greedy_decode
    from aiayn.encoder_classifier import EncoderClassifier
    from aiayn.feed_forward import PositionWiseFeedForward
    from aiayn.inputs import InputError
    from aiayn.loss import label_smoothed_loss
    from aiayn.masks import padding_mask, subsequent_mask
    from aiayn.model import Decoder, Encoder, Transformer
    from aiayn.multi_head import KVCache, MultiHeadAttention
    from aiayn.positions import sinusoidal_encoding
    from aiayn.schedule import lrate, make_optimizer
    from aiayn.tokenizer import BpeTokenizer


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'aiayn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
