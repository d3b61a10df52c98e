"""§3.2.3 Masking: decoder self-attention sees only the past; padding is never seen

Claims, in our words:
- In the decoder, position i may attend to positions j <= i only, so the output at i
  depends on target tokens 0..i and not on any later one. This is done inside Eq. 1
  by setting the scores of illegal connections to -inf before the softmax, which makes
  their weights exactly 0:
      weights_ij = exp(s_ij) [j <= i] / sum_l exp(s_il) [l <= i]
- Masking before the softmax is the same as taking the softmax over all keys, zeroing
  the illegal weights and renormalising each row: the common factor sum_l exp(s_il)
  cancels, so nothing of a future key survives. Zeroing without renormalising leaves
  rows that do not sum to 1 and whose values still depend on future keys.
- Encoder-decoder attention takes its queries from the decoder and its keys and values
  from the encoder output, so the two lengths may differ (n_tgt queries, n_src keys).
- Padding (needed by any batched implementation, not discussed in the paper): padded
  keys get weight exactly 0, so appending padding to a sentence, or batching it with
  longer ones, changes none of its outputs.

Choices the paper leaves open: masks are boolean, True = "may attend" (the convention
of F.scaled_dot_product_attention). torch.nn.Transformer and nn.MultiheadAttention use
the opposite (True = blocked); the last spec shows that mixing the two is caught.
"""

import functools
import math

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from aiayn import DecoderOnlyLM, MultiHeadAttention, Transformer, TransformerConfig
from aiayn import attention_weights, fused_attention, padding_mask, subsequent_mask
from aiayn.inspect.attention_maps import capture_attention
from aiayn.model.masks import decoder_self_mask

CODE = "aiayn/model/masks.py, aiayn/model/transformer.py"

VOCAB, PAD = 37, 0
N_SRC, N_TGT = 7, 11


def tiny_config() -> TransformerConfig:
    return TransformerConfig.tiny(vocab_size=VOCAB, d_model=30, h=5, d_ff=22, n_layers=2, p_drop=0.0, pad_id=PAD)


