"""Held-out loss, perplexity and bits per character over whole texts; the cloze task and its baseline."""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int
from torch import Tensor

from aiayn.data.characters import CharTokenizer
from aiayn.data.cloze import ClozeItem, cloze_items, split_last_word
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.evaluation.language_model import (
    TextScore,
    score_cloze,
    score_texts,
    stream_nats,
    unigram_cloze,
)
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM

VOCAB = 53


def small_model(vocab: int = VOCAB, seed: int = 0) -> DecoderOnlyLM:
    torch.manual_seed(seed)
    return DecoderOnlyLM(TransformerConfig(vocab_size=vocab, n_layers=2, d_model=26, d_ff=37, h=2)).double()


@settings(max_examples=12)
@given(n=st.integers(2, 40), window=st.integers(1, 13), data=st.data(), seed=st.integers(0, 2**16))
@example(n=30, window=8, data=None, seed=0)
def test_every_token_is_scored_once_with_the_context_its_window_gives(
    n: int, window: int, data: st.DataObject | None, seed: int
) -> None:
    """stream_nats equals the sum, over targets t, of -log p(s[t] | s[b:t]) with b the start of t's window."""
    stride = window // 2 or 1 if data is None else data.draw(st.integers(1, window), label="stride")
    lm = small_model(seed=seed).eval()
    stream = torch.randint(1, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))
    nats, counted = stream_nats(lm, stream, window, stride, batch_size=3)
    # the rule, one target at a time: the first window scores targets 1..window, each later
    # window (start b = k * stride) the targets its end adds, each given s[b:t]
    expected, done, begin = 0.0, 0, 0
    with torch.no_grad():
        while done < n - 1:
            end = min(begin + window, n - 1)
            for t in range(done + 1, end + 1):
                logp = torch.log_softmax(lm(stream[None, begin:t])[0, -1], dim=-1)
                expected -= float(logp[stream[t]])
                assert t - begin >= min(t, window - stride + 1)  # context of at least window - stride
            done, begin = end, begin + stride
    assert counted == n - 1
    assert nats == pytest.approx(expected, rel=1e-9)


