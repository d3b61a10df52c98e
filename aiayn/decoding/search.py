"""§6.1 Decoding: greedy search and beam search with a length penalty.

The paper translates with beam search: a beam of 4 hypotheses, length penalty
alpha = 0.6, at most input length + 50 output tokens, stopping early when possible.
The penalty is the one of Wu et al. (2016, GNMT), as in tensor2tensor:

    lp(Y) = ((5 + |Y|) / 6) ** alpha          score(Y) = log P(Y | X) / lp(Y)

Three different penalties go by "alpha = 0.6" in popular code; only the first is
the paper's (spec/sec6_1_decoding.py shows the other two choosing other winners):
- GNMT / tensor2tensor: divide by ((5 + |Y|) / 6) ** alpha (this module);
- fairseq's `--lenpen`: divide by |Y| ** alpha;
- no penalty: the raw log-probability, which favours short outputs.

Choices the paper leaves open, made here and pinned by the spec:
- |Y| counts every predicted token, the final eos included (as tensor2tensor and
  fairseq do); bos is not predicted and never counts.
- The input length is the number of real (non-padding) source tokens, the source's
  eos included, per sentence. A sentence gets at most input length + max_extra
  predictions; a hypothesis that reaches that many without eos is cut there.
- The padding token is never an output: its log-probability is set to -inf (as
  fairseq does), so a padded prefix never has to be fed to the decoder.
- Each step expands every live hypothesis by every token and ranks the 2k best
  continuations by log-probability. An eos among the k best of them finishes a
  hypothesis; the k best that do not end in eos carry on. (Finishing only eos among
  the k best is what makes a beam of 1 exactly greedy search.)
- "Stop early when possible": a sentence stops when every beam has ended (its k
  best continuations all end in eos; with k = 1, exactly where greedy search stops),
  or when no live hypothesis can beat the best finished one (tensor2tensor's early
  stop). Log-probabilities only fall as a hypothesis grows and, for alpha >= 0, lp
  only grows, so a live hypothesis can at best reach log P(prefix) / lp(max length);
  once that bound is no better than the best finished score, more steps cannot
  change the answer. Every sentence stops at its maximum length, where its k best
  continuations are finished as they are. The batch stops when every sentence has
  stopped; finished sentences leave the batch (and the key/value cache) at once.
  (Stopping once k hypotheses have finished in all, fairseq's rule, ends too early
  under a length penalty: longer hypotheses that would have won are never finished.)

Speed, with the same results: the first step reads one decoder row per sentence (its k
beams are still equal), so the encoder-decoder keys and values are projected once per
sentence; afterwards a reorder of beams among themselves moves only their self-attention
caches, and the memory and encoder-decoder caches (equal across a sentence's beams) are
copied only when sentences leave. Finished hypotheses are kept as tensors and become
Python objects once, at the end.

Outputs are token ids without bos and eos. Decoding runs under
`torch.inference_mode()` with the model in eval mode (dropout off); the model's
train/eval mode is restored afterwards.
"""

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.model.inputs import pad_rows

BEAM_SIZE = 4  # §6.1
ALPHA = 0.6  # §6.1
MAX_EXTRA = 50  # §6.1: maximum output length = input length + 50


def gnmt_length_penalty(
    length: int | Int[Tensor, "*batch"] | Float[Tensor, "*batch"], alpha: float = ALPHA
) -> float | Float[Tensor, "*batch"]:
    """lp(Y) = ((5 + |Y|) / 6) ** alpha, the GNMT penalty the paper uses (§6.1).

    Not |Y| ** alpha (fairseq's lenpen), although both are called "alpha = 0.6".
    lp(1) = 1, so a one-token output is never rescaled.
    """
    if isinstance(length, Tensor):
        return ((5.0 + length.double()) / 6.0) ** alpha
    return ((5.0 + length) / 6.0) ** alpha


@dataclass(frozen=True)
class Hypothesis:
    """A finished hypothesis: its tokens (no bos/eos), score = log_prob / lp(length),
    the summed log-probability, and |Y| (predicted tokens, eos included)."""

    tokens: tuple[int, ...]
    score: float
    log_prob: float
    length: int


