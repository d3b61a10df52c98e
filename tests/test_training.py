"""Training runs: exact resumption after SIGKILL, data parallel equals accumulation, the
non-finite loss policy, and run-folder safety."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from aiayn.training.checkpoint import checkpoint_dirs
from aiayn.tasks.base import RunError
from aiayn.tasks.runner import train_run

sys.path.insert(0, str(Path(__file__).parent))
from train_driver import tiny_spec  # noqa: E402

DRIVER = Path(__file__).parent / "train_driver.py"
ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1"}


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def _run(run_dir: Path, steps: int, accum: int, *extra: str) -> None:
    subprocess.run([sys.executable, str(DRIVER), str(run_dir), str(steps), str(accum), *extra],
                   check=True, env=ENV, timeout=300)  # fmt: skip


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path) -> None:
    steps = 30
    _run(tmp_path / "straight", steps, 1)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(killed), str(steps), "1"], env=ENV)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        done = checkpoint_dirs(killed)
        if done and int(done[-1].name.split("-")[1]) >= 6:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted_at = int(checkpoint_dirs(killed)[-1].name.split("-")[1])
    assert interrupted_at < steps and not (killed / "model.safetensors").exists()
    _run(killed, steps, 1, "--resume")
    a, b = _weights(tmp_path / "straight"), _weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resuming from step {interrupted_at}"


def test_two_process_torchrun_equals_one_process_with_same_global_batch(tmp_path: Path) -> None:
    steps = 6
    _run(tmp_path / "single", steps, 2)  # 1 process x 2 accumulated batches
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run([*torchrun, str(DRIVER), str(tmp_path / "ddp"), str(steps), "1"], check=True, env=ENV,
                   timeout=300)  # 2 processes x 1 batch  # fmt: skip
    a, b = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    # The key projection's bias adds q.b_k to every score of a query alike, which the softmax
    # ignores: its true gradient is zero, and Adam's m / sqrt(v) turns the rounding noise that
    # stands in for that zero into full-sized steps, different for any change of summation order.
    compared = [n for n in a if not n.endswith("w_k.bias")]
    assert len(compared) > len(a) // 2
    for name in compared:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
    # and the runs did move the weights: the comparison is not between two initialisations
    initial = load_file(str(checkpoint_dirs(tmp_path / "single")[0] / "model.safetensors"))
    assert any(not torch.equal(initial[n], a[n]) for n in a)


def test_non_finite_loss_skips_updates_then_stops_and_keeps_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiayn.tasks.translation as translation
    import aiayn.training.trainer as training

    real_loss = translation.label_smoothed_loss
    calls = {"n": 0}

    def exploding(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 4 else loss

    monkeypatch.setattr(translation, "label_smoothed_loss", exploding)
    run_dir = tmp_path / "nan"
    with pytest.raises(training.TrainingError, match="non-finite"):
        train_run(tiny_spec(20, 1), run_dir, evaluate=False, progress_bar=False, log=lambda _: None)
    kept = checkpoint_dirs(run_dir)
    assert [int(d.name.split("-")[1]) for d in kept] == [2, 4], "only finite steps are checkpointed"
    good = load_file(str(kept[-1] / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in good.values())


def test_run_folder_holding_another_run_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train_run(tiny_spec(2, 1), run_dir, evaluate=False, progress_bar=False, log=lambda _: None)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(RunError, match="already holds a finished run|already holds an unfinished run"):
        train_run(tiny_spec(2, 1), run_dir, evaluate=False, progress_bar=False, log=lambda _: None)
    changed = tiny_spec(2, 1)
    changed = changed.__class__(**{**changed.__dict__, "data": {**changed.data, "bpe_vocab": 320}})
    with pytest.raises(RunError, match="different settings"):
        train_run(changed, run_dir, resume=True, evaluate=False, progress_bar=False, log=lambda _: None)
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert before == after, "a refused run changes nothing"


def _truncate_weights(ckpt: Path) -> None:
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _change_a_byte(ckpt: Path) -> None:
    path = ckpt / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's data: the file still parses
    path.write_bytes(bytes(data))


def _remove_meta(ckpt: Path) -> None:
    (ckpt / "meta.json").unlink()


@pytest.mark.parametrize("damage", [_truncate_weights, _change_a_byte, _remove_meta])
def test_resume_skips_a_damaged_newest_checkpoint_and_stays_exact(tmp_path: Path, damage) -> None:  # noqa: ANN001
    """Resume falls back to the newest checkpoint that verifies, and the run ends bit-identical."""
    quiet = {"evaluate": False, "progress_bar": False}
    train_run(tiny_spec(10, 1), tmp_path / "straight", log=lambda _: None, **quiet)
    broken = tmp_path / "broken"
    train_run(tiny_spec(8, 1), broken, log=lambda _: None, **quiet)
    newest = checkpoint_dirs(broken)[-1]
    assert newest.name.endswith("8")
    damage(newest)
    said: list[str] = []
    train_run(tiny_spec(10, 1), broken, resume=True, log=said.append, **quiet)  # extended from 8 to 10 steps
    assert any("skipping checkpoint" in line and newest.name in line for line in said), said
    assert "resumed at step 6" in said
    a, b = _weights(tmp_path / "straight"), _weights(broken)
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resuming past a damaged checkpoint"
