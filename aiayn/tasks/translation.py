"""Translation (§5, §6.1): the built-in number task, WMT 2014 English-German, local files.

Task options (`RunSpec.data`): `direction` ("en-de" or "de-en"), `bpe_vocab` (size of
the shared BPE vocabulary, §5.1), `max_len` (longest tokenized sentence kept for
training, either side), and per data set: the number task's sizes (`n_train`,
`n_validation`, `n_test`, `max_number`, `max_items`, `seed`), WMT's `path` and
`limit_SPLIT`, the local files' `data_dir`.

Training data: the pairs are tokenized once per data set and vocabulary into a
memory-mapped binarized copy that every later run and every process reads
(`aiayn.tasks.translation_data`, `aiayn.data.binarized`).

Evaluation is beam search (beam 4, alpha 0.6, input length + 50; `aiayn.decoding.search`)
on the run's device, sentences sorted by length into batches (`translate_lines`), scored
by sacreBLEU with its signature, chrF and exact match; for WMT EN-DE also the paper's
tokenized, compound-split BLEU, labelled as such.
"""

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from aiayn.data.numbers import number_pairs
from aiayn.data.pairs import Pair
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.decoding.search import ALPHA, BEAM_SIZE, MAX_EXTRA, beam_search, greedy_decode
from aiayn.model.config import TransformerConfig, preset
from aiayn.model.transformer import Transformer
from aiayn.tasks.base import Log, LossFn, Run, RunError, RunSpec, write_eval
from aiayn.model.inputs import pad_rows
from aiayn.training.checkpoint import atomic_write_text
from aiayn.training.loss import label_smoothed_loss
from aiayn.training.batching import TrainingBatch
from aiayn.training.pair_batches import PairBatches
from aiayn.training.trainer import TrainSettings

# The built-in task's recipe: the tiny preset, Eq. 3 at half scale (the full rate peaks
# at 4.4e-3 for d_model = 128 and trains unstably), 3,000 steps of about 90 pairs, and
# the last 5 checkpoints averaged (§6.1). About 4 to 6 minutes of training on 2 CPU cores
# (2,000 steps, the recipe while a step cost 2.4 times as much, reached 0.969 to 0.973).
NUMBERS = RunSpec(
    task="numbers", preset="tiny", average_last=5,
    train=TrainSettings(steps=3000, warmup_steps=400, lr_scale=0.5, max_src_tokens=1500, max_tgt_tokens=1500,
                        save_every=100, keep_last=5, log_every=20, validate_every=500),
    data={"direction": "en-de", "bpe_vocab": 1000, "max_len": 256, "n_train": 200_000, "n_validation": 500,
          "n_test": 1000, "max_number": 100_000, "max_items": 4},
)  # fmt: skip
# The paper's recipe for WMT 2014 (scripts/wmt14.sh): base model, 25,000 + 25,000 tokens a
# step on any number of GPUs (at most 6,250 per GPU batch here; scripts/wmt14.sh sets the
# largest that fits the GPU, `aiayn.training.memory`), 100k steps, checkpoints written for
# the last-5 average, newstest2013 scored every 1,000 steps (greedy BLEU on 500 sentences).
WMT14 = RunSpec(
    task="wmt14", preset="base", average_last=5,
    train=TrainSettings(steps=100_000, warmup_steps=4000, tokens_per_step=25000, max_tokens_per_device=6250,
                        save_every=1000, keep_last=20, validate_every=1000, validate_bleu=500),
    data={"direction": "en-de", "bpe_vocab": 37000, "max_len": 256},
)  # fmt: skip
FILES = RunSpec(task="files", preset="base", average_last=5, train=WMT14.train, data=dict(WMT14.data))


