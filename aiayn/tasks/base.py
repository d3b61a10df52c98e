"""The task protocol: what a task tells the generic runner and trainer.

A task says what to learn and how to judge it, in five parts:

    prepare(run_dir, log)     train or read back its tokenizer (saved in the run folder)
                              and return it with the training data as a `BatchSource`
    model_config(vocab_size)  the architecture (a `TransformerConfig`)
    build_model(cfg)          the model: `Transformer`, `DecoderOnlyLM`, `EncoderClassifier`
    loss(cfg, settings)       loss(model output, targets) -> sum over the counted targets
    evaluate(run, split, log) scores of a trained run on a split, as a JSON-able dict

A task that starts from other weights (fine-tuning) also has `init_model(model)`, which
the runner calls once before a fresh run's first step (never on resume). A task with a
validation split may have `validation_batches(tokenizer, settings)` (and a translation
task `validation_bleu(tokenizer, n)`): the runner then validates every `validate_every`
steps (`aiayn.training.validation`).

The trainer (`aiayn.training.trainer`) sees only the model, the batches and the loss;
the runner (`aiayn.tasks.runner`) ties a task to a run folder. A new task is one module
in aiayn/tasks/ with a class following `Task`, and one line in `TASKS` below.
"""

import dataclasses
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import Tensor, nn

from aiayn.model.config import TransformerConfig
from aiayn.training.batching import BatchSource
from aiayn.training.trainer import TrainSettings

Log = Callable[[str], None]
LossFn = Callable[[Tensor, Tensor], Tensor]


class RunError(RuntimeError):
    """A run folder, or a run's settings, that cannot be used as asked."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; saved as run.json and checked on resume."""

    task: str = "numbers"
    preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)  # TransformerConfig fields over the preset
    train: TrainSettings = TrainSettings()
    data: dict[str, Any] = field(default_factory=dict)  # the task's own options: sizes, paths, vocabulary
    average_last: int = 0  # average the last k checkpoints into the final model (§6.1); 0 = last only

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "run.json") -> "RunSpec":
        try:
            raw = json.loads(text)
            raw["train"] = TrainSettings(**raw["train"])
            return cls(**raw)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise RunError(f"{where} is damaged or not an aiayn run description ({err})") from None


@runtime_checkable
class Tokenizer(Protocol):
    """What the runner needs of a task's tokenizer."""

    @property
    def vocab_size(self) -> int: ...

    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Run:
    """A trained run, read back from its folder: what evaluation and inference use."""

    run_dir: Path
    spec: RunSpec
    config: TransformerConfig
    tokenizer: Any
    model: nn.Module


@runtime_checkable
class Task(Protocol):
    """One task; see the module docstring."""

    name: ClassVar[str]

    def __init__(self, spec: RunSpec) -> None: ...

    def prepare(self, run_dir: Path, log: Log) -> tuple[Tokenizer, BatchSource]: ...

    def load_tokenizer(self, run_dir: Path) -> Tokenizer: ...

    def model_config(self, vocab_size: int) -> TransformerConfig: ...

    def build_model(self, cfg: TransformerConfig) -> nn.Module: ...

    def loss(self, cfg: TransformerConfig, settings: TrainSettings) -> LossFn: ...

    def evaluate(self, run: Run, split: str, log: Log) -> dict[str, Any]: ...


def write_eval(run: Run, split: str, record: dict[str, Any]) -> None:
    """The run's scores on a split: eval.json for the test split, eval-SPLIT.json otherwise."""
    from aiayn.training.checkpoint import atomic_write_text

    name = "eval.json" if split == "test" else f"eval-{split}.json"
    atomic_write_text(run.run_dir / name, json.dumps(record, indent=2))


# task name -> "module:class"; each task's module also holds its recipe (`default_spec`)
TASKS: dict[str, str] = {
    "numbers": "aiayn.tasks.translation:TranslationTask",
    "wmt14": "aiayn.tasks.translation:TranslationTask",
    "files": "aiayn.tasks.translation:TranslationTask",
    "shakespeare": "aiayn.tasks.language_model:LanguageModelTask",
    "sft": "aiayn.tasks.sft:SftTask",
    "genre": "aiayn.tasks.classification:ClassificationTask",
    "sst2": "aiayn.tasks.classification:ClassificationTask",
    "classify-files": "aiayn.tasks.classification:ClassificationTask",
}


def task_class(name: str) -> type:
    if name not in TASKS:
        raise RunError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def get_task(spec: RunSpec) -> Task:
    return task_class(spec.task)(spec)
