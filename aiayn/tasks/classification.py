"""Text classification with the encoder-only model (not in the paper).

Tasks: `genre` (built in: Shakespeare passages labelled comedy, history or tragedy by
the First Folio's grouping, split by whole works; `aiayn.data.genre`), `sst2` (SST-2
from the Hugging Face hub, evaluated on its validation split since the test labels are
hidden) and `classify-files` (local `SPLIT.jsonl` files of {"text": ..., "label": ...}).

Task options (`RunSpec.data`): `bpe_vocab`, `max_len` (longer texts are cut), `max_tokens`
per batch, and per data set `data_dir` (classify-files) or `path` (sst2). The head is a
model setting: `--set pooling=mean|cls|max` (`aiayn.model.encoder_classifier`).

A text is a `(ids,)` example with no target side, batched by length under the token
budget as translation's sources are; the loss is cross-entropy on the head's logits
summed over the batch (label smoothing is a training setting, off in these recipes).
Evaluation: accuracy, macro-F1 and the confusion matrix (printed and as confusion.png),
beside the majority-class baseline on the same test items.
"""

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from aiayn.data.classification import LabelledText, load_sst2, read_labelled_jsonl
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.config import TransformerConfig, preset
from aiayn.model.encoder_classifier import EncoderClassifier
from aiayn.model.inputs import pad_rows
from aiayn.tasks.base import Log, LossFn, Run, RunError, RunSpec, write_eval
from aiayn.training.batching import LengthGroupedItems, TrainingBatch
from aiayn.training.distributed import barrier, world
from aiayn.training.trainer import TrainSettings

# The built-in genre recipe: the tiny preset's encoder (3 layers of width 128, 4 heads),
# Eq. 3 at a fifth of its scale, 1,500 steps of about 30 passages; a few minutes on 2 CPU cores.
GENRE = RunSpec(
    task="genre", preset="tiny",
    train=TrainSettings(steps=1500, warmup_steps=300, lr_scale=0.2, max_src_tokens=4000, max_tgt_tokens=4000,
                        save_every=250, keep_last=2, log_every=25, eps_ls=0.0),
    data={"bpe_vocab": 2000, "max_len": 256},
)  # fmt: skip
SST2 = RunSpec(task="sst2", preset="tiny", train=GENRE.train,
               data={"bpe_vocab": 8000, "max_len": 128, "path": "stanfordnlp/sst2"})  # fmt: skip
FILES = RunSpec(task="classify-files", preset="tiny", train=GENRE.train,
                data={"bpe_vocab": 8000, "max_len": 256})  # fmt: skip


class LabelledBatches(LengthGroupedItems):
    """`BatchSource` of labelled texts: length-grouped batches under the token budget."""

    def __init__(self, ids: tuple[tuple[int, ...], ...], labels: tuple[int, ...], max_tokens: int, seed: int,
                 pad_id: int) -> None:  # fmt: skip
        super().__init__([len(row) for row in ids], max_tokens, seed)
        self.ids, self.labels, self.pad_id = ids, labels, pad_id

    def collate(self, items: tuple[int, ...]) -> TrainingBatch:
        tokens = pad_rows([self.ids[i] for i in items], self.pad_id)
        labels = torch.tensor([self.labels[i] for i in items], dtype=torch.long)
        return TrainingBatch((tokens,), labels, len(items), sum(len(self.ids[i]) for i in items))


