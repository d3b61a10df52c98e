"""The model's hyperparameters, named as in the paper (§3, Table 3).

One frozen dataclass holds every size the architecture needs. Presets give the
paper's base and big models, each row (A) to (E) of Table 3, and a tiny model that
trains on a CPU in minutes. Departures from the paper are fields that default to the
paper's choice (see `aiayn.departures`).
"""

import dataclasses
from dataclasses import dataclass
from typing import Literal

POOLINGS = ("mean", "cls", "max")  # the encoder classifier's heads (aiayn.model.encoder_classifier)


class ConfigError(ValueError):
    """A hyperparameter that cannot describe a Transformer."""


@dataclass(frozen=True)
class TransformerConfig:
    """Hyperparameters of the Transformer (paper symbols; §3 and Table 3).

    Fields
    ------
    vocab_size: entries of the one vocabulary shared by source and target (§3.4).
    n_layers: N, identical layers in each of the encoder and decoder stacks (§3.1).
    d_model: width of every sub-layer output and of the embeddings (§3.1).
    d_ff: inner width of the position-wise feed-forward network (§3.3, Eq. 2).
    h: number of attention heads; d_k = d_v = d_model / h (§3.2.2).
    p_drop: dropout rate on sub-layer outputs and embedding sums (§5.4).
    eps_ls: label-smoothing mass (§5.4).
    max_len: longest sequence the learned positions cover (row E); sinusoidal
        positions have no limit, so it only bounds inputs when they are learned.
    positions: "sinusoidal" (§3.5, the paper) or "learned" (Table 3 row E).
    norm: "post" (§3.1, the paper: LayerNorm(x + Sublayer(x))) or "pre"
        (a named departure: x + Sublayer(LayerNorm(x)), with a final LayerNorm).
    pad_id: the padding token; padded keys are never attended to (§3.2.3).
    share_embeddings: tie source, target and pre-softmax weights (§3.4).
    pooling: how the encoder classifier (not in the paper) turns its outputs into one
        vector: "mean" over real tokens, "cls" (a learned first token, BERT style) or
        "max" over real tokens; the other models ignore it.
    """

    vocab_size: int = 37000
    n_layers: int = 6
    d_model: int = 512
    d_ff: int = 2048
    h: int = 8
    p_drop: float = 0.1
    eps_ls: float = 0.1
    max_len: int = 1024
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    norm: Literal["post", "pre"] = "post"
    pad_id: int = 0
    share_embeddings: bool = True
    pooling: Literal["mean", "cls", "max"] = "mean"
    d_k_override: int | None = None
    d_v_override: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layers", "d_model", "d_ff", "h", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"TransformerConfig.{name} must be a positive int, got {value!r}")
        if (self.d_k_override is None or self.d_v_override is None) and self.d_model % self.h != 0:
            raise ConfigError(
                f"TransformerConfig: d_model={self.d_model} is not divisible by h={self.h}; "
                f"§3.2.2 sets d_k = d_v = d_model / h"
            )
        for name in ("d_k_override", "d_v_override"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"TransformerConfig.{name} must be a positive int or None, got {value!r}")
        for name in ("p_drop", "eps_ls"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"TransformerConfig.{name} must lie in [0, 1), got {value!r}")
        if self.positions not in ("sinusoidal", "learned"):
            raise ConfigError(f"TransformerConfig.positions must be 'sinusoidal' or 'learned', got {self.positions!r}")
        if self.norm not in ("post", "pre"):
            raise ConfigError(f"TransformerConfig.norm must be 'post' or 'pre', got {self.norm!r}")
        if self.pooling not in POOLINGS:
            choices = ", ".join(map(repr, POOLINGS))
            raise ConfigError(f"TransformerConfig.pooling must be one of {choices}, got {self.pooling!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(
                f"TransformerConfig.pad_id={self.pad_id} is outside the vocabulary [0, {self.vocab_size})"
            )

    @property
    def d_k(self) -> int:
        """Width of each head's queries and keys: d_model / h unless Table 3 row (B) sets it."""
        return self.d_k_override if self.d_k_override is not None else self.d_model // self.h

    @property
    def d_v(self) -> int:
        """Width of each head's values: d_model / h unless a Table 3 row sets it."""
        return self.d_v_override if self.d_v_override is not None else self.d_model // self.h

    def replace(self, **changes: object) -> "TransformerConfig":
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> "TransformerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"TransformerConfig: unknown fields {unknown}")
        return cls(**values)  # type: ignore[arg-type]

    # Presets ---------------------------------------------------------------

    @classmethod
    def base(cls, vocab_size: int = 37000, **changes: object) -> "TransformerConfig":
        """Table 3 "base": N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1, eps_ls=0.1."""
        return cls(vocab_size=vocab_size).replace(**changes)

    @classmethod
    def big(cls, vocab_size: int = 37000, **changes: object) -> "TransformerConfig":
        """Table 3 "big": N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3 (EN-DE)."""
        return cls(vocab_size=vocab_size, d_model=1024, d_ff=4096, h=16, p_drop=0.3).replace(**changes)

    @classmethod
    def tiny(cls, vocab_size: int = 1000, **changes: object) -> "TransformerConfig":
        """A small model for the built-in task on a CPU (not from the paper): N=3,
        d_model=128, d_ff=512, h=4 (d_k=32), P_drop=0.1, eps_ls=0.1."""
        return cls(
            vocab_size=vocab_size, n_layers=3, d_model=128, d_ff=512, h=4, p_drop=0.1, max_len=256
        ).replace(**changes)


