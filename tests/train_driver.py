"""A tiny training run for the engineering tests:
`python tests/train_driver.py RUN_DIR STEPS ACCUM [--resume] [--task shakespeare]`.

Run directly or under `torchrun`; not collected by pytest.
"""

import sys
from pathlib import Path

from aiayn.tasks.base import RunSpec
from aiayn.tasks.runner import train_run
from aiayn.training.trainer import TrainSettings


def tiny_spec(steps: int, accum: int) -> RunSpec:
    return RunSpec(
        task="numbers", preset="tiny",
        model={"d_model": 32, "d_ff": 48, "h": 2, "n_layers": 1},
        train=TrainSettings(steps=steps, warmup_steps=5, max_src_tokens=240, max_tgt_tokens=240,
                            accum_steps=accum, save_every=2, keep_last=3, log_every=1),
        data={"direction": "en-de", "bpe_vocab": 300, "max_len": 64, "n_train": 400, "n_validation": 20, "n_test": 20,
              "max_number": 1000, "max_items": 2},
    )  # fmt: skip


def tiny_lm_spec(steps: int, accum: int) -> RunSpec:
    return RunSpec(
        task="shakespeare", preset="tiny",
        model={"d_model": 32, "d_ff": 48, "h": 2, "n_layers": 1},
        train=TrainSettings(steps=steps, warmup_steps=5, accum_steps=accum, save_every=2, keep_last=3, log_every=1,
                            eps_ls=0.0),
        data={"tokenizer": "char", "block_size": 16, "batch_size": 4, "cloze_items": 20, "sample_tokens": 8},
    )  # fmt: skip


if __name__ == "__main__":
    run_dir, steps, accum = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    make = tiny_lm_spec if "shakespeare" in sys.argv else tiny_spec
    train_run(make(steps, accum), run_dir, resume="--resume" in sys.argv, evaluate=False, progress_bar=False,
              log=lambda _: None)  # fmt: skip
