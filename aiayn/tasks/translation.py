"""A training run, end to end: data, tokenizer, training, evaluation, outputs.

A run lives in one folder:

    run.json            what defines the run (task, direction, preset, settings)
    config.json         the TransformerConfig
    tokenizer.json      the shared BPE vocabulary (§5.1), checked against checkpoints
    checkpoints/        the last K checkpoints (`aiayn.training.checkpoint`)
    model.safetensors   the final weights (averaged over the last checkpoints if asked)
    metrics.jsonl       one JSON record per logged step
    eval.json           BLEU (with sacreBLEU's signature), chrF, exact match on the test set
    samples.txt         a few test translations beside their references
    loss.png, lr.png    training curves

The same folder is what `aiayn translate --model RUN` and `aiayn evaluate` read.
"""

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aiayn.training.batching import Example, encode_pairs
from aiayn.training.checkpoint import atomic_write_text, checkpoint_dirs, load_weights, save_weights
from aiayn.model.config import TransformerConfig, preset
from aiayn.data.numbers import TOKENIZER_PAIRS, Pair, number_pairs
from aiayn.model.transformer import Transformer
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.training.trainer import Trainer, TrainSettings, init_distributed, world

Log = Callable[[str], None]


class RunError(RuntimeError):
    """A run folder that cannot be used as asked."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; saved as run.json and checked on resume."""

    task: str = "numbers"  # "numbers" (built in), "wmt14" (Hugging Face), "files" (local)
    direction: str = "en-de"
    preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)  # TransformerConfig fields over the preset
    bpe_vocab: int = 1000
    max_len: int = 256  # longest tokenized sentence kept for training, either side
    train: TrainSettings = TrainSettings()
    data: dict[str, Any] = field(default_factory=dict)  # task-specific: sizes, paths
    average_last: int = 0  # average the last k checkpoints into the final model (§6.1); 0 = last only

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        raw = json.loads(text)
        raw["train"] = TrainSettings(**raw["train"])
        return cls(**raw)


# The built-in task's defaults: sized to train on 2 CPU cores in about ten minutes.
NUMBERS_DATA = {"n_train": 200_000, "n_validation": 500, "n_test": 1000, "max_number": 100_000, "max_items": 4}


def load_pairs(spec: RunSpec, split: str) -> tuple[Pair, ...]:
    """The pairs of one split ("train", "validation", "test") of the run's task."""
    data = {**NUMBERS_DATA, **spec.data} if spec.task == "numbers" else spec.data
    if spec.task == "numbers":
        n = int(data[f"n_{split}"])
        seed = {"train": 0, "validation": 1, "test": 2}[split] + int(data.get("seed", 0))
        return number_pairs(split, n, spec.direction, seed=seed, max_number=int(data["max_number"]),
                            max_items=int(data["max_items"]))  # fmt: skip
    if spec.task == "wmt14":
        from aiayn.data.parallel import load_wmt14

        limit = data.get(f"limit_{split}")
        return load_wmt14(split, spec.direction, path=data.get("path", "wmt/wmt14"), limit=limit)
    if spec.task == "files":
        from aiayn.data.parallel import load_data_dir

        return load_data_dir(Path(data["data_dir"]), split, spec.direction)
    raise RunError(f"unknown task {spec.task!r}: choose numbers, wmt14 or files")


def model_config(spec: RunSpec, vocab_size: int) -> TransformerConfig:
    return preset(spec.preset, vocab_size=vocab_size).replace(max_len=max(spec.max_len + 2, 64), **spec.model)


def _check_run_dir(run_dir: Path, spec: RunSpec, resume: bool, overwrite: bool) -> None:
    existing = run_dir / "run.json"
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
        return
    if not run_dir.exists() or not any(run_dir.iterdir()):
        if resume:
            raise RunError(f"{run_dir}: nothing to resume (the folder is empty or missing)")
        return
    if not existing.exists():
        raise RunError(f"{run_dir} exists and is not an aiayn run; choose another --run-dir or pass --overwrite")
    old = RunSpec.from_json(existing.read_text(encoding="utf-8"))
    if resume:
        if dataclasses.replace(old, train=dataclasses.replace(old.train, steps=spec.train.steps)) != spec:
            raise RunError(f"{run_dir} holds a run with different settings; resume it with its own settings "
                           f"(`aiayn train --resume {run_dir}` alone) or start a new --run-dir")  # fmt: skip
        return
    state = "a finished run" if (run_dir / "eval.json").exists() else "an unfinished run"
    raise RunError(
        f"{run_dir} already holds {state}; pass --resume to continue it, --overwrite to replace it, "
        f"or --run-dir for a new folder"
    )


