"""Table 3 rerun (`aiayn table3`, aiayn/results/): a tiny table end to end, resume, the plan, bad input."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from aiayn.cli import main
from aiayn.model.config import ConfigError, TransformerConfig, table3_row
from aiayn.results import table3_report
from aiayn.results.claims_6_2 import CLAIMS, NOT_REPRODUCED, REPRODUCED, WITHIN_NOISE, format_verdicts, judge
from aiayn.results.table3 import Table3Settings, result_path, run_table, same_settings
from aiayn.results.table3_rows import MINI, PAPER, ROWS, expand_rows, row_config
from aiayn.tasks.base import RunError
from aiayn.training.trainer import TrainSettings

# A table small enough for a test: a narrow base, a few hundred pairs, three steps a run.
TINY = Table3Settings(
    base=TransformerConfig(vocab_size=300, n_layers=3, d_model=32, d_ff=64, h=8, max_len=64),
    train=TrainSettings(steps=3, warmup_steps=2, max_src_tokens=200, max_tgt_tokens=200, save_every=2, keep_last=1,
                        log_every=1),
    data={"direction": "en-de", "bpe_vocab": 300, "max_len": 64, "n_train": 400, "n_validation": 12, "n_test": 12,
          "max_number": 1000, "max_items": 2},
)  # fmt: skip


def test_every_row_scales_onto_the_papers_base_as_the_paper_row_and_onto_the_miniature_in_proportion() -> None:
    base = TransformerConfig.base()
    for row in ROWS:
        assert row_config(row, base) == (base if row == "base" else table3_row(row))
    assert row_config("A4").h == 32 and row_config("A4").d_k == row_config("A4").d_v == MINI.d_model // 32
    assert row_config("B1").d_k == MINI.d_k // 4 and row_config("B1").d_v == MINI.d_v
    assert [row_config(r).n_layers for r in ("C1", "C2", "C3")] == [1, 2, 4]
    assert row_config("C5").d_model == 2 * MINI.d_model and row_config("C7").d_ff == 2 * MINI.d_ff
    assert row_config("E").positions == "learned" and row_config("D1").p_drop == 0.0


def test_rows_expand_from_letters_and_always_start_with_the_base() -> None:
    assert expand_rows("C3,A") == ("base", "A1", "A2", "A3", "A4", "C3")
    assert expand_rows("E") == ("base", "E")
    with pytest.raises(ConfigError, match="unknown row 'F'"):
        expand_rows("A,F")
    with pytest.raises(ConfigError, match="not a positive whole number"):
        row_config("A4", MINI.replace(d_model=48, d_ff=96, h=8))  # 48 / 32 heads is no whole width


def test_a_tiny_table_runs_end_to_end_writes_its_three_files_and_resumes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIAYN_CACHE", str(tmp_path / "cache"))
    lines: list[str] = []
    rows = ("base", "C1")
    results = run_table(rows, (0,), TINY, tmp_path / "out", log=lines.append)
    assert [(r["row"], r["seed"]) for r in results] == [("base", 0), ("C1", 0)]
    assert all(r["steps"] == 3 and r["ppl"] > 1 and 0 <= r["bleu"] <= 100 for r in results)
    assert results[1]["params"] < results[0]["params"]  # one layer per stack against three
    assert sum(line.startswith("row ") for line in lines) == 2  # a progress line per row
    written = table3_report.write(results, {"command": "test"}, tmp_path / "out")
    assert {p.name for p in written} == {"table3.json", "table3.md", "table3.png"}
    doc = json.loads((tmp_path / "out" / "table3.json").read_text())
    assert doc["rows"]["C1"]["n"] == 1 and doc["rows"]["C1"]["paper"]["ppl"] == PAPER["C1"].ppl
    assert "| C1 | N=2 |" in (tmp_path / "out" / "table3.md").read_text()
    assert 0 <= doc["rows"]["C1"]["exact_match_mean"] <= 1 and "exact_match_delta" in doc["rows"]["C1"]
    assert not (tmp_path / "out" / "runs" / "base-seed0" / "checkpoints").exists()  # scored, then cleared
    # a rerun keeps the finished rows: nothing is trained again
    again: list[str] = []
    assert run_table(rows, (0,), TINY, tmp_path / "out", log=again.append) == results
    assert all("recorded earlier" in line for line in again if line.startswith("  "))
    # and results of other settings are refused, not mixed in
    longer = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, steps=4))
    with pytest.raises(RunError, match="other settings"):
        run_table(rows, (0,), longer, tmp_path / "out", log=again.append)
    # a training option added after a result was recorded counts as its default, and only then
    record = json.loads(result_path(tmp_path / "out", "base", 0).read_text())
    del record["settings"]["train"]["time_budget"]
    assert same_settings(record["settings"], TINY)
    record["settings"]["train"]["schedule"] = "cosine"
    assert not same_settings(record["settings"], TINY)


def _table(base: list[float], row: list[float]) -> dict:
    results = [{"row": "base", "seed": i, "ppl": p, "bleu": 10.0, "params": 1, "config": "", "train_seconds": 1}
               for i, p in enumerate(base)]  # fmt: skip
    results += [{"row": "C1", "seed": i, "ppl": p, "bleu": 9.0, "params": 1, "config": "", "train_seconds": 1}
                for i, p in enumerate(row)]  # fmt: skip
    return table3_report.summarize(results)


def test_a_claim_is_judged_by_the_difference_of_means_against_two_standard_errors() -> None:
    shallower = next(c for c in CLAIMS if c.row == "C1")  # claimed: worse than the base
    assert judge(_table([5.0, 5.1, 4.9], [6.0, 6.1, 5.9]), shallower).outcome == REPRODUCED
    assert judge(_table([5.0, 5.1, 4.9], [4.0, 4.1, 3.9]), shallower).outcome == NOT_REPRODUCED
    assert judge(_table([5.0, 5.5, 4.5], [5.2, 5.7, 4.7]), shallower).outcome == WITHIN_NOISE  # 0.2 < 2 x 0.41
    assert "1 reproduced" in format_verdicts(_table([5.0, 5.1, 4.9], [6.0, 6.1, 5.9]))


def test_dry_run_plans_the_full_size_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table3", "--task", "wmt14", "--preset", "base", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "19 rows x 3 seeds, 100,000 steps" in out and "25,000 source" in out
    assert "C5  N=6 d_model=1024" in out and "h of one device" in out


@pytest.mark.parametrize(("flags", "message"), [
    (["--rows", "Z"], "unknown row 'Z'"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--steps", "-1"], "--steps must be at least 1"),
    (["--device", "gpu0"], "--device 'gpu0' is not a torch device"),
])  # fmt: skip
def test_bad_flags_are_refused_in_one_line(flags: list[str], message: str, capsys, tmp_path: Path) -> None:
    assert main(["table3", "--out", str(tmp_path / "t"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "t").exists()


def test_learned_positions_claim_holds_only_while_the_difference_stays_within_the_noise() -> None:
    same = next(c for c in CLAIMS if c.row == "E")
    results = [{"row": r, "seed": i, "ppl": p, "bleu": 10.0, "params": 1, "config": "", "train_seconds": 1}
               for r, ppls in (("base", [5.0, 5.1, 4.9]), ("E", [5.05, 5.15, 4.95])) for i, p in enumerate(ppls)]
    assert judge(table3_report.summarize(results), same).outcome == REPRODUCED
    far = [dict(r, ppl=r["ppl"] + 1.0) if r["row"] == "E" else r for r in results]
    assert judge(table3_report.summarize(far), same).outcome == NOT_REPRODUCED
    loose = [dict(r, ppl=r["ppl"] + (-1.0, 0.0, 1.0)[r["seed"]]) for r in results]  # 2 se = 1.56 > 10% of 5.0
    assert judge(table3_report.summarize(loose), same).outcome == WITHIN_NOISE


def test_todo_results_part_is_current_and_every_check_has_a_claim() -> None:
    """TODO.md's results section is what `aiayn specs` writes from spec/results/ and docs/table3/."""
    from aiayn.checks import checklist
    from aiayn.checks.claims import read_section
    from aiayn.results.claims_6_2 import BY_KEY, RESULTS_BEGIN, RESULTS_END

    expected = checklist.render_results()
    text = checklist.TODO_PATH.read_text(encoding="utf-8")
    assert checklist.generated_part(text, begin=RESULTS_BEGIN, end=RESULTS_END) == expected, "run `aiayn specs`"
    tests = [c.test for p in sorted(checklist.RESULTS_DIR.glob("sec*.py")) for c in read_section(p).claims]
    assert sorted(tests) == sorted(BY_KEY)


def test_results_checks_stay_out_of_the_default_run_and_run_when_asked() -> None:
    import subprocess
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "spec" / "results")
    quiet = [sys.executable, "-m", "pytest", folder, "-q", "-p", "no:cacheprovider"]
    default = subprocess.run(quiet, capture_output=True, text=True)
    assert "11 deselected" in default.stdout and "passed" not in default.stdout
    asked = subprocess.run([*quiet, "-m", "results", "-rs"], capture_output=True, text=True)
    counts = re.findall(r"(\d+) (passed|failed|skipped)", asked.stdout.splitlines()[-1])
    assert "deselected" not in asked.stdout and sum(int(n) for n, _ in counts) == 11, asked.stdout[-500:]


def test_params_cost_prints_ours_beside_table_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--preset", "base", "--cost"]) == 0
    out = capsys.readouterr().out
    assert "ours: 6 x weights x tokens" in out and "paper (Table 2): 3.3e+18" in out and "ours / paper = 0.29" in out
    assert main(["params", "--preset", "tiny", "--cost", "--steps", "0"]) == 2
