"""§5 Training: batching (§5.1), hardware (§5.2), optimiser (§5.3), regularisation (§5.4).

One loop serves every task (translation, language modelling, classification, fine-
tuning) on a CPU or on many GPUs. It knows no task: it takes a model, a `BatchSource`
(`aiayn.training.batching`) and a loss, and calls `model(*batch.inputs)`.

- an optimiser step consumes `world_size * accum_steps` batches, so the tokens per
  step do not depend on the number of devices; the loss is the task's sum over the
  step's counted targets divided by their number, so one process with accumulation
  and many processes under torchrun compute the same update;
- Adam with the §5.3 settings under the Eq. 3 schedule; residual and embedding
  dropout and label smoothing as configured (§5.4);
- bf16 autocast on CUDA; distributed data parallel through torchrun;
- dropout's random masks are drawn from a seed made of (run seed, step, batch
  number within the step), so they do not depend on how the step's batches are
  spread over processes, nor on where a run was interrupted;
- checkpoints every `save_every` steps (`aiayn.training.checkpoint`), written in a
  background thread from host copies (`aiayn.training.async_save`); resuming restores
  weights, optimiser, schedule, data position and each process's random generators
  (`aiayn.training.rng`), so the run continues exactly as if never stopped. A checkpoint
  records its batch layout (`aiayn.training.layout`); a resume on another process count
  continues where its steps keep their batches, and is refused in one line otherwise;
- validation every `validate_every` steps when the runner attaches a `Validator`
  (`aiayn.training.validation`).

Non-finite loss policy: a step whose loss or gradient norm is not finite is
skipped (no update, the data moves on); fused Adam skips it on the device, so the
step reads nothing back to the host. The metrics of a step (loss, gradient norm,
whether it was finite, non-finite steps in a row) are read back only on the steps
that log (`log_every`) or save; there a non-finite run is logged, and a run of
`max_bad_steps` such steps stops training with an error. Checkpoints are written
only after finite steps, so a good checkpoint is never replaced by a broken one.
"""

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from aiayn.training.batching import BatchSource, TrainingBatch
from aiayn.training.async_save import AsyncSaver
from aiayn.training.checkpoint import atomic_write_text, latest_good_checkpoint, load_checkpoint
from aiayn.training.distributed import world
from aiayn.training.layout import batch_layout, resume_accum
from aiayn.training.loader import Prefetcher
from aiayn.training.rng import gathered_rng_states, set_rng_state
from aiayn.training.schedule import SCHEDULES, make_optimizer

