"""aiayn: "Attention Is All You Need" (Vaswani et al., 2017) as executable specs.

The package reads like the paper, and the folder list shows where the paper's model
ends and the machinery around it begins:

    model/       §3    the architecture, one module per subsection
    training/    §5    batching, optimiser and schedule, loss, the trainer, checkpoints
    decoding/    §6.1  greedy and beam search
    data/              tokenizers and data sets
    tasks/             one module per task: data + model + loss + evaluation
    evaluation/        metrics (BLEU, chrF, exact match)
    inspect/           shapes, parameter tables, plots
    checks/            the spec checklist and gate, run-time shape checking
    cli/               the `aiayn` command

Names are imported lazily, so that shape checking (a jaxtyping import hook) can be
switched on before any model code is imported (see `aiayn.checks.shapecheck`).
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "TransformerConfig": "aiayn.model.config",
    "ConfigError": "aiayn.model.config",
    "table3_row": "aiayn.model.config",
    "preset": "aiayn.model.config",
    "Transformer": "aiayn.model.transformer",
    "Encoder": "aiayn.model.transformer",
    "Decoder": "aiayn.model.transformer",
    "DecoderOnlyLM": "aiayn.model.decoder_only",
    "EncoderClassifier": "aiayn.model.encoder_classifier",
    "MultiHeadAttention": "aiayn.model.multi_head",
    "KVCache": "aiayn.model.multi_head",
    "scaled_dot_product_attention": "aiayn.model.attention",
    "attention_weights": "aiayn.model.attention",
    "fused_attention": "aiayn.model.attention",
    "padding_mask": "aiayn.model.masks",
    "subsequent_mask": "aiayn.model.masks",
    "PositionWiseFeedForward": "aiayn.model.feed_forward",
    "sinusoidal_encoding": "aiayn.model.positions",
    "lrate": "aiayn.training.schedule",
    "make_optimizer": "aiayn.training.schedule",
    "label_smoothed_loss": "aiayn.training.loss",
    "InputError": "aiayn.model.inputs",
    "greedy_decode": "aiayn.decoding.search",
    "beam_search": "aiayn.decoding.search",
    "BpeTokenizer": "aiayn.data.tokenizer",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from aiayn.model.attention import attention_weights, fused_attention, scaled_dot_product_attention
    from aiayn.model.config import ConfigError, TransformerConfig, preset, table3_row
    from aiayn.model.decoder_only import DecoderOnlyLM
    from aiayn.decoding.search import beam_search, greedy_decode
    from aiayn.model.encoder_classifier import EncoderClassifier
    from aiayn.model.feed_forward import PositionWiseFeedForward
    from aiayn.model.inputs import InputError
    from aiayn.training.loss import label_smoothed_loss
    from aiayn.model.masks import padding_mask, subsequent_mask
    from aiayn.model.transformer import Decoder, Encoder, Transformer
    from aiayn.model.multi_head import KVCache, MultiHeadAttention
    from aiayn.model.positions import sinusoidal_encoding
    from aiayn.training.schedule import lrate, make_optimizer
    from aiayn.data.tokenizer import BpeTokenizer


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'aiayn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
