"""The per-device token budget (aiayn.training.memory): activations measured per token grow
linearly with the batch, and the budget follows the device's memory and the vocabulary."""

import torch

from aiayn.model.config import preset
from aiayn.model.transformer import Transformer
from aiayn.training import memory
from aiayn.training.loss import label_smoothed_loss

CFG = preset("tiny", vocab_size=500).replace(d_model=32, d_ff=48, h=2, n_layers=2)


def _saved_bytes(batch: int, length: int) -> int:
    """Bytes kept for backward by a forward of `batch` sentences, counted independently (by tensor)."""
    torch.manual_seed(0)
    model = Transformer(CFG)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    src = torch.randint(4, CFG.vocab_size, (batch, length))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(src, src)
        label_smoothed_loss(logits, src, 0.1, CFG.pad_id, reduction="sum")
    return sum(seen.values())


def test_activations_per_token_predict_a_larger_batch() -> None:
    per_token = memory.activation_bytes_per_token(CFG, length=16)
    assert per_token > 0
    predicted = _saved_bytes(1, 16) + per_token * 16 * 5
    assert abs(_saved_bytes(6, 16) / predicted - 1) < 0.1


def test_the_budget_follows_memory_and_vocabulary() -> None:
    gib = memory.GIB
    small, large = memory.fitting_tokens(CFG, 8 * gib), memory.fitting_tokens(CFG, 16 * gib)
    assert 0 < small < large and small % 250 == 0
    assert memory.fitting_tokens(CFG.replace(vocab_size=5000), 8 * gib) < small  # bigger logits per token
    assert memory.fitting_tokens(CFG, 0.5 * gib) == 0  # the reserve alone does not fit
