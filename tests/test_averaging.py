"""Averaging checkpoint folders into one weights file (aiayn/training/averaging.py, §6.1).

The averaging rule itself is specified in spec/sec6_1_decoding.py.
"""

from pathlib import Path

import pytest
import torch
from test_checkpoint import DAMAGES, damage_checkpoint  # tests/ is on the path (it has no __init__.py)

from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer
from aiayn.training.averaging import average_checkpoints, average_last_checkpoints
from aiayn.training.checkpoint import CheckpointError, checkpoint_dirs, load_weights, save_checkpoint

CFG = TransformerConfig.tiny(vocab_size=23, d_model=16, h=2, d_ff=24, n_layers=1, p_drop=0.0)


def write_run(run: Path, n: int, cfg: TransformerConfig = CFG, first_seed: int = 0) -> list[Transformer]:
    models = []
    for i in range(n):
        torch.manual_seed(first_seed + i)
        models.append(Transformer(cfg))
        save_checkpoint(run, first_seed + i + 1, models[-1], {"step": i + 1}, cfg.to_dict(), "tok", keep_last=0)
    return models


def test_average_of_checkpoint_folders_loads_as_the_mean(tmp_path: Path) -> None:
    models = write_run(tmp_path, 3)
    out = tmp_path / "model.safetensors"
    average_checkpoints(checkpoint_dirs(tmp_path), out)
    assert out.exists() and not (tmp_path / "model.safetensors.tmp").exists()
    averaged = Transformer(CFG)
    load_weights(averaged, out)
    assert averaged.src_embed is averaged.tgt_embed  # still one shared embedding
    for name, tensor in averaged.state_dict().items():
        mean = torch.stack([m.state_dict()[name] for m in models]).double().mean(0)
        torch.testing.assert_close(tensor.double(), mean, rtol=0, atol=1e-7)


def test_checkpoints_of_different_models_are_refused(tmp_path: Path) -> None:
    write_run(tmp_path, 1)
    write_run(tmp_path, 1, CFG.replace(d_ff=32), first_seed=5)
    with pytest.raises(CheckpointError, match="d_ff"):
        average_checkpoints(checkpoint_dirs(tmp_path), tmp_path / "avg.safetensors")
    assert not (tmp_path / "avg.safetensors").exists()


def test_damaged_checkpoint_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path, 2)
    weights = checkpoint_dirs(tmp_path)[1] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        average_checkpoints(checkpoint_dirs(tmp_path), tmp_path / "avg.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoints"):
        average_checkpoints([], tmp_path / "avg.safetensors")


@pytest.mark.parametrize("how", DAMAGES)
def test_averaging_the_last_k_skips_a_damaged_newest_checkpoint(tmp_path: Path, how: str) -> None:
    models = write_run(tmp_path, 4)
    damage_checkpoint(checkpoint_dirs(tmp_path)[-1], how)
    logged: list[str] = []
    out = tmp_path / "model.safetensors"
    used = average_last_checkpoints(tmp_path, 2, out, log=logged.append)
    assert [d.name for d in used] == ["step-00000002", "step-00000003"]
    assert len(logged) == 1 and "step-00000004" in logged[0]
    averaged = Transformer(CFG)
    load_weights(averaged, out)
    for name, tensor in averaged.state_dict().items():
        mean = torch.stack([m.state_dict()[name] for m in models[1:3]]).double().mean(0)
        torch.testing.assert_close(tensor.double(), mean, rtol=0, atol=1e-7)


def test_averaging_the_last_k_needs_k_at_least_one_and_a_checkpoint_that_verifies(tmp_path: Path) -> None:
    write_run(tmp_path, 2)
    for k in (0, -1):
        with pytest.raises(CheckpointError, match="at least 1"):
            average_last_checkpoints(tmp_path, k, tmp_path / "avg.safetensors", log=lambda _: None)
    for ckpt in checkpoint_dirs(tmp_path):
        (ckpt / "meta.json").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint that verifies"):
        average_last_checkpoints(tmp_path, 2, tmp_path / "avg.safetensors", log=lambda _: None)
    assert not (tmp_path / "avg.safetensors").exists()