def test_a_window_as_long_as_the_text_equals_one_full_pass() -> None:
    """With one window over everything, the total is the full forward pass's summed negative log-likelihood."""
    lm = small_model().eval()
    stream = torch.randint(1, VOCAB, (25,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logp = torch.log_softmax(lm(stream[None, :-1])[0], dim=-1)
    full = -float(logp.gather(1, stream[1:, None]).sum())
    assert stream_nats(lm, stream, window=64)[0] == pytest.approx(full, rel=1e-9)
    less_context = stream_nats(lm, stream, window=8, stride=8)[0]
    assert less_context != pytest.approx(full, rel=1e-6)  # another figure


def test_bits_per_character_divide_total_nats_by_ln2_and_the_characters() -> None:
    """loss = nats / tokens, perplexity = exp(loss), bits/char = nats / ln 2 / characters, for any tokenizer."""
    texts = ["To be, or not to be: that is the question.", "Whether 'tis nobler in the mind to suffer"]
    chars = CharTokenizer.train(texts)
    bpe = BpeTokenizer.train(texts * 5, vocab_size=300)
    by_char = score_texts(small_model(chars.vocab_size), chars, texts, window=16)
    by_bpe = score_texts(small_model(bpe.vocab_size), bpe, texts, window=16)
    n_chars = sum(len(t) for t in texts)
    assert by_char.n_tokens == by_char.n_chars == by_bpe.n_chars == n_chars  # one token per character
    assert by_bpe.n_tokens < n_chars
    for score in (by_char, by_bpe):
        assert score.loss == pytest.approx(score.nats / score.n_tokens)
        assert score.perplexity == pytest.approx(math.exp(score.loss))
        assert score.bits_per_char == pytest.approx(score.nats / math.log(2) / n_chars)
    # a uniform model pays log2(vocab) bits per token
    assert TextScore(nats=10 * math.log(64), n_tokens=10, n_chars=10).bits_per_char == pytest.approx(6.0)
    with pytest.raises(ValueError, match="nothing to score"):
        score_texts(small_model(chars.vocab_size), chars, [""], window=16)


PERIOD = 6  # "north " repeated: the passages repeat every PERIOD characters
CONFIDENCE = 10.0


class CopyModel(DecoderOnlyLM):
    """Predicts that the token PERIOD positions back repeats, with logit CONFIDENCE (0 for the rest)."""

    def forward(
        self,
        tokens: Int[Tensor, "batch n"],
        cache: object = None,
        attend: Bool[Tensor, "batch n_all"] | None = None,
        positions: Int[Tensor, "batch n"] | None = None,
    ) -> Float[Tensor, "batch n {self.vocab_size}"]:
        guess = torch.roll(tokens, PERIOD - 1, dims=1)  # position i guesses token i + 1 - PERIOD
        return torch.nn.functional.one_hot(guess, self.vocab_size).double() * CONFIDENCE


def test_cloze_counts_a_word_right_only_when_every_token_is_the_greedy_choice() -> None:
    """With a model whose choices are known, accuracy and per-word perplexity come out as computed by hand."""
    tok = CharTokenizer("\n abcdefghijklmnopqrstuvwxyz")
    lm = CopyModel(TransformerConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=4, d_ff=4, h=1)).eval()
    periodic = "north " * 8  # five letters and a space: period 6
    items = (
        ClozeItem(periodic + "north", "north"),  # the target continues the pattern: right
        ClozeItem(periodic + "north", "nortx"),  # last letter off the pattern: wrong
        ClozeItem(periodic + "north", "xorth"),  # first letter off: wrong
    )
    score = score_cloze(lm, tok, items, window=40, batch_size=2)
    right = math.log(math.exp(CONFIDENCE) + tok.vocab_size - 1) - CONFIDENCE  # nats of a token the model picks
    wrong = math.log(math.exp(CONFIDENCE) + tok.vocab_size - 1)  # nats of a token it does not
    assert (score.n_items, score.n_correct) == (3, 1)
    assert score.accuracy == pytest.approx(1 / 3)
    expected = 6 * right + (5 * right + wrong) + (5 * right + wrong)  # " north" is 6 tokens per item
    assert score.nats == pytest.approx(expected, rel=1e-6)
    assert score.perplexity == pytest.approx(math.exp(expected / 3), rel=1e-6)


def test_cloze_target_tokens_are_the_encoding_beyond_the_context() -> None:
    """With BPE, the scored tokens are those encode(context + " " + target) adds to encode(context)."""
    bpe = BpeTokenizer.train(["the cat sat upon the mat"] * 20, vocab_size=280)
    lm = small_model(bpe.vocab_size).eval()
    item = ClozeItem("the cat sat upon the", "mat")
    one = score_cloze(lm, bpe, [item], window=32)
    context, whole = bpe.encode(item.context), bpe.encode("the cat sat upon the mat")
    stream = torch.tensor([bpe.eos_id, *whole])
    with torch.no_grad():
        logp = torch.log_softmax(lm(stream[None, :-1])[0], dim=-1)
    n = len(whole) - len(context)
    assert bpe.decode(whole[len(context) :]) == "mat" and n >= 1
    assert one.nats == pytest.approx(-float(logp[-n:].gather(1, stream[-n:, None]).sum()), rel=1e-9)
    with pytest.raises(ValueError, match="a window of 1 cannot score it"):
        score_cloze(lm, bpe, [item], window=1)


def test_long_contexts_are_cut_from_the_left_to_the_window() -> None:
    """A context longer than the window is scored on its last tokens, as if only those were given."""
    tok = CharTokenizer("\n abcdefghijklmnopqrstuvwxyz")
    lm = small_model(tok.vocab_size).eval()
    long = ClozeItem("abcdefghij" * 20 + " the quick brown", "fox")
    window = 20  # room for the last 17 context tokens and " fox" (the last target token is not an input)
    cut = ClozeItem(long.context[-17:], "fox")  # the start token, then all of it: also 21 tokens, cut to 21
    cut_nats = score_cloze(lm, tok, [cut], window).nats
    assert score_cloze(lm, tok, [long], window).nats == pytest.approx(cut_nats, rel=1e-9)
    assert score_cloze(lm, tok, [long], window).nats != pytest.approx(score_cloze(lm, tok, [long], 60).nats, rel=1e-6)


def test_unigram_baseline_guesses_the_most_frequent_word_and_smooths_by_one() -> None:
    """The baseline always answers the most frequent long-enough training word; p(w) = (count + 1) / (N + V + 1)."""
    train = ["the cat sat on the mat with the cat"]
    items = [ClozeItem("x", "the"), ClozeItem("y", "cat"), ClozeItem("z", "dog")]
    score = unigram_cloze(train, items, min_letters=3)  # counts: the 3, cat 2, sat 1, mat 1, with 1 ("on" too short)
    assert score.n_correct == 1 and score.accuracy == pytest.approx(1 / 3)
    total = 8 + 5 + 1
    assert score.nats == pytest.approx(-(math.log(4 / total) + math.log(3 / total) + math.log(1 / total)))
    assert unigram_cloze(train, items, min_letters=4).n_correct == 0  # "with" is the only word of four letters


def test_cloze_items_follow_the_documented_rule() -> None:
    """A speech of 2+ lines ending in a word of 4+ letters is an item; stage directions, names, short words are not."""
    text = (
        "ROMEO.\nBut soft, what light through yonder window breaks?\n\n"
        "JULIET.\nAy me.\n\n"  # last word too short
        "[Exit.]\n\n"  # one line, a stage direction
        "NURSE.\nAnon, good nurse!\n[Exit NURSE.]\n\n"  # ends in a stage direction
        "ROMEO.\nShe speaks to ROMEO\n\n"  # a name in capitals on the last line
        "JULIET.\nWhat's in a name? that which we call a rose\nBy any other name would smell as sweet.\n"
    )
    items = cloze_items([text])
    assert [i.target for i in items] == ["breaks", "sweet"]
    assert items[0].context == "ROMEO.\nBut soft, what light through yonder window"
    assert items[1].context.endswith("By any other name would smell as")
    assert cloze_items([text], context_chars=40)[1].context == "By any other name would smell as"  # whole lines
    assert len(cloze_items([text] * 5, max_items=3)) == 3
    assert split_last_word("the cat sat on the mat") == ClozeItem("the cat sat on the", "mat")
