"""Training curves as PNG: loss and learning rate (Eq. 3) against the step."""

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
    """Write loss.png and lr.png from metrics.jsonl; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in read_metrics(metrics_path) if "step" in r and "loss" in r]
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
    return tuple(written)
