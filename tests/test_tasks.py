"""Every task through the same runner and trainer, end to end on tiny models: language
modelling (train, exact resume, data parallel, generate, evaluate a text and LAMBADA),
classification (genre) and fine-tuning (sft from the language-model run)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from aiayn.tasks.runner import train_run

sys.path.insert(0, str(Path(__file__).parent))
from train_driver import tiny_lm_spec  # noqa: E402

ENV = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
TINY = ["--set", "d_model=32", "--set", "d_ff=48", "--set", "h=2", "--set", "n_layers=1", "--no-progress",
        "--no-spec-gate", "--warmup-steps", "5", "--save-every", "3"]  # fmt: skip
FIXTURES = Path(__file__).parent / "fixtures"


def aiayn(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiayn", *args], input=stdin, capture_output=True, text=True,
                          env=ENV, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("lm") / "run"
    result = aiayn("train", "--task", "shakespeare", "--run-dir", str(run), "--steps", "12", "--bpe-vocab", "400",
                   "--block-size", "192", "--batch-size", "4", *TINY)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run


def test_language_model_run_reports_held_out_figures(lm_run: Path) -> None:
    record = json.loads((lm_run / "eval.json").read_text())
    assert record["characters"] == 325_512, "the whole test split (three works) is scored"
    assert record["bits_per_char"] > 0 and record["perplexity"] > 1
    assert 0 <= record["cloze_accuracy"] <= 1 and "unigram_cloze_accuracy" in record
    assert (lm_run / "samples.txt").read_text().startswith("ROMEO.")
    for name in ("loss.png", "lr.png", "tokenizer.json", "model.safetensors"):
        assert (lm_run / name).exists(), name


def test_generate_continues_prompts_from_arguments_and_stdin(lm_run: Path) -> None:
    out = aiayn("generate", "--model", str(lm_run), "--prompt", "ROMEO.", "--max-new-tokens", "5", "--seed", "1")
    assert out.returncode == 0 and out.stdout.startswith("ROMEO."), out.stderr
    again = aiayn("generate", "--model", str(lm_run), "--prompt", "ROMEO.", "--max-new-tokens", "5", "--seed", "1")
    assert again.stdout == out.stdout, "one seed, one text"
    many = aiayn("generate", "--model", str(lm_run), "--max-new-tokens", "4", "--temperature", "0",
                 stdin="To be\nWherefore art thou\n")  # fmt: skip
    assert many.returncode == 0 and many.stdout.count("----") == 1, many.stderr
    bad = aiayn("generate", "--model", str(lm_run), "--prompt", "x", "--top-p", "1.5")
    assert bad.returncode == 2 and "--top-p" in bad.stderr and "Traceback" not in bad.stderr


def test_evaluate_scores_a_users_text_and_lambada(lm_run: Path, tmp_path: Path) -> None:
    text = tmp_path / "sonnet.txt"
    text.write_text("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n")
    scored = aiayn("evaluate", "--model", str(lm_run), "--text", str(text))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout.strip().splitlines()[-1])["characters"] == len(text.read_text())
    lambada = aiayn("evaluate", "--model", str(lm_run), "--task", "lambada", "--data-path",
                    str(FIXTURES / "lambada_tiny"))  # fmt: skip
    assert lambada.returncode == 0, lambada.stderr
    assert "lambada_accuracy" in json.loads(lambada.stdout.strip().splitlines()[-1])
    offline = aiayn("evaluate", "--model", str(lm_run), "--task", "lambada")
    assert offline.returncode == 2 and "unreachable" in offline.stderr and "Traceback" not in offline.stderr


def test_fine_tuning_starts_from_the_language_model_and_reports_before_and_after(lm_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "sft"
    result = aiayn("train", "--task", "sft", "--init", str(lm_run), "--run-dir", str(run), "--steps", "3",
                   "--sft-per-work", "10", "--sft-drills", "5", "--no-progress", "--no-spec-gate")  # fmt: skip
    assert result.returncode == 0, result.stderr
    taken, left, drills = map(int, re.search(r"data: (\d+) conversations from corpus \((\d+) .*, (\d+) of them copying",
                                             result.stdout).groups())  # fmt: skip
    assert taken + left == (29 * 6 + 4 * 3) * 10 + 33 * 5  # --sft-per-work 10: 29 plays ask 6 kinds, 4 poems 3
    assert drills == 33 * 5  # --sft-drills 5 per training work, all short enough to be kept
    record = json.loads((run / "eval.json").read_text())
    assert {"exact_match", "base_exact_match", "format", "mc_accuracy", "base_mc_accuracy"} <= record.keys()
    # a question longer than the context is left out and counted, never cut from its start
    assert record["items"] + record["left_out_for_context"] == 720 and record["left_out_for_context"] > 0
    kinds = {"speaker", "title", "next_line", "in_passage", "first_speaker", "missing_word", "all"}
    assert kinds <= record["by_kind"].keys()
    for figures in record["by_kind"].values():
        assert figures["chance"] == pytest.approx(1 / 3, abs=1e-4) and set(figures["format"]) == {"base", "fine_tuned"}
    assert "acc_norm before/after" in result.stdout and "missing_word" in result.stdout
    base, tuned = load_file(str(lm_run / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert tuned["embed.weight"].shape[0] == base["embed.weight"].shape[0] + 3  # the three chat tokens
    chat = aiayn("generate", "--model", str(run), "--chat", "--prompt", "Who speaks these lines?", "--max-new-tokens", "5")
    assert chat.returncode == 0, chat.stderr
    plain = aiayn("generate", "--model", str(lm_run), "--chat", "--prompt", "x")
    assert plain.returncode == 2 and "chat tokens" in plain.stderr
    missing = aiayn("train", "--task", "sft", "--run-dir", str(tmp_path / "none"), "--no-spec-gate")
    assert missing.returncode == 2 and "--init" in missing.stderr


def test_genre_classification_reports_the_majority_baseline(tmp_path: Path) -> None:
    run = tmp_path / "genre"
    result = aiayn("train", "--task", "genre", "--run-dir", str(run), "--steps", "4", "--bpe-vocab", "300", *TINY,
                   "--set", "pooling=cls")  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((run / "eval.json").read_text())
    assert record["pooling"] == "cls" and record["n"] == sum(map(sum, record["confusion"]))
    assert 0 < record["majority_accuracy"] < 1 and (run / "confusion.png").exists()


def test_language_model_resume_is_exact(tmp_path: Path) -> None:
    quiet = {"evaluate": False, "progress_bar": False, "log": lambda _: None}
    train_run(tiny_lm_spec(8, 1), tmp_path / "straight", **quiet)
    train_run(tiny_lm_spec(4, 1), tmp_path / "stopped", **quiet)
    train_run(tiny_lm_spec(8, 1), tmp_path / "stopped", resume=True, **quiet)
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(tmp_path / "stopped" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_language_model_two_processes_equal_one_accumulating(tmp_path: Path) -> None:
    driver = [str(Path(__file__).parent / "train_driver.py")]
    subprocess.run([sys.executable, *driver, str(tmp_path / "one"), "4", "2", "--task", "shakespeare"], check=True,
                   env=ENV, timeout=300)  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run([*torchrun, *driver, str(tmp_path / "two"), "4", "1", "--task", "shakespeare"], check=True, env=ENV,
                   timeout=300)  # fmt: skip
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    for name in (n for n in a if not n.endswith("w_k.bias")):  # see tests/test_training.py on w_k.bias
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
