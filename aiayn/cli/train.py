"""`aiayn train`: the spec gate, then training and evaluation of a task.

Settings come from the task's recipe (`recipes` in its module), changed by flags:
model fields by `--set FIELD=VALUE`, training settings by their own flags, task
options by the flags in TASK_FLAGS (each names the tasks it applies to).
"""

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

from aiayn.cli.errors import USER_ERRORS, fail

TRANSLATION = ("numbers", "wmt14", "files")
CLASSIFICATION = ("genre", "sst2", "classify-files")
LANGUAGE = ("shakespeare",)
FINE_TUNING = ("sft",)
# flag -> (task option, type, tasks it applies to, help)
TASK_FLAGS: dict[str, tuple[str, type, tuple[str, ...], str]] = {
    "--direction": ("direction", str, TRANSLATION, "en-de or de-en"),
    "--bpe-vocab": ("bpe_vocab", int, TRANSLATION + CLASSIFICATION + LANGUAGE, "BPE vocabulary size"),
    "--tokenizer": ("tokenizer", str, LANGUAGE, "bpe (byte-level BPE) or char (characters)"),
    "--block-size": ("block_size", int, LANGUAGE, "tokens per training block (and the model's context)"),
    "--batch-size": ("batch_size", int, LANGUAGE, "blocks per batch"),
    "--corpus": ("corpus", str, LANGUAGE, "works (split by whole works) or nanogpt (nanoGPT's comparison text)"),
    "--init": ("init", str, FINE_TUNING, "the trained language-model run to fine-tune"),
    "--sft-data": ("data", str, FINE_TUNING, "corpus (built-in questions, scored), alpaca or dolly"),
    "--sft-per-work": ("train_per_work", int, FINE_TUNING, "built-in training questions of each kind per work "
                       "(validation and test keep 40)"),
    "--sft-drills": ("drills", int, FINE_TUNING, "copying drills per training work, added to the built-in "
                     "training questions (aiayn.data.drills; 0: none)"),
    "--tokenizer-pairs": ("tokenizer_pairs", int, TRANSLATION, "pairs in the seeded uniform sample of the training set "
                          "the shared BPE is learned from (wmt14: 1,000,000)"),
    "--tokenizer-seed": ("tokenizer_seed", int, TRANSLATION, "seed of that sample"),
    "--wmt14-path": ("path", str, ("wmt14",), "the hub data set (wmt/wmt14) or a local folder in its layout"),
    "--n-train": ("n_train", int, ("numbers",), "training pairs"),
    "--n-test": ("n_test", int, ("numbers",), "test pairs evaluated at the end"),
    "--data-dir": ("data_dir", str, ("files", "classify-files"), "folder of train/validation/test .jsonl files"),
}
# flag -> (TrainSettings field, type, help); --max-tokens sets both token budgets
TRAIN_FLAGS: dict[str, tuple[str, type, str]] = {
    "--steps": ("steps", int, "optimiser steps in all (with --resume: extend the run to this many)"),
    "--warmup-steps": ("warmup_steps", int, "Eq. 3 warmup"),
    "--lr-scale": ("lr_scale", float, "multiplier on Eq. 3 (paper: 1)"),
    "--accum-steps": ("accum_steps", int, "batches per process per optimiser step"),
    "--save-every": ("save_every", int, "steps between checkpoints"),
    "--keep-last": ("keep_last", int, "checkpoints kept"),
    "--seed": ("seed", int, "data order and initialisation"),
    "--p-drop": ("p_drop", float, "dropout while training (§5.4; default: the preset's)"),
    "--eps-ls": ("eps_ls", float, "label smoothing (§5.4; default: the preset's)"),
    "--tokens-per-step": ("tokens_per_step", int, "tokens per side in each optimiser step, on any number of "
                          "processes (needs --max-tokens-per-device; the paper: 25000)"),
    "--max-tokens-per-device": ("max_tokens_per_device", int, "the most tokens per side in one device's batch"),
    "--validate-every": ("validate_every", int, "steps between validations of the validation split (0: none)"),
    "--validate-bleu": ("validate_bleu", int, "validation sentences decoded greedily for a BLEU at each "
                        "validation (0: none; translation tasks)"),
    "--schedule": ("schedule", str, "eq3 (§5.3, the default) or cosine (Eq. 3's warmup, then a cosine to "
                   "--lr-floor x the peak at the last step)"),
    "--lr-floor": ("lr_floor", float, "cosine: the last step's rate as a share of the peak (default 0.1)"),
}