# Table 3 rows (A) to (E): each entry changes the base model in one way. Rows
# (A) keep the amount of computation constant by shrinking d_k = d_v as h grows;
# rows (B) shrink only the key width d_k, leaving d_v = 64.
TABLE3_ROWS: dict[str, dict[str, object]] = {
    "A1": {"h": 1, "d_k_override": 512, "d_v_override": 512},
    "A2": {"h": 4, "d_k_override": 128, "d_v_override": 128},
    "A3": {"h": 16, "d_k_override": 32, "d_v_override": 32},
    "A4": {"h": 32, "d_k_override": 16, "d_v_override": 16},
    "B1": {"d_k_override": 16},
    "B2": {"d_k_override": 32},
    "C1": {"n_layers": 2},
    "C2": {"n_layers": 4},
    "C3": {"n_layers": 8},
    "C4": {"d_model": 256, "d_k_override": 32, "d_v_override": 32},
    "C5": {"d_model": 1024, "d_k_override": 128, "d_v_override": 128},
    "C6": {"d_ff": 1024},
    "C7": {"d_ff": 4096},
    "D1": {"p_drop": 0.0},
    "D2": {"p_drop": 0.2},
    "D3": {"eps_ls": 0.0},
    "D4": {"eps_ls": 0.2},
    "E": {"positions": "learned"},
}


def table3_row(row: str, vocab_size: int = 37000) -> TransformerConfig:
    """The base model changed as in one row of Table 3 (e.g. "A3", "C5", "E")."""
    if row not in TABLE3_ROWS:
        raise ConfigError(f"unknown Table 3 row {row!r}; known rows: {', '.join(TABLE3_ROWS)}")
    return TransformerConfig.base(vocab_size=vocab_size, **TABLE3_ROWS[row])


PRESETS = ("base", "big", "tiny", *TABLE3_ROWS)


def preset(name: str, vocab_size: int | None = None) -> TransformerConfig:
    """A preset by name: "base", "big", "tiny", or a Table 3 row such as "C3"."""
    kwargs = {} if vocab_size is None else {"vocab_size": vocab_size}
    if name == "base":
        return TransformerConfig.base(**kwargs)
    if name == "big":
        return TransformerConfig.big(**kwargs)
    if name == "tiny":
        return TransformerConfig.tiny(**kwargs)
    if name in TABLE3_ROWS:
        return table3_row(name, **kwargs)
    raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
