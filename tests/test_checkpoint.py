"""Checkpoints: safetensors weights with the tied embedding, a weights_only training state,
atomic fsynced writes, refusal of damaged or foreign checkpoints without changing anything,
and falling back past damaged checkpoints to the newest one that verifies."""

import os
from pathlib import Path

import pytest
import torch

from aiayn import Transformer, TransformerConfig
from aiayn.training.checkpoint import (
    CheckpointError,
    checkpoint_dirs,
    latest_checkpoint,
    latest_good_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
    verify_checkpoint,
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


def damage_checkpoint(ckpt: Path, how: str) -> None:
    """Three ways a checkpoint gets damaged: weights cut short, one byte changed, meta.json lost."""
    weights = ckpt / "model.safetensors"
    if how == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:-1000])
    elif how == "changed_byte":  # in the tensor data, where safetensors itself still reads the file
        data = bytearray(weights.read_bytes())
        data[-5] ^= 0x01
        weights.write_bytes(bytes(data))
    elif how == "missing_meta":
        (ckpt / "meta.json").unlink()
    else:
        raise ValueError(how)


DAMAGES = ["truncated_weights", "changed_byte", "missing_meta"]


@pytest.mark.parametrize("how", DAMAGES)
def test_latest_good_checkpoint_skips_a_damaged_newest_one_and_says_why(tmp_path: Path, how: str) -> None:
    model, state = _trained_model()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, state, CFG.to_dict(), "tok")
    newest = checkpoint_dirs(tmp_path)[-1]
    assert latest_good_checkpoint(tmp_path, CFG.to_dict(), "tok", log=lambda _: None) == newest  # intact: newest
    damage_checkpoint(newest, how)
    logged: list[str] = []
    found = latest_good_checkpoint(tmp_path, CFG.to_dict(), "tok", log=logged.append)
    assert found is not None and found.name == "step-00000002"
    assert len(logged) == 1 and "step-00000003" in logged[0]
    reason = {"truncated_weights": "do not match the hash", "changed_byte": "do not match the hash",
              "missing_meta": "no meta.json"}[how]  # fmt: skip
    assert reason in logged[0], logged
    # and the checkpoint it returns loads
    load_checkpoint(found, Transformer(CFG), CFG.to_dict(), "tok")


def test_latest_good_checkpoint_skips_another_runs_checkpoints_and_none_when_nothing_verifies(tmp_path: Path) -> None:
    model, state = _trained_model()
    save_checkpoint(tmp_path, 1, model, state, CFG.to_dict(), "tok")
    save_checkpoint(tmp_path, 2, model, state, CFG.to_dict(), "other-tok")
    logged: list[str] = []
    assert latest_good_checkpoint(tmp_path, CFG.to_dict(), "tok", log=logged.append).name == "step-00000001"
    assert "different tokenizer" in logged[0]
    damage_checkpoint(checkpoint_dirs(tmp_path)[0], "changed_byte")
    assert latest_good_checkpoint(tmp_path, CFG.to_dict(), "tok", log=lambda _: None) is None
    assert latest_good_checkpoint(tmp_path / "empty", CFG.to_dict(), "tok", log=lambda _: None) is None


def test_training_settings_p_drop_and_eps_ls_are_not_part_of_the_model_identity(tmp_path: Path) -> None:
    model, state = _trained_model()
    ckpt = save_checkpoint(tmp_path, 1, model, state, CFG.to_dict(), "tok")
    verify_checkpoint(ckpt, {**CFG.to_dict(), "p_drop": 0.3, "eps_ls": 0.0}, "tok")  # matches
    with pytest.raises(CheckpointError, match=r"differs in h\)$"):
        verify_checkpoint(ckpt, {**CFG.to_dict(), "h": 4, "p_drop": 0.3}, "tok")


def test_every_file_and_folder_is_fsynced_before_the_checkpoint_gets_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("rename", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    model, state = _trained_model()
    final = save_checkpoint(tmp_path, 4, model, state, CFG.to_dict(), "tok")
    tmp = str(final.with_name(final.name + ".tmp"))
    rename = events.index(("rename", tmp))
    before = {path for kind, path in events[:rename] if kind == "fsync"}
    assert {f"{tmp}/model.safetensors", f"{tmp}/state.pt", f"{tmp}/meta.json", tmp} <= before, events
    assert ("fsync", str(final.parent)) in events[rename:], "the rename itself is made durable"
    events.clear()
    save_weights(model, tmp_path / "model.safetensors")
    assert events[:2] == [("fsync", str(tmp_path / "model.safetensors.tmp")),
                          ("rename", str(tmp_path / "model.safetensors.tmp"))]  # fmt: skip
