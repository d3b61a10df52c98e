"""`aiayn table3`: Table 3 rerun (§6.2), every row over several seeds, resumable.

    aiayn table3                          the miniature on the built-in task (README "Table 3, rerun")
    aiayn table3 --rows A,C --seeds 1 --steps 50
    aiayn table3 --task wmt14 --preset base --dry-run     the full-size plan: rows, steps, tokens, hours

The logic lives in `aiayn.results` (table3, table3_report, claims_6_2).
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("table3", help="train the rows of Table 3 (in miniature by default) and judge §6.2's claims")
    p.add_argument("--task", choices=("numbers", "wmt14"), default="numbers",
                   help="numbers: the miniature on the built-in task; wmt14: the paper's data (a GPU job)")  # fmt: skip
    p.add_argument("--preset", choices=("mini", "base"), default=None,
                   help="the base the rows change: mini (N=3, d_model=64; default for numbers) or the paper's base")  # fmt: skip
    p.add_argument("--rows", default="A,B,C,D,E", help="letters or rows, e.g. A,C3 (base is always included)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row (0 .. n-1)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default: the task's budget)")
    p.add_argument("--warmup-steps", type=int, default=None, help="Eq. 3 warmup (default: the task's, at most --steps)")
    p.add_argument("--device", default=None,
                   help="torch device that scores the dev set (default: cuda when present, else cpu); training runs "
                        "where `aiayn train` would (CUDA when present; CUDA_VISIBLE_DEVICES= keeps it on the CPU)")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("runs/table3"), help="output folder (rows kept; reruns continue)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (rows, steps, tokens, hours) and stop")
    p.add_argument("--tflops", type=float, default=100.0,
                   help="sustained TFLOPS per device assumed by the dry run's hours (default 100)")  # fmt: skip
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):  # noqa: ANN201
    """The Table3Settings the flags ask for."""
    from aiayn.model.config import ConfigError, TransformerConfig
    from aiayn.results.table3 import MINIATURE, Table3Settings
    from aiayn.tasks.translation import WMT14

    preset = args.preset or ("mini" if args.task == "numbers" else "base")
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {args.steps}")
    if args.task == "numbers":
        settings = MINIATURE
    else:  # the paper's recipe; Table 3 scores the final weights (no averaging) with beam 4
        settings = Table3Settings(task="wmt14", preset="base", train=WMT14.train, data=dict(WMT14.data), beam=4)
    if preset == "base":
        settings = dataclasses.replace(settings, base=TransformerConfig.base(vocab_size=settings.base.vocab_size))
    if args.warmup_steps is not None and args.warmup_steps < 1:
        raise ConfigError(f"--warmup-steps must be at least 1, got {args.warmup_steps}")
    if args.steps is not None:
        train = settings.train
        save_every = min(train.save_every, args.steps)
        settings = dataclasses.replace(settings, train=dataclasses.replace(
            train, steps=args.steps, save_every=save_every, warmup_steps=min(train.warmup_steps, args.steps)))  # fmt: skip
    if args.warmup_steps is not None:
        settings = dataclasses.replace(settings, train=dataclasses.replace(settings.train, warmup_steps=args.warmup_steps))
    return settings


def plan(rows: tuple[str, ...], seeds: int, settings, tflops: float) -> str:  # noqa: ANN001
    """The dry run: every row, its steps and tokens, its FLOPs and hours at `tflops` per device."""
    from aiayn.results.table3_rows import describe, row_config
    from aiayn.results.training_cost import estimate

    s = settings.train
    tokens = s.tokens_per_step or s.max_src_tokens * s.accum_steps
    vocab = int(settings.data.get("bpe_vocab", settings.base.vocab_size))
    lines = [f"Table 3 plan: task {settings.task}, {len(rows)} rows x {seeds} seeds, {s.steps:,} steps each of about "
             f"{tokens:,} source + {tokens:,} target tokens ({s.steps * tokens:,} per side and run)",
             f"hours at a sustained {tflops:g} TFLOPS per device (an assumption; Table 2 used 9.5 for a P100)"]  # fmt: skip
    total = 0.0
    for row in rows:
        cfg = row_config(row, settings.base).replace(vocab_size=vocab)
        flops = estimate(cfg, s.steps, tokens).total
        hours = flops / (tflops * 1e12) / 3600
        total += hours * seeds
        lines.append(f"  {row:>4}  {describe(cfg):60s}  {flops:.2e} FLOPs  {_duration(hours)} per seed")
    lines.append(f"in all: {_duration(total)} of one device ({_duration(total / 8)} on 8), "
                 f"plus decoding the dev set with beam {settings.beam}")  # fmt: skip
    return "\n".join(lines)


def _duration(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.1f} min"


def run(args: argparse.Namespace) -> int:
    from aiayn.results.table3_rows import expand_rows

    try:
        settings = settings_from_args(args)
        rows = expand_rows(args.rows)
    except USER_ERRORS as err:
        return fail("table3", err)
    if args.dry_run:
        print(plan(rows, args.seeds, settings, args.tflops))
        return 0
    if args.out.exists() and not args.out.is_dir():
        return fail("table3", f"--out {args.out} is a file, not a folder")
    from aiayn.results import table3_report
    from aiayn.results.claims_6_2 import format_verdicts
    from aiayn.results.table3 import run_table

    import torch

    seeds = tuple(range(args.seeds))
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(args.device)
    except (RuntimeError, ValueError):
        return fail("table3", f"--device {args.device!r} is not a torch device (e.g. cpu, cuda, cuda:1)")
    meta = {"command": "aiayn " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("aiayn") else "aiayn table3",
            "scoring": scoring_line(settings), "settings": settings.describe()}  # fmt: skip
    print(f"Table 3: {len(rows)} rows x {len(seeds)} seeds, {settings.train.steps} steps each, on {args.device}; "
          f"results in {args.out}", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    try:
        results = run_table(rows, seeds, settings, args.out, args.device, log=lambda line: print(line, flush=True),
                            on_row=lambda so_far: table3_report.write(so_far, meta, args.out))  # fmt: skip
    except USER_ERRORS as err:
        return fail("table3", err)
    minutes = {"minutes_this_invocation": round((time.perf_counter() - t0) / 60, 1),
               "minutes_of_all_runs": round(sum(r["wall_seconds"] for r in results) / 60, 1)}  # fmt: skip
    written = table3_report.write(results, {**meta, **minutes}, args.out)
    print(format_verdicts(table3_report.summarize(results)))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def scoring_line(settings) -> str:  # noqa: ANN001
    decode = "greedy decoding" if settings.beam == 1 else f"beam {settings.beam}"
    limit = f"the first {settings.dev_limit}" if settings.dev_limit else "all"
    return (f"Dev = {limit} pairs of the {settings.dev_split} split; PPL per target token (teacher-forced, plain "
            f"softmax); BLEU = sacreBLEU of {decode}, final weights (no averaging).")  # fmt: skip
