"""A run of a task, end to end, in one folder: data, tokenizer, training, evaluation.

    run.json            what defines the run (task, preset, settings): `RunSpec`
    config.json         the TransformerConfig
    tokenizer.json      the task's tokenizer, checked against checkpoints
    checkpoints/        the last K checkpoints (`aiayn.training.checkpoint`)
    model.safetensors   the final weights (averaged over the last checkpoints if asked)
    metrics.jsonl       one JSON record per logged step
    eval.json           the task's scores on its test split
    loss.png, lr.png    training curves

The same folder is what `aiayn translate`, `generate` and `evaluate` read.

Data flow: task.prepare -> (tokenizer, batches) -> Trainer.fit -> checkpoints ->
model.safetensors -> task.evaluate.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from aiayn.model.config import ConfigError, TransformerConfig
from aiayn.tasks.base import Log, Run, RunError, RunSpec, get_task
from aiayn.training.checkpoint import atomic_write_text, load_weights, save_weights
from aiayn.training.distributed import barrier, init_distributed
from aiayn.training.trainer import Trainer, for_world

# What an aiayn run folder may hold; `--overwrite` removes a folder only if it holds
# nothing else, so it can never delete a folder of other files.
RUN_FILES = ("run.json", "config.json", "tokenizer.json", "model.safetensors", "metrics.jsonl", "samples.txt")
RUN_FOLDERS = ("checkpoints", "attention")
RUN_PATTERNS = ("eval*.json", "*.png", "*.html", "*.tmp", ".*.tmp")


def _unknown_entries(run_dir: Path) -> list[str]:
    unknown = []
    for entry in run_dir.iterdir():
        known = (entry.is_file() and (entry.name in RUN_FILES or any(entry.match(p) for p in RUN_PATTERNS))) or (
            entry.is_dir() and entry.name in RUN_FOLDERS
        )
        if not known:
            unknown.append(entry.name + ("/" if entry.is_dir() else ""))
    return sorted(unknown)


def read_spec(run_dir: Path) -> RunSpec:
    path = Path(run_dir) / "run.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{run_dir}: no run.json; is this an aiayn run folder?") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: cannot be read ({err})") from None
    return RunSpec.from_json(text, where=str(path))


def check_run_dir(run_dir: Path, spec: RunSpec, resume: bool, overwrite: bool) -> bool:
    """Refuse to train into a folder whose contents the run would clobber (see RUN_FILES).

    Changes nothing; True when the folder holds an aiayn run that --overwrite may remove."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a folder; choose another --run-dir")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        if resume:
            raise RunError(f"{run_dir}: nothing to resume (the folder is empty or missing)")
        return False
    if not (run_dir / "run.json").exists():
        raise RunError(f"{run_dir} exists and is not an aiayn run (no run.json); choose another --run-dir")
    old = read_spec(run_dir)
    if overwrite:
        unknown = _unknown_entries(run_dir)
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise RunError(f"{run_dir} holds files no aiayn run writes ({shown}); --overwrite removes only "
                           f"run folders: move them away or choose another --run-dir")  # fmt: skip
        return True
    if resume:  # a resumed run may be extended (more steps); nothing else may change
        if dataclasses.replace(old, train=dataclasses.replace(old.train, steps=spec.train.steps)) != spec:
            raise RunError(f"{run_dir} holds a run with different settings; resume it with its own settings "
                           f"(`aiayn train --resume {run_dir}`) or start a new --run-dir")  # fmt: skip
        return False
    state = "a finished run" if (run_dir / "eval.json").exists() else "an unfinished run"
    raise RunError(f"{run_dir} already holds {state}; pass --resume to continue it, --overwrite to replace it, "
                   f"or --run-dir for a new folder")  # fmt: skip


