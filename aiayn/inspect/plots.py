"""Training curves as PNG: loss and learning rate (Eq. 3) against the step; the validations."""

import json
from pathlib import Path


def read_metrics(path: Path) -> list[dict]:
    records = []
    if not Path(path).exists():
        return records
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption
    return records


def plot_metrics(metrics_path: Path, out_dir: Path) -> tuple[Path, ...]:
    """Write loss.png and lr.png from metrics.jsonl (validation.png too when it holds
    validations); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everything = read_metrics(metrics_path)
    records = [r for r in everything if "step" in r and "loss" in r]
    validations = [r for r in everything if "step" in r and "val_loss" in r]
    if not records:
        return ()
    steps = [r["step"] for r in records]
    written = []
    for key, label, name in (("loss", "label-smoothed loss per token", "loss.png"), ("lr", "learning rate (Eq. 3)", "lr.png")):
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.plot(steps, [r[key] for r in records])
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        if key == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = Path(out_dir) / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    if validations:
        written.append(_plot_validation(validations, Path(out_dir) / "validation.png", records))
    return tuple(written)


def _plot_validation(validations: list[dict], path: Path, training: list[dict]) -> Path:
    """Validation loss (and the training loss beside it) against the step; greedy BLEU on a right axis."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([r["step"] for r in training], [r["loss"] for r in training], alpha=0.4, label="training (smoothed labels)")
    ax.plot([r["step"] for r in validations], [r["val_loss"] for r in validations], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss per target token")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    bleu = [r for r in validations if "val_bleu" in r]
    if bleu:
        right = ax.twinx()
        right.plot([r["step"] for r in bleu], [r["val_bleu"] for r in bleu], "s--", color="tab:green")
        right.set_ylabel("greedy BLEU (validation subset)", color="tab:green")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