def fresh_transformer(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(tiny_config()).eval()


def fresh_lm(seed: int = 0) -> DecoderOnlyLM:
    torch.manual_seed(seed)
    return DecoderOnlyLM(tiny_config()).eval()


@functools.cache
def shared_transformer() -> Transformer:
    """One model for the tests that only read it."""
    return fresh_transformer()


@functools.cache
def shared_transformer_f64() -> Transformer:
    """The same model in float64, where sequences of different lengths round alike."""
    return fresh_transformer().double()


@functools.cache
def shared_lm() -> DecoderOnlyLM:
    return fresh_lm()


def tokens(seed: int, batch: int, n: int, low: int = 1) -> Int[Tensor, "batch n"]:
    """Random real tokens (never padding unless low = 0)."""
    return torch.randint(low, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


def change_after(tgt: Int[Tensor, "batch n_tgt"], i: int, seed: int) -> Int[Tensor, "batch n_tgt"]:
    """A copy of tgt with every token after position i redrawn (padding allowed) and surely changed."""
    changed = tgt.clone()
    later = tokens(seed + 7, tgt.shape[0], tgt.shape[1] - i - 1, low=0)
    changed[:, i + 1 :] = later
    changed[:, i + 1] = (tgt[:, i + 1] % (VOCAB - 1)) + 1  # differs from the original for sure
    return changed


def test_masks_are_the_retyped_lower_triangle_and_padding_indicator() -> None:
    """subsequent_mask[i, j] is j <= i (shifted by cached positions); padding_mask is token != pad."""
    for n_q, n_kv in ((5, 5), (1, 7), (3, 7), (7, 7)):
        attend = subsequent_mask(n_q, n_kv)
        assert attend.shape == (1, 1, n_q, n_kv) and attend.dtype == torch.bool
        offset = n_kv - n_q  # the n_q queries are the last n_q positions
        for r in range(n_q):
            for j in range(n_kv):
                assert bool(attend[0, 0, r, j]) == (j <= r + offset)
    tgt = torch.tensor([[5, 6, 7, PAD, PAD], [8, 9, 10, 11, 12]])
    pad = padding_mask(tgt, PAD)
    assert pad.shape == (2, 1, 1, 5)
    assert pad[:, 0, 0].tolist() == [[True, True, True, False, False], [True] * 5]
    both = decoder_self_mask(tgt, PAD)
    torch.testing.assert_close(both, pad & subsequent_mask(5), rtol=0, atol=0)


@given(seed=st.integers(0, 2**16), i=st.integers(0, N_TGT - 2))
@example(seed=0, i=0)
@example(seed=0, i=N_TGT - 2)
def test_transformer_position_i_ignores_later_target_tokens(seed: int, i: int) -> None:
    """Encoder-decoder: changing target tokens after position i leaves the logits at positions <= i unchanged."""
    model = shared_transformer()
    src, tgt = tokens(seed, 2, N_SRC), tokens(seed + 1, 2, N_TGT)
    changed = change_after(tgt, i, seed)
    before, after = model(src, tgt), model(src, changed)
    torch.testing.assert_close(after[:, : i + 1], before[:, : i + 1], rtol=0, atol=1e-6)
    assert (after[:, i + 1] - before[:, i + 1]).abs().max() > 1e-3  # the changed position itself does move


@given(seed=st.integers(0, 2**16), i=st.integers(0, N_TGT - 2))
@example(seed=0, i=0)
@example(seed=0, i=N_TGT - 2)
def test_decoder_only_position_i_ignores_later_tokens(seed: int, i: int) -> None:
    """Decoder-only LM: changing tokens after position i leaves the logits at positions <= i unchanged."""
    model = shared_lm()
    x = tokens(seed, 2, N_TGT)
    changed = change_after(x, i, seed)
    before, after = model(x), model(changed)
    torch.testing.assert_close(after[:, : i + 1], before[:, : i + 1], rtol=0, atol=1e-6)
    assert (after[:, i + 1] - before[:, i + 1]).abs().max() > 1e-3


def test_decoder_without_the_mask_leaks_the_future() -> None:
    """Broken variant: with an all-True self-attention mask, earlier outputs depend on later tokens."""
    model = shared_transformer()
    src, tgt = tokens(1, 2, N_SRC), tokens(2, 2, N_TGT)
    i = 3
    changed = change_after(tgt, i, seed=3)
    memory, src_attend = model.encode(src)
    everything = torch.ones(1, 1, N_TGT, N_TGT, dtype=torch.bool)

    def decoder_out(
        t: Int[Tensor, "batch n_tgt"], attend: Bool[Tensor, "1 1 n_tgt n_tgt"]
    ) -> Float[Tensor, "batch n_tgt d_model"]:
        x = model.stem.positions(model.tgt_embed(t))
        return model.decoder(x, memory, attend, src_attend)

    causal = subsequent_mask(N_TGT)
    kept = decoder_out(changed, causal)[:, : i + 1]
    torch.testing.assert_close(kept, decoder_out(tgt, causal)[:, : i + 1], rtol=0, atol=1e-6)
    leaked = (decoder_out(changed, everything)[:, : i + 1] - decoder_out(tgt, everything)[:, : i + 1]).abs()
    assert leaked.amax(dim=-1).min() > 1e-3  # every earlier position, in every sentence, sees the change

    # the same in the decoder-only LM: run its blocks without the mask
    lm = shared_lm()

    def lm_unmasked(t: Int[Tensor, "batch n_tgt"]) -> Float[Tensor, "batch n_tgt vocab"]:
        x = lm.stem.positions(lm.embed(t))
        return lm.embed.logits(lm.blocks(x, None))

    assert (lm_unmasked(changed)[:, : i + 1] - lm_unmasked(tgt)[:, : i + 1]).abs().max() > 1e-3


def test_masked_connections_get_exactly_zero_weight() -> None:
    """Weights on future positions are exactly 0.0, in Eq. 1 and in every decoder self-attention map."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, N_TGT, 7, generator=g)
    k = torch.randn(2, 3, N_TGT, 7, generator=g)
    future = ~torch.ones(N_TGT, N_TGT, dtype=torch.bool).tril()
    w = attention_weights(q, k, subsequent_mask(N_TGT))
    assert bool((w[..., future] == 0.0).all())
    assert bool((w[..., ~future] > 0.0).all())

    model, lm = fresh_transformer(), fresh_lm()
    with capture_attention(model) as in_model, capture_attention(lm) as in_lm:
        model(tokens(0, 2, N_SRC), tokens(1, 2, N_TGT))
        lm(tokens(2, 2, N_TGT))
    self_attention = [in_model.of(layer.self_attn) for layer in model.decoder.layers]
    self_attention += [in_lm.of(layer.self_attn) for layer in lm.blocks.layers]
    for (maps,) in self_attention:
        assert maps.shape == (2, model.cfg.h, N_TGT, N_TGT)
        assert bool((maps[..., future] == 0.0).all())
        assert bool((maps[..., ~future] > 0.0).all())


def test_padding_keys_get_exactly_zero_weight() -> None:
    """No query gives any weight to a padding key, in encoder self-attention or encoder-decoder attention."""
    model = fresh_transformer()
    src = tokens(0, 2, N_SRC)
    src[0, 4:] = PAD  # the first sentence has 4 real tokens
    tgt = tokens(1, 2, 5)
    watched = [layer.self_attn for layer in model.encoder.layers] + [layer.cross_attn for layer in model.decoder.layers]
    with capture_attention(model) as recorder:
        model(src, tgt)
    is_pad = src == PAD  # batch n_src
    for mha in watched:
        (maps,) = recorder.of(mha)
        pad_weights = maps.masked_select(is_pad[:, None, None, :].expand_as(maps))
        assert pad_weights.numel() > 0 and bool((pad_weights == 0.0).all())
        torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]), rtol=0, atol=1e-6)
    w = attention_weights(torch.randn(2, 1, 3, 5), torch.randn(2, 1, N_SRC, 5), padding_mask(src, PAD))
    assert bool((w[0, :, :, 4:] == 0.0).all()) and bool((w[1] > 0).all())


@settings(max_examples=10)
@given(seed=st.integers(0, 2**16), n_pad=st.sampled_from([1, 2, 5]))
def test_appending_source_padding_changes_no_real_output(seed: int, n_pad: int) -> None:
    """Appending pad tokens to the source changes no logit (to 1e-6)."""
    model = shared_transformer_f64()
    src, tgt = tokens(seed, 2, N_SRC), tokens(seed + 1, 2, 5)
    padded = torch.cat([src, torch.full((2, n_pad), PAD)], dim=1)
    torch.testing.assert_close(model(padded, tgt), model(src, tgt), rtol=0, atol=1e-6)
    memory, _ = model.encode(src)
    memory_padded, _ = model.encode(padded)
    torch.testing.assert_close(memory_padded[:, :N_SRC], memory, rtol=0, atol=1e-6)
    # in float32 the different kernel blocking for a longer source rounds differently, no more
    model32 = shared_transformer()
    torch.testing.assert_close(model32(padded, tgt), model32(src, tgt), rtol=1e-5, atol=1e-5)
    # broken variant: an encoder that ignores the padding mask lets the pads in
    x, x_padded = model.stem.positions(model.src_embed(src)), model.stem.positions(model.src_embed(padded))
    assert (model.encoder(x_padded, None)[:, :N_SRC] - model.encoder(x, None)).abs().max() > 1e-3


def test_batching_with_padding_matches_each_sentence_alone() -> None:
    """Sentences of different lengths batched with padding get the logits they get alone."""
    model = shared_transformer()
    lengths = [(7, 5), (3, 2), (5, 4)]  # (n_src, n_tgt) of each pair
    pairs = [(tokens(s, 1, n_src), tokens(s + 9, 1, n_tgt)) for s, (n_src, n_tgt) in enumerate(lengths)]
    max_src, max_tgt = max(n for n, _ in lengths), max(n for _, n in lengths)
    src = torch.full((len(pairs), max_src), PAD)
    tgt = torch.full((len(pairs), max_tgt), PAD)
    for b, (s, t) in enumerate(pairs):
        src[b, : s.shape[1]], tgt[b, : t.shape[1]] = s[0], t[0]
    batched = model(src, tgt)
    for b, (s, t) in enumerate(pairs):
        torch.testing.assert_close(batched[b : b + 1, : t.shape[1]], model(s, t), rtol=0, atol=1e-5)


@given(seed=st.integers(0, 2**16), n=st.sampled_from([3, 5, 7, 11]), d_k=st.sampled_from([2, 3, 5, 7]))
def test_masking_before_softmax_equals_zeroing_and_renormalising_after(seed: int, n: int, d_k: int) -> None:
    """softmax over all keys, masked and renormalised, equals Eq. 1 masked before the softmax; neither leaks."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, n, d_k, generator=g, dtype=torch.float64)
    k = torch.randn(2, n, d_k, generator=g, dtype=torch.float64)
    attend = subsequent_mask(n)[:, 0]  # 1 n n
    future = ~attend[0]

    def zeroed(keys: Float[Tensor, "batch n_kv d_k"]) -> Float[Tensor, "batch n_q n_kv"]:
        full = torch.softmax(q @ keys.transpose(-2, -1) / math.sqrt(d_k), dim=-1)  # over every key
        return full * attend  # illegal weights set to 0, not renormalised

    def renormalised(keys: Float[Tensor, "batch n_kv d_k"]) -> Float[Tensor, "batch n_q n_kv"]:
        w = zeroed(keys)
        return w / w.sum(-1, keepdim=True)

    masked_first = attention_weights(q, k, attend)
    torch.testing.assert_close(renormalised(k), masked_first, rtol=0, atol=1e-12)
    assert bool((renormalised(k)[:, future] == 0.0).all())  # still exactly 0 on the future
    # without renormalising, every row but the last falls short of 1
    sums = zeroed(k).sum(-1)
    assert bool((sums[:, :-1] < 1 - 1e-9).all())
    # and it leaks: the missing mass depends on future keys. Renormalised weights do not.
    m = n // 2  # perturb the keys at positions m..n-1; rows 0..m-1 must not notice
    k_changed = k.clone()
    k_changed[:, m:] += torch.randn(2, n - m, d_k, generator=g, dtype=torch.float64)
    torch.testing.assert_close(renormalised(k_changed)[:, :m], renormalised(k)[:, :m], rtol=0, atol=1e-12)
    torch.testing.assert_close(attention_weights(q, k_changed, attend)[:, :m], masked_first[:, :m], rtol=0, atol=0)
    assert (zeroed(k_changed)[:, :m] - zeroed(k)[:, :m]).abs().max() > 1e-6


def test_encoder_decoder_attention_takes_queries_from_decoder_and_keys_values_from_encoder() -> None:
    """Cross-attention: queries from the decoder (n_tgt), keys and values from the encoder output (n_src)."""
    model = fresh_transformer()
    n_src, n_tgt = 7, 3
    src, tgt = tokens(0, 2, n_src), tokens(1, 2, n_tgt)
    memory, src_attend = model.encode(src)
    calls: dict[str, tuple[object, ...]] = {}
    layer = model.decoder.layers[0]
    handles = [
        layer.self_attn.register_forward_pre_hook(lambda mod, args: calls.__setitem__("self", args)),
        layer.cross_attn.register_forward_pre_hook(lambda mod, args: calls.__setitem__("cross", args)),
        layer.self_attn_residual.register_forward_hook(lambda mod, args, out: calls.__setitem__("below", (out,))),
    ]
    try:
        with capture_attention(layer.cross_attn) as recorder:
            model.decode(tgt, memory, src_attend)
    finally:
        for handle in handles:
            handle.remove()
    x_q, x_kv = calls["cross"][0], calls["cross"][1]
    assert isinstance(x_q, Tensor) and isinstance(x_kv, Tensor)
    assert x_q.shape == (2, n_tgt, 30) and x_kv.shape == (2, n_src, 30)
    assert x_kv is memory  # keys and values: the encoder output itself
    assert calls["self"][0] is calls["self"][1]  # self-attention: one tensor for all three
    assert x_q is calls["below"][0]  # queries: the output of the decoder's masked self-attention block
    (maps,) = recorder.of(layer.cross_attn)
    assert maps.shape == (2, model.cfg.h, n_tgt, n_src)
    # a different memory changes the output; the query length stays n_tgt
    cross = layer.cross_attn
    y = torch.randn(2, n_tgt, 30)
    other_memory = memory + torch.randn_like(memory)
    out, out_other = cross(y, memory, src_attend), cross(y, other_memory, src_attend)
    assert out.shape == out_other.shape == (2, n_tgt, 30)
    assert (out - out_other).abs().max() > 1e-3


def test_inverted_mask_polarity_is_caught() -> None:
    """True means may attend; inverting a mask, or handing it to torch's True = blocked API, changes results."""
    g = torch.Generator().manual_seed(0)
    n, d_model, h = 5, 30, 5
    q, k, v = (torch.randn(2, h, n, 6, generator=g) for _ in range(3))
    attend = subsequent_mask(n)
    fine = fused_attention(q, k, v, attend)
    inverted = fused_attention(q, k, v, ~attend)
    assert not torch.allclose(fine[..., :-1, :], inverted[..., :-1, :])
    # torch.nn's own causal mask is -inf exactly where ours is False
    torch_causal = nn.Transformer.generate_square_subsequent_mask(n)
    torch.testing.assert_close(torch.isinf(torch_causal), ~attend[0, 0], rtol=0, atol=0)

    torch.manual_seed(1)
    ours = MultiHeadAttention(d_model, h).eval()
    theirs = nn.MultiheadAttention(d_model, h, dropout=0.0, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)
    x = torch.randn(2, n, d_model, generator=g)
    expected = ours(x, x, attend)
    converted, _ = theirs(x, x, x, attn_mask=~attend[0, 0], need_weights=False)  # True = blocked
    torch.testing.assert_close(converted, expected, rtol=0, atol=1e-6)
    wrong, _ = theirs(x, x, x, attn_mask=attend[0, 0], need_weights=False)  # our mask, their polarity
    assert not torch.allclose(wrong[:, :-1], expected[:, :-1], atol=1e-3)  # (the last row is all blocked)
