"""The encoder classifier as users meet it: the pooling setting, bad input, its parameters."""

import pytest
import torch
from jaxtyping import TypeCheckError

from aiayn.inspect.introspect import parameter_table
from aiayn.model.config import POOLINGS, ConfigError, TransformerConfig
from aiayn.model.encoder_classifier import EncoderClassifier
from aiayn.model.inputs import InputError


def small(**changes: object) -> TransformerConfig:
    return TransformerConfig.tiny(vocab_size=53, d_model=22, h=2, d_ff=13, n_layers=1, **changes)


def test_pooling_defaults_to_mean_and_unknown_choices_are_named() -> None:
    assert TransformerConfig().pooling == "mean" and POOLINGS == ("mean", "cls", "max")
    with pytest.raises((ConfigError, TypeCheckError), match="pooling"):
        TransformerConfig(pooling="attention")  # type: ignore[arg-type]
    old = TransformerConfig.tiny().to_dict()
    del old["pooling"]  # a checkpoint written before the field existed
    assert TransformerConfig.from_dict(old).pooling == "mean"


@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_head_gives_one_row_of_logits_per_input_and_learns(pooling: str) -> None:
    torch.manual_seed(0)
    model = EncoderClassifier(small(pooling=pooling), n_classes=3)
    tokens = torch.randint(1, 53, (5, 7))
    tokens[1, 3:] = 0
    logits = model(tokens)
    assert logits.shape == (5, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())  # the [CLS] vector and pooler included
    rows = parameter_table(model)
    assert sum(r.count for r in rows) == sum(p.numel() for p in model.parameters())  # nothing tied here
    assert ("cls" in {r.name for r in rows}) == (pooling == "cls")


def test_a_row_of_padding_only_is_refused_by_row() -> None:
    model = EncoderClassifier(small(), n_classes=3)
    tokens = torch.randint(1, 53, (3, 5))
    tokens[2] = 0
    with pytest.raises(InputError, match="row 2 holds only padding"):
        model(tokens)
    with pytest.raises(ValueError, match="n_classes must be an integer of at least 2"):
        EncoderClassifier(small(), n_classes=1)


def test_learned_positions_leave_room_for_the_cls_token() -> None:
    model = EncoderClassifier(small(pooling="cls", positions="learned", max_len=8), n_classes=2)
    assert model(torch.randint(1, 53, (2, 7))).shape == (2, 2)
    with pytest.raises(ValueError, match="beyond max_len=8"):
        model(torch.randint(1, 53, (2, 8)))  # 8 tokens + [CLS] need 9 positions
