"""Decoding as a tool: batching, modes, n-best lists, limits and errors (aiayn/decoding/search.py).

The paper's claims about decoding (§6.1) live in spec/sec6_1_decoding.py.
"""

from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

from aiayn.decoding.search import (
    beam_search,
    beam_search_nbest,
    gnmt_length_penalty,
    greedy_decode,
    max_output_lengths,
    sequence_log_probs,
)
from aiayn.model.config import TransformerConfig
from aiayn.model.transformer import Transformer

VOCAB, PAD, BOS, EOS = 23, 0, 1, 2
CFG = TransformerConfig.tiny(vocab_size=VOCAB, d_model=32, h=4, d_ff=48, n_layers=2, p_drop=0.0)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class EosRamp(nn.Module):
    """A Transformer with eos made likelier at every target position, so outputs end at varied lengths."""

    def __init__(self, model: Transformer, start: float = -4.0, slope: float = 1.5) -> None:
        super().__init__()
        self.model, self.cfg, self.start, self.slope = model, model.cfg, start, slope
        self.table = 1.5 * torch.randn(256, VOCAB, generator=torch.Generator().manual_seed(7))
        self.inference_mode_seen: set[bool] = set()

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encode(src)

    def new_cache(self) -> object:
        return self.model.new_cache()

    def decode(self, tgt: Tensor, memory: Tensor, src_attend: Tensor, cache: object = None) -> Tensor:
        self.inference_mode_seen.add(torch.is_inference_mode_enabled())
        pos = (len(cache) if cache is not None else 0) + torch.arange(tgt.shape[1])
        bias = self.table[pos].clone()
        bias[:, EOS] = self.start + self.slope * pos
        return self.model.decode(tgt, memory, src_attend, cache) + bias[None]


def model_and_batch(seed: int = 0, cfg: TransformerConfig = CFG) -> tuple[EosRamp, Tensor]:
    torch.manual_seed(seed)
    model = EosRamp(Transformer(cfg))
    src = torch.tensor([[5, 6, 7, 8, 9, EOS], [11, EOS, PAD, PAD, PAD, PAD], [3, 4, EOS, PAD, PAD, PAD]])
    return model, src


def test_a_padded_batch_decodes_as_each_sentence_alone() -> None:
    model, src = model_and_batch(1)
    greedy = greedy_decode(model, src, BOS, EOS, max_extra=5)
    beam = beam_search_nbest(model, src, BOS, EOS, beam_size=3, max_extra=5)
    for i in range(src.shape[0]):
        alone = src[i : i + 1, : int((src[i] != PAD).sum())]  # no padding at all
        assert greedy_decode(model, alone, BOS, EOS, max_extra=5) == greedy[i : i + 1]
        single = beam_search_nbest(model, alone, BOS, EOS, beam_size=3, max_extra=5)[0]
        assert [h.tokens for h in single] == [h.tokens for h in beam[i]]
        for a, b in zip(single, beam[i], strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_decoding_runs_in_inference_mode_without_dropout_and_restores_the_mode() -> None:
    torch.manual_seed(2)
    model = EosRamp(Transformer(CFG.replace(p_drop=0.5)))
    src = torch.tensor([[5, 6, EOS], [7, EOS, PAD]])
    model.eval()
    expected = beam_search(model, src, BOS, EOS, max_extra=4), greedy_decode(model, src, BOS, EOS, max_extra=4)
    model.train()
    in_training = beam_search(model, src, BOS, EOS, max_extra=4), greedy_decode(model, src, BOS, EOS, max_extra=4)
    assert in_training == expected
    assert model.training and model.model.decoder.training  # back in training mode
    model.eval()
    greedy_decode(model, src, BOS, EOS, max_extra=4)
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())
    assert model.inference_mode_seen == {True}  # no autograd graph is built while decoding


def test_nbest_is_sorted_and_consistent_with_teacher_forcing() -> None:
    model, src = model_and_batch(3)
    nbest = beam_search_nbest(model, src, BOS, EOS, beam_size=4, max_extra=5)
    assert beam_search(model, src, BOS, EOS, beam_size=4, max_extra=5) == tuple(h[0].tokens for h in nbest)
    limits = max_output_lengths(src, PAD, 5).tolist()
    for i, hyps in enumerate(nbest):
        assert 1 <= len(hyps) <= 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.score == pytest.approx(h.log_prob / gnmt_length_penalty(h.length), rel=1e-9)
            assert h.length == len(h.tokens) + (len(h.tokens) < limits[i])  # eos counted unless cut
            assert PAD not in h.tokens and EOS not in h.tokens and all(isinstance(t, int) for t in h.tokens)
        forced = sequence_log_probs(model, src[i : i + 1].expand(len(hyps), -1), [h.tokens for h in hyps], BOS, EOS, 5)
        for h, (log_prob, length) in zip(hyps, forced, strict=True):
            assert (log_prob, length) == (pytest.approx(h.log_prob, abs=1e-4), h.length)


def test_outputs_are_tuples_of_python_ints() -> None:
    model, src = model_and_batch(4)
    for out in (greedy_decode(model, src, BOS, EOS, max_extra=3), beam_search(model, src, BOS, EOS, max_extra=3)):
        assert isinstance(out, tuple) and len(out) == 3
        assert all(isinstance(row, tuple) and all(type(t) is int for t in row) for row in out)