class ClassificationTask:
    """Texts -> `EncoderClassifier`, scored by accuracy and macro-F1 against the majority class."""

    name = "classification"
    recipes = {"genre": GENRE, "sst2": SST2, "classify-files": FILES}

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.options = {**self.recipes[spec.task].data, **spec.data}

    @property
    def label_names(self) -> tuple[str, ...]:
        if self.spec.task == "genre":
            from aiayn.data.genre import GENRES

            return GENRES
        if self.spec.task == "sst2":
            from aiayn.data.classification import SST2_LABELS

            return tuple(SST2_LABELS)
        return tuple(str(k) for k in range(self.n_classes))

    @property
    def n_classes(self) -> int:
        if self.spec.task in ("genre", "sst2"):
            return len(self.label_names)
        return max(item.label for item in self.items("train")) + 1

    def items(self, split: str) -> tuple[LabelledText, ...]:
        if self.spec.task == "genre":
            from aiayn.data.genre import genre_split

            return genre_split(split)
        if self.spec.task == "sst2":
            return load_sst2("validation" if split == "test" else split, path=str(self.options["path"]))
        if "data_dir" not in self.options:
            raise RunError("the classify-files task needs a data folder: aiayn train --task classify-files --data-dir DIR")
        return read_labelled_jsonl(Path(self.options["data_dir"]) / f"{split}.jsonl")

    def _encode(self, tokenizer: BpeTokenizer, items: tuple[LabelledText, ...]) -> tuple[tuple[int, ...], ...]:
        cut = int(self.options["max_len"])
        return tuple(tuple(ids[:cut]) or (tokenizer.unk_id,) for ids in tokenizer.encode_batch([i.text for i in items]))

    def prepare(self, run_dir: Path, log: Log) -> tuple[BpeTokenizer, LabelledBatches]:
        t0 = time.perf_counter()
        train = self.items("train")
        tok_path = run_dir / "tokenizer.json"
        if world()[0] == 0 and not tok_path.exists():
            BpeTokenizer.train((i.text for i in train), int(self.options["bpe_vocab"])).save(tok_path)
        barrier()
        tokenizer = BpeTokenizer.load(tok_path)
        ids = self._encode(tokenizer, train)
        s = self.spec.train
        counts = [sum(i.label == k for i in train) for k in range(self.n_classes)]
        log(f"data: {len(train)} training texts (per class {counts}), BPE vocabulary {tokenizer.vocab_size}, "
            f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        return tokenizer, LabelledBatches(ids, tuple(i.label for i in train), s.max_src_tokens, s.seed, 0)

    def load_tokenizer(self, run_dir: Path) -> BpeTokenizer:
        return BpeTokenizer.load(Path(run_dir) / "tokenizer.json")

    def model_config(self, vocab_size: int) -> TransformerConfig:
        max_len = int(self.options["max_len"]) + 1  # room for a [CLS] token
        return preset(self.spec.preset, vocab_size=vocab_size).replace(max_len=max_len, **self.spec.model)

    def build_model(self, cfg: TransformerConfig) -> EncoderClassifier:
        return EncoderClassifier(cfg, self.n_classes)

    def loss(self, cfg: TransformerConfig, settings: TrainSettings) -> LossFn:
        eps_ls = 0.0 if settings.eps_ls is None else settings.eps_ls

        def loss(logits: Tensor, labels: Tensor) -> Tensor:
            return F.cross_entropy(logits.float(), labels, reduction="sum", label_smoothing=eps_ls)

        return loss

    @torch.inference_mode()
    def predict(self, run: Run, texts: list[str], batch_size: int = 64) -> list[int]:
        ids = self._encode(run.tokenizer, tuple(LabelledText(t, 0) for t in texts))
        device = next(run.model.parameters()).device
        out: list[int] = []
        for start in range(0, len(ids), batch_size):
            tokens = pad_rows(ids[start : start + batch_size], run.config.pad_id).to(device)
            out += run.model(tokens).argmax(-1).tolist()
        return out

    def evaluate(self, run: Run, split: str, log: Log, write: bool = True, **_: Any) -> dict[str, Any]:
        from aiayn.evaluation.classification import format_scores, majority_baseline, plot_confusion, score

        items = self.items(split)
        t0 = time.perf_counter()
        predicted = self.predict(run, [i.text for i in items])
        gold = [i.label for i in items]
        model = score(gold, predicted, self.n_classes)
        baseline = majority_baseline([i.label for i in self.items("train")], gold, self.n_classes)
        record = {"split": split, "pooling": run.config.pooling, "accuracy": model.accuracy, "macro_f1": model.macro_f1,
                  "n": model.n, "confusion": model.confusion.tolist(), "labels": list(self.label_names),
                  "majority_accuracy": baseline.accuracy, "majority_macro_f1": baseline.macro_f1,
                  "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        if write:
            write_eval(run, split, record)
            plot_confusion(model.confusion, self.label_names, run.run_dir / "confusion.png",
                           title=f"{self.spec.task}, {split} ({run.config.pooling} pooling)")  # fmt: skip
        log(f"{split}: accuracy {model.accuracy:.3f}  macro-F1 {model.macro_f1:.3f}  (majority class: accuracy "
            f"{baseline.accuracy:.3f}, macro-F1 {baseline.macro_f1:.3f}; {model.n} texts)")  # fmt: skip
        log(format_scores(model, baseline, self.label_names))
        return record
