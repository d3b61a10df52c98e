"""Checks on what users hand the models, with errors that name the problem.

Shapes and dtypes are checked by jaxtyping + beartype when checking is on; these
checks cover what annotations cannot see (token ids outside the vocabulary,
sequences longer than learned positions allow), since a bad id otherwise fails deep
inside torch's embedding kernel.

Where the ids are checked: the type, dtype and shape always (they are known on the
host). The values are read back to check their range only where that costs no
synchronisation: for tensors in host memory, or when AIAYN_CHECK_TOKENS=1 asks for it.
On an accelerator, reading `tokens.min()` would stall the host until the device has
caught up, four times per training batch and twice per decoding step; there the ids
come from the tokenizer of the same run (checked against the model's vocabulary when
a run is loaded, and against the tokenizer when data are binarized), and an id out of
range still stops the embedding kernel, with CUDA's device-side assertion instead of
our message.
"""

import os
from collections.abc import Sequence

import torch
from jaxtyping import Int
from torch import Tensor

CHECK_ENV = "AIAYN_CHECK_TOKENS"  # "1": check the range of ids on accelerators too (a host sync per call)


class InputError(ValueError):
    """A tensor handed to a model that the model cannot take."""


def check_tokens(name: str, tokens: Tensor, vocab_size: int) -> None:
    """`tokens` must be a 2-D integer tensor (batch, n) of ids in [0, vocab_size) (the range
    is read back only for host tensors, or with AIAYN_CHECK_TOKENS=1: see the module docstring)."""
    if not isinstance(tokens, Tensor):
        raise InputError(f"{name}: expected a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise InputError(f"{name}: token ids must be int64 (or int32), got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise InputError(
            f"{name}: expected shape (batch, n) of token ids, got {tuple(tokens.shape)} ({tokens.dim()} dims)"
        )
    if tokens.shape[1] == 0:
        raise InputError(f"{name}: sequence dimension is empty (shape {tuple(tokens.shape)})")
    if torch.compiler.is_compiling():  # a compiled graph cannot read values back; eager runs check
        return
    if tokens.numel() and (tokens.device.type == "cpu" or os.environ.get(CHECK_ENV, "") == "1"):
        low, high = int(tokens.min()), int(tokens.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            where = (tokens == bad).nonzero()[0].tolist()
            raise InputError(
                f"{name}: token id {bad} at position {tuple(where)} is outside the vocabulary [0, {vocab_size})"
            )


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> Int[Tensor, "batch n"]:
    """Token id lists -> one (batch, longest) int64 tensor, padded with pad_id on the right
    (or on the left, for prompts that must end at the same position)."""
    if not rows:
        raise InputError("pad_rows: no rows to pad")
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    width = int(lengths.max())
    flat = torch.tensor([t for r in rows for t in r], dtype=torch.long)
    out = torch.full((len(rows), width), pad_id, dtype=torch.long)
    cols = torch.arange(width)[None, :]
    keep = cols >= (width - lengths)[:, None] if left else cols < lengths[:, None]
    out[keep] = flat  # row-major order of `keep` is the order of `flat`
    return out