class TranslationTask:
    """Sentence pairs -> the encoder-decoder Transformer, scored by BLEU, chrF, exact match."""

    name = "translation"
    recipes = {"numbers": NUMBERS, "wmt14": WMT14, "files": FILES}

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.options = {**self.recipes[spec.task].data, **spec.data}
        self.direction = str(self.options["direction"])
        if self.direction not in ("en-de", "de-en"):
            raise RunError(f"translation direction must be en-de or de-en, got {self.direction!r}")

    def pairs(self, split: str) -> tuple[Pair, ...]:
        """The pairs of one split ("train", "validation", "test")."""
        o = self.options
        if self.spec.task == "numbers":
            seed = {"train": 0, "validation": 1, "test": 2}[split] + int(o.get("seed", 0))
            return number_pairs(split, int(o[f"n_{split}"]), self.direction, seed=seed,
                                max_number=int(o["max_number"]), max_items=int(o["max_items"]))  # fmt: skip
        if self.spec.task == "wmt14":
            from aiayn.data.parallel import load_wmt14

            return load_wmt14(split, self.direction, path=o.get("path", "wmt/wmt14"), limit=o.get(f"limit_{split}"))
        from aiayn.data.parallel import load_data_dir

        if "data_dir" not in o:
            raise RunError("the files task needs a data folder: aiayn train --task files --data-dir DIR")
        return load_data_dir(Path(o["data_dir"]), split, self.direction)

    def prepare(self, run_dir: Path, log: Log) -> tuple[BpeTokenizer, PairBatches]:
        """The shared BPE vocabulary and the binarized training pairs (`aiayn.tasks.translation_data`)."""
        from aiayn.tasks.translation_data import prepare

        return prepare(self, Path(run_dir), log)

    def validation_batches(self, tokenizer: BpeTokenizer, settings: TrainSettings) -> list[TrainingBatch]:
        """The validation split as batches under the training budgets (pairs past max_len left out)."""
        from aiayn.data.binarized import PairTokens

        pairs = self.pairs("validation")
        tokens = PairTokens.from_ids(tokenizer.encode_batch([p.src for p in pairs]),
                                     tokenizer.encode_batch([p.tgt for p in pairs]))  # fmt: skip
        source = PairBatches(tokens, settings.max_src_tokens, settings.max_tgt_tokens, 0, tokenizer.pad_id,
                             tokenizer.bos_id, tokenizer.eos_id, max_len=int(self.options["max_len"]))  # fmt: skip
        return [source.collate(items) for items in source.epoch(0)]

    def validation_bleu(self, tokenizer: BpeTokenizer, n: int) -> Callable[[Transformer], float]:
        """model -> sacreBLEU of greedy translations of the first n validation pairs (a fixed subset)."""
        import sacrebleu

        pairs = self.pairs("validation")[:n]

        def bleu(model: Transformer) -> float:
            hyps = translate_lines(model, tokenizer, [p.src for p in pairs], beam_size=1)
            return float(sacrebleu.corpus_bleu(hyps, [[p.tgt for p in pairs]]).score)

        return bleu

    def load_tokenizer(self, run_dir: Path) -> BpeTokenizer:
        return BpeTokenizer.load(Path(run_dir) / "tokenizer.json")

    def model_config(self, vocab_size: int) -> TransformerConfig:
        max_len = max(int(self.options["max_len"]) + 2, 64)
        return preset(self.spec.preset, vocab_size=vocab_size).replace(max_len=max_len, **self.spec.model)

    def build_model(self, cfg: TransformerConfig) -> Transformer:
        return Transformer(cfg)

    def loss(self, cfg: TransformerConfig, settings: TrainSettings) -> LossFn:
        eps_ls = cfg.eps_ls if settings.eps_ls is None else settings.eps_ls

        def loss(logits: Tensor, targets: Tensor) -> Tensor:
            return label_smoothed_loss(logits, targets, eps_ls, cfg.pad_id, reduction="sum")

        return loss

    def evaluate(self, run: Run, split: str, log: Log, beam_size: int = BEAM_SIZE, alpha: float = ALPHA,
                 limit: int | None = None, write: bool = True, batch_size: int = 64,
                 max_tokens: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Translate a split on the run's device and score it (sacreBLEU, chrF, exact match)."""
        from aiayn.evaluation.translation import evaluate_translations

        pairs = self.pairs(split)[:limit]
        t0 = time.perf_counter()
        hyps = translate_lines(run.model, run.tokenizer, [p.src for p in pairs], beam_size=beam_size, alpha=alpha,
                               batch_size=batch_size, max_tokens=max_tokens)  # fmt: skip
        scores = evaluate_translations(hyps, [p.tgt for p in pairs])
        if self.spec.task == "wmt14" and self.direction == "en-de":
            from aiayn.evaluation.translation import tokenized_compound_split_bleu

            scores["paper_protocol"] = tokenized_compound_split_bleu(hyps, [p.tgt for p in pairs])
        record = {"split": split, "beam_size": beam_size, "alpha": alpha,
                  "decode_seconds": round(time.perf_counter() - t0, 1), **scores}  # fmt: skip
        if write:
            write_eval(run, split, record)
            samples = "\n".join(f"src: {p.src}\nref: {p.tgt}\nhyp: {h}\n" for p, h in list(zip(pairs, hyps))[:20])
            atomic_write_text(run.run_dir / "samples.txt", samples)
        log(f"{split}: BLEU {scores['bleu']:.1f}  chrF {scores['chrf']:.1f}  exact match {scores['exact_match']:.3f}  "
            f"({len(pairs)} sentences, beam {beam_size}, {record['decode_seconds']} s)")  # fmt: skip
        log(f"  {scores['bleu_signature']}")
        for p, h in list(zip(pairs, hyps))[:5]:
            log(f"  {p.src}  ->  {h}" + ("" if h == p.tgt else f"   (reference: {p.tgt})"))
        return record


def length_sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices of the non-empty entries, sorted by length and cut into batches of at most
    `batch_size` entries and (when given) `max_tokens` padded tokens: size x longest. A
    single entry longer than max_tokens gets a batch of its own."""
    order = sorted((i for i, n in enumerate(lengths) if n), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last is None or len(last) == batch_size or (max_tokens and (len(last) + 1) * lengths[i] > max_tokens):
            batches.append([i])
        else:
            last.append(i)
    return batches


def translate_lines(
    model: Transformer,
    tokenizer: BpeTokenizer,
    lines: Sequence[str],
    beam_size: int = BEAM_SIZE,
    alpha: float = ALPHA,
    max_extra: int = MAX_EXTRA,
    batch_size: int = 64,
    max_tokens: int | None = None,
) -> list[str]:
    """Translate sentences with beam search (§6.1) on the model's device; empty lines stay empty.

    Sentences are sorted by length into batches of at most `batch_size` sentences and
    `max_tokens` padded source tokens (each sentence is searched with `beam_size`
    hypotheses, so the decoder holds beam_size times as many rows), and returned in
    input order. With learned positions (Table 3 row E), input is cut to leave room for
    max_extra output positions within max_len; sinusoidal positions have no limit."""
    if batch_size < 1 or (max_tokens is not None and max_tokens < 1):
        raise ValueError(f"translate_lines: batch_size and max_tokens must be positive, got {batch_size}, {max_tokens}")
    device = next(model.parameters()).device
    limit = model.cfg.max_len - max_extra - 1 if model.cfg.positions == "learned" else None
    encoded = [(tokenizer.encode(line.strip()) + [tokenizer.eos_id])[:limit] if line.strip() else [] for line in lines]
    out = [""] * len(lines)
    for idx in length_sorted_batches([len(ids) for ids in encoded], batch_size, max_tokens):
        src = pad_rows([encoded[i] for i in idx], model.cfg.pad_id).to(device, non_blocking=True)
        if beam_size == 1:
            hyps = greedy_decode(model, src, tokenizer.bos_id, tokenizer.eos_id, max_extra=max_extra)
        else:
            hyps = beam_search(model, src, tokenizer.bos_id, tokenizer.eos_id, beam_size=beam_size, alpha=alpha,
                               max_extra=max_extra)  # fmt: skip
        for i, ids in zip(idx, hyps):
            out[i] = tokenizer.decode(ids)
    return out