def duration(text: str) -> float:
    """Seconds from '300', '300s', '5m', '1.5h'."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 300, 300s, 5m, 1.5h)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a time budget must be a positive duration")
    return seconds
# what --resume accepts besides the run folder; anything else would change the run
RESUME_FLAGS = ("steps", "no_progress", "progress_every", "no_spec_gate", "dist_timeout", "tensorboard")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.tasks.base import TASKS

    t = sub.add_parser("train", help="train a model (default: tiny preset on the built-in number task)")
    t.add_argument("--task", choices=tuple(TASKS), default=None, help="default: numbers")
    t.add_argument("--preset", default=None, help="model preset (default: the task's recipe)")
    t.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/TASK)")
    t.add_argument("--resume", type=Path, default=None, metavar="RUN", help="continue the run in this folder")
    t.add_argument("--overwrite", action="store_true", help="replace the aiayn run in the run folder")
    t.add_argument("--set", dest="model_set", action="append", default=None, metavar="FIELD=VALUE",
                   help="change one TransformerConfig field of the preset, e.g. --set d_model=128 --set n_layers=2")
    for flag, (_, kind, help_text) in TRAIN_FLAGS.items():
        t.add_argument(flag, type=kind, default=None, help=help_text)
    t.add_argument("--time-budget", type=duration, default=None, metavar="DURATION",
                   help="stop training after this long (300, 300s, 5m, 1.5h), with a checkpoint and evaluation")
    t.add_argument("--max-tokens", type=int, default=None, help="source (and target) tokens per batch (§5.1)")
    t.add_argument("--average-last", type=int, default=None, help="average the last k checkpoints at the end (§6.1)")
    for flag, (_, kind, tasks, help_text) in TASK_FLAGS.items():
        t.add_argument(flag, type=kind, default=None, help=f"{help_text} ({', '.join(tasks)})")
    t.add_argument("--no-bf16", action="store_true", help="train in float32 on CUDA")
    t.add_argument("--bf16-cpu", action="store_true", help="bf16 autocast on a CPU too (default: float32 there)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar: plain progress lines instead")
    t.add_argument("--progress-every", type=float, default=None, metavar="SECONDS",
                   help="without a bar (output not a terminal, or --no-progress): a plain progress line every "
                        "SECONDS (default 30; 0 = none)")
    t.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="write the training and validation scalars as TensorBoard events to DIR (needs tensorboard)")
    t.add_argument("--dist-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long a process waits for the others under torchrun before the run fails "
                   "(default: AIAYN_DIST_TIMEOUT, else 1800)")
    t.add_argument("--no-spec-gate", action="store_true",
                   help="skip the spec gate (development only: the paper's claims are then unchecked)")
    t.set_defaults(func=run)


class UsageError(ValueError):
    """Flags that do not make a run."""


def _given(args: argparse.Namespace) -> list[str]:
    """The flags the user gave (every flag defaults to None or False)."""
    skip = {"func", "command", "resume"}
    return [k for k, v in vars(args).items() if k not in skip and v not in (None, False)]


def _flag(dest: str) -> str:
    return "--" + {"model_set": "set"}.get(dest, dest).replace("_", "-")


def model_changes(items: list[str]) -> dict[str, Any]:
    """Parse --set FIELD=VALUE into TransformerConfig changes, typed like the field."""
    from aiayn.model.config import TransformerConfig

    fields = {f.name for f in dataclasses.fields(TransformerConfig)} - {"vocab_size"}
    defaults = TransformerConfig()
    hints = typing.get_type_hints(TransformerConfig)
    changes: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise UsageError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(fields))}")
        current = getattr(defaults, name)
        choices = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is typing.Literal else ()
        if choices:
            if value not in choices:
                raise UsageError(f"--set {item!r}: {name} is one of {', '.join(map(str, choices))}, not {value!r}")
            changes[name] = value
            continue
        if isinstance(current, bool):
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            if value.lower() not in words:
                raise UsageError(f"--set {item!r}: {name} is true or false, not {value!r}")
            changes[name] = words[value.lower()]
            continue
        try:
            changes[name] = int(value) if isinstance(current, int) or current is None else (
                float(value) if isinstance(current, float) else value)  # fmt: skip
        except ValueError:
            raise UsageError(f"--set {item!r}: {value!r} is not a valid {name}") from None
    return changes


def task_options(name: str, recipe_data: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The recipe's task options changed by the task flags given (flag -> value or None)."""
    data = dict(recipe_data)
    for flag, value in given.items():
        if value is None:
            continue
        option, _, tasks, _ = TASK_FLAGS[flag]
        if name not in tasks:
            raise UsageError(f"{flag} applies to --task {' / '.join(tasks)}, not --task {name}")
        data[option] = value
    return data


