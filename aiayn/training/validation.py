"""Validation in flight: the loss on the validation split every `validate_every` steps.

Every `validate_every` steps (a training setting; the recipes set it) the model, in eval
mode and without dropout, scores the validation split's batches: each process scores
every world_size-th batch and the sums are all-reduced, so the figure is the whole
split's, not a sample. The loss is the plain negative log-likelihood per target token
(no label smoothing, §5.4 is a training device), so perplexity = exp(loss). A task may
also give `bleu(model)`, e.g. greedy decoding of a fixed subset of the split, scored on
rank 0 (`validate_bleu` sentences).

Each validation is a record {"step", "val_loss", "val_ppl"[, "val_bleu"]} in
metrics.jsonl (plotted as validation.png), a printed line, and the `on_log` callback's
(TensorBoard's, `aiayn.training.tensorboard`). The best model by validation loss is kept
in checkpoints/best/ (weights and best.json: step, loss, the weights' sha256), beside the
last K checkpoints and written by the same background thread (`aiayn.training.async_save`).
"""

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from aiayn.training.atomic import atomic_write
from aiayn.training.batching import TrainingBatch
from aiayn.training.checkpoint import CHECKPOINT_DIR, _save_weights_file, host_weights
from aiayn.training.distributed import world

BEST = "best"


def read_best(run_dir: Path) -> dict[str, Any] | None:
    """best.json of the run's best checkpoint, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(run_dir) / CHECKPOINT_DIR / BEST / "best.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def write_best(run_dir: Path, weights: dict[str, Tensor], step: int, val_loss: float) -> Path:
    """Replace checkpoints/best/ with these weights (host copies), atomically: a reader finds
    the old best or the new one."""
    final = Path(run_dir) / CHECKPOINT_DIR / BEST
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(BEST + ".old")

    def write(tmp: Path) -> None:
        tmp.mkdir()
        _save_weights_file(weights, tmp / "model.safetensors", step)
        digest = hashlib.sha256((tmp / "model.safetensors").read_bytes()).hexdigest()
        record = {"step": step, "val_loss": val_loss, "files": {"model.safetensors": digest}}
        (tmp / "best.json").write_text(json.dumps(record, indent=2), encoding="utf-8")

    staged = atomic_write(final.with_name(BEST + ".new"), write)
    if final.exists():
        final.rename(old)
    staged.rename(final)
    if old.exists():
        import shutil

        shutil.rmtree(old)
    return final


class Validator:
    """Scores the validation batches every `every` steps; see the module docstring.

    batches: the validation split as training batches (every process holds all of them).
    loss: loss(model output, targets) -> the sum over the counted targets (no smoothing).
    bleu: model -> BLEU on a fixed subset, run on rank 0 only; None for no BLEU."""

    def __init__(self, batches: Sequence[TrainingBatch], loss: Callable[[Tensor, Tensor], Tensor], every: int,
                 run_dir: Path, bleu: Callable[[nn.Module], float] | None = None) -> None:  # fmt: skip
        if every < 1:
            raise ValueError(f"Validator: every must be at least 1, got {every}")
        if not batches:
            raise ValueError("Validator: the validation split has no batches")
        self.batches, self.loss, self.every, self.run_dir, self.bleu = tuple(batches), loss, every, Path(run_dir), bleu
        best = read_best(run_dir)
        self.best_loss = float(best["val_loss"]) if best else math.inf

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def scores(self, model: nn.Module, device: torch.device, autocast: Any) -> dict[str, float]:
        """val_loss and val_ppl of the whole split (and val_bleu), the same on every process."""
        rank, world_size = world()
        was_training = model.training
        model.eval()
        totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, targets
        try:
            with torch.no_grad():
                for i, batch in enumerate(self.batches):
                    if i % world_size != rank:
                        continue
                    batch = batch.to(device, non_blocking=True)
                    with autocast:
                        output = model(*batch.inputs)
                    totals[0] += self.loss(output, batch.targets).double()
                    totals[1] += batch.n_targets
                if world_size > 1:
                    dist.all_reduce(totals)
                loss_sum, n_targets = totals.tolist()
                record = {"val_loss": loss_sum / n_targets, "val_ppl": math.exp(min(loss_sum / n_targets, 50.0))}
                if self.bleu is not None and rank == 0:
                    record["val_bleu"] = float(self.bleu(model))
        finally:
            model.train(was_training)
        return record

    def run(self, trainer: Any, on_log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Validate the trainer's model at its current step: log, record, keep the best."""
        t0 = time.perf_counter()
        step = trainer.progress.step
        record: dict[str, Any] = {"step": step, **self.scores(trainer.model, trainer.device, trainer._autocast())}
        record["val_seconds"], record["time"] = round(time.perf_counter() - t0, 2), time.time()
        bleu = f", greedy BLEU {record['val_bleu']:.1f}" if "val_bleu" in record else ""
        improved = record["val_loss"] < self.best_loss
        trainer.log(f"step {step}: validation loss {record['val_loss']:.4f}, perplexity {record['val_ppl']:.2f}{bleu}"
                    f"{' (best so far)' if improved else ''} ({record['val_seconds']:.1f} s)")  # fmt: skip
        trainer.write_metrics(record)
        if on_log is not None and trainer.rank == 0:
            on_log(record)
        if improved:
            self.best_loss = record["val_loss"]
            if trainer.rank == 0:
                weights, loss = host_weights(trainer.model), record["val_loss"]
                trainer.saver.submit(lambda: write_best(self.run_dir, weights, step, loss))
        return record
