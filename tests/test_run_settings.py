"""Settings of a GPU run that are not the model's: the process group's timeout, TensorBoard,
validation in flight; each bad value is refused in one line."""

import sys

import pytest

from aiayn.cli import main
from aiayn.training import distributed
from aiayn.training.tensorboard import TensorBoardError, check_available
from aiayn.training.trainer import TrainingError, TrainSettings


def test_the_process_group_timeout_comes_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIAYN_DIST_TIMEOUT", raising=False)
    assert distributed.dist_timeout_s() == distributed.DEFAULT_TIMEOUT_S == 1800
    monkeypatch.setenv("AIAYN_DIST_TIMEOUT", "7200")
    assert distributed.dist_timeout_s() == 7200 and distributed.dist_timeout_s(60) == 60
    monkeypatch.setenv("AIAYN_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="AIAYN_DIST_TIMEOUT must be a number of seconds"):
        distributed.dist_timeout_s()
    with pytest.raises(ValueError, match="positive"):
        distributed.dist_timeout_s(0)


def test_without_tensorboard_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(TensorBoardError, match=r"pip install tensorboard"):
        check_available()


def test_bad_run_settings_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for flags, words in ((["--dist-timeout", "0"], "--dist-timeout must be a positive"),
                         (["--validate-every", "-1"], "validate_every must be 0 (off) or positive")):  # fmt: skip
        assert main(["train", "--no-spec-gate", *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    with pytest.raises(TrainingError, match="validate_bleu"):
        TrainSettings(validate_bleu=-5)
