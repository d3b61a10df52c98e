"""§6.2 Model variations: Table 3 rerun, each row trained for the same budget over several seeds.

The paper varies the base model one way at a time (rows A to E), trains every variant
for the same number of steps, and compares them on the development set: perplexity per
target wordpiece and BLEU of beam search without checkpoint averaging. Here each row
(scaled onto a base, `aiayn.results.table3_rows`) is trained by the ordinary runner
(`aiayn.tasks.runner.train_run`) once per seed, and scored on the task's validation split:

    ppl    perplexity per target token under the model's softmax, teacher-forced
           (`aiayn.evaluation.translation_perplexity`)
    bleu   sacreBLEU of the decoded validation sentences (greedy by default, `beam`)

A seed sets the initial weights, the order of the batches and the dropout masks.

The work is kept in an output folder, so that a stopped table continues where it stopped:

    OUT/rows/ROW-seedS.json   one finished (row, seed): its scores and the settings that made it
    OUT/runs/ROW-seedS/       its run folder (checkpoints removed once scored)
    OUT/table3.json, .md, .png  the table so far (`aiayn.results.table3_report`)

A (row, seed) with a result file is never trained again; one with a run folder but no
result resumes from its last checkpoint. A result made with other settings is refused
rather than mixed in.
"""

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiayn.model.config import TransformerConfig
from aiayn.results.table3_rows import MINI, describe, row_config
from aiayn.tasks.base import RunError, RunSpec
from aiayn.training.checkpoint import atomic_write_text
from aiayn.training.trainer import TrainSettings

Log = Callable[[str], None]


@dataclass(frozen=True)
class Table3Settings:
    """What every row shares: the task, the base the rows are scaled onto, the budget, the scoring.

    The miniature default (the built-in number task with longer lists) is `MINIATURE`."""

    task: str = "numbers"
    base: TransformerConfig = MINI
    preset: str = "tiny"  # the runner's preset under the row's fields (every field is set, so only its name shows)
    train: TrainSettings = TrainSettings()
    data: dict[str, Any] = field(default_factory=dict)
    dev_split: str = "validation"
    dev_limit: int | None = None  # score the first n dev pairs (None: all)
    beam: int = 1  # 1 = greedy decoding for BLEU; the paper used beam 4

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-able values: a result is reused only under the same ones."""
        return {"task": self.task, "base": self.base.to_dict(), "train": dataclasses.asdict(self.train),
                "data": self.data, "dev_split": self.dev_split, "dev_limit": self.dev_limit, "beam": self.beam}  # fmt: skip


# The miniature (chosen by measurement; README "Table 3, rerun"): the built-in number task as
# it is, 1,000 steps of about 1,000 source tokens, Eq. 3 at half scale with 300 warmup steps,
# the final weights scored (no averaging, as for Table 3). One to three minutes a run on one
# thread. At 300 steps (docs/table3-300steps) no model has yet learned to translate (BLEU 0).
MINIATURE = Table3Settings(
    train=TrainSettings(steps=1000, warmup_steps=300, lr_scale=0.5, max_src_tokens=1000, max_tgt_tokens=1000,
                        save_every=100, keep_last=1, log_every=50),
    data={"direction": "en-de", "bpe_vocab": 1000, "max_len": 256, "n_train": 200_000, "n_validation": 500,
          "n_test": 1000, "max_number": 100_000, "max_items": 4},
)  # fmt: skip


def model_fields(cfg: TransformerConfig) -> dict[str, Any]:
    """The config as runner model changes (all but the vocabulary and max_len, which the task sets)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in ("vocab_size", "max_len")}


def run_spec(row: str, seed: int, settings: Table3Settings) -> RunSpec:
    """The runner's description of one (row, seed)."""
    cfg = row_config(row, settings.base)
    train = dataclasses.replace(settings.train, seed=seed)
    return RunSpec(task=settings.task, preset=settings.preset, model=model_fields(cfg), train=train,
                   data=dict(settings.data), average_last=0)  # fmt: skip


def result_path(out: Path, row: str, seed: int) -> Path:
    return Path(out) / "rows" / f"{row}-seed{seed}.json"


def read_result(out: Path, row: str, seed: int, settings: Table3Settings) -> dict[str, Any] | None:
    """The recorded result of (row, seed), or None; a result of other settings is an error."""
    path = result_path(out, row, seed)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is damaged ({err}); remove it to train that row again") from None
    if not same_settings(record.get("settings"), settings):
        raise RunError(f"{path} was made with other settings (steps, task or base); use another --out "
                       f"or the settings it was made with")  # fmt: skip
    return record