def test_learned_positions_cap_the_output_length_at_max_len() -> None:
    cfg = CFG.replace(positions="learned", max_len=9)
    torch.manual_seed(5)
    model = EosRamp(Transformer(cfg), start=-1e4, slope=0.0)  # never ends
    src = torch.tensor([[5, 6, 7, EOS]])
    assert [len(o) for o in greedy_decode(model, src, BOS, EOS)] == [9]  # not 4 + 50
    assert [len(o) for o in beam_search(model, src, BOS, EOS, beam_size=2)] == [9]


def test_empty_batch_decodes_to_nothing() -> None:
    model, src = model_and_batch(0)
    assert greedy_decode(model, src[:0], BOS, EOS) == ()
    assert beam_search(model, src[:0], BOS, EOS) == ()


def test_bad_arguments_are_refused() -> None:
    model, src = model_and_batch(0)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, src, BOS, EOS, beam_size=0)
    with pytest.raises(ValueError, match="bos_id=0 .* padding id 0"):
        greedy_decode(model, src, PAD, EOS)
    with pytest.raises(ValueError, match="eos_id=23"):
        beam_search(model, src, BOS, VOCAB)
    with pytest.raises(ValueError, match="2 outputs for 3 source sentences"):
        sequence_log_probs(model, src, [(), ()], BOS, EOS)


def test_padding_is_never_an_output_even_when_likeliest() -> None:
    model, src = model_and_batch(6)
    model.table[:, PAD] += 50.0  # padding would win every step
    for use_cache in (True, False):
        for out in (
            greedy_decode(model, src, BOS, EOS, max_extra=3, use_cache=use_cache),
            beam_search(model, src, BOS, EOS, beam_size=3, max_extra=3, use_cache=use_cache),
        ):
            assert all(out) and not any(PAD in row for row in out)


def test_decoding_never_concatenates_keys_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each decoding step writes its keys and values into the cache in place: no float tensor is concatenated."""
    model, src = model_and_batch(7)
    joined: list[tuple[int, ...]] = []
    cat = torch.cat

    def counting_cat(tensors, *args, **kwargs):
        if tensors[0].is_floating_point():
            joined.append(tuple(tensors[0].shape))
        return cat(tensors, *args, **kwargs)

    monkeypatch.setattr(torch, "cat", counting_cat)
    greedy_decode(model, src, BOS, EOS, max_extra=20)
    beam_search(model, src, BOS, EOS, beam_size=3, max_extra=20)
    assert joined == []


def test_beam_search_projects_each_sentences_encoder_output_once() -> None:
    """Encoder-decoder keys are projected once per layer, from one row per sentence (not one per beam)."""
    model, src = model_and_batch(8)
    rows: list[int] = []
    hooks = [
        layer.cross_attn.w_k.register_forward_hook(lambda _m, args, _out: rows.append(args[0].shape[0]))
        for layer in model.model.decoder.layers
    ]
    try:
        beam_search(model, src, BOS, EOS, beam_size=4, max_extra=6)
    finally:
        for hook in hooks:
            hook.remove()
    assert rows == [src.shape[0]] * CFG.n_layers


def test_a_cache_used_under_autograd_gives_the_full_forward_gradients() -> None:
    """Decoding through the cache with autograd on gives the full pass's logits and gradients (nothing overwritten)."""
    torch.manual_seed(9)
    model = Transformer(CFG).eval().double()
    src, tgt = torch.randint(3, VOCAB, (2, 5)), torch.randint(3, VOCAB, (2, 20))  # past the first capacity

    def gradients(cached: bool) -> tuple[Tensor, ...]:
        model.zero_grad(set_to_none=True)
        memory, src_attend = model.encode(src)
        if cached:
            cache = model.new_cache()
            logits = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_attend, cache) for t in range(20)], dim=1)
        else:
            logits = model.decode(tgt, memory, src_attend)
        (logits.log_softmax(-1)[..., 3] * torch.arange(20.0, dtype=torch.float64)).sum().backward()
        return (logits.detach(), *(p.grad.clone() for p in model.parameters()))

    for cached, full in zip(gradients(True), gradients(False), strict=True):
        torch.testing.assert_close(cached, full, rtol=0, atol=1e-10)


def test_a_cache_refuses_keys_for_another_batch() -> None:
    """New keys for a batch of another size are refused with a message that points to reorder."""
    torch.manual_seed(10)
    model = Transformer(CFG).eval()
    src, tgt = torch.randint(3, VOCAB, (3, 4)), torch.randint(3, VOCAB, (3, 2))
    with torch.no_grad():
        memory, src_attend = model.encode(src)
        cache = model.new_cache()
        model.decode(tgt[:, :1], memory, src_attend, cache)
        with pytest.raises(ValueError, match=r"KVCache: new keys .* cache\.reorder"):
            cache.self_attn[0].add(torch.zeros(1, CFG.h, 1, CFG.d_k), torch.zeros(1, CFG.h, 1, CFG.d_v))