def spec_from_args(args: argparse.Namespace):  # noqa: ANN201
    """The RunSpec the flags ask for: the task's recipe, changed by the flags given."""
    from aiayn.model.config import preset
    from aiayn.tasks.base import task_class

    name = args.task or "numbers"
    recipe = task_class(name).recipes[name]
    _check_task_values(args, name)
    data = task_options(name, recipe.data, {f: getattr(args, f[2:].replace("-", "_")) for f in TASK_FLAGS})
    train: dict[str, Any] = {field: getattr(args, f[2:].replace("-", "_")) for f, (field, _, _) in TRAIN_FLAGS.items()}
    if args.tokens_per_step is not None and (args.max_tokens is not None or args.accum_steps is not None):
        raise UsageError("--tokens-per-step derives the batch and the accumulation: drop --max-tokens and --accum-steps")
    if (args.tokens_per_step is None) != (args.max_tokens_per_device is None):
        raise UsageError("--tokens-per-step and --max-tokens-per-device go together")
    if args.time_budget is not None:
        train["time_budget"] = args.time_budget
    if args.max_tokens is not None:
        train["max_src_tokens"] = train["max_tgt_tokens"] = args.max_tokens
    if args.no_bf16:
        train["bf16"] = False
    if args.bf16_cpu:
        train["bf16_cpu"] = True
    settings = dataclasses.replace(recipe.train, **{k: v for k, v in train.items() if v is not None})
    changes = model_changes(args.model_set or [])
    model = {**recipe.model, **changes}  # the recipe's model fields, then the user's
    spec = dataclasses.replace(recipe, preset=args.preset or recipe.preset, model=model, train=settings, data=data)
    if args.average_last is not None:
        if args.average_last < 0:
            raise UsageError(f"--average-last must be 0 (no averaging) or a number of checkpoints, got {args.average_last}")
        spec = dataclasses.replace(spec, average_last=args.average_last)
    preset(spec.preset).replace(**model)  # refuse a bad model now, not after preparing the data
    return spec


def _check_task_values(args: argparse.Namespace, task: str) -> None:
    """Refuse now, in one line, values the tokenizer or the data would refuse only after a run
    folder exists and data is prepared."""
    from aiayn.data.tokenizer import BYTE_SYMBOLS, SPECIALS

    least = {"bpe_vocab": (len(SPECIALS) + BYTE_SYMBOLS, f" ({len(SPECIALS)} special tokens + {BYTE_SYMBOLS} bytes)"),
             "tokenizer_seed": (0, ""), "drills": (0, " (0: no drills)")}
    for flag, (option, kind, _, _) in TASK_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if kind is int and value is not None:
            bound, why = least.get(option, (1, ""))
            if value < bound:
                raise UsageError(f"{flag} must be at least {bound}{why}, got {value}")
    if args.max_tokens is not None and task in LANGUAGE:
        raise UsageError(f"--max-tokens applies to the translation, classification and fine-tuning tasks, not --task "
                         f"{task}: its batches are --batch-size blocks of --block-size tokens")  # fmt: skip