def max_output_lengths(
    src: Int[Tensor, "batch n_src"], pad_id: int, max_extra: int = MAX_EXTRA
) -> Int[Tensor, " batch"]:
    """Per sentence, the most tokens decoding may predict: real input length + max_extra (§6.1)."""
    return (src != pad_id).sum(dim=1) + max_extra


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd while decoding; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _limits(
    model: nn.Module, src: Int[Tensor, "batch n_src"], bos_id: int, eos_id: int, max_extra: int
) -> Int[Tensor, " batch"]:
    """Checks the special ids, then gives each sentence's maximum output length."""
    cfg = model.cfg
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if value == cfg.pad_id or not 0 <= value < cfg.vocab_size:
            raise ValueError(
                f"decoding: {name}={value} must be a vocabulary id in [0, {cfg.vocab_size}) other than "
                f"the padding id {cfg.pad_id}"
            )
    limit = max_output_lengths(src, cfg.pad_id, max_extra)
    if getattr(cfg, "positions", "sinusoidal") == "learned":  # Table 3 row (E) has no positions past max_len
        limit = limit.clamp(max=cfg.max_len)
    return limit


class _Steps:
    """Feeds the decoder one position at a time, with or without the key/value cache.

    `prefix` holds every token fed so far (bos first), one row per hypothesis. The
    memory, its mask and the encoder-decoder caches have one row per hypothesis too;
    rows that are copies of one sentence (beams) share their values, so they are
    reindexed only when the sentences change (`keep(..., sentences_changed=True)`).
    """

    def __init__(
        self,
        model: nn.Module,
        memory: Float[Tensor, "batch n_src d_model"],
        src_attend: Bool[Tensor, "batch 1 1 n_src"],
        bos_id: int,
        use_cache: bool,
    ) -> None:
        self.model, self.memory, self.src_attend = model, memory, src_attend
        self.pad_id = model.cfg.pad_id
        self.cache = model.new_cache() if use_cache else None
        self.prefix = torch.full((memory.shape[0], 1), bos_id, dtype=torch.long, device=memory.device)

    def log_probs(self) -> Float[Tensor, "batch vocab"]:
        """log p(next token | prefix, source) for every row; padding is never a next token."""
        tgt = self.prefix[:, -1:] if self.cache is not None else self.prefix
        logits = self.model.decode(tgt, self.memory, self.src_attend, self.cache)[:, -1]
        log_p = torch.log_softmax(logits.float(), dim=-1)
        log_p[:, self.pad_id] = float("-inf")
        return log_p

    def push(self, tokens: Int[Tensor, " batch"]) -> None:
        self.prefix = torch.cat([self.prefix, tokens[:, None]], dim=1)

    def keep(self, rows: Int[Tensor, " new_batch"], sentences_changed: bool = True) -> None:
        """Continue with rows `rows` (in that order; repeats allowed): survivors of a step.

        sentences_changed=False promises that row i of the result and row i before
        belong to the same sentence (beams reordered among themselves), so the memory
        and the encoder-decoder caches stay as they are."""
        self.prefix = self.prefix.index_select(0, rows)
        if sentences_changed:
            self.memory = self.memory.index_select(0, rows)
            self.src_attend = self.src_attend.index_select(0, rows)
        if self.cache is not None and sentences_changed:
            self.cache.reorder(rows)
        elif self.cache is not None:
            self.cache.reorder(rows, cross_attention=False)


def greedy_decode(
    model: nn.Module,
    src: Int[Tensor, "batch n_src"],
    bos_id: int,
    eos_id: int,
    max_extra: int = MAX_EXTRA,
    use_cache: bool = True,
) -> tuple[tuple[int, ...], ...]:
    """The most likely next token at every step, until eos or input length + max_extra tokens."""
    with inference(model):
        limit = _limits(model, src, bos_id, eos_id, max_extra)
        memory, src_attend = model.encode(src)
        steps = _Steps(model, memory, src_attend, bos_id, use_cache)
        sentence = torch.arange(src.shape[0], device=src.device)  # which sentence each live row is
        ended_rows: list[tuple[Int[Tensor, " n_ended"], Int[Tensor, "n_ended n"]]] = []  # (sentences, tokens)
        n = 0
        while sentence.numel():
            token = steps.log_probs().argmax(dim=-1)
            steps.push(token)
            n += 1
            ended = (token == eos_id) | (limit[sentence] <= n)
            if bool(ended.any()):
                ended_rows.append((sentence[ended], steps.prefix[ended, 1:]))
                live = (~ended).nonzero().flatten()
                steps.keep(live)
                sentence = sentence[live]
        outputs: list[tuple[int, ...]] = [()] * src.shape[0]
        for sentences, tokens in ended_rows:
            for i, seq in zip(sentences.tolist(), tokens.tolist(), strict=True):
                outputs[i] = tuple(seq[:-1] if seq[-1] == eos_id else seq)
        return tuple(outputs)


