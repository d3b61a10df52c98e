"""TensorBoard scalars of a run: the training records and the validations of metrics.jsonl.

`aiayn train --tensorboard DIR` writes, on rank 0, every logged step's loss, learning
rate, gradient norm and throughput under train/, and every validation's loss,
perplexity and greedy BLEU under validation/, through `torch.utils.tensorboard`, which
needs the `tensorboard` package (`pip install tensorboard`, or aiayn's extra
`pip install "aiayn[tensorboard]"`). Watch with `tensorboard --logdir DIR`.
"""

from pathlib import Path
from typing import Any

# metrics.jsonl key -> TensorBoard tag
TAGS = {
    "loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm", "tokens_per_s": "train/tokens_per_s",
    "val_loss": "validation/loss", "val_ppl": "validation/perplexity", "val_bleu": "validation/bleu_greedy",
}  # fmt: skip


class TensorBoardError(RuntimeError):
    """TensorBoard logging asked for but not available."""


def check_available() -> None:
    """Raise TensorBoardError (one line, naming the package) unless torch.utils.tensorboard imports."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        raise TensorBoardError("--tensorboard needs the tensorboard package: pip install tensorboard "
                               "(or pip install \"aiayn[tensorboard]\")") from None  # fmt: skip


class TensorBoardLog:
    """`write(record)`: a metrics record's scalars at its step (see TAGS)."""

    def __init__(self, log_dir: Path) -> None:
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def write(self, record: dict[str, Any]) -> None:
        for key, tag in TAGS.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, value, global_step=int(record["step"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
