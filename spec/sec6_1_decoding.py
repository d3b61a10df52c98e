"""§6.1 Machine translation: beam search and checkpoint averaging

Claims, in our words:
- Translations come from beam search with a beam of k = 4 hypotheses. Finished
  hypotheses are compared by their log-probability divided by a length penalty with
  alpha = 0.6, the one of Wu et al. (2016, GNMT), as tensor2tensor computes it:
      score(Y) = log P(Y | X) / lp(Y),     lp(Y) = ((5 + |Y|) / 6) ** alpha
  Two other penalties are also called "alpha = 0.6": |Y| ** alpha (fairseq's lenpen)
  and none at all. They rank hypotheses differently, and this spec builds a case
  where each of the three picks another winner.
- The output may be at most input length + 50 tokens long, per sentence.
- Decoding stops early when possible: once every beam has ended, or once no live
  hypothesis can beat the best finished one.
- The model used for translation averages the last 5 checkpoints (base) or the last
  20 (big), written 10 minutes apart: element by element, theta = (1/k) sum_i theta_i.

Choices the paper leaves open (made in aiayn/decoding/search.py and aiayn/training/averaging.py):
- |Y| counts every predicted token, the final eos included; input length counts the
  real (non-padding) source tokens, the source's eos included. A hypothesis that
  reaches input length + 50 tokens without eos is cut there.
- Each step ranks the 2k best continuations of all live hypotheses; an eos among the
  k best finishes a hypothesis, and the k best others carry on. A sentence stops
  when every beam has ended (its k best continuations all end in eos; for k = 1 this
  is where greedy search stops, so a beam of 1 is greedy search), or when the best
  finished score is at least max(log P(live prefix)) / lp(maximum length), a bound
  no live hypothesis can pass (tensor2tensor's early stop), or at its maximum length.
- Padding is never an output token.
- Decoding with the key/value cache gives the same outputs as without it.

Beam search is a heuristic: a narrow beam can drop the path greedy search follows
and end up below it (a constructed case shows this). With a beam wide enough to
keep every prefix it finds the exact best output, checked against exhaustive
enumeration; on random models a beam of 4 scores at least as well as greedy search
on nearly every sentence.
"""

import math
from collections.abc import Callable, Iterator

import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn.training.averaging import average_state_dicts
from aiayn.model.config import TransformerConfig
from aiayn.decoding.search import (
    ALPHA,
    BEAM_SIZE,
    MAX_EXTRA,
    beam_search,
    beam_search_nbest,
    gnmt_length_penalty,
    greedy_decode,
    hypothesis_score,
    sequence_log_probs,
)
from aiayn.model.masks import padding_mask
from aiayn.model.transformer import Transformer

CODE = "aiayn/decoding/search.py, aiayn/training/averaging.py"


VOCAB, PAD, BOS, EOS = 23, 0, 1, 2
CFG = TransformerConfig.tiny(vocab_size=VOCAB, d_model=32, h=4, d_ff=48, n_layers=2, p_drop=0.0)