# loss(model output, targets) -> the sum over the counted targets
LossFn = Callable[[Tensor, Tensor], Tensor]


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite losses, bad settings)."""


@dataclass(frozen=True)
class TrainSettings:
    """How to train (not what the model is: that is `TransformerConfig`).

    Dropout and label smoothing are settings of a training run, so one model can be
    fine-tuned with other values: None keeps the model config's (Table 3) value."""

    steps: int = 1000
    warmup_steps: int = 4000
    lr_scale: float = 1.0  # multiplies Eq. 3 (1.0 = the paper)
    max_src_tokens: int = 25000  # per batch, §5.1
    max_tgt_tokens: int = 25000
    accum_steps: int = 1  # batches per process per optimiser step
    seed: int = 0
    save_every: int = 500
    keep_last: int = 5  # checkpoints kept (the paper averages the last 5 / 20)
    log_every: int = 10
    max_bad_steps: int = 5
    bf16: bool = True  # autocast on CUDA
    bf16_cpu: bool = False  # bf16 autocast on a CPU too (default float32 there)
    clip_norm: float = 0.0  # 0 = no clipping (the paper does not clip)
    p_drop: float | None = None  # dropout while training (§5.4); None = the model config's
    eps_ls: float | None = None  # label smoothing (§5.4); None = the model config's
    # tokens per optimiser step and side, whatever the process count (0 = the budgets above
    # per batch, times accum_steps, times the processes); see `aiayn.training.budget`
    tokens_per_step: int = 0
    max_tokens_per_device: int = 0
    validate_every: int = 0  # steps between validations (0 = none); `aiayn.training.validation`
    validate_bleu: int = 0  # validation sentences decoded greedily for a BLEU in flight (0 = none)
    schedule: str = "eq3"  # "eq3" (§5.3) or "cosine": Eq. 3's warmup, then a cosine to lr_floor x peak at `steps`
    lr_floor: float = 0.1
    time_budget: float = 0.0  # seconds of training after which `fit` stops early (0 = none)

    def __post_init__(self) -> None:
        for name in ("steps", "warmup_steps", "max_src_tokens", "max_tgt_tokens", "accum_steps", "save_every"):
            if getattr(self, name) < 1:
                raise TrainingError(f"TrainSettings.{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr_scale > 0:
            raise TrainingError(f"TrainSettings.lr_scale must be positive, got {self.lr_scale}")
        for name in ("p_drop", "eps_ls"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise TrainingError(f"TrainSettings.{name} must be in [0, 1), got {value}")
        for name in ("validate_every", "validate_bleu"):
            if getattr(self, name) < 0:
                raise TrainingError(f"TrainSettings.{name} must be 0 (off) or positive, got {getattr(self, name)}")
        for name in ("keep_last", "log_every", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise TrainingError(f"TrainSettings.{name} must be at least 1, got {getattr(self, name)}")
        if (self.tokens_per_step > 0) != (self.max_tokens_per_device > 0) or min(
            self.tokens_per_step, self.max_tokens_per_device) < 0:  # fmt: skip
            raise TrainingError("TrainSettings.tokens_per_step and max_tokens_per_device go together, both positive "
                                f"(got {self.tokens_per_step} and {self.max_tokens_per_device})")  # fmt: skip
        if self.clip_norm < 0:
            raise TrainingError(f"TrainSettings.clip_norm must be 0 (off) or positive, got {self.clip_norm}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"TrainSettings.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.lr_floor <= 1.0:
            raise TrainingError(f"TrainSettings.lr_floor is a share of the peak rate in [0, 1], got {self.lr_floor}")
        if not self.time_budget >= 0:
            raise TrainingError(f"TrainSettings.time_budget must be 0 (none) or a number of seconds, got {self.time_budget}")


def for_world(settings: TrainSettings, world_size: int) -> tuple[TrainSettings, str]:
    """The settings one process trains with: with `tokens_per_step` set, the per-device token
    budgets and accumulation are derived so that every step holds that many tokens per side
    on any number of processes (`aiayn.training.budget`); returns them and a line to print."""
    if not settings.tokens_per_step:
        per_step = settings.max_src_tokens * settings.accum_steps * world_size
        return settings, f"at most {per_step:,} source tokens per step ({world_size} x {settings.accum_steps} batches)"
    from aiayn.training.budget import BudgetError, step_budget

    try:
        budget = step_budget(settings.tokens_per_step, world_size, settings.max_tokens_per_device)
    except BudgetError as err:
        raise TrainingError(str(err)) from None
    tokens = budget.per_device_tokens
    derived = dataclasses.replace(settings, max_src_tokens=tokens, max_tgt_tokens=tokens, accum_steps=budget.accum_steps)
    return derived, budget.describe()


@dataclass
class Progress:
    """Where a run stands: enough to continue it exactly."""

    step: int = 0  # optimiser steps taken
    epoch: int = 0
    batch_index: int = 0  # position in this epoch's list of batches
    bad_steps: int = 0
    tokens_seen: int = 0


class Trainer:
    """Trains a model on a task's batches; see the module docstring.

    `config` and `tokenizer_fingerprint` identify what a checkpoint belongs to: resuming
    refuses a checkpoint of another model or vocabulary."""

    def __init__(
        self,
        model: nn.Module,
        settings: TrainSettings,
        source: BatchSource,
        loss: LossFn,
        run_dir: Path,
        config: dict[str, Any],
        tokenizer_fingerprint: str,
        device: torch.device | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings, self.source, self.loss = settings, source, loss
        self.run_dir, self.config, self.tokenizer_fingerprint = Path(run_dir), config, tokenizer_fingerprint
        self.log = log
        self.rank, self.world_size = world()
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device)
        if settings.p_drop is not None:
            set_dropout(self.model, settings.p_drop)
        self.progress = Progress()
        self._fit_started: float | None = None  # perf_counter at the start of `fit`
        self._warm_at: float | None = None  # when this `fit` call's warmup ended (perf_counter)
        d_model = int(config["d_model"])
        self.optimizer, self.schedule = make_optimizer(self.model, d_model, settings.warmup_steps, scale=settings.lr_scale,
                                                       schedule=settings.schedule, steps=settings.steps,
                                                       floor=settings.lr_floor, time_share=self._time_share)  # fmt: skip
        self.ddp: nn.Module = self.model
        if self.world_size > 1:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.loader = Prefetcher(source.collate)  # background collation of the next step's batches
        self._bad_run: Tensor | None = None  # non-finite steps in a row, on the device
        self._worst_run: Tensor | None = None  # the longest such run since metrics were last read
        self.saver = AsyncSaver()  # checkpoints written in the background
        self.validator: Any = None  # a `aiayn.training.validation.Validator`, attached by the runner

    # -- data ---------------------------------------------------------------

    def _step_items(self, epoch: int, index: int) -> tuple[tuple[Any, ...], int, int]:
        """The item ids of the step starting at (epoch, index), all processes' share, and the
        position after it. Every process computes the same list of batches; a step takes the
        next world_size * accum_steps of them (an epoch's leftover that cannot fill a step is
        skipped, and the next epoch starts)."""
        per_step = self.world_size * self.settings.accum_steps
        batches = self.source.epoch(epoch)
        if index + per_step > len(batches):
            if len(batches) < per_step:
                raise TrainingError(
                    f"an epoch has only {len(batches)} batches but a step needs {per_step} "
                    f"(world size {self.world_size} x accum_steps {self.settings.accum_steps}): lower the token budget"
                )
            epoch, index = epoch + 1, 0
            batches = self.source.epoch(epoch)
        return tuple(batches[index : index + per_step]), epoch, index + per_step

    def next_group(self) -> tuple[Any, ...]:
        """The item ids of the next optimiser step's batches (all processes' share), advancing the position."""
        chosen, self.progress.epoch, self.progress.batch_index = self._step_items(
            self.progress.epoch, self.progress.batch_index)  # fmt: skip
        return chosen

    def _own(self, chosen: tuple[Any, ...]) -> tuple[Any, ...]:
        """This process's share of a step: accum_steps consecutive batches."""
        first = self.rank * self.settings.accum_steps
        return chosen[first : first + self.settings.accum_steps]

    # -- one step -------------------------------------------------------------

    def _autocast(self) -> torch.autocast:
        """bf16 autocast with `settings.bf16` on CUDA; on a CPU only when `bf16_cpu` asks too (else float32)."""
        on_cpu = self.device.type == "cpu" and self.settings.bf16_cpu
        enabled = self.settings.bf16 and (self.device.type == "cuda" or on_cpu)
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def train_step(self) -> dict[str, float | int | bool]:
        """One optimiser step; returns the step's metrics."""
        self.ddp.train()
        chosen = self.next_group()
        counts = getattr(self.source, "counts", None)
        if counts is None:  # a source that counts only by collating: every process collates the whole step
            group = tuple(self.source.collate(items) for items in chosen)
            per_batch, mine = [(b.n_targets, b.n_tokens) for b in group], self._own(group)
        else:  # counted from the index; each process collates only its own batches, the next step's ahead
            per_batch = [counts(items) for items in chosen]
            mine = tuple(self.loader.get(items) for items in self._own(chosen))
            upcoming, _, _ = self._step_items(self.progress.epoch, self.progress.batch_index)
            self.loader.ahead(self._own(upcoming))
        total_targets = sum(n for n, _ in per_batch)  # the same number on every process
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        for i, batch in enumerate(mine):
            # dropout masks depend only on (seed, step, batch), not on how batches are spread
            global_index = self.rank * self.settings.accum_steps + i
            torch.manual_seed(_batch_seed(self.settings.seed, self.progress.step, global_index))
            batch = batch.to(self.device, non_blocking=True)
            last = i == len(mine) - 1
            sync = self.ddp.no_sync() if (self.world_size > 1 and not last) else contextlib.nullcontext()
            with sync:
                with self._autocast():
                    output = self.ddp(*batch.inputs)
                loss = self.loss(output, batch.targets)
                # DDP averages gradients over processes; scaling by world_size makes it a sum
                (loss * (self.world_size / total_targets)).backward()
            loss_sum += loss.detach()
        if self.world_size > 1:
            dist.all_reduce(loss_sum)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.settings.clip_norm if self.settings.clip_norm > 0 else float("inf")
        )  # a device tensor: nothing is read back here
        lr = self.schedule.get_last_lr()[0]
        finite = torch.isfinite(loss_sum) & torch.isfinite(grad_norm)
        self._update_unless_non_finite(finite)
        self.schedule.step()
        self.progress.step += 1
        n_tokens = sum(n for _, n in per_batch)
        self.progress.tokens_seen += n_tokens
        # tensors, read back by `read_metrics` only on the steps that log or save
        return {"step": self.progress.step, "loss": loss_sum / total_targets, "lr": lr, "grad_norm": grad_norm,
                "tokens": n_tokens, "finite": finite}  # fmt: skip

    def _update_unless_non_finite(self, finite: Tensor) -> None:
        """Step the optimiser unless the step's loss or gradient norm is not finite, and count
        non-finite steps in a row, on the device: fused Adam skips its update itself when told
        `found_inf` (a device flag), so nothing is read back; other optimisers need the flag read."""
        if self._bad_run is None:
            self._bad_run = torch.full((), self.progress.bad_steps, device=self.device)
            self._worst_run = self._bad_run.clone()
        if self.optimizer.defaults.get("fused"):
            self.optimizer.found_inf, self.optimizer.grad_scale = (~finite).float(), None
            try:
                self.optimizer.step()
            finally:
                del self.optimizer.found_inf, self.optimizer.grad_scale
        elif bool(finite):
            self.optimizer.step()
        self._bad_run = torch.where(finite, torch.zeros_like(self._bad_run), self._bad_run + 1)
        self._worst_run = torch.maximum(self._worst_run, self._bad_run)

    def read_metrics(self, record: dict[str, Any]) -> dict[str, Any]:
        """A step's metrics read back to the host (one synchronisation), with the non-finite
        policy applied to every step since the last read."""
        assert self._bad_run is not None and self._worst_run is not None
        values = torch.stack([record["loss"].float(), record["grad_norm"].float(), record["finite"].float(),
                              self._bad_run.float(), self._worst_run.float()]).tolist()  # fmt: skip
        loss, grad_norm, finite, bad, worst = values
        self.progress.bad_steps = int(bad)
        self._worst_run = self._bad_run.clone()
        if worst >= self.settings.max_bad_steps:
            raise TrainingError(
                f"{int(worst)} non-finite steps in a row by step {self.progress.step}; "
                f"stopping (the last checkpoint is untouched). Lower lr_scale or check the data."
            )
        if worst > 0:
            self.log(f"step {self.progress.step}: non-finite loss or gradient in {int(worst)} step(s) in a row "
                     f"since the last report; their updates were skipped")  # fmt: skip
        return {**record, "loss": loss, "grad_norm": grad_norm, "finite": bool(finite)}

    # -- checkpoints -------------------------------------------------------------

    def state(self, rng: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "progress": dataclasses.asdict(self.progress),
            "rng": rng if rng is not None else gathered_rng_states(self.device),
            "layout": batch_layout(self.settings, self.world_size),
        }

    def save(self) -> None:
        """Checkpoint this step: every process hands in its random generators; rank 0 copies
        the rest to host memory and writes it in the background (`AsyncSaver`)."""
        rng = gathered_rng_states(self.device)
        if self.rank != 0:
            return
        self.saver.save(self.run_dir, self.progress.step, self.model, self.state(rng), self.config,
                        self.tokenizer_fingerprint, keep_last=self.settings.keep_last)  # fmt: skip

    def resume(self) -> int:
        """Continue from the newest checkpoint that verifies; returns its step (0 if none).

        Newer checkpoints that fail verification (a crash during a save, a damaged disk)
        are skipped and logged."""
        ckpt = latest_good_checkpoint(self.run_dir, self.config, self.tokenizer_fingerprint, self.log)
        if self.rank == 0:
            self._set_aside_checkpoints_after(ckpt)
        if ckpt is None:
            return 0
        self._bad_run = self._worst_run = None  # counted again from the restored progress
        state = load_checkpoint(ckpt, self.model, self.config, self.tokenizer_fingerprint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        accum, refusal = resume_accum(state.get("layout"), self.settings, self.world_size, ckpt.name)
        if refusal is not None:
            raise TrainingError(refusal)
        if accum != self.settings.accum_steps:  # the same batches per step on another process count
            self.settings = dataclasses.replace(self.settings, accum_steps=accum)
            self.log(f"resuming {ckpt.name} on {self.world_size} process(es) x {accum} accumulation steps")
        self.progress = Progress(**state["progress"])
        set_rng_state(state["rng"], self.rank, self.device)
        self._drop_later_metrics()
        return self.progress.step

    def _set_aside_checkpoints_after(self, ckpt: Path | None) -> None:
        """Rename checkpoint folders newer than the one resumed from (they failed
        verification) to `NAME.damaged`, kept for inspection, so the steps they held can be
        saved again."""
        root = self.run_dir / "checkpoints"
        if not root.is_dir():
            return
        after = int(ckpt.name.split("-")[1]) if ckpt is not None else -1
        for folder in sorted(root.glob("step-*")):
            step = folder.name.split("-")[1]
            if folder.is_dir() and step.isdigit() and int(step) > after:
                target = folder.with_name(folder.name + ".damaged")
                n = 1
                while target.exists():
                    target, n = folder.with_name(f"{folder.name}.damaged{n}"), n + 1
                folder.rename(target)
                self.log(f"set aside {folder.name} (it failed verification) as {target.name}")

    def _drop_later_metrics(self) -> None:
        """Metrics logged after the checkpoint we resume from are logged again; drop the old lines."""
        if self.rank != 0 or not self.metrics_path.exists():
            return
        keep = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= self.progress.step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the interruption
        atomic_write_text(self.metrics_path, "".join(f"{line}\n" for line in keep))

    # -- the loop -------------------------------------------------------------------

    def write_metrics(self, record: dict[str, Any]) -> None:
        if self.rank == 0:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def fit(self, on_log: Callable[[dict[str, Any]], None] | None = None, progress_bar: bool = True,
            report_every_s: float = 30.0) -> None:  # fmt: skip
        """Train until `settings.steps`, checkpointing every `save_every` steps and at the end;
        with `time_budget`, stop (logged, logged metrics and a checkpoint) at the first step
        that ends past that many seconds of this call.

        Progress on rank 0: a bar when `progress_bar` (a terminal); otherwise one plain line
        through `log` every `report_every_s` seconds and at the last step (0 = none), for logs
        written to a file: step, loss, learning rate, tokens per second, time spent and left."""
        s = self.settings
        bar = _progress_bar(s.steps, self.progress.step, enabled=progress_bar and self.rank == 0)
        lines = bar is None and self.rank == 0 and report_every_s > 0
        window_tokens, window_start = 0, time.perf_counter()
        first_step, fit_start = self.progress.step, window_start
        line_tokens, line_start = 0, window_start
        self._fit_started, self._warm_at = fit_start, None
        try:
            while self.progress.step < s.steps:
                record = self.train_step()
                window_tokens += record["tokens"]
                line_tokens += record["tokens"]
                now = time.perf_counter()
                out_of_time = s.time_budget > 0 and self._past_budget(now - fit_start)
                last = self.progress.step == s.steps or out_of_time
                log_now = self.progress.step % s.log_every == 0 or last
                save_now = self.progress.step % s.save_every == 0 or last
                line_now = lines and (now - line_start >= report_every_s or last)
                if log_now or save_now or line_now:
                    record = self.read_metrics(record)  # the only read back to the host in a step
                if log_now:
                    elapsed = time.perf_counter() - window_start
                    record["tokens_per_s"] = window_tokens / max(elapsed, 1e-9)
                    record["time"] = time.time()
                    self.write_metrics(record)
                    if on_log is not None:
                        on_log(record)
                    if bar is not None:
                        bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.2e}",
                                        tok_s=f"{record['tokens_per_s']:.0f}", refresh=False)  # fmt: skip
                    window_tokens, window_start = 0, time.perf_counter()
                if line_now:
                    self.log(progress_line(self.progress.step, s.steps, record["loss"], record["lr"],
                                           line_tokens / max(now - line_start, 1e-9), now - fit_start,
                                           (now - fit_start) / (self.progress.step - first_step)))  # fmt: skip
                    line_tokens, line_start = 0, now
                if bar is not None:
                    bar.update(1)
                if self.validator is not None and self.validator.due(self.progress.step):
                    self.validator.run(self, on_log)
                if save_now and record["finite"]:
                    self.save()
                if out_of_time:
                    self.log(f"time budget of {s.time_budget:g} s reached at step {self.progress.step} of {s.steps}")
                    break
            self.saver.wait()  # the last checkpoints are on disk before anyone reads them
        finally:
            self.saver.close()
            self.loader.close()
            if bar is not None:
                bar.close()


    def _time_share(self) -> float:
        """The share of the time budget spent since warmup ended (0 without a budget): the cosine
        schedule's progress when the clock is ahead of the step count."""
        s = self.settings
        if s.time_budget <= 0 or self.world_size > 1 or self.progress.step < s.warmup_steps or self._fit_started is None:
            return 0.0  # (with several processes the step share alone: every process must use one rate)
        now = time.perf_counter()
        if self._warm_at is None:
            self._warm_at = now
        left = s.time_budget - (self._warm_at - self._fit_started)
        return (now - self._warm_at) / left if left > 0 else 1.0

    def _past_budget(self, elapsed: float) -> bool:
        """Whether training has used its time budget; rank 0's clock decides for every process."""
        past = elapsed >= self.settings.time_budget
        if self.world_size == 1:
            return past
        flag = torch.tensor(float(past), device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag)


def progress_line(step: int, steps: int, loss: float, lr: float, tokens_per_s: float, elapsed_s: float,
                  seconds_per_step: float) -> str:  # fmt: skip
    """One plain progress line: "step 120/3,000 (4%)  loss 3.412  lr 4.10e-04  1,234 tok/s  2m05s spent, 48m00s left"."""
    left = seconds_per_step * (steps - step)
    return (f"step {step:,}/{steps:,} ({100 * step / steps:.0f}%)  loss {loss:.3f}  lr {lr:.2e}  "
            f"{tokens_per_s:,.0f} tok/s  {_duration(elapsed_s)} spent, {_duration(left)} left")  # fmt: skip


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def set_dropout(model: nn.Module, p_drop: float) -> None:
    """Set every dropout layer of the model to rate p_drop (§5.4): a training setting."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p_drop


def _batch_seed(seed: int, step: int, batch: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{step}/{batch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _progress_bar(total: int, initial: int, enabled: bool):  # noqa: ANN202
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=1.0)
