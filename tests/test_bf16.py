"""bf16 autocast on a CPU: a training step runs and its loss stays close to float32's
(aiayn/training/loss.py, aiayn/training/schedule.py, aiayn/training/trainer.py `_autocast`).

bf16 keeps float32's exponent and 8 bits of mantissa, so products and sums in the model
carry relative errors near 2^-8; the loss reads the bf16 logits straight into a float32
log-softmax. The trainer autocasts on CUDA with `bf16`; on a CPU it stays in float32
unless `bf16_cpu` asks for bf16 as well.
"""

from types import SimpleNamespace

import torch

from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.training.loss import label_smoothed_loss
from aiayn.training.schedule import make_optimizer
from aiayn.training.trainer import Trainer, TrainSettings

VOCAB, PAD = 97, 0
CFG = TransformerConfig.tiny(vocab_size=VOCAB, d_model=32, h=4, d_ff=64, n_layers=2, p_drop=0.0)


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    src = torch.randint(3, VOCAB, (6, 13), generator=g)
    tgt = torch.randint(3, VOCAB, (6, 12), generator=g)
    src[0, -4:] = PAD
    tgt[2, -3:] = PAD
    return src, tgt[:, :-1], tgt[:, 1:]


def step(model: Transformer, bf16: bool) -> tuple[torch.Tensor, torch.dtype, tuple[torch.Tensor, ...]]:
    """Loss, logits dtype and gradients of one forward/backward, with or without bf16 autocast."""
    src, tgt_in, tgt_out = batch()
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(src, tgt_in)
    loss = label_smoothed_loss(logits, tgt_out, 0.1, PAD)
    loss.backward()
    return loss.detach(), logits.dtype, tuple(p.grad.detach().clone() for p in model.parameters())


def test_bf16_autocast_training_step_runs_on_cpu_with_loss_close_to_float32() -> None:
    """Under CPU bf16 autocast the logits are bf16, the loss is float32 and within 0.5% of float32's, the
    gradients point the same way, and an Adam step leaves finite weights."""
    torch.manual_seed(0)
    model = Transformer(CFG).train()
    loss32, dtype32, grads32 = step(model, bf16=False)
    loss16, dtype16, grads16 = step(model, bf16=True)
    assert dtype32 == torch.float32 and dtype16 == torch.bfloat16  # autocast really ran in bf16
    assert loss16.dtype == torch.float32
    assert abs(float(loss16) - float(loss32)) <= 0.005 * float(loss32), (float(loss16), float(loss32))
    flat32, flat16 = torch.cat([g.flatten() for g in grads32]), torch.cat([g.flatten().float() for g in grads16])
    assert torch.isfinite(flat16).all()
    cosine = torch.nn.functional.cosine_similarity(flat32, flat16, dim=0)
    assert cosine > 0.99, float(cosine)
    optimizer, _ = make_optimizer(model, CFG.d_model, warmup_steps=4)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_loss_of_bf16_logits_matches_float32_and_returns_a_bf16_gradient() -> None:
    """The loss of bf16 logits equals the loss of the same values in float32; the gradient keeps the logits' dtype."""
    g = torch.Generator().manual_seed(5)
    logits = (torch.randn(4, 9, VOCAB, generator=g) * 3).to(torch.bfloat16).requires_grad_(True)
    gold = torch.randint(1, VOCAB, (4, 9), generator=g)
    wide = logits.detach().float().requires_grad_(True)
    loss16, loss32 = label_smoothed_loss(logits, gold, 0.1, PAD), label_smoothed_loss(wide, gold, 0.1, PAD)
    torch.testing.assert_close(loss16, loss32)  # the same numbers, read in float32 either way
    loss16.backward()
    loss32.backward()
    assert logits.grad.dtype == torch.bfloat16
    torch.testing.assert_close(logits.grad.float(), wide.grad, rtol=1e-2, atol=1e-4)


def test_trainer_autocasts_on_cpu_only_when_bf16_cpu_asks() -> None:
    """On a CPU the trainer's step stays float32 by default and runs in bf16 when `bf16_cpu` is set."""
    a, b = torch.randn(3, 5), torch.randn(5, 2)
    cpu = torch.device("cpu")
    for settings, expected in (
        (TrainSettings(), torch.float32),  # the default: float32 on a CPU
        (TrainSettings(bf16=True, bf16_cpu=False), torch.float32),
        (TrainSettings(bf16=False, bf16_cpu=True), torch.float32),  # bf16 off wins
        (TrainSettings(bf16=True, bf16_cpu=True), torch.bfloat16),
    ):
        with Trainer._autocast(SimpleNamespace(device=cpu, settings=settings)):  # type: ignore[arg-type]
            assert (a @ b).dtype == expected, settings
