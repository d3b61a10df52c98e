"""Checkpoints written in the background (aiayn.training.async_save): the copy is taken at
the step it belongs to, errors reach the training thread, and a process killed in the
middle of a background save leaves the checkpoints before it valid and the run resumable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aiayn.model.config import preset
from aiayn.model.transformer import Transformer
from aiayn.training.async_save import AsyncSaver
from aiayn.training.checkpoint import CheckpointError, latest_good_checkpoint, load_checkpoint, verify_checkpoint

CFG = preset("tiny", vocab_size=300).replace(d_model=32, d_ff=48, h=2, n_layers=1)
DRIVER = Path(__file__).parent / "train_driver.py"
ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1"}


def test_the_checkpoint_holds_the_weights_of_the_step_it_was_asked_at(tmp_path: Path) -> None:
    """Weights and state changed right after `save` returns do not reach the file being written."""
    torch.manual_seed(0)
    model = Transformer(CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    moment = torch.ones(3)
    saver = AsyncSaver()
    saver.save(tmp_path, 1, model, {"moment": moment}, CFG.to_dict(), "tok", keep_last=5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # the next optimiser step, while the save may still be writing
    moment.mul_(5)
    ckpt = saver.wait()
    assert ckpt is not None and ckpt.name == "step-00000001"
    fresh = Transformer(CFG)
    state = load_checkpoint(ckpt, fresh, CFG.to_dict(), "tok")
    assert torch.equal(state["moment"], torch.ones(3))
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_an_error_in_the_background_is_raised_in_the_training_thread(tmp_path: Path) -> None:
    saver = AsyncSaver()
    model = Transformer(CFG)
    saver.save(tmp_path, 2, model, {}, CFG.to_dict(), "tok", keep_last=5)
    saver.wait()
    saver.save(tmp_path, 2, model, {}, CFG.to_dict(), "tok", keep_last=5)  # step 2 exists: never overwritten
    with pytest.raises(CheckpointError, match="exists already"):
        saver.wait()
    saver.submit(lambda: 1 / 0)
    with pytest.raises(CheckpointError, match="in the background failed: ZeroDivisionError"):
        saver.wait()


CRASHING = """
import os, sys
import aiayn.training.checkpoint as checkpoint
sys.path.insert(0, {tests!r})
from train_driver import tiny_spec
from aiayn.tasks.runner import train_run

write = checkpoint._save_weights_file
def crash_during_step_4(weights, path, step):
    if step == 4:  # half a weights file, then the process dies, in the background thread
        path.write_bytes(b"\\0" * 100)
        os._exit(17)
    write(weights, path, step)
checkpoint._save_weights_file = crash_during_step_4
train_run(tiny_spec(6, 1), {run!r}, evaluate=False, progress_bar=False, log=lambda _: None)
"""


def test_a_crash_during_a_background_save_leaves_the_previous_checkpoint_valid(tmp_path: Path) -> None:
    run = tmp_path / "run"
    script = CRASHING.format(tests=str(DRIVER.parent), run=str(run))
    crashed = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 17, crashed.stderr[-2000:]
    folder = run / "checkpoints"
    assert (folder / "step-00000004.tmp").exists() and not (folder / "step-00000004").exists()
    verify_checkpoint(folder / "step-00000002")  # raises if it is not whole
    assert latest_good_checkpoint(run, None, None) == folder / "step-00000002"
    subprocess.run([sys.executable, str(DRIVER), str(run), "6", "1", "--resume"], env=ENV, check=True, timeout=300)
    assert latest_good_checkpoint(run, None, None) == folder / "step-00000006"
    verify_checkpoint(folder / "step-00000004")
    assert not (folder / "step-00000004.tmp").exists() and (run / "model.safetensors").exists()
