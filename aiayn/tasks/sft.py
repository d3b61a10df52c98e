"""Supervised fine-tuning of a trained language model on prompt/response pairs (not in the paper).

`aiayn train --task sft --init LM_RUN` starts from a finished `shakespeare` run: its
weights, its tokenizer and its architecture. The chat template's three special tokens
(`aiayn.data.chat`) join the vocabulary after the old ids, and the tied embedding grows
by three rows, each the mean of the old rows: the old rows, and so the model's logits on
plain text, are unchanged before fine-tuning (spec/variant_sft.py). The loss counts the
response and its closing <|end|> only; prompt positions are targets of the padding id,
which the loss skips (and padding is never the <|end|> id, or the model would not learn
to stop). Dropout and label smoothing are settings of this run (`--p-drop`, `--eps-ls`).

Data (`data` option): `corpus` (built in: questions on the Shakespeare works with an exact
answer among listed choices: who speaks these lines, which play, what is the next line,
and three kinds the passage itself answers;
held-out works only in validation and test; `aiayn.data.instructions`; `train_per_work`,
`--sft-per-work`, draws that many of each kind per training work, while validation and test
keep 40 per work; `drills`, `--sft-drills`, adds that many copying drills per training work,
lines of random words to repeat, which teach the exact copying every answer needs:
`aiayn.data.drills`), `alpaca` or `dolly`
(hub loaders; train split only, for fine-tuning without a score).

Evaluation (`aiayn.evaluation.answers`), per kind of question and over all, for the
fine-tuned model and for the base model prompted with the same template (its embedding
grown the same way, untrained): the share of greedy answers that are one of the listed
choices and end with <|end|> (format), exact match, and multiple-choice accuracy by the
log-likelihood of each choice after <|assistant|> (acc, and acc_norm per character), beside
chance. The built-in questions include kinds answered from the prompt alone (which line is
in the passage, who speaks first, which word fills the blank: `aiayn.data.reading_questions`).
"""

import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aiayn.data.chat import (
    ChatError,
    ChatTokens,
    chat_ids,
    chat_tokenizer,
    collate_chat,
    encode_chat,
    grow_vocabulary,
    prompt_ids,
)
from aiayn.data.drills import REPEAT_KIND
from aiayn.data.instructions import PER_WORK, PromptResponse, corpus_instructions
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.tasks.base import Log, LossFn, Run, RunError, RunSpec, write_eval
from aiayn.training.batching import LengthGroupedItems, TrainingBatch
from aiayn.training.distributed import barrier, world
from aiayn.training.loss import label_smoothed_loss
from aiayn.training.trainer import TrainSettings

# The built-in recipe: 3,600 steps of about 16 conversations, Eq. 3's warmup (50 steps, a quarter
# scale: peak 3.1e-3) then a cosine to a tenth of the peak, no dropout and no label smoothing, on
# 240 fresh questions of each kind per training work (34,759 that fit) and 1,200 copying drills per
# training work (39,600; aiayn.data.drills). Chosen on the validation questions. From one base model
# (2,400 steps, no dropout; 2.058 bits per character on the validation works), likelihood accuracy
# on first_speaker / in_passage / missing_word and format over all: the earlier recipe (2,400 steps,
# dropout 0.1, the 6,358 questions of 40 per work, each seen about 6 times) 0.689 / 0.518 / 0.425,
# format 0.227; 160 per work and no dropout 0.714 / 0.746 / 0.533, format 0.294; 3,600 steps on 240
# per work 0.824 / 0.754 / 0.375, format 0.507. From the recipe's 2.000-bit base model (validation),
# with drills per work: none 0.714 / 0.789 / 0.458, format 0.480; 240 of random words of the work
# 0.874 / 0.816 / 0.433, 0.515; with a third of the draws names and title words, 240: 0.782 / 0.772 /
# 0.383, 0.479; 480: 0.882 / 0.868 / 0.417, 0.653; 1,200: 0.908 / 0.877 / 0.458, 0.728; 2,160: 0.916 /
# 0.860 / 0.358, 0.755. With 1,200: 4,400 steps 0.807 / 0.886 / 0.283, 0.763; names and title words
# in 60% of the draws 0.924 / 0.825 / 0.367, 0.623. A peak rate twice as high (no drills) fell to
# 0.546 / 0.465 / 0.358, 0.173.
SFT = RunSpec(
    task="sft", preset="tiny",
    train=TrainSettings(steps=3600, warmup_steps=50, lr_scale=0.25, max_src_tokens=2048, max_tgt_tokens=2048,
                        save_every=100, keep_last=2, log_every=20, p_drop=0.0, eps_ls=0.0, schedule="cosine",
                        lr_floor=0.1),
    data={"data": "corpus", "eval_items": 0, "train_per_work": 240, "drills": 1200},
)  # fmt: skip