Bias = Callable[[Int[Tensor, " n_tgt"]], Float[Tensor, "n_tgt vocab"]]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models decode in many small steps: one thread spares the thread hand-offs (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Steered(nn.Module):
    """A Transformer whose next-token logits get a fixed bias per target position.

    Untrained models mostly repeat a token and rarely end; the bias makes eos
    likely after a few steps and varies the rest, so searches differ. The bias
    depends only on the position, so cached and uncached decoding still see one and
    the same distribution. Counts its decode calls.
    """

    def __init__(self, model: Transformer, bias: Bias) -> None:
        super().__init__()
        self.model, self.cfg, self.bias, self.calls = model, model.cfg, bias, 0

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encode(src)

    def new_cache(self) -> object:
        return self.model.new_cache()

    def decode(self, tgt: Tensor, memory: Tensor, src_attend: Tensor, cache: object = None) -> Tensor:
        self.calls += 1
        offset = len(cache) if cache is not None else 0  # positions already decoded
        logits = self.model.decode(tgt, memory, src_attend, cache)
        return logits + self.bias(offset + torch.arange(tgt.shape[1]))[None]


def random_bias(seed: int, eos_start: float = -4.0, eos_slope: float = 1.5, noise: float = 1.5) -> Bias:
    table = noise * torch.randn(256, VOCAB, generator=torch.Generator().manual_seed(seed))

    def bias(pos: Int[Tensor, " n_tgt"]) -> Float[Tensor, "n_tgt vocab"]:
        out = table[pos].clone()
        out[:, EOS] = eos_start + eos_slope * pos  # eos grows likelier with every step
        return out

    return bias


def steered_model(seed: int, bias: Bias | None = None) -> Steered:
    torch.manual_seed(seed)
    return Steered(Transformer(CFG).eval(), bias if bias is not None else random_bias(seed))


def random_sources(seed: int, batch: int = 3, longest: int = 5) -> Int[Tensor, "batch n_src"]:
    """Rows of random real tokens ending in eos, right-padded, of different lengths."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((batch, longest), PAD)
    for i, n in enumerate(torch.randint(1, longest + 1, (batch,), generator=g).tolist()):
        src[i, : n - 1] = torch.randint(3, VOCAB, (n - 1,), generator=g)
        src[i, n - 1] = EOS
    return src


def scores(model: nn.Module, src: Tensor, outputs: tuple[tuple[int, ...], ...], max_extra: int) -> list[float]:
    """score(Y) of given outputs, teacher-forced, independently of any search."""
    return [hypothesis_score(lp, n) for lp, n in sequence_log_probs(model, src, outputs, BOS, EOS, max_extra)]


# -- the length penalty ---------------------------------------------------------------


@given(length=st.integers(1, 300))
@example(length=1)  # lp = 1: a one-token output is not rescaled
@example(length=7)  # ((5 + 7) / 6) ** 0.6 = 2 ** 0.6
@example(length=25)  # 5 ** 0.6
def test_length_penalty_is_gnmt_form_with_alpha_0_6(length: int) -> None:
    """The length penalty is GNMT's ((5 + |Y|) / 6) ** alpha with alpha = 0.6, not |Y| ** alpha."""
    assert ALPHA == 0.6 and BEAM_SIZE == 4  # §6.1
    expected = math.pow((5.0 + length) / 6.0, 0.6)  # retyped in float64
    assert gnmt_length_penalty(length) == pytest.approx(expected, rel=1e-12)
    as_tensor = gnmt_length_penalty(torch.tensor([length]))
    assert as_tensor.dtype == torch.float64 and as_tensor.item() == pytest.approx(expected, rel=1e-12)
    pinned = {1: 1.0, 7: 2**0.6, 25: 5**0.6}
    if length in pinned:
        assert gnmt_length_penalty(length) == pytest.approx(pinned[length], rel=1e-12)
    if length > 1:  # the other two "alpha = 0.6" penalties are different functions
        assert gnmt_length_penalty(length) != pytest.approx(length**0.6, rel=1e-6)
        assert gnmt_length_penalty(length) != pytest.approx(1.0, rel=1e-6)


class Scripted(nn.Module):
    """A stand-in model whose next-token log-probabilities are a rule of the prefix.

    rule(prefix) -> {token: probability}; every other token gets probability 0.
    Decoded without the cache (the whole prefix is handed over at every call).
    """

    def __init__(self, rule: Callable[[tuple[int, ...]], dict[int, float]]) -> None:
        super().__init__()
        self.rule, self.cfg, self.calls = rule, CFG, 0

    def encode(self, src: Tensor) -> tuple[Tensor, Bool[Tensor, "batch 1 1 n_src"]]:
        return torch.zeros(src.shape[0], src.shape[1], CFG.d_model), padding_mask(src, PAD)

    def decode(self, tgt: Tensor, memory: Tensor, src_attend: Tensor, cache: object = None) -> Tensor:
        assert cache is None
        self.calls += 1
        logits = torch.full((tgt.shape[0], tgt.shape[1], VOCAB), float("-inf"))
        for row in range(tgt.shape[0]):
            for i in range(tgt.shape[1]):
                for token, p in self.rule(tuple(tgt[row, 1 : i + 1].tolist())).items():
                    logits[row, i, token] = math.log(p)
        return logits


A, B, C, FILL = 3, 4, 5, 6


def three_endings(prefix: tuple[int, ...]) -> dict[int, float]:
    """Three hypotheses: A = (a) with P 0.45, |Y| = 2; B = (b, 3 fillers) with P 0.4, |Y| = 5;
    C = (c, 18 fillers) with P 0.15, |Y| = 20. After the first token everything is certain."""
    if not prefix:
        return {A: 0.45, B: 0.40, C: 0.15}
    tokens_before_eos = {A: 1, B: 4, C: 19}[prefix[0]]
    return {EOS: 1.0} if len(prefix) == tokens_before_eos else {FILL: 1.0}


def test_length_penalty_choice_changes_the_winner() -> None:
    """GNMT's penalty picks a middle-length hypothesis where |Y|**0.6 picks the longest and no penalty the shortest."""
    src = torch.tensor([[7, EOS]])  # maximum length 2 + 50, longer than every hypothesis
    nbest = beam_search_nbest(Scripted(three_endings), src, BOS, EOS, beam_size=3, use_cache=False)[0]
    found = {h.tokens[0]: h for h in nbest}
    assert sorted(found) == [A, B, C]
    assert [found[t].length for t in (A, B, C)] == [2, 5, 20]
    for t, p, n in ((A, 0.45, 2), (B, 0.40, 5), (C, 0.15, 20)):  # |Y| counts the eos
        assert found[t].log_prob == pytest.approx(math.log(p), abs=1e-6)
        assert found[t].score == pytest.approx(math.log(p) / ((5 + n) / 6) ** 0.6, abs=1e-6)

    def winner(penalty: Callable[[int], float]) -> int:
        return max(found, key=lambda t: found[t].log_prob / penalty(found[t].length))

    assert winner(lambda n: ((5 + n) / 6) ** 0.6) == B  # GNMT, the paper: -0.674 beats -0.728 and -0.806
    assert winner(lambda n: n**0.6) == C  # fairseq's lenpen: -0.314 beats -0.349 and -0.527
    assert winner(lambda n: 1.0) == A  # no penalty: log 0.45 is the largest
    assert nbest[0].tokens[0] == B  # and beam search itself returns GNMT's winner ...
    assert beam_search(Scripted(three_endings), src, BOS, EOS, 3, alpha=0.0, use_cache=False)[0][0] == A  # ... not A


# -- greedy and beam, cached and not --------------------------------------------------


@settings(max_examples=8)
@given(seed=st.integers(0, 2**16))
def test_beam_of_one_is_greedy_search(seed: int) -> None:
    """Beam search with a beam of 1 returns exactly what greedy search returns."""
    model, src = steered_model(seed), random_sources(seed)
    greedy = greedy_decode(model, src, BOS, EOS, max_extra=4)
    assume(any(len(out) < n + 4 for out, n in zip(greedy, (src != PAD).sum(1).tolist())))  # some end by eos
    assert beam_search(model, src, BOS, EOS, beam_size=1, max_extra=4) == greedy


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), beam_size=st.sampled_from([2, 4]))
def test_cached_decoding_equals_uncached_decoding(seed: int, beam_size: int) -> None:
    """Decoding with the key/value cache gives the outputs (and scores) of decoding without it."""
    model, src = steered_model(seed), random_sources(seed)
    greedy = [greedy_decode(model, src, BOS, EOS, max_extra=4, use_cache=c) for c in (True, False)]
    assert greedy[0] == greedy[1]
    cached = beam_search_nbest(model, src, BOS, EOS, beam_size, max_extra=4, use_cache=True)
    full = beam_search_nbest(model, src, BOS, EOS, beam_size, max_extra=4, use_cache=False)
    assert [[h.tokens for h in hyps] for hyps in cached] == [[h.tokens for h in hyps] for hyps in full]
    for hc, hf in zip(sum(cached, ()), sum(full, ()), strict=True):
        assert hc.score == pytest.approx(hf.score, abs=1e-5)


