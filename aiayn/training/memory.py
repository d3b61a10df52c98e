"""§5.1 on real hardware: the largest per-device token budget that fits a device's memory.

The paper's step holds about 25,000 source and 25,000 target tokens. How many of them one
device can take in one batch decides the accumulation (`aiayn.training.budget`): a device
that holds the whole step should not run it as four small batches. The estimate:

    memory  ~  static + tokens x (activations per token + transient per target token)
    static      = parameters x 16 bytes (float32 weights and gradients, Adam's m and v)
                  + 1 GiB for the CUDA context and allocator slack
    activations = bytes saved for the backward pass per token per side, measured here by
                  running the model forward once on the CPU under bf16 autocast with
                  `torch.autograd.graph.saved_tensors_hooks`, at two batch sizes (the
                  difference cancels what does not grow with the batch)
    transient   = vocab x 8 bytes per target token: the float32 gradient of the logits
                  and its copy in the loss's backward, alive at the same time

`fitting_tokens` keeps 10% of the device free on top and rounds down to 250 tokens. The
measurement is made at `LENGTH` tokens per sentence (WMT 2014's sentences average about 30
BPE tokens; longer sentences cost more per token only through attention, which the fused
kernels on a GPU do not store). It is an estimate, not a guarantee: scripts/wmt14.sh prints
it, and MAX_TOKENS_PER_DEVICE overrides it.

`plan` (scripts/wmt14.sh --dry-run) adds a projection of the training time from the
model's FLOPs per step (6 per parameter per token, attention's scores included), the
device's peak bf16 FLOP/s and an assumed model-FLOPs utilisation (MFU; scripts/gpu_check.sh
measures the real one).
"""

import functools
import math

import torch

from aiayn.model.config import TransformerConfig

LENGTH = 32  # tokens per sentence in the measurement
GIB = 1 << 30
RESERVE = 1 * GIB  # CUDA context, allocator slack
FREE = 0.10  # fraction of the device left unused on top
# dense bf16 peak FLOP/s by device name (the vendors' figures, without sparsity)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def n_parameters(cfg: TransformerConfig) -> int:
    from aiayn.model.transformer import Transformer

    with torch.device("meta"):
        model = Transformer(cfg)
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


@functools.lru_cache(maxsize=8)
def activation_bytes_per_token(cfg: TransformerConfig, length: int = LENGTH) -> float:
    """Bytes kept for the backward pass per source-and-target token pair, in bf16 autocast."""
    from aiayn.model.transformer import Transformer
    from aiayn.training.loss import label_smoothed_loss

    torch.manual_seed(0)
    model = Transformer(cfg)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def saved_bytes(batch: int) -> int:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in params:
                seen[storage.data_ptr()] = storage.nbytes()
            return t

        src = torch.randint(4, cfg.vocab_size, (batch, length))
        tgt = torch.randint(4, cfg.vocab_size, (batch, length))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(src, tgt)
            label_smoothed_loss(logits, tgt, cfg.eps_ls, cfg.pad_id, reduction="sum")
        return sum(seen.values())

    return (saved_bytes(2) - saved_bytes(1)) / length


def fitting_tokens(cfg: TransformerConfig, memory_bytes: float | int, per_token: float | int | None = None) -> int:
    """The most tokens per side one device's batch may hold (see the module docstring); 0 if none fit."""
    per_token = activation_bytes_per_token(cfg) if per_token is None else per_token
    static = 16 * n_parameters(cfg) + RESERVE
    room = memory_bytes * (1 - FREE) - static
    tokens = room / (per_token + 8 * cfg.vocab_size)
    return max(0, int(tokens // 250) * 250)


def flops_per_step(cfg: TransformerConfig, tokens_per_side: int, length: int = LENGTH) -> float:
    """Training FLOPs of one step: 6 per parameter per token (forward and backward) for the
    encoder on source tokens and the decoder and output projection on target tokens, plus
    the attention scores (QK^T and AV: 12 x d_model x the keys per query per layer)."""
    d, n = cfg.d_model, cfg.n_layers
    enc_layer = 4 * d * d + 2 * d * cfg.d_ff
    dec_layer = 8 * d * d + 2 * d * cfg.d_ff
    dense = 6 * tokens_per_side * (n * enc_layer + n * dec_layer + d * cfg.vocab_size)
    attention = 6 * tokens_per_side * 2 * d * length * (n + 2 * n)  # encoder self; decoder self and source
    return float(dense + attention)


def peak_flops(device_name: str) -> float | None:
    for key, value in PEAK_BF16.items():
        if key in device_name:
            return value
    return None


def plan(cfg: TransformerConfig, tokens_per_step: int, steps: int, memory_bytes: float | int, device_name: str,
         max_tokens_per_device: int | None = None, mfu: float = 0.4) -> list[str]:  # fmt: skip
    """Lines for a dry run: per-device budget, accumulation on 1 and 8 devices, projected hours."""
    from aiayn.training.budget import step_budget

    fits = fitting_tokens(cfg, memory_bytes)
    per_device = max_tokens_per_device or fits
    lines = [f"model: {n_parameters(cfg) / 1e6:.1f}M parameters, vocabulary {cfg.vocab_size:,}; "
             f"{activation_bytes_per_token(cfg) / 1024:.0f} KiB of activations per token per side (bf16, measured)",
             f"device: {device_name}, {memory_bytes / GIB:.0f} GiB: about {fits:,} tokens per side fit one batch"
             + ("" if max_tokens_per_device is None else f"; overridden: {max_tokens_per_device:,}")]  # fmt: skip
    peak = peak_flops(device_name)
    for world in (1, 8):
        budget = step_budget(tokens_per_step, world, min(per_device, tokens_per_step))
        line = f"{world} GPU{'s' if world > 1 else ''}: {budget.describe()}"
        if peak is not None:
            hours = steps * flops_per_step(cfg, tokens_per_step) / (world * peak * mfu) / 3600
            line += f"; {steps:,} steps in about {hours:.1f} h at {mfu:.0%} MFU"
        lines.append(line)
    if peak is None:
        lines.append(f"no peak FLOP/s known for {device_name!r}: no projected hours")
    lines.append(f"projection: {flops_per_step(cfg, tokens_per_step) / 1e12:.0f} TFLOP per step, "
                 f"{mfu:.0%} model-FLOPs utilisation assumed (scripts/gpu_check.sh measures it)")  # fmt: skip
    return lines


def device_memory() -> tuple[float, str] | None:
    """(bytes, name) of CUDA device 0, or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return float(props.total_memory), props.name


def budget_for(preset_name: str, vocab_size: int, memory_gib: float | None = None) -> int:
    """`fitting_tokens` for a preset on CUDA device 0 (or `memory_gib`); what scripts/wmt14.sh asks."""
    from aiayn.model.config import preset

    memory = memory_gib * GIB if memory_gib else (device_memory() or (math.nan, ""))[0]
    if math.isnan(memory):
        raise RuntimeError("no CUDA device: give the device's memory (DEVICE_MEMORY_GIB) or MAX_TOKENS_PER_DEVICE")
    return fitting_tokens(preset(preset_name, vocab_size=vocab_size), memory)
