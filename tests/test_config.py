"""TransformerConfig: validation with errors that name the field, presets by name, serialisation."""

import dataclasses
import json

import pytest
from jaxtyping import TypeCheckError

from aiayn.model.config import PRESETS, TABLE3_ROWS, ConfigError, TransformerConfig, preset, table3_row


def test_d_model_must_be_divisible_by_h() -> None:
    with pytest.raises(ConfigError, match=r"d_model=510 is not divisible by h=8"):
        TransformerConfig(d_model=510, h=8)
    # with d_k and d_v both given (Table 3 rows A-C), d_model / h is not used
    cfg = TransformerConfig(d_model=30, h=7, d_k_override=5, d_v_override=3)
    assert (cfg.d_k, cfg.d_v) == (5, 3)
    with pytest.raises(ConfigError, match="d_model=30 is not divisible by h=7"):
        TransformerConfig(d_model=30, h=7, d_k_override=5)  # d_v would still be d_model / h


SIZES = ["vocab_size", "n_layers", "d_model", "d_ff", "h", "max_len"]


@pytest.mark.parametrize("field", SIZES)
@pytest.mark.parametrize("value", [0, -3, True])
def test_sizes_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"TransformerConfig\.{field} must be a positive int"):
        TransformerConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", SIZES)
@pytest.mark.parametrize("value", [2.5, "8"])
def test_sizes_of_the_wrong_type_are_rejected_by_name(field: str, value: object) -> None:
    """With shape checking on, the annotation check names the field first (TypeCheckError);
    without it, __post_init__ does (ConfigError). Either way the field is named."""
    with pytest.raises((ConfigError, TypeCheckError), match=field):
        TransformerConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["d_k_override", "d_v_override"])
@pytest.mark.parametrize("value", [0, -1])
def test_head_width_overrides_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"TransformerConfig\.{field} must be a positive int or None"):
        TransformerConfig(**{"d_k_override": 64, "d_v_override": 64, field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["p_drop", "eps_ls"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan")])
def test_probabilities_must_lie_in_0_1(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"TransformerConfig\.{field} must lie in \[0, 1\)"):
        TransformerConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["p_drop", "eps_ls"])
def test_probability_bounds_0_is_allowed_and_just_below_1_is_allowed(field: str) -> None:
    assert getattr(TransformerConfig(**{field: 0.0}), field) == 0.0  # type: ignore[arg-type]
    assert getattr(TransformerConfig(**{field: 0.999}), field) == 0.999  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [("positions", "rotary"), ("norm", "sandwich"), ("positions", "Sinusoidal")])
def test_unknown_choices_are_rejected_by_name(field: str, value: str) -> None:
    with pytest.raises((ConfigError, TypeCheckError), match=field):
        TransformerConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("pad_id", [-1, 100, 101])
def test_pad_id_must_lie_inside_the_vocabulary(pad_id: int) -> None:
    with pytest.raises(ConfigError, match=rf"pad_id={pad_id} is outside the vocabulary \[0, 100\)"):
        TransformerConfig(vocab_size=100, pad_id=pad_id)
    assert TransformerConfig(vocab_size=100, pad_id=99).pad_id == 99


def test_config_errors_are_value_errors() -> None:
    assert issubclass(ConfigError, ValueError)


def test_replace_validates_again() -> None:
    cfg = TransformerConfig.base()
    assert cfg.replace(n_layers=2).n_layers == 2 and cfg.n_layers == 6
    with pytest.raises(ConfigError, match="h=7"):
        cfg.replace(h=7)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_by_name(name: str) -> None:
    cfg = preset(name)
    assert isinstance(cfg, TransformerConfig)
    if name in TABLE3_ROWS:
        assert cfg == table3_row(name)
    assert preset(name, vocab_size=101).vocab_size == 101
    assert preset(name, vocab_size=101).replace(vocab_size=cfg.vocab_size) == cfg


def test_named_presets_match_their_constructors() -> None:
    assert preset("base") == TransformerConfig.base() == TransformerConfig()
    assert preset("big") == TransformerConfig.big()
    assert preset("tiny") == TransformerConfig.tiny()
    assert preset("C3").n_layers == 8 and preset("C3").d_model == 512


def test_unknown_preset_error_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'huge'") as err:
        preset("huge")
    for name in ("base", "big", "tiny", "A1", "C3", "E"):
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="known rows: A1, A2"):
        table3_row("F1")


@pytest.mark.parametrize("name", PRESETS)
def test_to_dict_from_dict_round_trip(name: str) -> None:
    cfg = preset(name)
    values = cfg.to_dict()
    assert TransformerConfig.from_dict(values) == cfg
    assert TransformerConfig.from_dict(json.loads(json.dumps(values))) == cfg  # survives JSON (checkpoints)


def test_from_dict_rejects_unknown_fields_by_name() -> None:
    values = TransformerConfig.base().to_dict() | {"n_heads": 8, "dropout": 0.1}
    with pytest.raises(ConfigError, match=r"unknown fields \['dropout', 'n_heads'\]"):
        TransformerConfig.from_dict(values)


def test_from_dict_validates() -> None:
    with pytest.raises(ConfigError, match="p_drop"):
        TransformerConfig.from_dict(TransformerConfig.base().to_dict() | {"p_drop": 1.2})


def test_config_is_frozen_and_hashable() -> None:
    cfg = TransformerConfig.base()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 256  # type: ignore[misc]
    assert hash(cfg) == hash(TransformerConfig.base())
    assert len({cfg, TransformerConfig.base(), TransformerConfig.big()}) == 2