def never_eos(pos: Int[Tensor, " n_tgt"]) -> Float[Tensor, "n_tgt vocab"]:
    out = torch.zeros(len(pos), VOCAB)
    out[:, EOS] = float("-inf")
    return out


def test_output_length_is_at_most_input_length_plus_50() -> None:
    """A model that never ends stops at input length + 50 tokens, counted per sentence, not per padded batch."""
    model = steered_model(0, never_eos)
    src = torch.tensor([[9, EOS, PAD, PAD, PAD], [9, 10, EOS, PAD, PAD], [9, 10, 11, 12, EOS]])
    lengths = [2 + 50, 3 + 50, 5 + 50]  # real tokens (eos included) + 50
    assert MAX_EXTRA == 50
    assert [len(out) for out in greedy_decode(model, src, BOS, EOS)] == lengths
    assert [len(out) for out in beam_search(model, src, BOS, EOS)] == lengths
    padded_width_rule = [src.shape[1] + 50] * 3  # a limit taken from the batch's width would differ
    assert padded_width_rule != lengths


# -- stopping early -------------------------------------------------------------------


def eos_from(step: int) -> Bias:
    def bias(pos: Int[Tensor, " n_tgt"]) -> Float[Tensor, "n_tgt vocab"]:
        out = torch.zeros(len(pos), VOCAB)
        out[:, EOS] = torch.where(pos < step, -1e4, 1e4)  # no eos before `step`, then eos for sure
        return out

    return bias