def train_run(
    spec: RunSpec,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    progress_bar: bool = True,
    log: Log = print,
    report_every_s: float = 30.0,
) -> dict[str, Any]:
    """Train (or resume) a run of `spec.task` and evaluate it; returns the evaluation record."""
    run_dir = Path(run_dir)
    rank, world_size, device = init_distributed()
    say = log if rank == 0 else _quiet
    settings, batch_line = for_world(spec.train, world_size)
    task = get_task(dataclasses.replace(spec, train=settings))  # run.json keeps the world-size-free spec
    existed = run_dir.exists()
    if rank == 0:
        if check_run_dir(run_dir, spec, resume, overwrite):
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "run.json", spec.to_json())
    barrier()
    try:
        tokenizer, source = task.prepare(run_dir, say)
        cfg = task.model_config(tokenizer.vocab_size)
        if rank == 0:
            atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
        torch.manual_seed(spec.train.seed)
        model = task.build_model(cfg)
        if not resume and hasattr(task, "init_model"):
            task.init_model(model)  # fine-tuning: the base run's weights
        trainer = Trainer(model, settings, source, task.loss(cfg, settings), run_dir, cfg.to_dict(),
                          tokenizer.fingerprint(), device=device, log=say)  # fmt: skip
    except BaseException:
        if rank == 0 and not resume:  # a new run that could not start leaves nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
            if existed:
                run_dir.mkdir()
        raise
    if resume:
        say(f"resumed at step {trainer.resume()}")
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    say(f"model: {type(model).__name__}, {spec.preset} preset, {n_params / 1e6:.2f}M parameters; "
        f"{world_size} process(es) on {device}; {spec.train.steps} steps")  # fmt: skip
    if settings.tokens_per_step:
        say(f"batch: {batch_line}")
    t0 = time.perf_counter()
    trainer.fit(progress_bar=progress_bar, report_every_s=report_every_s)
    train_seconds = time.perf_counter() - t0
    barrier()
    if rank != 0:
        return {}
    finalize(run_dir, trainer.model, spec.average_last, say)
    from aiayn.inspect.plots import plot_metrics

    plot_metrics(run_dir / "metrics.jsonl", run_dir)
    result: dict[str, Any] = {"train_seconds": round(train_seconds, 1), "steps": trainer.progress.step}
    if evaluate:
        result.update(task.evaluate(load_run(run_dir, device), "test", say))
    return result


def finalize(run_dir: Path, model: torch.nn.Module, average_last: int, log: Log) -> None:
    """Write model.safetensors: the final weights, or the average of the last k checkpoints."""
    if average_last > 1:
        from aiayn.training.averaging import average_last_checkpoints

        dirs = average_last_checkpoints(run_dir, average_last, run_dir / "model.safetensors", log=log)
        log(f"model.safetensors: average of the last {len(dirs)} checkpoints that verify (§6.1)")
    else:
        save_weights(model, run_dir / "model.safetensors")


def _quiet(_: str) -> None:
    return None


def load_run(run_dir: Path, device: str | torch.device = "cpu") -> Run:
    """The trained model (eval mode), its tokenizer and its settings, from a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    for name in ("run.json", "config.json", "tokenizer.json", "model.safetensors"):
        if not (run_dir / name).exists():
            raise RunError(f"{run_dir}: missing {name}; is this a finished aiayn run folder?")
    spec = read_spec(run_dir)
    task = get_task(spec)
    try:
        cfg = TransformerConfig.from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError, ConfigError) as err:
        raise RunError(f"{run_dir / 'config.json'} is damaged ({err})") from None
    tokenizer = task.load_tokenizer(run_dir)
    if tokenizer.vocab_size != cfg.vocab_size:
        raise RunError(f"{run_dir}: tokenizer.json has {tokenizer.vocab_size} entries but the model expects "
                       f"{cfg.vocab_size}")  # fmt: skip
    model = task.build_model(cfg)
    load_weights(model, run_dir / "model.safetensors")
    return Run(run_dir, spec, cfg, tokenizer, model.to(device).eval())
