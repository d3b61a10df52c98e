"""Evaluating a language model: held-out loss, perplexity, bits per character, and cloze.

Held-out text is scored as a whole, every token exactly once (not a few random batches):
each text is the stream [</s>] + its tokens (</s> marks where a text begins, as in
training), and contiguous windows of `window` tokens start every `stride` tokens. The
first window scores all its positions; each later one scores only its last `stride`
targets, which therefore see at least window - stride tokens of context (stride =
window / 2 by default; stride = window is faster and gives less context).

    loss        total nats / number of tokens scored            (mean per token)
    perplexity  exp(loss)
    bits/char   total nats / ln 2 / number of characters of the texts

Bits per character do not depend on the tokenizer, so BPE and character models compare.

Cloze (`score_cloze`), as lm-evaluation-harness scores LAMBADA: the target's tokens are
those that encode(context + " " + target) has beyond encode(context); an item is right
only when every one of them is the model's greedy choice given the context and the
target tokens before it. Accuracy is the share right; perplexity is exp(-mean over items
of log P(target | context)), per word, not per token. Contexts are cut from the left to
fit the window.

Unigram baseline (`unigram_cloze`): a model that ignores the context. Its word counts
come from the training texts (runs of ASCII letters, case kept), restricted to words of
at least `min_letters` letters (the cloze rule's targets, `aiayn.data.cloze`); it always
guesses the most frequent such word, and gives each word its add-one smoothed frequency.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from aiayn.data.characters import CharTokenizer
from aiayn.data.cloze import ClozeItem
from aiayn.data.shakespeare import token_stream
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.decoding.search import inference
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.inputs import pad_rows

Tokenizer = BpeTokenizer | CharTokenizer


@dataclass(frozen=True)
class TextScore:
    """Total negative log-likelihood (nats) of the scored tokens, their number, and the characters."""

    nats: float
    n_tokens: int
    n_chars: int

    @property
    def loss(self) -> float:
        return self.nats / self.n_tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_char(self) -> float:
        return self.nats / math.log(2) / self.n_chars


@dataclass(frozen=True)
class ClozeScore:
    """Items scored, items right, and the summed negative log-likelihood of the targets (nats)."""

    n_items: int
    n_correct: int
    nats: float

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n_items

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats / self.n_items)


def _target_nats(
    logits: Float[Tensor, "batch n vocab"], targets: Int[Tensor, "batch n"]
) -> Float[Tensor, "batch n"]:
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))  # no lower than float32
    return -torch.log_softmax(wide, dim=-1).gather(-1, targets[..., None])[..., 0].double()


def stream_nats(
    model: DecoderOnlyLM, stream: Int[Tensor, " n"], window: int, stride: int | None = None, batch_size: int = 8
) -> tuple[float, int]:
    """(total nats, tokens scored) of stream[1:], each scored once given what precedes it in its window."""
    stride = max(1, window // 2) if stride is None else stride
    if not 1 <= stride <= window:
        raise ValueError(f"stream_nats: stride must lie in [1, window={window}], got {stride}")
    n_targets = len(stream) - 1
    spans, begin, done = [], 0, 0  # (begin, end, first scored row) per window
    while done < n_targets:
        end = min(begin + window, n_targets)
        spans.append((begin, end, done - begin))
        done, begin = end, begin + stride
    device, pad = next(model.parameters()).device, model.cfg.pad_id
    total = 0.0
    with inference(model):
        for at in range(0, len(spans), batch_size):
            group = spans[at : at + batch_size]
            inputs = pad_rows([stream[b:e].tolist() for b, e, _ in group], pad).to(device)
            targets = pad_rows([stream[b + 1 : e + 1].tolist() for b, e, _ in group], pad).to(device)
            nats = _target_nats(model(inputs), targets)
            cols = torch.arange(inputs.shape[1], device=device)[None, :]
            first = torch.tensor([f for _, _, f in group], device=device)[:, None]
            width = torch.tensor([e - b for b, e, _ in group], device=device)[:, None]
            total += float(nats[(cols >= first) & (cols < width)].sum())
    return total, n_targets


def score_texts(
    model: DecoderOnlyLM,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    window: int,
    stride: int | None = None,
    batch_size: int = 8,
) -> TextScore:
    """Loss, perplexity and bits per character of whole texts (each its own stream)."""
    nats, n_tokens = 0.0, 0
    for text in texts:
        stream = torch.from_numpy(token_stream(tokenizer, [text]))
        text_nats, text_tokens = stream_nats(model, stream, window, stride, batch_size)
        nats, n_tokens = nats + text_nats, n_tokens + text_tokens
    n_chars = sum(len(text) for text in texts)
    if n_tokens == 0 or n_chars == 0:
        raise ValueError("score_texts: the texts are empty; there is nothing to score")
    return TextScore(nats, n_tokens, n_chars)


def _cloze_tokens(tokenizer: Tokenizer, item: ClozeItem) -> tuple[list[int], list[int]]:
    context = tokenizer.encode(item.context)
    whole = tokenizer.encode(item.context + " " + item.target)
    if whole[: len(context)] != context:  # a merge across the boundary: encode the word alone
        return context, tokenizer.encode(" " + item.target)
    return context, whole[len(context) :]


def score_cloze(
    model: DecoderOnlyLM, tokenizer: Tokenizer, items: Sequence[ClozeItem], window: int, batch_size: int = 16
) -> ClozeScore:
    """Last-word accuracy (every target token the greedy choice) and per-word perplexity."""
    if not items:
        raise ValueError("score_cloze: no items")
    rows, lengths = [], []
    for item in items:
        context, target = _cloze_tokens(tokenizer, item)
        if not target or len(target) >= window:
            raise ValueError(
                f"score_cloze: target {item.target!r} has {len(target)} tokens; a window of {window} cannot score it"
            )
        rows.append(([tokenizer.eos_id] + context + target)[-(window + 1) :])
        lengths.append(len(target))
    device, pad = next(model.parameters()).device, model.cfg.pad_id
    n_correct, nats = 0, 0.0
    with inference(model):
        for at in range(0, len(rows), batch_size):
            group, counts = rows[at : at + batch_size], lengths[at : at + batch_size]
            inputs = pad_rows([r[:-1] for r in group], pad).to(device)
            targets = pad_rows([r[1:] for r in group], pad).to(device)
            logits = model(inputs)
            token_nats, greedy = _target_nats(logits, targets), logits.argmax(dim=-1)
            for i, (row, count) in enumerate(zip(group, counts)):
                scored = slice(len(row) - 1 - count, len(row) - 1)
                nats += float(token_nats[i, scored].sum())
                n_correct += bool((greedy[i, scored] == targets[i, scored]).all())
    return ClozeScore(len(items), n_correct, nats)


_WORD = re.compile(r"[A-Za-z]+")


def unigram_cloze(train_texts: Sequence[str], items: Sequence[ClozeItem], min_letters: int = 1) -> ClozeScore:
    """The context-free baseline: guess the most frequent training word of >= min_letters letters."""
    if not items:
        raise ValueError("unigram_cloze: no items")
    counts = Counter(w for text in train_texts for w in _WORD.findall(text) if len(w) >= min_letters)
    if not counts:
        raise ValueError(f"unigram_cloze: the training texts hold no words of {min_letters} or more letters")
    guess = counts.most_common(1)[0][0]
    total = sum(counts.values()) + len(counts) + 1  # add-one: every seen word and one unseen class
    nats = sum(-math.log((counts.get(item.target, 0) + 1) / total) for item in items)
    return ClozeScore(len(items), sum(item.target == guess for item in items), nats)
