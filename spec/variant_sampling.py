"""Sampling from the language model: temperature, top-k and top-p (not in the paper)

Claims, in our words (`aiayn.decoding.sampling`, what `generate` draws from):
- Temperature t divides the logits: p_i proportional to exp(z_i / t), i.e. to p_i^(1/t).
  t < 1 sharpens; multiplying by t instead would flatten where it should sharpen.
- Top-k keeps the k largest logits (every id tied with the k-th stays) and renormalises;
  cutting to exactly k ids would drop one of two equally likely tokens at random.
- Top-p keeps the smallest set of most probable ids whose probability reaches p: an id
  stays when the ids ranked above it hold less than p. Keeping only ids whose own running
  total (itself included) stays below p drops the id that crosses p, and can leave fewer
  than needed.
- The filters run in that order: temperature, then top-k, then top-p on the tempered
  probabilities; top-p before temperature keeps another set.
- A draw follows that distribution: `generate`'s `choose` draws each id with those
  frequencies.

The case is small enough to check by hand: p = (1/2, 1/4, 1/8, 1/8), logits z = log p.
"""

import math

import pytest
import torch

from aiayn.decoding.sampling import choose, next_token_probs

CODE = "aiayn/decoding/sampling.py"

P = (0.5, 0.25, 0.125, 0.125)
LOGITS = torch.tensor([P], dtype=torch.float64).log()


def probs(temperature: float, top_k: int | None = None, top_p: float | None = None) -> list[float]:
    return next_token_probs(LOGITS, temperature, top_k, top_p)[0].tolist()


def test_temperature_divides_the_logits() -> None:
    """At t = 1/2 the probabilities go as p^2: (16, 4, 1, 1) / 22."""
    assert probs(1.0) == pytest.approx(P)
    assert probs(0.5) == pytest.approx([16 / 22, 4 / 22, 1 / 22, 1 / 22])
    assert probs(2.0) == pytest.approx([math.sqrt(p) / sum(map(math.sqrt, P)) for p in P])
    wrong = torch.softmax(LOGITS * 0.5, dim=-1)[0].tolist()  # the wrong variant: z * t
    assert wrong[0] < 0.5 < probs(0.5)[0]  # it flattens where t < 1 must sharpen


def test_top_k_keeps_the_k_largest_and_every_tie_at_the_kth() -> None:
    """k = 2 keeps (1/2, 1/4) -> (2/3, 1/3); k = 3 keeps both tied 1/8 ids, so all four stay."""
    assert probs(1.0, top_k=2) == pytest.approx([2 / 3, 1 / 3, 0, 0])
    assert probs(1.0, top_k=3) == pytest.approx(P)
    exactly_k = torch.zeros(4, dtype=torch.float64).scatter(0, LOGITS[0].topk(3).indices, 1.0) * torch.tensor(P)
    assert (exactly_k == 0).sum() == 1  # the wrong variant drops one of the two tied ids


def test_top_p_keeps_the_smallest_set_that_reaches_p() -> None:
    """p = 0.7: the ids above the second hold 0.5 < 0.7, so two stay; p = 0.5 keeps one; p = 0.76 keeps three."""
    assert probs(1.0, top_p=0.7) == pytest.approx([2 / 3, 1 / 3, 0, 0])
    assert probs(1.0, top_p=0.5) == pytest.approx([1, 0, 0, 0])
    assert probs(1.0, top_p=0.76) == pytest.approx([4 / 7, 2 / 7, 1 / 7, 0])
    inclusive = [sum(P[: i + 1]) < 0.7 for i in range(4)]  # the wrong variant: own running total below p
    assert inclusive == [True, False, False, False]  # keeps 0.5 alone, short of 0.7


def test_filters_apply_temperature_then_top_k_then_top_p() -> None:
    """t = 1/2 then top-p 0.7: the tempered first id alone holds 16/22 >= 0.7, so it alone stays."""
    assert probs(0.5, top_p=0.7) == pytest.approx([1, 0, 0, 0])
    assert probs(0.5, top_k=3, top_p=0.75) == pytest.approx([16 / 20, 4 / 20, 0, 0])
    # the wrong order: top-p 0.7 on the untempered p keeps two ids, then t = 1/2 gives (0.8, 0.2)
    untempered_first = [p**2 for p in P[:2]]
    assert [q / sum(untempered_first) for q in untempered_first] == pytest.approx([0.8, 0.2])


def test_draws_follow_the_filtered_distribution() -> None:
    """40,000 draws at t = 1/2, top-k 3 land on each id with frequency (16, 4, 1, 1) / 22 within 1%."""
    generator = torch.Generator().manual_seed(0)
    drawn = choose(LOGITS.float().expand(40_000, 4), 0.5, 3, None, generator)
    freq = torch.bincount(drawn, minlength=4).double() / drawn.numel()
    assert freq.tolist() == pytest.approx([16 / 22, 4 / 22, 1 / 22, 1 / 22], abs=0.01)
    assert choose(LOGITS.float(), 0.0, None, None, generator).item() == 0  # temperature 0: the argmax
