"""Table 3 rerun, written out: table3.json, table3.md and table3.png.

Per row: the parameters, the dev perplexity and dev BLEU as mean and sample standard
deviation over the seeds, and the change in perplexity against the base with its
standard error, next to the paper's figures for that row:

    delta     = mean_row - mean_base
    se(delta) = sqrt(s_row^2 / n_row + s_base^2 / n_base)     (s: sample standard deviation)

The picture plots each row's delta (with +- 2 se bars) beside the paper's change for that row.
"""

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiayn.results.table3_rows import PAPER, ROWS
from aiayn.training.checkpoint import atomic_write_text


def _std(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Row -> {n, seeds, params, config, ppl_mean, ppl_std, bleu_mean, bleu_std, ...}, in the table's order."""
    table: dict[str, dict[str, Any]] = {}
    for row in ROWS:
        mine = [r for r in results if r["row"] == row]
        if not mine:
            continue
        ppl, bleu = [r["ppl"] for r in mine], [r["bleu"] for r in mine]
        table[row] = {"n": len(mine), "seeds": [r["seed"] for r in mine], "params": mine[0]["params"],
                      "config": mine[0]["config"], "ppl": ppl, "bleu": bleu,
                      "ppl_mean": statistics.fmean(ppl), "ppl_std": _std(ppl),
                      "bleu_mean": statistics.fmean(bleu), "bleu_std": _std(bleu),
                      "train_seconds": sum(r["train_seconds"] for r in mine)}  # fmt: skip
        if all("exact_match" in r for r in mine):  # greedy answers equal to the reference, beside BLEU
            em = [r["exact_match"] for r in mine]
            table[row].update(exact_match=em, exact_match_mean=statistics.fmean(em), exact_match_std=_std(em))
    return table


def delta(table: dict[str, dict[str, Any]], row: str, metric: str = "ppl") -> tuple[float, float]:
    """(mean_row - mean_base, its standard error) for "ppl", "bleu" or "exact_match" (module docstring)."""
    a, b = table[row], table["base"]
    diff = a[f"{metric}_mean"] - b[f"{metric}_mean"]
    se = math.sqrt(a[f"{metric}_std"] ** 2 / a["n"] + b[f"{metric}_std"] ** 2 / b["n"])
    return diff, se


def build(results: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The content of table3.json: the settings, every (row, seed), the summary and the paper's figures."""
    table = summarize(results)
    for row, s in table.items():
        paper = PAPER[row]
        s["paper"] = {"ppl": paper.ppl, "bleu": paper.bleu, "params_m": paper.params_m, "change": paper.label}
        if "base" in table:
            s["ppl_delta"], s["ppl_delta_se"] = delta(table, row, "ppl")
            s["bleu_delta"], s["bleu_delta_se"] = delta(table, row, "bleu")
            if "exact_match_mean" in s and "exact_match_mean" in table["base"]:
                s["exact_match_delta"], s["exact_match_delta_se"] = delta(table, row, "exact_match")
            s["paper"]["ppl_delta"] = round(paper.ppl - PAPER["base"].ppl, 2)
            s["paper"]["bleu_delta"] = round(paper.bleu - PAPER["base"].bleu, 1)
    runs = [{k: v for k, v in r.items() if k != "settings"} for r in results]
    return {**meta, "rows": table, "runs": runs}


def markdown(doc: dict[str, Any]) -> str:
    """table3.md: one line per row, ours beside the paper's."""
    lines = [
        "| row | change (paper) | ours | params | dev PPL | dPPL vs base (+-se) | dev BLEU | dev exact match "
        "| paper PPL | paper BLEU |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, s in doc["rows"].items():
        d = f"{s['ppl_delta']:+.3f} ({s['ppl_delta_se']:.3f})" if row != "base" and "ppl_delta" in s else ""
        em = f"{s['exact_match_mean']:.3f} +- {s['exact_match_std']:.3f}" if "exact_match_mean" in s else ""
        lines.append(f"| {row} | {s['paper']['change']} | {s['config']} | {s['params'] / 1e6:.2f}M | "
                     f"{s['ppl_mean']:.3f} +- {s['ppl_std']:.3f} | {d} | {s['bleu_mean']:.1f} +- {s['bleu_std']:.1f} | "
                     f"{em} | {s['paper']['ppl']:.2f} | {s['paper']['bleu']:.1f} |")  # fmt: skip
    seeds = sorted({r["seed"] for r in doc["runs"]})
    lines += ["", f"Mean +- sample standard deviation over seeds {seeds}; dPPL: row mean minus base mean, with its "
              f"standard error. {doc.get('scoring', '')}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def picture(doc: dict[str, Any], path: Path) -> Path:
    """table3.png: each row's change in dev perplexity against the base (+- 2 se), the paper's beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["rows"] if r != "base" and "ppl_delta" in doc["rows"][r]]
    base = doc["rows"]["base"]
    ours = [doc["rows"][r]["ppl_delta"] / base["ppl_mean"] * 100 for r in rows]
    bars = [2 * doc["rows"][r]["ppl_delta_se"] / base["ppl_mean"] * 100 for r in rows]
    paper = [doc["rows"][r]["paper"]["ppl_delta"] / PAPER["base"].ppl * 100 for r in rows]
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.4), dpi=110)
    ax.barh([i + 0.2 for i in y], ours, height=0.4, xerr=bars, color="tab:blue", label="miniature (+- 2 se)")
    ax.barh([i - 0.2 for i in y], paper, height=0.4, color="tab:gray", label="paper (Table 3)")
    ax.set_yticks(list(y), [f"{r}: {doc['rows'][r]['paper']['change']}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("change in dev perplexity against base (%); right = worse")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write(results: Sequence[dict[str, Any]], meta: dict[str, Any], out: Path) -> tuple[Path, ...]:
    """Write table3.json, table3.md and (with the base row present) table3.png under `out`."""
    out = Path(out)
    doc = build(results, meta)
    atomic_write_text(out / "table3.json", json.dumps(doc, indent=2))
    atomic_write_text(out / "table3.md", markdown(doc))
    written = [out / "table3.json", out / "table3.md"]
    if "base" in doc["rows"] and len(doc["rows"]) > 1:
        written.append(picture(doc, out / "table3.png"))
    return tuple(written)
