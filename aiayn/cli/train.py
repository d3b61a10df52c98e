"""`aiayn train`: the spec gate, then training and evaluation of a task."""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS
from aiayn.training.trainer import TrainSettings

# The built-in task's recipe: the tiny preset, Eq. 3 at half scale (the full rate peaks
# at 4.4e-3 for d_model = 128 and trains unstably), 2,000 steps of about 90 pairs, and
# the last 5 checkpoints averaged (§6.1). About 9 minutes of training on 2 CPU cores.
NUMBERS_TRAIN = TrainSettings(
    steps=2000, warmup_steps=400, lr_scale=0.5, max_src_tokens=1500, max_tgt_tokens=1500,
    save_every=100, keep_last=5, log_every=20,
)  # fmt: skip
NUMBERS_AVERAGE_LAST = 5
# The paper's recipe for WMT 2014 (scripts/wmt14_base.sh): 25,000 + 25,000 tokens a step.
WMT_TRAIN = TrainSettings(steps=100_000, warmup_steps=4000, max_src_tokens=25000, max_tgt_tokens=25000,
                          save_every=1000, keep_last=20)  # fmt: skip



def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("train", help="train a model (default: tiny preset on the built-in number task)")
    t.add_argument("--task", choices=("numbers", "wmt14", "files"), default="numbers")
    t.add_argument("--direction", default="en-de", choices=("en-de", "de-en"))
    t.add_argument("--preset", default=None, help="model preset (default: tiny for numbers, base otherwise)")
    t.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/TASK-DIRECTION)")
    t.add_argument("--resume", type=Path, default=None, metavar="RUN", help="continue the run in this folder")
    t.add_argument("--overwrite", action="store_true", help="replace whatever the run folder holds")
    t.add_argument("--data-dir", type=Path, default=None, help="with --task files: folder of SPLIT.jsonl files")
    t.add_argument("--set", dest="model_set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one TransformerConfig field of the preset, e.g. --set d_model=128 --set n_layers=2")
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--warmup-steps", type=int, default=None)
    t.add_argument("--lr-scale", type=float, default=None, help="multiplier on Eq. 3 (paper: 1)")
    t.add_argument("--max-tokens", type=int, default=None, help="source (and target) tokens per batch (§5.1)")
    t.add_argument("--accum-steps", type=int, default=None, help="batches per process per optimiser step")
    t.add_argument("--bpe-vocab", type=int, default=None, help="shared BPE vocabulary size")
    t.add_argument("--save-every", type=int, default=None)
    t.add_argument("--keep-last", type=int, default=None)
    t.add_argument("--average-last", type=int, default=None, help="average the last k checkpoints at the end (§6.1)")
    t.add_argument("--n-train", type=int, default=None, help="numbers task: training pairs")
    t.add_argument("--n-test", type=int, default=None, help="numbers task: test pairs evaluated at the end")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--no-bf16", action="store_true", help="train in float32 on CUDA")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    t.add_argument("--no-spec-gate", action="store_true",
                   help="skip the spec gate (development only: the paper's claims are then unchecked)")
    t.set_defaults(func=run)


def _spec_from_args(args: argparse.Namespace):  # noqa: ANN202
    from aiayn.tasks.translation import NUMBERS_DATA, RunSpec

    base = NUMBERS_TRAIN if args.task == "numbers" else WMT_TRAIN
    changes = {
        "steps": args.steps, "warmup_steps": args.warmup_steps, "lr_scale": args.lr_scale,
        "max_src_tokens": args.max_tokens, "max_tgt_tokens": args.max_tokens, "accum_steps": args.accum_steps,
        "save_every": args.save_every, "keep_last": args.keep_last, "seed": args.seed,
    }  # fmt: skip
    settings = dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})
    if args.no_bf16:
        settings = dataclasses.replace(settings, bf16=False)
    data: dict = {}
    if args.task == "numbers":
        data = dict(NUMBERS_DATA)
        for key in ("n_train", "n_test"):
            if getattr(args, key) is not None:
                data[key] = getattr(args, key)
    elif args.task == "files":
        if args.data_dir is None:
            raise SystemExit("aiayn train --task files needs --data-dir DIR (with train/validation/test .jsonl files)")
        data = {"data_dir": str(args.data_dir)}
    return RunSpec(
        task=args.task, direction=args.direction, model=_model_changes(args.model_set),
        preset=args.preset or ("tiny" if args.task == "numbers" else "base"),
        bpe_vocab=args.bpe_vocab or (1000 if args.task == "numbers" else 37000),
        max_len=256, train=settings, data=data,
        average_last=args.average_last if args.average_last is not None else (NUMBERS_AVERAGE_LAST if args.task == "numbers" else 5),
    )  # fmt: skip


def _model_changes(items: list[str]) -> dict:
    """Parse --set FIELD=VALUE into TransformerConfig changes, typed like the field."""
    from aiayn.model.config import TransformerConfig

    fields = {f.name: f for f in dataclasses.fields(TransformerConfig)}
    defaults = TransformerConfig()
    changes: dict = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields or name == "vocab_size":
            known = ", ".join(n for n in fields if n != "vocab_size")
            raise SystemExit(f"aiayn train: --set {item!r}: expected FIELD=VALUE with FIELD one of {known}")
        current = getattr(defaults, name)
        try:
            if isinstance(current, bool):
                changes[name] = value.lower() in ("1", "true", "yes")
            elif isinstance(current, int) or current is None:
                changes[name] = int(value)
            elif isinstance(current, float):
                changes[name] = float(value)
            else:
                changes[name] = value
        except ValueError:
            raise SystemExit(f"aiayn train: --set {item!r}: {value!r} is not a valid {name}") from None
    return changes


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.translation import RunSpec, train_run
    from aiayn.training.trainer import world

    if args.resume is not None:
        run_dir = args.resume
        if not (run_dir / "run.json").exists():
            print(f"aiayn train: {run_dir} holds no run to resume (no run.json)", file=sys.stderr)
            return 2
        spec = RunSpec.from_json((run_dir / "run.json").read_text(encoding="utf-8"))
        if args.steps is not None:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, steps=args.steps))
    else:
        spec = _spec_from_args(args)
        run_dir = args.run_dir or Path("runs") / f"{spec.task}-{spec.direction}"
    import os

    if not args.no_spec_gate and int(os.environ.get("RANK", "0")) == 0:
        from aiayn.checks.checklist import SpecFileError, SpecGateError, gate

        try:
            gate()
        except (SpecGateError, SpecFileError) as err:
            print(f"aiayn train: {err}", file=sys.stderr)
            return 3
    try:
        result = train_run(spec, run_dir, resume=args.resume is not None, overwrite=args.overwrite,
                           progress_bar=not args.no_progress and sys.stderr.isatty())  # fmt: skip
    except USER_ERRORS as err:
        print(f"aiayn train: {err}", file=sys.stderr)
        return 2
    if world()[0] == 0 and result:
        keys = ("bleu", "chrf", "exact_match", "train_seconds", "steps")
        print(json.dumps({k: result[k] for k in keys if k in result}))
        print(f"run folder: {run_dir}  (translate with: aiayn translate --model {run_dir})")
    return 0