class ChatBatches(LengthGroupedItems):
    """`BatchSource` of encoded conversations, length-grouped under the token budget."""

    def __init__(self, examples: list[tuple[list[int], list[int]]], max_tokens: int, seed: int, pad_id: int,
                 end_id: int) -> None:  # fmt: skip
        super().__init__([len(inputs) for inputs, _ in examples], max_tokens, seed)
        self.examples, self.pad_id, self.end_id = examples, pad_id, end_id

    def collate(self, items: tuple[int, ...]) -> TrainingBatch:
        inputs, targets = collate_chat([self.examples[i] for i in items], self.pad_id, self.end_id)
        n_targets = int((targets != self.pad_id).sum())
        return TrainingBatch((inputs,), targets, n_targets, int((inputs != self.pad_id).sum()))


class SftTask:
    """Prompt/response pairs -> the pre-trained `DecoderOnlyLM`, scored by exact match."""

    name = "sft"
    recipes = {"sft": SFT}

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.options = {**self.recipes[spec.task].data, **spec.data}
        if "init" not in self.options:
            raise RunError("fine-tuning starts from a trained language model: aiayn train --task sft --init RUN")
        self.init_dir = Path(self.options["init"])

    def _base(self) -> Run:
        from aiayn.tasks.runner import load_run

        base = load_run(self.init_dir)
        if not isinstance(base.model, DecoderOnlyLM) or not isinstance(base.tokenizer, BpeTokenizer):
            raise RunError(f"--init {self.init_dir}: fine-tuning needs a language-model run with a BPE tokenizer "
                           f"(this one is a {base.spec.task} run)")  # fmt: skip
        return base

    def items(self, split: str) -> tuple[PromptResponse, ...]:
        kind = self.options["data"]
        if kind == "corpus":  # more training questions are fresh draws; the scored splits stay fixed
            if split != "train":
                return corpus_instructions(split, PER_WORK)
            return corpus_instructions(split, int(self.options["train_per_work"]), drills=int(self.options["drills"]))
        if split != "train":
            raise RunError(f"{kind} has no scored {split} split here; fine-tune on it, evaluate on the corpus questions")
        from aiayn.data.instructions import load_alpaca, load_dolly

        return (load_alpaca if kind == "alpaca" else load_dolly)("train")

    def prepare(self, run_dir: Path, log: Log) -> tuple[BpeTokenizer, ChatBatches]:
        t0 = time.perf_counter()
        tok_path = run_dir / "tokenizer.json"
        if world()[0] == 0 and not tok_path.exists():
            chat_tokenizer(self._base().tokenizer)[0].save(tok_path)
        barrier()
        tokenizer = self.load_tokenizer(run_dir)
        tokens = self.chat_tokens(tokenizer)
        max_len = self.max_len
        examples, too_long, drills = [], 0, 0
        for item in self.items("train"):
            if item.choices and not self.fits(tokenizer, item):  # a question is read whole or not at all
                too_long += 1
                continue
            try:
                examples.append(encode_chat(tokenizer, tokens, item.prompt, item.response, 0, max_len=max_len))
                drills += item.kind == REPEAT_KIND
            except ChatError:  # a response that cannot fit the model's context is left out, never cut
                too_long += 1
        if not examples:
            raise RunError(f"no conversation fits the base model's context of {max_len} tokens")
        counted = sum(sum(t != 0 for t in targets) for _, targets in examples)
        log(f"data: {len(examples)} conversations from {self.options['data']} ({too_long} that do not fit "
            f"{max_len} tokens left out), {drills} of them copying drills, {counted:,} response tokens counted "
            f"by the loss; vocabulary {tokenizer.vocab_size} with the chat tokens, {time.perf_counter() - t0:.1f} s")  # fmt: skip
        s = self.spec.train
        return tokenizer, ChatBatches(examples, s.max_src_tokens, s.seed, 0, tokens.end)

    def load_tokenizer(self, run_dir: Path) -> BpeTokenizer:
        # the chat tokens are saved, but not that "<|end|>" typed as text stays text: set it again
        return chat_tokenizer(BpeTokenizer.load(Path(run_dir) / "tokenizer.json"))[0]

    def chat_tokens(self, tokenizer: BpeTokenizer) -> ChatTokens:
        return chat_ids(tokenizer) or chat_tokenizer(tokenizer)[1]

    def base_config(self) -> TransformerConfig:
        path = self.init_dir / "config.json"
        try:
            return TransformerConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as err:
            raise RunError(f"--init {self.init_dir}: cannot read its config.json ({err})") from None

    def model_config(self, vocab_size: int) -> TransformerConfig:
        return self.base_config().replace(vocab_size=vocab_size, **self.spec.model)

    def build_model(self, cfg: TransformerConfig) -> DecoderOnlyLM:
        return DecoderOnlyLM(cfg)

    def init_model(self, model: DecoderOnlyLM) -> None:
        """Fresh fine-tuning starts from the base run's weights, its embedding grown for the chat tokens."""
        grown = grow_vocabulary(self._base().model, model.cfg.vocab_size)
        model.load_state_dict(grown.state_dict())

    def loss(self, cfg: TransformerConfig, settings: TrainSettings) -> LossFn:
        eps_ls = 0.0 if settings.eps_ls is None else settings.eps_ls

        def loss(logits: Tensor, targets: Tensor) -> Tensor:  # prompt positions hold the padding id: skipped
            return label_smoothed_loss(logits, targets, eps_ls, cfg.pad_id, reduction="sum")

        return loss

    def room(self, tokenizer: BpeTokenizer, item: PromptResponse) -> int:
        """The tokens an answer to `item` may take: its longest choice, <|end|> and one spare
        (48 for a question without choices)."""
        return max(len(tokenizer.encode(c)) for c in item.choices) + 2 if item.choices else 48

    def fits(self, tokenizer: BpeTokenizer, item: PromptResponse) -> bool:
        """Whether the whole prompt and the room for its answer fit the model's context: a question
        cut from its start may lose its passage or the question itself, so it is not asked."""
        tokens = self.chat_tokens(tokenizer)
        return len(prompt_ids(tokenizer, tokens, item.prompt)) + self.room(tokenizer, item) <= self.max_len

    @functools.cached_property
    def max_len(self) -> int:
        """The base model's context, in tokens."""
        return self.base_config().max_len

    def answers(self, model: DecoderOnlyLM, tokenizer: BpeTokenizer,
                items: Sequence[PromptResponse]) -> tuple[list[str], list[bool]]:  # fmt: skip
        """Greedy answers, and whether each ended with <|end|> (rather than at its room, `room`)."""
        from aiayn.decoding.sampling import generate

        tokens = self.chat_tokens(tokenizer)
        rooms = [self.room(tokenizer, item) for item in items]
        out: list[str] = [""] * len(items)
        stopped: list[bool] = [False] * len(items)
        for room in sorted(set(rooms)):  # one batch size of new tokens per group
            group = [i for i, r in enumerate(rooms) if r == room]
            for start in range(0, len(group), 32):
                chunk = group[start : start + 32]
                ids = [self.context(tokenizer, items[i].prompt, room) for i in chunk]
                for i, new in zip(chunk, generate(model, ids, room, temperature=0.0, eos_id=tokens.end)):
                    out[i], stopped[i] = tokenizer.decode(list(new)), len(new) < room
        return out, stopped

    def context(self, tokenizer: BpeTokenizer, prompt: str, room: int) -> list[int]:
        """<|user|> prompt <|end|> <|assistant|>, the prompt cut from its start to leave `room` tokens."""
        tokens = self.chat_tokens(tokenizer)
        row = prompt_ids(tokenizer, tokens, prompt)[-(self.max_len - room) :]
        return [tokens.user, *row[1:]] if row[0] != tokens.user else row

    def choice_scores(self, model: DecoderOnlyLM, tokenizer: BpeTokenizer,
                      items: Sequence[PromptResponse]) -> tuple[tuple[float, ...], ...]:  # fmt: skip
        """The log-likelihood of each listed choice's tokens after the chat template's <|assistant|>;
        () for a question without choices, or with a choice too long for the model's context."""
        from aiayn.evaluation.choices import Question, score_questions

        questions: list[Question | None] = []
        for item in items:
            choices = tuple(tuple(tokenizer.encode(c)) for c in item.choices)
            if not choices or max(map(len, choices)) >= model.cfg.max_len - 3:
                questions.append(None)
                continue
            context = self.context(tokenizer, item.prompt, max(map(len, choices)))
            questions.append(Question(tuple(context), choices, item.choices, item.choices.index(item.response)))
        scores = iter(score_questions(model, [q for q in questions if q is not None], model.cfg.max_len))
        return tuple(() if q is None else next(scores) for q in questions)

    def evaluate(self, run: Run, split: str, log: Log, write: bool = True, **_: Any) -> dict[str, Any]:
        from aiayn.evaluation.answers import answer_figures, as_record, before_after_table

        split_items = corpus_instructions(split) if self.options["data"] != "corpus" else self.items(split)
        limit = self.options.get("eval_items")
        asked = split_items[: int(limit)] if limit else split_items
        items = [item for item in asked if not item.choices or self.fits(run.tokenizer, item)]
        left_out = len(asked) - len(items)
        t0 = time.perf_counter()
        with torch.no_grad():
            base = grow_vocabulary(self._base().model, run.config.vocab_size).eval()
        figures = {}
        for name, model in (("fine_tuned", run.model), ("base", base)):
            answers, stopped = self.answers(model, run.tokenizer, items)
            figures[name] = answer_figures(items, answers, stopped, self.choice_scores(model, run.tokenizer, items))
        tuned, before = figures["fine_tuned"], figures["base"]
        record = {"split": split, "items": len(items), "left_out_for_context": left_out, "exact_match": tuned["all"]["exact_match"],
                  "base_exact_match": before["all"]["exact_match"], "format": tuned["all"]["format"],
                  "mc_accuracy": tuned["all"]["acc"], "base_mc_accuracy": before["all"]["acc"],
                  "by_kind": as_record(tuned, before), "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        log(f"{split}: {len(items)} questions with listed choices ({left_out} longer than the model's context of "
            f"{self.max_len} tokens left out), before fine-tuning (the base model, prompted with the same template) "
            f"and after")  # fmt: skip
        for line in before_after_table(tuned, before):
            log("  " + line)
        if write:
            write_eval(run, split, record)
        return record
