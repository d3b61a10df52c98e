"""Classification scores: accuracy, macro-F1, the confusion matrix (text and PNG), the majority baseline."""

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from aiayn.evaluation.classification import (
    confusion_matrix,
    f1_per_class,
    format_confusion,
    format_scores,
    majority_baseline,
    majority_class,
    plot_confusion,
    score,
)

NAMES = ("comedy", "history", "tragedy")


def test_a_worked_example_by_hand() -> None:
    """Five items, three classes: the matrix, accuracy 3/5 and macro-F1 (1/2 + 2/3 + 2/3) / 3."""
    gold, predicted = [0, 0, 1, 2, 2], [0, 1, 1, 2, 0]
    scores = score(gold, predicted, 3)
    assert scores.confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]  # rows gold, columns predicted
    assert scores.accuracy == pytest.approx(3 / 5)
    assert f1_per_class(scores.confusion) == pytest.approx((1 / 2, 2 / 3, 2 / 3))
    assert scores.macro_f1 == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)
    assert scores.n == 5 and scores.as_dict()["confusion"] == scores.confusion.tolist()


@given(
    k=st.sampled_from([2, 3, 5]),
    pairs=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=40),
)
def test_macro_f1_is_the_mean_of_per_class_f1_from_precision_and_recall(k: int, pairs: list[tuple[int, int]]) -> None:
    """Macro-F1 equals the mean over classes of 2PR / (P + R), counted item by item (0 where undefined)."""
    gold, predicted = [g % k for g, _ in pairs], [p % k for _, p in pairs]
    expected = []
    for c in range(k):
        tp = sum(g == c and p == c for g, p in zip(gold, predicted))
        n_pred, n_gold = predicted.count(c), gold.count(c)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        expected.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    scores = score(gold, predicted, k)
    assert scores.macro_f1 == pytest.approx(sum(expected) / k)
    assert scores.accuracy == pytest.approx(sum(g == p for g, p in zip(gold, predicted)) / len(gold))
    assert int(scores.confusion.sum()) == len(gold)
    assert scores.confusion.sum(1).tolist() == [gold.count(c) for c in range(k)]


def test_the_majority_baseline_predicts_the_training_majority_on_the_test_items() -> None:
    """The baseline's class comes from the training labels, not from the test labels it is scored on."""
    train = [0] * 5 + [1] * 3 + [2] * 2
    test = [2] * 6 + [0] * 3 + [1] * 1  # the test majority (2) differs from the training one (0)
    assert majority_class(train, 3) == 0
    baseline = majority_baseline(train, test, 3)
    assert baseline.accuracy == pytest.approx(3 / 10)
    assert baseline.confusion[:, 0].tolist() == [3, 1, 6] and int(baseline.confusion[:, 1:].sum()) == 0
    # F1 of the predicted class is 2 * 3 / (3 + 10); the others are 0
    assert baseline.macro_f1 == pytest.approx(2 * 3 / 13 / 3)
    assert majority_class([1, 2, 2, 1], 3) == 1  # a tie goes to the smaller index


def test_the_text_table_names_gold_rows_and_predicted_columns() -> None:
    confusion = confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    lines = format_confusion(confusion, NAMES).splitlines()
    assert lines[0].split()[-3:] == list(NAMES) and "gold" in lines[0] and "predicted" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == list(NAMES)
    assert [line.split()[1:] for line in lines[1:]] == [["1", "1", "0"], ["0", "1", "0"], ["1", "0", "1"]]
    report = format_scores(score([0, 1], [0, 0], 3), majority_baseline([1], [0, 1], 3), NAMES)
    assert "majority baseline" in report and "macro-F1" in report and "0.5000" in report


def test_the_confusion_matrix_is_saved_as_a_png(tmp_path: Path) -> None:
    out = plot_confusion(confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3), NAMES, tmp_path / "confusion.png", "test")
    data = Path(out).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_bad_labels_are_named() -> None:
    with pytest.raises(ValueError, match="3 gold labels but 2 predictions"):
        score([0, 1, 2], [0, 1], 3)
    with pytest.raises(ValueError, match="predicted label 3 is outside the classes 0 .. 2"):
        score([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="gold label -1"):
        confusion_matrix([-1], [0], 3)
    with pytest.raises(ValueError, match="no items"):
        score([], [], 3)
    with pytest.raises(ValueError, match="2 class names for a 3 x 3 matrix"):
        format_confusion(torch.zeros(3, 3, dtype=torch.long), NAMES[:2])
