"""Checkpoints: safetensors weights with the tied embedding, a weights_only training state,
atomic writes, and refusal of damaged or foreign checkpoints without changing anything."""

from pathlib import Path

import pytest
import torch

from aiayn import Transformer, TransformerConfig
from aiayn.training.checkpoint import (
    CheckpointError,
    checkpoint_dirs,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from aiayn.training.schedule import make_optimizer

CFG = TransformerConfig.tiny(vocab_size=29, d_model=16, d_ff=24, h=2, n_layers=1)


def _trained_model(seed: int = 0) -> tuple[Transformer, dict]:
    torch.manual_seed(seed)
    model = Transformer(CFG)
    optimizer, schedule = make_optimizer(model, CFG.d_model, warmup_steps=3)
    src, tgt = torch.randint(1, 29, (3, 5)), torch.randint(1, 29, (3, 4))
    model(src, tgt).sum().backward()
    optimizer.step()
    schedule.step()
    state = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "rng": torch.get_rng_state()}
    return model, state


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_round_trip_keeps_weights_tied_and_state_loads_weights_only(tmp_path: Path) -> None:
    model, state = _trained_model()
    ckpt = save_checkpoint(tmp_path, 7, model, state, CFG.to_dict(), "tok")
    fresh = Transformer(CFG)
    restored = load_checkpoint(ckpt, fresh, CFG.to_dict(), "tok")
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    assert fresh.src_embed.weight is fresh.tgt_embed.weight, "§3.4 tie survives loading"
    assert restored["schedule"]["last_epoch"] == 1
    torch.load(ckpt / "state.pt", weights_only=True)  # plain tensors and Python values only


def test_shared_embedding_is_stored_once(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model, _ = _trained_model()
    save_weights(model, tmp_path / "m.safetensors")
    stored = load_file(str(tmp_path / "m.safetensors"))
    assert sum(name.endswith("embed.weight") for name in stored) == 1
    fresh = Transformer(CFG)
    load_weights(fresh, tmp_path / "m.safetensors")
    assert torch.equal(fresh.src_embed.weight, model.src_embed.weight)


@pytest.mark.parametrize("damage", ["truncate_weights", "flip_state_byte", "drop_meta", "garble_meta"])
def test_damaged_checkpoint_is_refused_and_changes_nothing(tmp_path: Path, damage: str) -> None:
    model, state = _trained_model()
    ckpt = save_checkpoint(tmp_path, 3, model, state, CFG.to_dict(), "tok")
    if damage == "truncate_weights":
        data = (ckpt / "model.safetensors").read_bytes()
        (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "flip_state_byte":
        data = bytearray((ckpt / "state.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (ckpt / "state.pt").write_bytes(bytes(data))
    elif damage == "drop_meta":
        (ckpt / "meta.json").unlink()
    else:
        (ckpt / "meta.json").write_text("{not json")
    target, _ = _trained_model(seed=1)
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match=str(ckpt.name)):
        load_checkpoint(ckpt, target, CFG.to_dict(), "tok")
    after = _snapshot(target)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_checkpoint_of_another_config_or_tokenizer_is_refused(tmp_path: Path) -> None:
    model, state = _trained_model()
    ckpt = save_checkpoint(tmp_path, 3, model, state, CFG.to_dict(), "tok-a")
    with pytest.raises(CheckpointError, match="different tokenizer"):
        load_checkpoint(ckpt, Transformer(CFG), CFG.to_dict(), "tok-b")
    other = CFG.replace(d_ff=32)
    with pytest.raises(CheckpointError, match="different model config.*d_ff"):
        load_checkpoint(ckpt, Transformer(other), other.to_dict(), "tok-a")


def test_keeps_last_k_never_overwrites_and_ignores_unfinished(tmp_path: Path) -> None:
    model, state = _trained_model()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, state, CFG.to_dict(), "tok", keep_last=2)
    assert [d.name for d in checkpoint_dirs(tmp_path)] == ["step-00000003", "step-00000004"]
    with pytest.raises(CheckpointError, match="never overwritten"):
        save_checkpoint(tmp_path, 4, model, state, CFG.to_dict(), "tok")
    (tmp_path / "checkpoints" / "step-00000005.tmp").mkdir()  # a write cut short
    assert latest_checkpoint(tmp_path).name == "step-00000004"