def best_reachable(
    log_p: Float[Tensor, " batch"], shortest: int, longest: Int[Tensor, " batch"], alpha: float = ALPHA
) -> Float[Tensor, " batch"]:
    """The best score any continuation of a live prefix with log P = log_p could reach.

    Extending a prefix never raises its log-probability, so its final score is at
    most log_p / lp(|Y|) for some |Y| in [shortest, longest]; with log_p <= 0 that
    is largest where lp is largest: at the longest length for alpha >= 0.
    """
    lp_long = gnmt_length_penalty(longest, alpha)
    lp_short = torch.full_like(lp_long, gnmt_length_penalty(shortest, alpha))
    return log_p.double() / torch.maximum(lp_long, lp_short)


def beam_search_nbest(
    model: nn.Module,
    src: Int[Tensor, "batch n_src"],
    bos_id: int,
    eos_id: int,
    beam_size: int = BEAM_SIZE,
    alpha: float = ALPHA,
    max_extra: int = MAX_EXTRA,
    use_cache: bool = True,
) -> tuple[tuple[Hypothesis, ...], ...]:
    """Beam search (§6.1); per sentence, the finished hypotheses (at most beam_size), best first.

    Batched over sentences and beams: row s * k + j holds beam j of live sentence s.
    """
    if beam_size < 1:
        raise ValueError(f"beam_search: beam_size must be at least 1, got {beam_size}")
    k = beam_size
    with inference(model):
        limit = _limits(model, src, bos_id, eos_id, max_extra)
        memory, src_attend = model.encode(src)
        batch, device = src.shape[0], src.device
        # the first step reads one row per sentence (its beams are equal); its survivors
        # then take k rows each, and the memory is copied to them once
        steps = _Steps(model, memory, src_attend, bos_id, use_cache)
        per = 1  # decoder rows per live sentence
        sentence = torch.arange(batch, device=device)  # live sentences
        # log P(prefix) per live beam; at the start only beam 0 exists (the others are copies)
        log_p = torch.full((batch, k), float("-inf"), device=device)
        log_p[:, 0] = 0.0
        best = torch.full((batch,), float("-inf"), dtype=torch.float64, device=device)  # best finished score
        ended: list[_Ended] = []  # one entry per step at which hypotheses finished
        rank = torch.arange(2 * k, device=device)
        n = 0
        while sentence.numel():
            live = sentence.numel()
            step = steps.log_probs()
            vocab = step.shape[-1]
            candidates = (log_p[:, :, None] + step.view(live, per, vocab)).view(live, k * vocab)
            top, index = candidates.topk(min(2 * k, k * vocab), dim=-1)  # log P(prefix + token), best first
            parent, token = index // vocab, index % vocab
            n += 1  # |Y| of every candidate
            at_limit = limit[sentence] <= n
            is_eos = token == eos_id
            # an eos among the k best candidates finishes a hypothesis; at the limit, the k best all finish
            finish = (top > float("-inf")) & (rank[: top.shape[1]] < k) & (is_eos | at_limit[:, None])
            scores = top.double() / gnmt_length_penalty(n, alpha)  # log P(Y) / lp(Y)
            if bool(finish.any()):
                s, c = finish.nonzero(as_tuple=True)
                prefixes = steps.prefix[s * per + parent[s, c] % per, 1:]
                ended.append(_Ended(sentence[s], prefixes, token[s, c], top[s, c], scores[s, c], n))
                best[sentence] = torch.maximum(
                    best[sentence], scores.masked_fill(~finish, float("-inf")).max(dim=1).values
                )
            # the k best continuations that do not end in eos stay live
            keep = (rank[: top.shape[1]] + top.shape[1] * is_eos).argsort(dim=1)[:, :k]
            log_p = top.gather(1, keep)
            reach = best_reachable(log_p.max(dim=1).values, n + 1, limit[sentence], alpha)
            every_beam_ended = finish[:, :k].all(dim=1)  # the k best continuations all end in eos
            done = at_limit | every_beam_ended | (best[sentence] >= reach)
            go_on = (~done).nonzero().flatten()
            rows = (go_on[:, None] * per + parent.gather(1, keep)[go_on] % per).flatten()
            steps.keep(rows, sentences_changed=per != k or go_on.numel() != live)
            steps.push(token.gather(1, keep)[go_on].flatten())
            log_p, sentence, per = log_p[go_on], sentence[go_on], k
        return _nbest(ended, batch, k, eos_id)


