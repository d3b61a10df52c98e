"""Multiple-choice scoring by log-likelihood, as lm-evaluation-harness scores it (not in the paper)

Claims, in our words:
- The score of a choice c = (c_1 .. c_m) after a context x is the sum over the choice's
  own tokens of log P(c_j | x, c_1 .. c_{j-1}). The context's tokens are never in the sum.
  Adding them (scoring the whole row) shifts every choice by the same constant, which
  leaves `acc` alone but changes `acc_norm`, where the constant is divided by different
  lengths: it favours long choices.
- Each choice is read on its own row after the context, so no choice sees another. Reading
  the choices one after the other on a single row would condition a later choice on the
  earlier ones.
- acc picks the largest sum; acc_norm the largest sum per character of the choice's text
  (tokenizer-independent), not per token.

The oracles are two hand-made models whose probabilities are written down: a bigram
table (each token's distribution depends on the token before only), and a "bag" model
whose logits are the counts of each token read so far (it depends on everything before).
"""

import math

import pytest
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.evaluation.choices import Question, accuracies, choice_logliks, picks, score_questions

CODE = "aiayn/evaluation/choices.py"

# P(next | current) for ids 1..3 (0 is padding, never predicted); each row sums to 1
TABLE = {0: (0.0, 1 / 3, 1 / 3, 1 / 3), 1: (0.0, 1 / 2, 1 / 4, 1 / 4), 2: (0.0, 1 / 4, 1 / 2, 1 / 4),
         3: (0.0, 1 / 8, 1 / 8, 3 / 4)}  # fmt: skip


class Config:
    pad_id = 0


class Bigram(nn.Module):
    """log P(next = j | current = i) = log TABLE[i][j]."""

    def __init__(self) -> None:
        super().__init__()
        self.cfg = Config()
        probs = torch.tensor([TABLE[i] for i in range(4)], dtype=torch.float64)
        self.log_table = nn.Parameter(probs.clamp_min(1e-30).log(), requires_grad=False)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n vocab"]:
        return self.log_table[tokens]


class Bag(nn.Module):
    """Logits of position t: how often each id occurs among tokens 0 .. t (so all of the past counts)."""

    def __init__(self) -> None:
        super().__init__()
        self.cfg = Config()
        self.unit = nn.Parameter(torch.ones((), dtype=torch.float64), requires_grad=False)

    def forward(self, tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n vocab"]:
        counts = nn.functional.one_hot(tokens, 4).to(torch.float64).cumsum(dim=1)
        return self.unit * counts


def hand_bigram(context: list[int], choice: list[int]) -> float:
    """The sum over the choice's tokens, each given the token before it."""
    row = [*context, *choice]
    return sum(math.log(TABLE[row[k - 1]][row[k]]) for k in range(len(context), len(row)))


def hand_bag(context: list[int], choice: list[int]) -> float:
    row, total = [*context, *choice], 0.0
    for k in range(len(context), len(row)):
        counts = [row[:k].count(v) for v in range(4)]
        total += counts[row[k]] - math.log(sum(math.exp(c) for c in counts))
    return total


def whole_row(model: nn.Module, context: list[int], choice: list[int]) -> float:
    """The wrong variant: every prediction of the row, the context's own included."""
    row = torch.tensor([[*context, *choice]])
    logp = torch.log_softmax(model(row[:, :-1]).double(), dim=-1)
    return float(logp.gather(-1, row[:, 1:, None]).sum())


CONTEXT, LONG, SHORT = [1, 2, 2, 2], [3, 3], [2, 2]
TEXTS = ("a" * 10, "b" * 9)  # LONG's text has 10 characters, SHORT's 9


def test_a_choice_scores_the_sum_of_its_own_tokens_given_the_context() -> None:
    """ll(choice) is the sum over the choice's tokens only; adding the context's tokens flips acc_norm."""
    got = choice_logliks(Bigram(), CONTEXT, [LONG, SHORT], window=16)
    expected = (hand_bigram(CONTEXT, LONG), hand_bigram(CONTEXT, SHORT))
    assert got == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx((math.log(1 / 4 * 3 / 4), math.log(1 / 2 * 1 / 2)))  # by hand
    # per character the right scores pick SHORT (index 1): -0.167 per character against -0.154
    assert picks(got, TEXTS)[1] == 1
    # the wrong variant adds log P(context) = log(1/4 * 1/2 * 1/2) to both choices
    wrong = tuple(whole_row(Bigram(), CONTEXT, c) for c in (LONG, SHORT))
    assert wrong[0] - got[0] == pytest.approx(math.log(1 / 16)) and wrong[1] - got[1] == pytest.approx(math.log(1 / 16))
    assert picks(wrong, TEXTS)[0] == picks(got, TEXTS)[0]  # acc cannot tell ...
    assert picks(wrong, TEXTS)[1] == 0  # ... but acc_norm now prefers the longer choice: the wrong answer


def test_each_choice_is_read_on_its_own_row_after_the_context() -> None:
    """No choice sees another: scores equal those of each choice alone; one shared row would not."""
    context, first, second = [1, 3], [3, 3, 1], [2, 1]
    together = score_questions(Bag(), [Question(tuple(context), (tuple(first), tuple(second)), ("x", "y"), 0)], 16)
    alone = (hand_bag(context, first), hand_bag(context, second))
    assert together[0] == pytest.approx(alone, abs=1e-12)
    # the wrong variant reads `second` after `first` on one row: its tokens now see first's
    chained = hand_bag([*context, *first], second)
    assert abs(chained - alone[1]) > 0.1
    # and a batch of several questions (right-padded rows) scores each as if alone
    many = score_questions(Bag(), [Question((1,), ((2,),), ("z",), 0),
                                   Question(tuple(context), (tuple(first), tuple(second)), ("x", "y"), 0)], 16)  # fmt: skip
    assert many[0] == pytest.approx((hand_bag([1], [2]),)) and many[1] == pytest.approx(alone)


def test_acc_norm_divides_by_characters_not_tokens() -> None:
    """acc_norm compares ll per character of the choice's text; per token it would pick otherwise."""
    # choice 0: 1 token of 10 characters, ll -2; choice 1: 2 tokens of 2 characters, ll -3
    question = Question((1,), ((3,), (2, 2)), ("abcdefghij", "ab"), gold=0)
    lls = ((-2.0, -3.0),)
    assert accuracies([question], lls) == (1.0, 1.0)  # acc: -2 > -3; acc_norm: -0.2 > -1.5 per character
    per_token = [ll / len(ids) for ll, ids in zip(lls[0], question.choices)]  # the wrong variant: -2 < -1.5
    assert max(range(2), key=lambda i: per_token[i]) == 1
    tie = Question((1,), ((3,), (2,)), ("a", "b"), gold=1)
    assert accuracies([tie], ((-1.0, -1.0),)) == (0.0, 0.0)  # a tie goes to the first choice listed
