"""Encoder-only classifier: three pooling heads over the paper's encoder (not in the paper)

Claims, in our words:
- Padding is invisible to every head. The encoder never attends to padding keys
  (§3.2.3), and each pooling reads real positions only: mean pooling divides the sum
  over the real set R by |R|, max pooling takes the maximum over R, and [CLS] pooling
  reads position 0, which attends to R only. So appending padding to an input leaves
  its logits unchanged. A mean taken over every position, padding included, moves as
  padding is appended: it averages vectors that stand for nothing.
- Without positions, attention and the position-wise layers treat the input as a set:
  permuting the tokens permutes the encoder outputs the same way, and a mean over them
  does not see the order. With the paper's sinusoidal positions, order matters.
- The head returns logits: unnormalised scores, one per class, that cross-entropy
  (which applies its own log-softmax) takes as they are. Rows do not sum to 1 (they
  are not probabilities) and their exponentials do not either (not log-probabilities).

Choices of ours: [CLS] is a learned vector, not a vocabulary entry, placed before the
first token at position 0, and its output goes through tanh(W h + b) as in BERT; the
mean is over real tokens only, as in sentence-embedding models. Positions are removed
in the permutation spec by replacing the position module with one that adds nothing.
"""

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor, nn

from aiayn.model.config import POOLINGS, TransformerConfig
from aiayn.model.encoder_classifier import EncoderClassifier

CODE = "aiayn/model/encoder_classifier.py, aiayn/model/config.py"

VOCAB, PAD, N_CLASSES = 37, 0, 5


def classifier(pooling: str, seed: int) -> EncoderClassifier:
    torch.manual_seed(seed)
    cfg = TransformerConfig.tiny(
        vocab_size=VOCAB, d_model=22, h=2, d_ff=13, n_layers=2, p_drop=0.0, pad_id=PAD, pooling=pooling
    )
    return EncoderClassifier(cfg, N_CLASSES).double().eval()


def tokens(seed: int, batch: int, n: int) -> Int[Tensor, "batch n"]:
    """Real tokens only (ids 1 .. VOCAB - 1)."""
    return torch.randint(1, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


def pad_right(x: Int[Tensor, "batch n"], n_pad: int) -> Int[Tensor, "batch n_all"]:
    return torch.cat([x, torch.full((x.shape[0], n_pad), PAD)], dim=1)


class NoPositions(nn.Module):
    """Stands in for the position module: adds nothing, so the encoder sees no order."""

    def forward(
        self, x: Float[Tensor, "batch n d_model"], offset: int = 0, positions: Int[Tensor, "batch n"] | None = None
    ) -> Float[Tensor, "batch n d_model"]:
        return x


def mean_over_every_position(model: EncoderClassifier, x: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n_classes"]:
    """The broken head: the mean over all positions, padding included."""
    h, _ = model.encode(x)
    return model.head(h.mean(1))


@given(
    pooling=st.sampled_from(POOLINGS),
    seed=st.integers(0, 2**16),
    batch=st.sampled_from([2, 3]),
    n=st.sampled_from([5, 7, 11]),
    n_pad=st.sampled_from([1, 3, 17]),
)
def test_appending_padding_does_not_change_the_prediction(
    pooling: str, seed: int, batch: int, n: int, n_pad: int
) -> None:
    """Appending padding to an input leaves its logits unchanged, for every pooling head."""
    model = classifier(pooling, seed)
    x = tokens(seed, batch, n)
    x[0, n - 2 :] = PAD  # rows of different lengths share the batch
    padded = pad_right(x, n_pad)
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x), rtol=0, atol=1e-10)
        # the broken variant: a mean over every position moves as padding is appended
        broken = (mean_over_every_position(model, padded) - mean_over_every_position(model, x)).abs().max()
    assert broken > 1e-3


@given(
    seed=st.integers(0, 2**16),
    batch=st.sampled_from([2, 3]),
    n=st.sampled_from([5, 7, 11]),
    n_pad=st.sampled_from([0, 3]),
)
def test_without_positions_mean_pooling_ignores_token_order(seed: int, batch: int, n: int, n_pad: int) -> None:
    """Without positions, permuting the tokens of an input leaves the mean-pooled prediction unchanged."""
    model = classifier("mean", seed)
    x = pad_right(tokens(seed, batch, n), n_pad)
    order = torch.randperm(n + n_pad, generator=torch.Generator().manual_seed(seed + 1))
    while bool((x[:, order] == x).all()):  # make sure the permutation moves some token
        order = order.roll(1)
    shuffled = x[:, order]  # padding moves too: it is masked wherever it stands
    with torch.no_grad():
        with_positions = (model(shuffled) - model(x)).abs().max()
        model.stem.positions = NoPositions()
        torch.testing.assert_close(model(shuffled), model(x), rtol=0, atol=1e-10)
    assert with_positions > 1e-6  # the paper's positions are what make order count


@given(pooling=st.sampled_from(POOLINGS), seed=st.integers(0, 2**16), batch=st.sampled_from([3, 7]))
def test_the_head_returns_logits_not_probabilities(pooling: str, seed: int, batch: int) -> None:
    """The head returns one unnormalised score per class, which cross-entropy takes as they are."""
    model = classifier(pooling, seed)
    x = tokens(seed, batch, 11)
    logits = model(x)
    assert logits.shape == (batch, N_CLASSES)
    ones = torch.ones(batch, dtype=logits.dtype)

    def normalised(scores: Float[Tensor, "batch n_classes"]) -> bool:
        """True when rows are probabilities or log-probabilities."""
        return torch.allclose(scores.sum(-1), ones) or torch.allclose(scores.exp().sum(-1), ones)

    assert not normalised(logits.detach())
    # the broken variants, a softmax or a log-softmax inside the head, are caught by the same test
    assert normalised(logits.detach().softmax(-1)) and normalised(logits.detach().log_softmax(-1))
    labels = torch.arange(batch) % N_CLASSES
    loss = F.cross_entropy(logits, labels)  # applies log_softmax itself
    loss.backward()
    expected = -logits.detach().log_softmax(-1)[torch.arange(batch), labels].mean()
    torch.testing.assert_close(loss.detach(), expected)
    assert model.head.weight.grad is not None and bool(model.head.weight.grad.abs().sum() > 0)