def same_settings(recorded: Any, settings: Table3Settings) -> bool:
    """Whether a recorded result was made under `settings`. A training setting that did not exist
    when the result was recorded counts as its default (a new option, left off, changes nothing)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("train"), dict):
        return False
    defaults = dataclasses.asdict(TrainSettings())
    train = {**{k: v for k, v in defaults.items() if k not in recorded["train"]}, **recorded["train"]}
    return {**recorded, "train": train} == json.loads(json.dumps(settings.describe()))


def score(run_dir: Path, settings: Table3Settings, device: str) -> dict[str, Any]:
    """Dev perplexity per target token and dev BLEU of a finished run (the final weights)."""
    from aiayn.evaluation.translation import evaluate_translations
    from aiayn.evaluation.translation_perplexity import pair_perplexity
    from aiayn.tasks.base import get_task
    from aiayn.tasks.runner import load_run
    from aiayn.tasks.translation import translate_lines

    run = load_run(run_dir, device)
    pairs = get_task(run.spec).pairs(settings.dev_split)[: settings.dev_limit]  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    ppl = pair_perplexity(run.model, run.tokenizer, pairs)  # type: ignore[arg-type]
    hyps = translate_lines(run.model, run.tokenizer, [p.src for p in pairs], beam_size=settings.beam)  # type: ignore[arg-type]
    scores = evaluate_translations(hyps, [p.tgt for p in pairs])
    n_params = sum(p.numel() for p in {id(p): p for p in run.model.parameters()}.values())
    return {"ppl": ppl.perplexity, "dev_loss": ppl.loss, "dev_targets": ppl.n_targets, "bleu": scores["bleu"],
            "chrf": scores["chrf"], "exact_match": scores["exact_match"], "bleu_signature": scores["bleu_signature"],
            "params": n_params, "dev_pairs": len(pairs), "eval_seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def run_row_seed(row: str, seed: int, settings: Table3Settings, out: Path, device: str, log: Log) -> dict[str, Any]:
    """Train and score one (row, seed), or read it back if it is recorded; returns its result."""
    from aiayn.tasks.runner import train_run

    recorded = read_result(out, row, seed, settings)
    if recorded is not None:
        return recorded
    run_dir = Path(out) / "runs" / f"{row}-seed{seed}"
    spec = run_spec(row, seed, settings)
    resume = (run_dir / "run.json").exists() and (run_dir / "checkpoints").is_dir()
    t0 = time.perf_counter()
    trained = train_run(spec, run_dir, resume=resume, overwrite=run_dir.exists() and not resume, evaluate=False,
                        progress_bar=False, log=lambda _: None)  # fmt: skip
    record = {"row": row, "seed": seed, "config": describe(row_config(row, settings.base)),
              "train_seconds": trained["train_seconds"], "steps": trained["steps"], **score(run_dir, settings, device),
              "wall_seconds": round(time.perf_counter() - t0, 1), "device": device,
              "settings": settings.describe()}  # fmt: skip
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # scored: the final weights stay in model.safetensors
    result_path(out, row, seed).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(result_path(out, row, seed), json.dumps(record, indent=2))
    return record


def run_table(
    rows: Sequence[str], seeds: Sequence[int], settings: Table3Settings, out: Path, device: str = "cpu",
    log: Log = print, on_row: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every (row, seed), row by row; one progress line per (row, seed) and per finished row.

    `on_row` gets all results so far after each row (to rewrite the table as it grows)."""
    from aiayn.results.table3_report import summarize

    results: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for i, row in enumerate(rows, 1):
        for seed in seeds:
            recorded = read_result(out, row, seed, settings) is not None
            r = run_row_seed(row, seed, settings, out, device, log)
            results.append(r)
            how = "recorded earlier" if recorded else f"{r['wall_seconds']:.0f} s"
            log(f"  {row} seed {seed}: ppl {r['ppl']:.3f}  BLEU {r['bleu']:.1f}  ({r['params'] / 1e6:.2f}M params, {how})")
        s = summarize(results)[row]
        log(f"row {row} [{i}/{len(rows)}] {s['config']}: ppl {s['ppl_mean']:.3f} +- {s['ppl_std']:.3f}, "
            f"BLEU {s['bleu_mean']:.1f} +- {s['bleu_std']:.1f} over {s['n']} seeds "
            f"({(time.perf_counter() - t_start) / 60:.1f} min so far)")  # fmt: skip
        if on_row is not None:
            on_row(results)
    return results
