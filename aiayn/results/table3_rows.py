"""Table 3's rows, the paper's figures for each, and the miniature base they are scaled onto.

Table 3 changes the base model (N=6, d_model=512, d_ff=2048, h=8, d_k=d_v=64,
P_drop=0.1, eps_ls=0.1) in one way per row, trains each for 100k steps and reports the
perplexity per wordpiece and BLEU on the development set (newstest2013), beam search
without checkpoint averaging. `PAPER` retypes those figures.

The miniature applies each row's change in proportion to a smaller base (`MINI`): widths
(d_model, d_ff, d_k, d_v) scale by MINI.d_model / 512, depth by MINI.n_layers / 6, and the
rest (h, P_drop, eps_ls, positions) is taken as it is. With MINI = (N=3, d_model=64,
d_ff=256, h=8, d_k=d_v=8), an eighth of the width and half the depth, row (A) keeps
h d_k = 64 (h=1 has d_k=64 ... h=32 has d_k=2), (B) shrinks d_k to 2 and 4, (C) has
N = 1, 2, 4, d_model 32 and 128, d_ff 128 and 512.
"""

from dataclasses import dataclass

from aiayn.model.config import TABLE3_ROWS, ConfigError, TransformerConfig


@dataclass(frozen=True)
class PaperRow:
    """One line of Table 3: dev perplexity (per wordpiece), dev BLEU, parameters (millions; None where blank)."""

    ppl: float
    bleu: float
    params_m: int | None
    label: str


# Table 3 (newstest2013, EN-DE), retyped. Rows are numbered top to bottom within each letter.
PAPER: dict[str, PaperRow] = {
    "base": PaperRow(4.92, 25.8, 65, "base"),
    "A1": PaperRow(5.29, 24.9, None, "h=1, d_k=d_v=512"),
    "A2": PaperRow(5.00, 25.5, None, "h=4, d_k=d_v=128"),
    "A3": PaperRow(4.91, 25.8, None, "h=16, d_k=d_v=32"),
    "A4": PaperRow(5.01, 25.4, None, "h=32, d_k=d_v=16"),
    "B1": PaperRow(5.16, 25.1, 58, "d_k=16"),
    "B2": PaperRow(5.01, 25.4, 60, "d_k=32"),
    "C1": PaperRow(6.11, 23.7, 36, "N=2"),
    "C2": PaperRow(5.19, 25.3, 50, "N=4"),
    "C3": PaperRow(4.88, 25.5, 80, "N=8"),
    "C4": PaperRow(5.75, 24.5, 28, "d_model=256, d_k=d_v=32"),
    "C5": PaperRow(4.66, 26.0, 168, "d_model=1024, d_k=d_v=128"),
    "C6": PaperRow(5.12, 25.4, 53, "d_ff=1024"),
    "C7": PaperRow(4.75, 26.2, 90, "d_ff=4096"),
    "D1": PaperRow(5.77, 24.6, None, "P_drop=0.0"),
    "D2": PaperRow(4.95, 25.5, None, "P_drop=0.2"),
    "D3": PaperRow(4.67, 25.3, None, "eps_ls=0.0"),
    "D4": PaperRow(5.47, 25.7, None, "eps_ls=0.2"),
    "E": PaperRow(4.92, 25.7, None, "learned positions"),
}
ROWS = tuple(PAPER)  # "base", then A1 .. E in the table's order
LETTERS = ("A", "B", "C", "D", "E")

# The miniature base: the paper's base at an eighth of the width and half the depth (0.41M
# parameters with the built-in task's 1,000-token vocabulary), small enough for the whole
# table, 19 rows x 3 seeds, to train on one CPU thread in about an hour.
MINI = TransformerConfig(vocab_size=1000, n_layers=3, d_model=64, d_ff=256, h=8, p_drop=0.1, eps_ls=0.1, max_len=256)
_PAPER_BASE = TransformerConfig.base()
_WIDTHS = ("d_model", "d_ff", "d_k_override", "d_v_override")


def expand_rows(spec: str) -> tuple[str, ...]:
    """ "A,C3" -> ("base", "A1", "A2", "A3", "A4", "C3"): letters stand for their rows; base is always first."""
    chosen: list[str] = ["base"]
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in LETTERS:
            names = [r for r in ROWS if r[0] == item and r != "base"]
        elif item in PAPER:
            names = [item]
        else:
            raise ConfigError(f"--rows: unknown row {item!r}; use letters {', '.join(LETTERS)} or rows "
                              f"{', '.join(r for r in ROWS if r != 'base')}")  # fmt: skip
        chosen += [n for n in names if n not in chosen]
    return tuple(r for r in ROWS if r in chosen)  # in the table's order


def scaled(value: int, ratio: float, field: str, row: str) -> int:
    exact = value * ratio
    if exact != int(exact) or exact < 1:
        raise ConfigError(f"row {row}: {field}={value} scaled by {ratio} is {exact}, not a positive whole number")
    return int(exact)


def row_config(row: str, base: TransformerConfig = MINI) -> TransformerConfig:
    """Row `row` of Table 3 applied to `base` in proportion (the module docstring); base itself for "base".

    With the paper's base (`TransformerConfig.base()`) this is the paper's row exactly."""
    if row not in PAPER:
        raise ConfigError(f"unknown Table 3 row {row!r}; known rows: {', '.join(ROWS)}")
    width, depth = base.d_model / _PAPER_BASE.d_model, base.n_layers / _PAPER_BASE.n_layers
    changes: dict[str, object] = {}
    for field, value in TABLE3_ROWS.get(row, {}).items():
        if field in _WIDTHS:
            changes[field] = scaled(int(value), width, field, row)  # type: ignore[arg-type]
        elif field == "n_layers":
            changes[field] = scaled(int(value), depth, field, row)  # type: ignore[arg-type]
        else:
            changes[field] = value
    return base.replace(**changes)


def describe(cfg: TransformerConfig) -> str:
    """ "N=3 d_model=128 d_ff=512 h=8 d_k=16 d_v=16 P_drop=0.1 eps_ls=0.1 sinusoidal" """
    return (f"N={cfg.n_layers} d_model={cfg.d_model} d_ff={cfg.d_ff} h={cfg.h} d_k={cfg.d_k} d_v={cfg.d_v} "
            f"P_drop={cfg.p_drop} eps_ls={cfg.eps_ls} {cfg.positions}")  # fmt: skip
