"""The command line under a table of mistaken and valid uses: never a traceback, always exit
status 0 or 2 (3 for a refused spec gate is not reached here), and nothing on disk changed
that the command was not asked to write.

Training itself is replaced by a recorder (a valid `aiayn train` reaches it and exits 0);
the real training paths are tested in tests/test_cli.py and tests/test_training.py.
"""

import hashlib
import itertools
import random
import shutil
from pathlib import Path

import pytest

from aiayn.cli import main

FLAG_VALUES: dict[str, tuple[str, ...]] = {
    "--steps": ("3", "0", "-2", "x", "1.5"),
    "--warmup-steps": ("5", "0", "nope"),
    "--lr-scale": ("0.5", "-1", "0", "nan", "inf"),
    "--max-tokens": ("300", "0", "-5", "1"),
    "--accum-steps": ("1", "0"),
    "--save-every": ("2", "0"),
    "--keep-last": ("2", "0", "-1"),
    "--average-last": ("0", "3", "-1"),
    "--p-drop": ("0.1", "1.5", "-0.1"),
    "--eps-ls": ("0.0", "1.0", "abc"),
    "--seed": ("1", "s"),
    "--task": ("numbers", "wmt14", "files", "poetry", "shakespeare", "genre"),
    "--preset": ("tiny", "base", "huge"),
    "--direction": ("en-de", "de-en", "fr-en"),
    "--n-train": ("50", "0", "-3"),
    "--bpe-vocab": ("300", "2", "0", "259"),
    "--block-size": ("32", "0"),
    "--n-test": ("5", "0"),
    "--progress-every": ("5", "0", "-1", "nan"),
    "--set": ("d_model=32", "d_model=30", "h=0", "share_embeddings=flase", "share_embeddings=false", "colour=blue",
              "norm=sideways", "positions=learned", "p_drop=2", "n_layers=x", "=3", "d_model"),
}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a finished-looking run, damaged runs, someone's files, and a text file."""
    root = tmp_path_factory.mktemp("fuzz")
    from aiayn.tasks.base import RunSpec

    good = root / "run"
    good.mkdir()
    (good / "run.json").write_text(RunSpec().to_json())
    (good / "config.json").write_text("{}")
    (root / "damaged-run").mkdir()
    (root / "damaged-run" / "run.json").write_text('{"task": "numbers", "train": ')
    (root / "bad-config").mkdir()
    (root / "bad-config" / "run.json").write_text(RunSpec().to_json())
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (root / "bad-config" / name).write_text("not what it should be")
    (root / "home").mkdir()
    (root / "home" / "thesis.tex").write_text("years of work")
    (root / "home" / "run.json").write_text(RunSpec().to_json())  # looks like a run, holds more
    (root / "notes.txt").write_text("forty-two\n")
    (root / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    return root


def _cases(root: Path) -> list[list[str]]:
    rng = random.Random(0)
    folders = [str(root / n) for n in ("run", "damaged-run", "bad-config", "home", "missing", "notes.txt")]
    cases: list[list[str]] = []
    flags = list(FLAG_VALUES)
    for _ in range(170):  # training: random flags and values, run folders good and bad
        args = ["train", "--no-spec-gate", "--no-progress"]
        for flag in rng.sample(flags, rng.randint(1, 4)):
            args += [flag, rng.choice(FLAG_VALUES[flag])]
        where = rng.choice(["--run-dir", "--resume", None])
        if where:
            args += [where, rng.choice(folders)]
        if rng.random() < 0.2:
            args.append("--overwrite")
        cases.append(args)
    for command, folder in itertools.product(("translate", "evaluate", "average"), folders):
        cases.append([command, "--model", folder])
    for extra in (["--last", "0"], ["--last", "-2"], ["--last", "x"], ["--last", "99"]):
        cases.append(["average", "--model", str(root / "run"), *extra])
    for extra in (["--beam-size", "0"], ["--alpha", "-1"], ["--input", str(root / "missing.txt")],
                  ["--input", str(root / "latin1.txt")], ["--input", str(root)]):  # fmt: skip
        cases.append(["translate", "--model", str(root / "run"), *extra])
    for extra in (["--split", "train"], ["--limit", "0"], ["--beam-size", "-1"]):
        cases.append(["evaluate", "--model", str(root / "run"), *extra])
    for args in (["train", "--task", "shakespeare", "--bpe-vocab", "0"], ["train", "--task", "shakespeare", "--max-tokens", "1"],
                 ["trace", "--preset", "huge"], ["params", "--vocab-size", "x"], ["frobnicate"], [],
                 ["train", "--steps"], ["train", "--set"], ["specs", "--no-such-flag"]):  # fmt: skip
        cases.append(args)
    return cases


def test_the_table_has_at_least_200_cases(workspace: Path) -> None:
    assert len(_cases(workspace)) >= 200


def test_no_traceback_exit_0_or_2_and_nothing_lost(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import aiayn.tasks.runner as runner

    reached: list[object] = []

    def recorder(spec, run_dir, resume=False, overwrite=False, **_):  # noqa: ANN001, ANN003, ANN202
        runner.check_run_dir(Path(run_dir), spec, resume, overwrite)  # decides, changes nothing
        reached.append(spec)
        return {}

    monkeypatch.setattr(runner, "train_run", recorder)
    monkeypatch.chdir(workspace)
    before = _digest(workspace)
    for args in _cases(workspace):
        try:
            code = main(args)
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
        err = capsys.readouterr().err
        assert code in (0, 2), f"aiayn {' '.join(args)}: exit {code}\n{err}"
        assert "Traceback" not in err, f"aiayn {' '.join(args)}:\n{err}"
        if code == 2:
            assert len(err.strip().splitlines()) == 1, f"aiayn {' '.join(args)}: more than one line\n{err}"
        assert _digest(workspace) == before, f"aiayn {' '.join(args)} changed files"
        shutil.rmtree(workspace / "runs", ignore_errors=True)
    assert reached, "some valid commands reach training"


def test_set_changes_the_recipes_model_fields_and_keeps_the_others() -> None:
    import argparse

    from aiayn.cli.train import spec_from_args
    from aiayn.tasks.base import task_class

    recipe = task_class("numbers").recipes["numbers"]
    recipe_with_model = recipe.__class__(**{**recipe.__dict__, "model": {"n_layers": 2, "d_ff": 256}})
    task_class("numbers").recipes["numbers"] = recipe_with_model
    try:
        from aiayn.cli import build_parser

        args = build_parser().parse_args(["train", "--set", "d_ff=128"])
        assert isinstance(args, argparse.Namespace)
        assert spec_from_args(args).model == {"n_layers": 2, "d_ff": 128}
    finally:
        task_class("numbers").recipes["numbers"] = recipe