@pytest.mark.parametrize("use_cache", [True, False])
def test_decoding_stops_once_every_beam_has_ended(use_cache: bool) -> None:
    """Once every beam has ended, beam search makes no further decoder calls, however far the length limit."""
    ends_at = 6
    model = steered_model(1, eos_from(ends_at))
    src = random_sources(1)
    nbest = beam_search_nbest(model, src, BOS, EOS, beam_size=4, use_cache=use_cache)
    assert model.calls == ends_at + 1  # steps 0 .. ends_at, one decoder call each
    assert all(len(hyps) == 4 and {h.length for h in hyps} == {ends_at + 1} for hyps in nbest)
    assert min((src != PAD).sum(1).tolist()) + MAX_EXTRA > 5 * (ends_at + 1)  # the limit was far away


def eos_or_loop(p_eos: float) -> Callable[[tuple[int, ...]], dict[int, float]]:
    """End at once with P = p_eos, or emit A forever (until the length limit)."""
    return lambda prefix: {EOS: p_eos, A: 1 - p_eos} if not prefix else {A: 1.0}


def test_decoding_stops_once_no_live_hypothesis_can_win() -> None:
    """Beam search stops once the best finished score reaches log P(live) / lp(max length), and not before."""
    src = torch.tensor([[7, EOS]])
    limit = 2 + MAX_EXTRA
    # P(eos) = 0.9: score log 0.9 = -0.105 > log 0.1 / lp(52) = -0.596, the best a live one can reach
    sure = Scripted(eos_or_loop(0.9))
    assert beam_search(sure, src, BOS, EOS, beam_size=2, use_cache=False) == ((),)
    assert sure.calls == 1  # one of the two beams is still live, yet the search stops
    # P(eos) = 0.55: log 0.55 = -0.598 < log 0.45 / lp(52) = -0.207, so the search must go on ...
    unsure = Scripted(eos_or_loop(0.55))
    out = beam_search(unsure, src, BOS, EOS, beam_size=2, use_cache=False)
    assert unsure.calls == limit
    # ... and the live hypothesis does win: stopping at the first finished one would be wrong
    assert out == ((A,) * limit,)
    assert math.log(0.45) / gnmt_length_penalty(limit) > math.log(0.55) / gnmt_length_penalty(1)


def short_then_long(prefix: tuple[int, ...]) -> dict[int, float]:
    """Two short endings come first: () with P 0.4 and (A) with P 0.175; the winner,
    (B, 8 fillers) with P 0.25 and |Y| = 10, ends later; (A, ...) wanders off."""
    if not prefix:
        return {EOS: 0.40, A: 0.35, B: 0.25}
    if prefix[0] == A:
        return {EOS: 0.5, FILL: 0.5} if len(prefix) == 1 else {t: 0.1 for t in range(3, 13)}
    return {EOS: 1.0} if len(prefix) == 9 else {FILL: 1.0}


