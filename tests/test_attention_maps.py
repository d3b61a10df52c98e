"""Attention maps tell the truth: what `capture_attention` records is what each layer used,
and it leaves nothing behind on the model."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from aiayn.data.tokenizer import BpeTokenizer
from aiayn.decoding.search import greedy_decode
from aiayn.inspect.attention_maps import (
    AttentionMaps,
    capture_attention,
    language_model_attention,
    translation_attention,
)
from aiayn.model import multi_head
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.multi_head import MultiHeadAttention
from aiayn.model.transformer import Transformer

VOCAB, PAD = 37, 0
TEXTS = ["seven hundred and three", "forty-one thousand", "eleven", "two hundred and nineteen", "three thousand"] * 4


@functools.cache
def tokenizer() -> BpeTokenizer:
    return BpeTokenizer.train(TEXTS, vocab_size=300)


def config(vocab: int = VOCAB) -> TransformerConfig:
    return TransformerConfig.tiny(vocab_size=vocab, d_model=30, h=5, d_ff=22, n_layers=2, p_drop=0.0, pad_id=PAD)


def transformer(seed: int = 0, vocab: int = VOCAB) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config(vocab)).eval()


def language_model(seed: int = 0, vocab: int = VOCAB) -> DecoderOnlyLM:
    torch.manual_seed(seed)
    return DecoderOnlyLM(config(vocab)).eval()


def tokens(seed: int, batch: int, n: int) -> Tensor:
    return torch.randint(4, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


def recompute(mha: MultiHeadAttention, maps: Tensor, x_kv: Tensor) -> Tensor:
    """Concat over heads of maps @ (x_kv W^V), then W^O: the layer's output rebuilt from its maps."""
    batch, n_kv, _ = x_kv.shape
    v = mha.w_v(x_kv).view(batch, n_kv, mha.h, mha.d_v).transpose(1, 2)
    heads = maps @ v  # batch h n_q d_v
    return mha.w_o(heads.transpose(1, 2).reshape(batch, maps.shape[2], mha.h * mha.d_v))


def inputs_and_outputs(model: nn.Module, run: "functools.partial[Tensor]") -> dict[MultiHeadAttention, tuple]:
    """Each MultiHeadAttention's (x_kv, output) in one call of `run`, read by forward hooks."""
    seen: dict[MultiHeadAttention, tuple] = {}
    handles = [
        m.register_forward_hook(lambda mod, args, out: seen.__setitem__(mod, (args[1], out)))
        for m in model.modules() if isinstance(m, MultiHeadAttention)
    ]  # fmt: skip
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return seen


@settings(max_examples=8)
@given(seed=st.integers(0, 2**16), n_src=st.sampled_from([3, 7, 11]), n_tgt=st.sampled_from([2, 5, 13]))
def test_captured_maps_rebuild_every_layers_output(seed: int, n_src: int, n_tgt: int) -> None:
    """maps @ V, concatenated and times W^O, gives each layer's output of the fused (uncaptured) pass."""
    model, lm = transformer(seed), language_model(seed)
    src, tgt = tokens(seed, 2, n_src), tokens(seed + 1, 2, n_tgt)
    src[1, -2:] = PAD  # padding keys in the encoder and the cross-attention
    with torch.no_grad():
        fused = inputs_and_outputs(model, functools.partial(model, src, tgt))  # outside a capture: fused kernel
        fused |= inputs_and_outputs(lm, functools.partial(lm, tgt))
        with capture_attention(model) as in_model, capture_attention(lm) as in_lm:
            model(src, tgt)
            lm(tgt)
        checked = 0
        for recorder, net in ((in_model, model), (in_lm, lm)):
            for mha in (m for m in net.modules() if isinstance(m, MultiHeadAttention)):
                (maps,) = recorder.of(mha)
                x_kv, out = fused[mha]
                torch.testing.assert_close(recompute(mha, maps, x_kv), out, rtol=0, atol=1e-5)
                checked += 1
        assert checked == 3 * 2 + 2  # encoder self, decoder self and cross per layer; the LM's self
        # broken variant: maps of another layer do not rebuild this layer's output
        first, second = model.encoder.layers[0].self_attn, model.encoder.layers[1].self_attn
        wrong = recompute(first, in_model.of(second)[0], fused[first][0])
        assert (wrong - fused[first][1]).abs().max() > 1e-3


def test_rows_sum_to_one_and_masked_entries_are_exactly_zero() -> None:
    """Every row sums to 1; future keys (decoder, LM) and padding keys get exactly 0.0."""
    model, lm = transformer(3), language_model(3)
    src, tgt = tokens(3, 2, 9), tokens(4, 2, 6)
    src[0, 5:] = PAD
    with capture_attention(model) as recorder, capture_attention(lm) as in_lm:
        model(src, tgt)
        lm(tgt)
    future = ~torch.ones(6, 6, dtype=torch.bool).tril()
    is_pad = (src == PAD)[:, None, None, :]
    for layer in model.encoder.layers:
        (maps,) = recorder.of(layer.self_attn)
        torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]), rtol=0, atol=1e-6)
        assert bool((maps.masked_select(is_pad.expand_as(maps)) == 0.0).all())
    for layer in model.decoder.layers:
        (cross,) = recorder.of(layer.cross_attn)
        assert bool((cross.masked_select(is_pad.expand_as(cross)) == 0.0).all())
        assert bool((cross[1] > 0).all())  # the unpadded sentence: nothing masked, nothing zero
    for (maps,) in [recorder.of(x.self_attn) for x in model.decoder.layers] + [in_lm.of(x.self_attn) for x in lm.blocks.layers]:
        torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]), rtol=0, atol=1e-6)
        assert bool((maps[..., future] == 0.0).all()) and bool((maps[..., ~future] > 0.0).all())


