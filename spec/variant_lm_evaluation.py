"""What a language model's evaluation reports: loss, perplexity, bits per character, cloze (not in the paper)

Claims, in our words (`aiayn.evaluation.language_model`, the figures of the language
model's eval.json):
- Held-out text is the stream </s> t_1 .. t_n per text, and every t_i is scored exactly
  once, given what precedes it in its window, whatever the window and the stride:
      loss per token  = (sum of -log P(t_i | ...)) / n over all texts pooled
      perplexity      = exp(loss per token)       (pooled, not the mean of per-text values)
      bits per char   = (sum of -log P) / ln 2 / (characters of the texts)
  Scoring every position of overlapping windows would count tokens twice; dividing by
  tokens instead of characters would make the figure depend on the tokenizer.
- The cloze item (context, word) is right only when every token of " word" is the greedy
  choice given the context and the word's tokens before it (as lm-evaluation-harness
  scores LAMBADA); its perplexity is exp(-mean over items of log P(word | context)), per
  word. Checking the first token only, or averaging per token, reports something else.

The oracle is a model written down by hand: each token's successor in a fixed cycle has
probability 1/2, every other id 1 / (2 (V - 1)). A text costs ln 2 per token that follows
the cycle and ln(2 (V - 1)) per token that breaks it.
"""

import math

import pytest
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.data.characters import CharTokenizer
from aiayn.data.cloze import ClozeItem
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.evaluation.language_model import score_cloze, score_texts, stream_nats
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM

CODE = "aiayn/evaluation/language_model.py"

TOKENIZER = CharTokenizer(" abc")  # ids: pad 0, unk 1, bos 2, </s> 3, " " 4, a 5, b 6, c 7
V = TOKENIZER.vocab_size
HIT, MISS = math.log(2), math.log(2 * (V - 1))  # nats of a token on the cycle, and off it


def successor(i: int) -> int:
    """The cycle " " -> a -> b -> c -> " "; every special id (</s> included) -> a."""
    return 4 + (i - 3) % 4 if i >= 4 else 5


class Cycle(DecoderOnlyLM):
    """P(next = successor(current)) = 1/2, every other id 1 / (2 (V - 1)); the layers are unused."""

    def __init__(self, vocab: int = V) -> None:
        super().__init__(TransformerConfig(vocab_size=vocab, n_layers=1, d_model=4, d_ff=4, h=2, max_len=64))
        probs = torch.full((vocab, vocab), 1 / (2 * (vocab - 1)), dtype=torch.float64)
        for i in range(vocab):
            probs[i, successor(i) % vocab] = 0.5
        self.log_table = nn.Parameter(probs.log(), requires_grad=False)

    def forward(self, tokens: Int[Tensor, "batch n"], *_: object) -> Float[Tensor, "batch n vocab"]:
        return self.log_table[tokens]


TEXTS = ("abc ab", "abba")  # after </s>: 6 tokens on the cycle; then a, b on it, b and a off it


def test_loss_perplexity_and_bits_per_character_pool_every_token_once() -> None:
    """loss = nats / tokens, perplexity = exp(loss), bits/char = nats / ln 2 / characters, pooled over texts."""
    score = score_texts(Cycle(), TOKENIZER, TEXTS, window=16)
    nats = 6 * HIT + (2 * HIT + 2 * MISS)
    assert (score.n_tokens, score.n_chars) == (10, 10)
    assert score.nats == pytest.approx(nats, abs=1e-9)
    assert score.loss == pytest.approx(nats / 10)
    assert score.perplexity == pytest.approx(math.exp(nats / 10))
    assert score.bits_per_char == pytest.approx(nats / math.log(2) / 10)
    # the wrong variant: the mean of the texts' own perplexities (2 and sqrt(2 * 14)) is not the pooled one
    per_text = (math.exp(HIT), math.exp((2 * HIT + 2 * MISS) / 4))
    assert abs(sum(per_text) / 2 - score.perplexity) > 0.3


def test_bits_per_character_divide_by_characters_not_tokens() -> None:
    """With BPE (fewer tokens than characters) bits/char = tokens x ln V / ln 2 / characters for a uniform model."""
    text = "ab ab ab ba ba ab ab ba"
    bpe = BpeTokenizer.train([text] * 3, 262)
    uniform = Cycle(bpe.vocab_size)
    with torch.no_grad():
        uniform.log_table.fill_(-math.log(bpe.vocab_size))
    score = score_texts(uniform, bpe, [text], window=8)
    n_tokens = len(bpe.encode(text))
    assert n_tokens < len(text) and score.n_tokens == n_tokens
    assert score.bits_per_char == pytest.approx(n_tokens * math.log2(bpe.vocab_size) / len(text))
    per_token = math.log2(bpe.vocab_size)  # the wrong variant: bits per token
    assert abs(score.bits_per_char - per_token) > 1.0


@pytest.mark.parametrize(("window", "stride"), [(4, 1), (4, 2), (4, 4), (5, 3), (64, None)])
def test_sliding_windows_score_each_token_exactly_once(window: int, stride: int | None) -> None:
    """Any window and stride: the total is each token's cost once; every window's every position would overcount."""
    text = "abcabbcab ca"
    ids = [3, *TOKENIZER.encode(text)]
    hand = sum(HIT if b == successor(a) else MISS for a, b in zip(ids, ids[1:]))
    total, n = stream_nats(Cycle(), torch.tensor(ids), window, stride)
    assert n == len(text) and total == pytest.approx(hand, abs=1e-9)
    step = stride or max(1, window // 2)
    starts = range(0, len(ids) - 1, step)
    overcount = sum(HIT if ids[k + 1] == successor(ids[k]) else MISS
                    for s in starts for k in range(s, min(s + window, len(ids) - 1)))  # fmt: skip
    if step < window and len(starts) > 1:  # windows overlap
        assert overcount > total + 1.0


def test_cloze_needs_every_token_of_the_word_greedy_and_reports_per_word_perplexity() -> None:
    """Accuracy counts an item only if all of " word"'s tokens are greedy; perplexity is per word."""
    right = ClozeItem("abc", "ab")  # " ", a, b after c: all on the cycle, all greedy
    wrong = ClozeItem("abc", "aa")  # " ", a on the cycle; the second a is off it (greedy says b)
    score = score_cloze(Cycle(), TOKENIZER, [right, wrong], window=16)
    ll_right, ll_wrong = -3 * HIT, -(2 * HIT + MISS)
    assert score.n_correct == 1 and score.accuracy == 0.5
    assert score.perplexity == pytest.approx(math.exp(-(ll_right + ll_wrong) / 2))
    # the wrong variants: the first token alone (" " after c, greedy in both) would call both right;
    # per token, the perplexity would be far lower
    first_only = sum(successor(TOKENIZER.encode("c")[0]) == TOKENIZER.encode(" ")[0] for _ in (right, wrong)) / 2
    assert first_only == 1.0 != score.accuracy
    assert abs(math.exp(-(ll_right + ll_wrong) / 6) - score.perplexity) > 1.0