@dataclass(frozen=True)
class _Ended:
    """The hypotheses that finished at one step, as tensors (one row each); |Y| = length."""

    sentence: Int[Tensor, " n_ended"]
    prefix: Int[Tensor, "n_ended n"]  # tokens before the last one, bos left out
    last: Int[Tensor, " n_ended"]
    log_prob: Float[Tensor, " n_ended"]
    score: Float[Tensor, " n_ended"]
    length: int


def _nbest(ended: Sequence[_Ended], batch: int, k: int, eos_id: int) -> tuple[tuple[Hypothesis, ...], ...]:
    """Per sentence, its k best finished hypotheses (Python objects are made only here, once)."""
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for e in ended:
        for i, seq, t, lp_sum, sc in zip(
            e.sentence.tolist(), e.prefix.tolist(), e.last.tolist(), e.log_prob.tolist(), e.score.tolist(), strict=True
        ):
            finished[i].append(Hypothesis(tuple(seq if t == eos_id else [*seq, t]), sc, lp_sum, e.length))
    return tuple(tuple(sorted(hyps, key=lambda h: -h.score)[:k]) for hyps in finished)


def beam_search(
    model: nn.Module,
    src: Int[Tensor, "batch n_src"],
    bos_id: int,
    eos_id: int,
    beam_size: int = BEAM_SIZE,
    alpha: float = ALPHA,
    max_extra: int = MAX_EXTRA,
    use_cache: bool = True,
) -> tuple[tuple[int, ...], ...]:
    """The paper's decoding (§6.1): the best-scoring hypothesis of a beam search per sentence."""
    nbest = beam_search_nbest(model, src, bos_id, eos_id, beam_size, alpha, max_extra, use_cache)
    return tuple(hyps[0].tokens if hyps else () for hyps in nbest)


def sequence_log_probs(
    model: nn.Module,
    src: Int[Tensor, "batch n_src"],
    outputs: Sequence[Sequence[int]],
    bos_id: int,
    eos_id: int,
    max_extra: int = MAX_EXTRA,
) -> tuple[tuple[float, int], ...]:
    """log P(Y | X) and |Y| of given outputs, by one teacher-forced pass (no search).

    An output as long as its sentence's limit was cut there and gets no eos; any
    other output is scored with its eos, as decoding would have produced it.
    """
    if len(outputs) != src.shape[0]:
        raise ValueError(f"sequence_log_probs: {len(outputs)} outputs for {src.shape[0]} source sentences")
    pad_id = model.cfg.pad_id
    with inference(model):
        limit = _limits(model, src, bos_id, eos_id, max_extra).tolist()
        gold = [[*out] if len(out) >= lim else [*out, eos_id] for out, lim in zip(outputs, limit, strict=True)]
        target = pad_rows(gold, pad_id).to(src.device)
        width = target.shape[1]
        tgt_in = torch.cat([torch.full_like(target[:, :1], bos_id), target[:, :-1]], dim=1)
        memory, src_attend = model.encode(src)
        log_p = torch.log_softmax(model.decode(tgt_in, memory, src_attend).float(), dim=-1)
        log_p[..., pad_id] = float("-inf")
        picked = log_p.gather(-1, target[..., None])[..., 0]
        lengths = torch.tensor([len(g) for g in gold], device=src.device)
        real = torch.arange(width, device=src.device)[None, :] < lengths[:, None]
        sums = picked.masked_fill(~real, 0.0).double().sum(dim=1)
        return tuple((float(s), len(g)) for s, g in zip(sums.tolist(), gold, strict=True))


def hypothesis_score(log_prob: float, length: int, alpha: float = ALPHA) -> float:
    """score(Y) = log P(Y | X) / lp(|Y|), the quantity beam search maximises."""
    return log_prob / gnmt_length_penalty(length, alpha)


__all__ = [
    "ALPHA",
    "BEAM_SIZE",
    "MAX_EXTRA",
    "Hypothesis",
    "beam_search",
    "beam_search_nbest",
    "gnmt_length_penalty",
    "greedy_decode",
    "hypothesis_score",
    "inference",
    "max_output_lengths",
    "sequence_log_probs",
]