def test_early_stop_waits_for_a_longer_hypothesis_that_can_still_win() -> None:
    """Having k finished hypotheses is no reason to stop while a live one can still beat them."""
    src = torch.tensor([[7, EOS]])
    nbest = beam_search_nbest(Scripted(short_then_long), src, BOS, EOS, beam_size=2, use_cache=False)[0]
    winner = (B,) + (FILL,) * 8
    assert nbest[0].tokens == winner
    assert nbest[0].score == pytest.approx(math.log(0.25) / gnmt_length_penalty(10), abs=1e-6)
    # after two steps both short endings had finished (k = 2): stopping then, as fairseq
    # does, would have returned the empty output, which scores lower
    first_two = [(math.log(0.4), 1), (math.log(0.35 * 0.5), 2)]
    assert max(lp / gnmt_length_penalty(n) for lp, n in first_two) < nbest[0].score


# -- search quality -------------------------------------------------------------------

ALLOWED = (EOS, A, B)


def only_three_tokens(seed: int) -> Bias:
    """Random preferences among eos, A and B; every other token is impossible."""
    noise = random_bias(seed, eos_start=-1.0, eos_slope=0.5, noise=2.0)

    def bias(pos: Int[Tensor, " n_tgt"]) -> Float[Tensor, "n_tgt vocab"]:
        out = torch.full((len(pos), VOCAB), float("-inf"))
        out[:, ALLOWED] = noise(pos)[:, ALLOWED]
        return out

    return bias


def all_outputs(limit: int) -> list[tuple[int, ...]]:
    """Every output over {A, B}: shorter than the limit (ended by eos) or exactly as long (cut)."""
    outs: list[tuple[int, ...]] = [()]
    frontier: list[tuple[int, ...]] = [()]
    for _ in range(limit):
        frontier = [prefix + (t,) for prefix in frontier for t in (A, B)]
        outs += frontier
    return outs


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_wide_beam_finds_the_best_scoring_output(seed: int) -> None:
    """With a beam wide enough to keep every prefix, beam search returns the highest-scoring output of all."""
    model = steered_model(seed, only_three_tokens(seed))
    src = torch.tensor([[EOS, PAD], [9, EOS]])
    max_extra = 2  # limits 3 and 4: at most 2**4 + 2**3 + ... = 31 outputs per sentence
    found = beam_search_nbest(model, src, BOS, EOS, beam_size=32, max_extra=max_extra)
    for i, limit in enumerate((3, 4)):
        outputs = all_outputs(limit)
        row = src[i : i + 1].expand(len(outputs), -1)
        exhaustive = scores(model, row, tuple(outputs), max_extra)
        best = max(range(len(outputs)), key=lambda j: exhaustive[j])
        assert found[i][0].score == pytest.approx(exhaustive[best], abs=1e-5)
        assert found[i][0].tokens == outputs[best] or exhaustive[best] - sorted(exhaustive)[-2] < 1e-5


def greedy_trap(prefix: tuple[int, ...]) -> dict[int, float]:
    """Greedy takes A (0.4), then token 3 (0.24 of 5 choices), then ends: P = 0.096, |Y| = 3.
    B (0.35) has two children at 0.5, which crowd A's out of a beam of 2, and then
    wanders among 10 tokens until the length limit. C (0.25) is a dead end too."""
    wander = {t: 0.1 for t in range(3, 13)}
    if not prefix:
        return {A: 0.40, B: 0.35, C: 0.25}
    if prefix[0] == A:
        return {3: 0.24, 4: 0.2, 5: 0.2, 6: 0.18, 7: 0.18} if len(prefix) == 1 else {EOS: 1.0}
    if prefix[0] == B and len(prefix) == 1:
        return {A: 0.5, B: 0.5}
    return wander


def test_narrow_beam_can_score_below_greedy() -> None:
    """Beam search is a heuristic: a beam of 2 can prune greedy's path and end below it; a beam of 4 does not here."""
    src, max_extra = torch.tensor([[7, EOS]]), 3  # at most 5 tokens

    def score(out: tuple[int, ...]) -> float:
        return scores(Scripted(greedy_trap), src, (out,), max_extra)[0]

    greedy = greedy_decode(Scripted(greedy_trap), src, BOS, EOS, max_extra=max_extra, use_cache=False)[0]
    assert greedy == (A, 3)
    assert score(greedy) == pytest.approx(math.log(0.4 * 0.24) / gnmt_length_penalty(3), abs=1e-6)
    narrow = beam_search(Scripted(greedy_trap), src, BOS, EOS, 2, max_extra=max_extra, use_cache=False)[0]
    wide = beam_search(Scripted(greedy_trap), src, BOS, EOS, 4, max_extra=max_extra, use_cache=False)[0]
    assert narrow[0] == B and score(narrow) < score(greedy) - 1.0
    assert wide == greedy