def _resume_spec(args: argparse.Namespace):  # noqa: ANN202
    from aiayn.tasks.runner import read_spec

    extra = [_flag(k) for k in _given(args) if k not in RESUME_FLAGS]
    if extra:
        raise UsageError(f"--resume continues a run with its own settings; {', '.join(extra)} would change it "
                         f"(only --steps may extend it): drop {'it' if len(extra) == 1 else 'them'}, "
                         f"or start a new --run-dir")  # fmt: skip
    spec = read_spec(args.resume)
    if args.steps is not None:
        if args.steps < 1:
            raise UsageError(f"--steps must be at least 1, got {args.steps}")
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, steps=args.steps))
    return spec


def _gate_on_every_rank(skip: bool, bf16: bool, timeout_s: float | None = None) -> str | None:
    """Run the spec gate on rank 0, on the device the run trains on (and in its dtype);
    every process learns the verdict (None = green)."""
    from aiayn.training.distributed import broadcast_object, init_distributed

    rank, _, device = init_distributed(timeout_s)
    verdict = None
    if rank == 0 and not skip:
        from aiayn.checks.checklist import SpecFileError, SpecGateError, gate

        on_device = {} if device.type == "cpu" else {"device": str(device), "dtype": "bfloat16" if bf16 else "float32"}
        try:
            gate(**on_device)
        except (SpecGateError, SpecFileError, RuntimeError) as err:
            verdict = str(err)
    return broadcast_object(verdict)  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    from aiayn.training.distributed import world

    try:
        if args.progress_every is not None and not args.progress_every >= 0:
            raise UsageError(f"--progress-every must be 0 (no lines) or a number of seconds, got {args.progress_every}")
        spec = _resume_spec(args) if args.resume is not None else spec_from_args(args)
        if args.dist_timeout is not None and not args.dist_timeout > 0:
            raise UsageError(f"--dist-timeout must be a positive number of seconds, got {args.dist_timeout}")
        if args.tensorboard is not None:
            from aiayn.training.tensorboard import TensorBoardError, check_available

            try:
                check_available()
            except TensorBoardError as err:
                raise UsageError(str(err)) from None
    except (UsageError, *USER_ERRORS) as err:
        return fail("train", err)
    if not sys.stdout.isatty() and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # each line reaches a log file as it is printed
    run_dir = args.resume if args.resume is not None else (args.run_dir or Path("runs") / _default_name(spec))
    verdict = _gate_on_every_rank(args.no_spec_gate, spec.train.bf16, args.dist_timeout)
    if verdict is not None:
        print(f"aiayn train: {verdict}", file=sys.stderr)
        return 3
    from aiayn.tasks.runner import train_run

    try:
        result = train_run(spec, run_dir, resume=args.resume is not None, overwrite=args.overwrite,
                           progress_bar=not args.no_progress and sys.stderr.isatty(),
                           report_every_s=30.0 if args.progress_every is None else args.progress_every,
                           tensorboard=args.tensorboard)  # fmt: skip
    except USER_ERRORS as err:
        return fail("train", err)
    if world()[0] == 0 and result:
        keys = ("bleu", "chrf", "exact_match", "format", "mc_accuracy", "base_mc_accuracy", "bits_per_char", "perplexity",
                "cloze_accuracy", "accuracy", "macro_f1", "majority_accuracy", "train_seconds", "steps")
        print(json.dumps({k: result[k] for k in keys if k in result}))
        print(f"run folder: {run_dir}")
    return 0


def _default_name(spec) -> str:  # noqa: ANN001
    direction = spec.data.get("direction")
    return f"{spec.task}-{direction}" if direction else spec.task


