"""`generate`: streaming, stopping at the end token, seeds, and refusals of bad settings."""

import pytest
import torch

from aiayn.decoding.sampling import generate
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.inputs import InputError

VOCAB = 53
PROMPTS = [[5, 6, 7, 8, 9, 10], [11], [12, 13, 14]]


def model(positions: str = "sinusoidal", seed: int = 0, lively: bool = False) -> DecoderOnlyLM:
    """A small random model; `lively` redraws the weights from N(0, 1) so that its choices
    depend on the context (at the usual small initial scale it mostly repeats the last token)."""
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2, max_len=20, positions=positions)
    lm = DecoderOnlyLM(cfg).double()  # type: ignore[arg-type]
    if lively:
        with torch.no_grad():
            for name, weight in lm.named_parameters():
                if "norm" not in name:
                    weight.normal_(0.0, 1.0)
    return lm


def test_on_token_streams_every_new_token_in_order() -> None:
    """The callback sees each prompt's new tokens, in the order they are made, and nothing else."""
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    out = generate(model(), PROMPTS, 9, temperature=1.0, seed=4, on_token=lambda row, tok: seen[row].append(tok))
    assert tuple(tuple(seen[row]) for row in range(3)) == out
    assert all(len(row) == 9 for row in out)


def test_a_row_stops_at_the_end_token_and_the_others_go_on() -> None:
    """Each row ends just before its first eos (greedy, so rows do not depend on each other); others run on."""
    lm = model()
    free = generate(lm, PROMPTS, 10, temperature=0.0)
    eos = free[1][-1]  # the last greedy token of row 1 becomes the end token
    stopped = generate(lm, PROMPTS, 10, temperature=0.0, eos_id=eos)
    for row, out in enumerate(free):
        assert stopped[row] == (out[: out.index(eos)] if eos in out else out)
    assert len(stopped[1]) < 10 and any(len(row) == 10 for row in stopped)
    first = generate(lm, PROMPTS, 10, temperature=0.0, eos_id=free[1][0])
    assert first[1] == ()  # eos as the very first token: an empty continuation


def test_the_padding_id_is_never_generated() -> None:
    """Even when the model's favourite next token is padding, it is never an output."""
    lm = model()
    with torch.no_grad():
        lm.embed.weight[0] *= 50  # tied output map: padding now dominates the logits
    out = generate(lm, PROMPTS, 8, temperature=0.0)
    assert all(lm.cfg.pad_id not in row for row in out)


def test_same_seed_same_sample_other_seed_other_sample_and_mode_restored() -> None:
    """A seed fixes the sample; another seed changes it; a model in training mode is left in it."""
    lm = model().train()
    a = generate(lm, PROMPTS, 12, temperature=1.0, top_p=0.95, seed=11)
    assert lm.training
    assert a == generate(lm, PROMPTS, 12, temperature=1.0, top_p=0.95, seed=11)
    assert a != generate(lm, PROMPTS, 12, temperature=1.0, top_p=0.95, seed=12)
    assert generate(lm, PROMPTS, 0) == ((), (), ())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompts": []}, "no prompts"),
        ({"prompts": [[4], []]}, "prompt 1 is empty"),
        ({"max_new_tokens": -1}, "max_new_tokens must be a non-negative integer"),
        ({"temperature": -0.5}, "temperature must be >= 0"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"top_p": 0.0}, r"top_p must lie in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must lie in \(0, 1\]"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(change: dict[str, object], message: str) -> None:
    """Each bad argument raises a ValueError that names it."""
    args: dict[str, object] = {"prompts": PROMPTS, "max_new_tokens": 3, **change}
    with pytest.raises(ValueError, match=message):
        generate(model(), **args)  # type: ignore[arg-type]


def test_the_window_slides_keeping_half_when_it_fills() -> None:
    """Past `context` tokens, each token is predicted from the window the docstring's rule gives, cached or not."""
    lm = model("learned", lively=True).eval()
    prompt, context, n_new = [5, 6, 7, 8, 9, 10, 11, 12, 13], 8, 21
    # the rule by hand, one prompt: read the last `context` tokens; when the window would
    # pass `context`, start it again at the last context // 2 tokens
    seq, start, expected = list(prompt), max(0, len(prompt) - context), []
    with torch.no_grad():
        for _ in range(n_new):
            logits = lm(torch.tensor([seq[start:]]))[0, -1]
            logits[lm.cfg.pad_id] = float("-inf")
            expected.append(int(logits.argmax()))
            seq.append(expected[-1])
            if len(seq) - start > context:
                start = len(seq) - context // 2
    for use_cache in (True, False):
        out = generate(lm, [prompt], n_new, temperature=0.0, context=context, use_cache=use_cache)
        assert out[0] == tuple(expected)
    assert len(set(expected)) > 3  # the choices depend on the context, so a wrong window shows
    assert len(generate(lm, PROMPTS, 40, temperature=0.0)[0]) == 40  # past max_len=20: the window slides


def test_context_and_bad_ids_are_checked() -> None:
    """A context beyond learned positions, or a non-positive one, is refused; an id outside the vocabulary is named."""
    with pytest.raises(ValueError, match="context=21 is beyond the learned positions' max_len=20"):
        generate(model("learned"), PROMPTS, 3, context=21)
    with pytest.raises(ValueError, match="context must be a positive integer"):
        generate(model(), PROMPTS, 3, context=0)
    with pytest.raises(InputError, match="token id 99"):
        generate(model(), [[4, 99]], 2)


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_per_token_positions_agree_with_the_scalar_offset_and_bad_ones_are_named(kind: str) -> None:
    """Positions given per token as offset + column equal the scalar offset; a bad shape or a negative is refused."""
    stem = model(kind).stem.positions
    x = torch.randn(3, 5, 26, dtype=torch.float64)
    columns = (torch.arange(5) + 4).expand(3, 5)
    torch.testing.assert_close(stem(x, positions=columns), stem(x, offset=4), rtol=0, atol=0)
    rows = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 0, 0, 1], [7, 8, 9, 10, 11]])  # row 1: three pads, then 0, 1
    torch.testing.assert_close(stem(x, positions=rows)[1, 3:], stem(x[1:2, 3:])[0], rtol=0, atol=0)
    with pytest.raises((ValueError, TypeError), match="positions"):  # the shape check, or jaxtyping's
        stem(x, positions=columns[:, :4])
    with pytest.raises(ValueError, match="positions must be >= 0"):
        stem(x, positions=columns - 5)


def test_a_key_mask_of_the_wrong_shape_is_named() -> None:
    """`attend` must cover the cached and the new positions, one row per batch row."""
    lm = model().eval()
    cache = lm.new_cache()
    lm(torch.tensor([[4, 5, 6]]), cache, torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(InputError, match=r"shape \(batch, cached \+ new\) = \(1, 4\), got torch.bool \(1, 1\)"):
        lm(torch.tensor([[7]]), cache, torch.ones(1, 1, dtype=torch.bool))