def test_beam_of_4_scores_at_least_as_well_as_greedy_on_random_models() -> None:
    """On random models a beam of 4 scores at least as well as greedy search on nearly every sentence."""
    greedy_scores, beam_scores = [], []
    for seed in range(12):
        model, src = steered_model(seed), random_sources(seed, batch=4)
        greedy_scores += scores(model, src, greedy_decode(model, src, BOS, EOS, max_extra=4), 4)
        beam_scores += scores(model, src, beam_search(model, src, BOS, EOS, beam_size=4, max_extra=4), 4)
    at_least = sum(b >= g - 1e-5 for g, b in zip(greedy_scores, beam_scores, strict=True))
    assert at_least >= 0.95 * len(greedy_scores)
    assert sum(beam_scores) > sum(greedy_scores)  # strictly better on some sentences


# -- checkpoint averaging -------------------------------------------------------------


def state_of(seed: int) -> dict[str, Tensor]:
    torch.manual_seed(seed)
    return Transformer(CFG).state_dict()


@settings(max_examples=6)
@given(k=st.integers(1, 7), seed=st.integers(0, 2**16))
@example(k=5, seed=0)  # base models: the last 5 checkpoints
@example(k=20, seed=0)  # big models: the last 20
def test_average_is_the_elementwise_mean_of_checkpoints(k: int, seed: int) -> None:
    """The averaged checkpoint is the element-wise mean (1/k) sum_i theta_i of k checkpoints."""
    states = [state_of(seed + i) for i in range(k)]
    averaged = average_state_dicts(states)
    assert list(averaged) == list(states[0])
    for key in states[0]:
        expected = torch.stack([s[key].double() for s in states]).sum(0) / k  # retyped in float64
        torch.testing.assert_close(averaged[key].double(), expected, rtol=0, atol=1e-7)
        assert averaged[key].dtype == states[0][key].dtype
    model = Transformer(CFG)
    model.load_state_dict(averaged)  # loads as a model's weights


def test_averaging_keeps_tied_weights_tied() -> None:
    """The shared source/target embedding (§3.4) is averaged once and stays one tensor in the average."""
    states = [state_of(i) for i in range(3)]
    assert states[0]["src_embed.weight"].data_ptr() == states[0]["tgt_embed.weight"].data_ptr()
    averaged = average_state_dicts(states)
    assert averaged["src_embed.weight"] is averaged["tgt_embed.weight"]
    naive = {key: torch.stack([s[key] for s in states]).mean(0) for key in states[0]}  # per key, ties lost
    assert naive["src_embed.weight"] is not naive["tgt_embed.weight"]
    untied = dict(states[1])
    untied["src_embed.weight"] = states[1]["src_embed.weight"] + 1.0  # tied in state 0, not here
    with pytest.raises(ValueError, match="src_embed.weight"):
        average_state_dicts([states[0], untied])


def test_averaging_mismatched_checkpoints_names_the_key() -> None:
    """Checkpoints with different keys or shapes cannot be averaged; the error names the key."""
    states = [state_of(0), state_of(1)]
    missing = {k: v for k, v in states[1].items() if k != "decoder.layers.1.feed_forward.w_2.bias"}
    with pytest.raises(ValueError, match=r"decoder\.layers\.1\.feed_forward\.w_2\.bias"):
        average_state_dicts([states[0], missing])
    key = "encoder.layers.0.self_attn.w_q.weight"
    reshaped = dict(states[1], **{key: torch.zeros(3, 5)})
    with pytest.raises(ValueError, match=rf"{key}.*\(3, 5\)"):
        average_state_dicts([states[0], reshaped])
    with pytest.raises(ValueError, match="no state dicts"):
        average_state_dicts([])
