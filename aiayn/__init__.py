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
    "Cache": "aiayn.model.multi_head",
    "scaled_dot_product_attention": "aiayn.model.attention",
    "attention_weights": "aiayn.model.attention",
    "fused_attention": "aiayn.model.attention",
    "padding_mask": "aiayn.model.masks",
    "subsequent_mask": "aiayn.model.masks",
    "PositionWiseFeedForward": "aiayn.model.feed_forward",
    "sinusoidal_encoding": "aiayn.model.positions",
    "InputError": "aiayn.model.inputs",
    "pad_rows": "aiayn.model.inputs",
    "lrate": "aiayn.training.schedule",
    "make_optimizer": "aiayn.training.schedule",
    "label_smoothed_loss": "aiayn.training.loss",
    "Trainer": "aiayn.training.trainer",
    "TrainSettings": "aiayn.training.trainer",
    "BatchSource": "aiayn.training.batching",
    "length_batches": "aiayn.training.batching",
    "PairBatches": "aiayn.training.pair_batches",
    "PairTokens": "aiayn.data.binarized",
    "binarize": "aiayn.data.binarized",
    "TrainingBatch": "aiayn.training.batching",
    "step_budget": "aiayn.training.budget",
    "StepBudget": "aiayn.training.budget",
    "latest_good_checkpoint": "aiayn.training.checkpoint",
    "average_checkpoints": "aiayn.training.averaging",
    "average_last_checkpoints": "aiayn.training.averaging",
    "greedy_decode": "aiayn.decoding.search",
    "beam_search": "aiayn.decoding.search",
    "generate": "aiayn.decoding.sampling",
    "BpeTokenizer": "aiayn.data.tokenizer",
    "CharTokenizer": "aiayn.data.characters",
    "Task": "aiayn.tasks.base",
    "RunSpec": "aiayn.tasks.base",
    "Run": "aiayn.tasks.base",
    "train_run": "aiayn.tasks.runner",
    "load_run": "aiayn.tasks.runner",
    "capture_attention": "aiayn.inspect.attention_maps",
    "translation_attention": "aiayn.inspect.attention_maps",
    "language_model_attention": "aiayn.inspect.attention_maps",
    "AttentionMaps": "aiayn.inspect.attention_maps",
    "ModelAttention": "aiayn.inspect.attention_maps",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from aiayn.data.characters import CharTokenizer
    from aiayn.data.tokenizer import BpeTokenizer
    from aiayn.decoding.sampling import generate
    from aiayn.decoding.search import beam_search, greedy_decode
    from aiayn.inspect.attention_maps import AttentionMaps, ModelAttention, capture_attention, language_model_attention, translation_attention
    from aiayn.model.attention import attention_weights, fused_attention, scaled_dot_product_attention
    from aiayn.model.config import ConfigError, TransformerConfig, preset, table3_row
    from aiayn.model.decoder_only import DecoderOnlyLM
    from aiayn.model.encoder_classifier import EncoderClassifier
    from aiayn.model.feed_forward import PositionWiseFeedForward
    from aiayn.model.inputs import InputError, pad_rows
    from aiayn.model.masks import padding_mask, subsequent_mask
    from aiayn.model.multi_head import Cache, KVCache, MultiHeadAttention
    from aiayn.model.positions import sinusoidal_encoding
    from aiayn.model.transformer import Decoder, Encoder, Transformer
    from aiayn.tasks.base import Run, RunSpec, Task
    from aiayn.tasks.runner import load_run, train_run
    from aiayn.training.averaging import average_checkpoints, average_last_checkpoints
    from aiayn.training.batching import BatchSource, TrainingBatch, length_batches
    from aiayn.training.pair_batches import PairBatches
    from aiayn.data.binarized import PairTokens, binarize
    from aiayn.training.budget import StepBudget, step_budget
    from aiayn.training.checkpoint import latest_good_checkpoint
    from aiayn.training.loss import label_smoothed_loss
    from aiayn.training.schedule import lrate, make_optimizer
    from aiayn.training.trainer import TrainSettings, Trainer


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'aiayn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