def prepare(spec: RunSpec, run_dir: Path, log: Log) -> tuple[BpeTokenizer, tuple[Example, ...]]:
    """Training pairs and the shared BPE vocabulary (trained once, then read back on resume)."""
    rank, world_size = world()
    t0 = time.perf_counter()
    train_pairs = load_pairs(spec, "train")
    tok_path = run_dir / "tokenizer.json"
    if rank == 0 and not tok_path.exists():
        # the vocabulary is learned from the first pairs: the number task's 20,000 already
        # hold every piece; for real data a million pairs is plenty
        max_pairs = int(spec.data.get("tokenizer_pairs", TOKENIZER_PAIRS if spec.task == "numbers" else 1_000_000))
        tokenizer = BpeTokenizer.train_on_pairs(train_pairs, spec.bpe_vocab, max_pairs=max_pairs)
        tokenizer.save(tok_path)
    if world_size > 1:
        torch.distributed.barrier()
    tokenizer = BpeTokenizer.load(tok_path)
    examples, dropped = encode_pairs(train_pairs, tokenizer, spec.max_len)
    log(f"data: {len(examples)} training pairs ({dropped} longer than {spec.max_len} tokens dropped), "
        f"shared BPE vocabulary {tokenizer.vocab_size}, {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return tokenizer, examples


def train_run(
    spec: RunSpec,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    progress_bar: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Train (or resume) a run and evaluate it; returns the evaluation record."""
    run_dir = Path(run_dir)
    rank, world_size, device = init_distributed()
    if rank == 0:
        _check_run_dir(run_dir, spec, resume, overwrite)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "run.json", spec.to_json())
    if world_size > 1:
        torch.distributed.barrier()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tokenizer, examples = prepare(spec, run_dir, log if rank == 0 else _quiet)
    cfg = model_config(spec, tokenizer.vocab_size)
    if rank == 0:
        atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
    trainer = Trainer(cfg, spec.train, examples, run_dir, tokenizer.fingerprint(), tokenizer.bos_id,
                      tokenizer.eos_id, device=device, log=log if rank == 0 else _quiet)  # fmt: skip
    if resume:
        step = trainer.resume()
        log(f"resumed at step {step}") if rank == 0 else None
    n_params = sum(p.numel() for p in trainer.model.parameters())
    if rank == 0:
        log(f"model: {spec.preset} preset, {n_params / 1e6:.2f}M parameters; {world_size} process(es) on {device}; "
            f"{spec.train.steps} steps")  # fmt: skip
    t0 = time.perf_counter()
    trainer.fit(progress_bar=progress_bar)
    train_seconds = time.perf_counter() - t0
    if world_size > 1:
        torch.distributed.barrier()
    if rank != 0:
        return {}
    finalize(run_dir, trainer.model, spec.average_last, log)
    from aiayn.inspect.plots import plot_metrics

    plot_metrics(run_dir / "metrics.jsonl", run_dir)
    result: dict[str, Any] = {"train_seconds": round(train_seconds, 1), "steps": trainer.progress.step}
    if evaluate:
        result.update(evaluate_run(run_dir, "test", log=log))
    return result


def finalize(run_dir: Path, model: torch.nn.Module, average_last: int, log: Log) -> None:
    """Write model.safetensors: the final weights, or the average of the last k checkpoints."""
    if average_last > 1:
        from aiayn.training.averaging import average_checkpoints

        dirs = checkpoint_dirs(run_dir)[-average_last:]
        average_checkpoints(dirs, run_dir / "model.safetensors")
        log(f"model.safetensors: average of the last {len(dirs)} checkpoints (§6.1)")
    else:
        save_weights(model, run_dir / "model.safetensors")


def _quiet(_: str) -> None:
    return None


# -- using a trained run ---------------------------------------------------------------


def load_run(run_dir: Path, device: str | torch.device = "cpu") -> tuple[Transformer, BpeTokenizer, RunSpec]:
    """The trained model (eval mode), its tokenizer and its settings, from a run folder."""
    run_dir = Path(run_dir)
    for name in ("run.json", "config.json", "tokenizer.json", "model.safetensors"):
        if not (run_dir / name).exists():
            raise RunError(f"{run_dir}: missing {name}; is this a finished aiayn run folder?")
    spec = RunSpec.from_json((run_dir / "run.json").read_text(encoding="utf-8"))
    cfg = TransformerConfig.from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    tokenizer = BpeTokenizer.load(run_dir / "tokenizer.json")
    if tokenizer.vocab_size != cfg.vocab_size:
        raise RunError(
            f"{run_dir}: tokenizer.json has {tokenizer.vocab_size} entries but the model expects {cfg.vocab_size}"
        )
    model = Transformer(cfg)
    load_weights(model, run_dir / "model.safetensors")
    return model.to(device).eval(), tokenizer, spec


def translate_lines(
    model: Transformer,
    tokenizer: BpeTokenizer,
    lines: Sequence[str],
    beam_size: int = 4,
    alpha: float = 0.6,
    max_extra: int = 50,
    batch_size: int = 64,
) -> list[str]:
    """Translate sentences with beam search (§6.1); empty lines stay empty.

    Sentences are sorted by length into batches for speed and returned in input order.
    With learned positions (Table 3 row E), input is cut to leave room for max_extra
    output positions within max_len; sinusoidal positions have no limit."""
    from aiayn.decoding.search import beam_search, greedy_decode

    device = next(model.parameters()).device
    encoded = [tokenizer.encode(line.strip()) + [tokenizer.eos_id] if line.strip() else [] for line in lines]
    limit = model.cfg.max_len - max_extra - 1 if model.cfg.positions == "learned" else None
    order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
    out = [""] * len(lines)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        rows = [encoded[i][:limit] if limit else encoded[i] for i in idx]
        width = max(len(r) for r in rows)
        src = torch.full((len(rows), width), model.cfg.pad_id, dtype=torch.long)
        for r, ids in enumerate(rows):
            src[r, : len(ids)] = torch.tensor(ids)
        src = src.to(device)
        if beam_size == 1:
            hyps = greedy_decode(model, src, tokenizer.bos_id, tokenizer.eos_id, max_extra=max_extra)
        else:
            hyps = beam_search(model, src, tokenizer.bos_id, tokenizer.eos_id, beam_size=beam_size, alpha=alpha,
                               max_extra=max_extra)  # fmt: skip
        for i, ids in zip(idx, hyps):
            out[i] = tokenizer.decode(ids)
    return out


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    beam_size: int = 4,
    alpha: float = 0.6,
    limit: int | None = None,
    log: Log = print,
    write: bool = True,
) -> dict[str, Any]:
    """Translate a split of the run's task and score it (sacreBLEU, chrF, exact match)."""
    from aiayn.evaluation.translation import evaluate_translations

    run_dir = Path(run_dir)
    model, tokenizer, spec = load_run(run_dir)
    pairs = load_pairs(spec, split)[:limit]
    t0 = time.perf_counter()
    hyps = translate_lines(model, tokenizer, [p.src for p in pairs], beam_size=beam_size, alpha=alpha)
    scores = evaluate_translations(hyps, [p.tgt for p in pairs])
    if spec.task == "wmt14" and spec.direction == "en-de":
        from aiayn.evaluation.translation import tokenized_compound_split_bleu

        scores["paper_protocol"] = tokenized_compound_split_bleu(hyps, [p.tgt for p in pairs])
    record = {"split": split, "beam_size": beam_size, "alpha": alpha, "decode_seconds": round(time.perf_counter() - t0, 1),
              **scores}  # fmt: skip
    if write:
        atomic_write_text(run_dir / f"eval{'' if split == 'test' else '-' + split}.json", json.dumps(record, indent=2))
        samples = "\n".join(f"src: {p.src}\nref: {p.tgt}\nhyp: {h}\n" for p, h in list(zip(pairs, hyps))[:20])
        atomic_write_text(run_dir / "samples.txt", samples)
    log(f"{split}: BLEU {scores['bleu']:.1f}  chrF {scores['chrf']:.1f}  exact match {scores['exact_match']:.3f}  "
        f"({len(pairs)} sentences, beam {beam_size}, {record['decode_seconds']} s)")  # fmt: skip
    log(f"  {scores['bleu_signature']}")
    for p, h in list(zip(pairs, hyps))[:5]:
        log(f"  {p.src}  ->  {h}" + ("" if h == p.tgt else f"   (reference: {p.tgt})"))
    return record
