"""Scoring a classifier: accuracy, macro-F1, the confusion matrix, and the majority baseline.

For gold labels y and predictions p over N items and K classes:

    accuracy   = (1/N) sum_i [p_i = y_i]
    confusion  C[g, q] = #{i : y_i = g, p_i = q}        (rows gold, columns predicted)
    F1_k       = 2 C[k, k] / (sum_q C[k, q] + sum_g C[g, k])   (0 when class k is never
                 gold nor predicted, as scikit-learn's default zero_division gives)
    macro-F1   = (1/K) sum_k F1_k                        (every class weighs the same)

Macro-F1 is the figure that a classifier predicting one class for everything cannot
inflate: on a test set whose largest class holds 38% of the items, that classifier has
accuracy 0.38 but macro-F1 about 0.18. `majority_baseline` is exactly that classifier:
the most frequent class of the training labels, predicted for every test item, scored
on the same items as the model.

The confusion matrix is printed as a text table (`format_confusion`) and drawn as a
PNG (`plot_confusion`, matplotlib's Agg backend, no display needed).
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor


@dataclass(frozen=True)
class ClassificationScores:
    """Accuracy, macro-F1 and the confusion matrix of one set of predictions."""

    accuracy: float
    macro_f1: float
    confusion: Int[Tensor, "k k"]
    n: int

    def as_dict(self) -> dict[str, object]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "n": self.n, "confusion": self.confusion.tolist()}


def _check(gold: Sequence[int], predicted: Sequence[int], n_classes: int) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"classification scores: {len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("classification scores: no items to score")
    for name, labels in (("gold", gold), ("predicted", predicted)):
        bad = next((label for label in labels if not 0 <= label < n_classes), None)
        if bad is not None:
            raise ValueError(f"classification scores: {name} label {bad} is outside the classes 0 .. {n_classes - 1}")


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], n_classes: int) -> Int[Tensor, "k k"]:
    """C[g, q]: how many items of gold class g were predicted as class q."""
    _check(gold, predicted, n_classes)
    cells = torch.tensor(gold, dtype=torch.long) * n_classes + torch.tensor(predicted, dtype=torch.long)
    return torch.bincount(cells, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def f1_per_class(confusion: Int[Tensor, "k k"]) -> tuple[float, ...]:
    """F1_k = 2 C[k, k] / (gold count of k + predicted count of k); 0 for a class never seen."""
    tp = confusion.diagonal().double()
    both = confusion.sum(1).double() + confusion.sum(0).double()
    return tuple(float(v) for v in torch.where(both > 0, 2 * tp / both.clamp(min=1), 0.0))


def score(gold: Sequence[int], predicted: Sequence[int], n_classes: int) -> ClassificationScores:
    """Accuracy, macro-F1 and confusion matrix of `predicted` against `gold`."""
    confusion = confusion_matrix(gold, predicted, n_classes)
    f1 = f1_per_class(confusion)
    accuracy = float(confusion.diagonal().sum()) / len(gold)
    return ClassificationScores(accuracy, sum(f1) / n_classes, confusion, len(gold))


def majority_class(train_labels: Sequence[int], n_classes: int) -> int:
    """The most frequent training label (the smallest index on a tie)."""
    if not train_labels:
        raise ValueError("majority_class: no training labels")
    _check(train_labels, train_labels, n_classes)
    return int(torch.bincount(torch.tensor(train_labels), minlength=n_classes).argmax())


def majority_baseline(train_labels: Sequence[int], gold: Sequence[int], n_classes: int) -> ClassificationScores:
    """Scores of predicting the training set's most frequent class for every test item."""
    return score(gold, [majority_class(train_labels, n_classes)] * len(gold), n_classes)


def format_confusion(confusion: Int[Tensor, "k k"], names: Sequence[str]) -> str:
    """The confusion matrix as a text table: one row per gold class, one column per prediction."""
    k = confusion.shape[0]
    if len(names) != k:
        raise ValueError(f"format_confusion: {len(names)} class names for a {k} x {k} matrix")
    width = max(max(len(n) for n in names), len(str(int(confusion.max()))), 4)
    head = "gold \\ predicted".ljust(width + 2)
    lines = [head + " ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, confusion.tolist()):
        lines.append(name.ljust(len(head)) + " ".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def format_scores(model: ClassificationScores, baseline: ClassificationScores, names: Sequence[str]) -> str:
    """Model and majority baseline side by side, then the model's confusion matrix."""
    lines = [
        f"{'':20s} {'accuracy':>9s} {'macro-F1':>9s}",
        f"{'model':20s} {model.accuracy:9.4f} {model.macro_f1:9.4f}",
        f"{'majority baseline':20s} {baseline.accuracy:9.4f} {baseline.macro_f1:9.4f}",
        f"({model.n} test items)",
        "",
        format_confusion(model.confusion, names),
    ]
    return "\n".join(lines)


def plot_confusion(
    confusion: Int[Tensor, "k k"], names: Sequence[str], path: str | os.PathLike[str], title: str = ""
) -> str:
    """Draw the confusion matrix (counts in each cell) as a PNG at `path`; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = confusion.shape[0]
    if len(names) != k:
        raise ValueError(f"plot_confusion: {len(names)} class names for a {k} x {k} matrix")
    fig, ax = plt.subplots(figsize=(1.2 * k + 2.5, 1.2 * k + 2), dpi=100)
    ax.imshow(confusion.numpy(), cmap="Blues")
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    high = int(confusion.max())
    for g in range(k):
        for q in range(k):
            value = int(confusion[g, q])
            ax.text(q, g, str(value), ha="center", va="center", color="white" if value > high / 2 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return os.fspath(path)