def test_nothing_stays_on_the_modules_after_the_capture() -> None:
    """After the block the modules hold what they held before, take the fused path and record nothing."""
    model = transformer(5)
    attention = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    before = [(dict(vars(m)), dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in attention]
    src, tgt = tokens(5, 1, 4), tokens(6, 1, 3)
    with capture_attention(model) as recorder:
        assert set(multi_head._WATCHERS) == set(attention)
        model(src, tgt)
    n_calls = len(recorder.calls)
    assert n_calls == len(attention)
    assert multi_head._WATCHERS == {}
    assert [(dict(vars(m)), dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in attention] == before
    model(src, tgt)
    assert len(recorder.calls) == n_calls  # nothing recorded outside the block
    with pytest.raises(RuntimeError, match="boom"), capture_attention(model):
        raise RuntimeError("boom")
    assert multi_head._WATCHERS == {}  # left clean on an error too
    # nested captures each see every call; leaving the inner one keeps the outer one going
    with capture_attention(model) as outer:
        with capture_attention(model.encoder) as inner:
            model(src, tgt)
        model(src, tgt)
    assert len(inner.calls) == model.cfg.n_layers and len(outer.calls) == 2 * len(attention)


def test_maps_taken_while_decoding_with_the_cache_are_the_teacher_forced_maps() -> None:
    """Greedy decoding with the cache, one query per step, uses the rows of the teacher-forced maps."""
    model = transformer(7)
    src = tokens(7, 1, 6)
    with capture_attention(model) as stepping:
        (out,) = greedy_decode(model, src, bos_id=2, eos_id=3, max_extra=4)
    tgt_in = torch.tensor([[2, *out]])
    with torch.no_grad(), capture_attention(model) as forced:
        model(src, tgt_in[:, : len(stepping.of(model.decoder.layers[0].self_attn))])
    for layer in model.decoder.layers:
        (full_self,) = forced.of(layer.self_attn)
        (full_cross,) = forced.of(layer.cross_attn)
        for step, (w_self, w_cross) in enumerate(zip(stepping.of(layer.self_attn), stepping.of(layer.cross_attn))):
            assert w_self.shape == (1, model.cfg.h, 1, step + 1)
            torch.testing.assert_close(w_self[0, :, 0], full_self[0, :, step, : step + 1], rtol=0, atol=1e-5)
            torch.testing.assert_close(w_cross[0, :, 0], full_cross[0, :, step], rtol=0, atol=1e-5)


def test_translation_attention_gives_layer_head_query_key_maps_with_tokens() -> None:
    """translation_attention: three kinds, each (layer, h, n_q, n_kv), labelled with the tokens fed."""
    tok = tokenizer()
    model = transformer(1, vocab=tok.vocab_size)
    given_target = translation_attention(model, tok, "seven hundred and three", target="forty-one thousand")
    src_ids = tok.encode("seven hundred and three") + [tok.eos_id]
    tgt_in = [tok.bos_id, *tok.encode("forty-one thousand")]
    assert [m.kind for m in given_target.maps] == ["encoder_self", "decoder_self", "encoder_decoder"]
    enc, dec, cross = given_target.maps
    assert enc.weights.shape == (2, 5, len(src_ids), len(src_ids))
    assert dec.weights.shape == (2, 5, len(tgt_in), len(tgt_in))
    assert cross.weights.shape == (2, 5, len(tgt_in), len(src_ids))
    assert enc.key_tokens[-1] == "</s>" and dec.query_tokens[0] == "<s>" and cross.key_tokens == enc.key_tokens
    assert "".join(enc.key_tokens[:-1]) == "sevenhundredandthree"
    # the stacked maps are what the layers used
    with torch.no_grad(), capture_attention(model) as recorder:
        model(torch.tensor([src_ids]), torch.tensor([tgt_in]))
    torch.testing.assert_close(cross.weights[1], recorder.of(model.decoder.layers[1].cross_attn)[0][0])
    # without a target, the model's greedy output is fed
    own = translation_attention(model, tok, "seven hundred and three")
    (greedy,) = greedy_decode(model, torch.tensor([src_ids]), tok.bos_id, tok.eos_id)
    assert own.target_source == "greedy" and own["decoder_self"].weights.shape[-1] == len(greedy) + 1
    with pytest.raises(ValueError, match="empty"):
        translation_attention(model, tok, "   ")


def test_language_model_attention_is_causal_over_the_text() -> None:
    """language_model_attention: one (layer, h, n, n) map of the LM's self-attention, zero above the diagonal."""
    tok = tokenizer()
    lm = language_model(2, vocab=tok.vocab_size)
    result = language_model_attention(lm, tok, "two hundred and nineteen")
    (maps,) = result.maps
    n = len(tok.encode("two hundred and nineteen"))
    assert maps.kind == "self" and maps.weights.shape == (2, 5, n, n) and len(maps.query_tokens) == n
    future = ~torch.ones(n, n, dtype=torch.bool).tril()
    assert bool((maps.weights[..., future] == 0).all()) and bool((maps.weights[..., ~future] > 0).all())
    with pytest.raises(ValueError, match="3 query and 3 key tokens"):
        AttentionMaps("self", maps.weights, maps.query_tokens[:3], maps.key_tokens[:3])


def test_capture_refuses_a_model_without_attention() -> None:
    """A module with no MultiHeadAttention is refused by name, not silently recorded as nothing."""
    with pytest.raises(ValueError, match="Linear holds no MultiHeadAttention"), capture_attention(nn.Linear(3, 3)):
        pass
