"""§3.2.3 Auto-regressive decoding with a key/value cache

The decoder is auto-regressive (§3.1): at inference it produces one target token per
step, each step reading all earlier ones. Because of the subsequent-position mask
(§3.2.3), position i's output depends only on positions 0..i, so the keys and values
of earlier positions never change once computed. A cache keeps them, and each step
projects only the newest position:

    self-attention cache (per decoder layer):  K, V of positions 0..t-1, plus row t
    encoder-decoder cache (per decoder layer): K = memory W^K, V = memory W^V,
                                               computed once, n_src rows

    decode(y_t | cache of y_0..y_{t-1}) == full_forward(y_0..y_t)[t]

The paper decodes this way without spelling it out; the cache is ours. The same
holds for the decoder-only language model (a stack of self-attention layers under
the subsequent-position mask), fed one token at a time or in chunks.

Beam search keeps a batch of hypotheses and, after each step, continues the best
ones, some duplicated, some dropped. `KVCache.reorder(index)` keeps batch rows
`index` of every cache; decoding on from a reordered cache equals a full forward
pass over the reordered batch.

Choice of ours: with a cache, target padding is the caller's business (decoding
never feeds padding); without a cache, padded target keys are masked.
"""

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor

from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.transformer import Transformer

CODE = "aiayn/model/kv_cache.py, aiayn/model/multi_head.py, aiayn/model/layers.py, aiayn/model/transformer.py, aiayn/model/decoder_only.py"

VOCAB = 53
ATOL = 1e-10  # the models run in float64, so cached and full passes agree to rounding


def small_config(**changes: object) -> TransformerConfig:
    base = dict(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2, p_drop=0.1)
    return TransformerConfig(**{**base, **changes})  # type: ignore[arg-type]


def tokens(batch: int, n: int) -> Int[Tensor, "batch n"]:
    """Random non-padding ids (pad_id is 0)."""
    return torch.randint(1, VOCAB, (batch, n))


def decode_step_by_step(
    model: Transformer, src: Int[Tensor, "batch n_src"], tgt: Int[Tensor, "batch n_tgt"]
) -> Float[Tensor, "batch n_tgt vocab"]:
    """Feed the target one token at a time through the cache, collecting each step's logits."""
    memory, src_attend = model.encode(src)
    cache = model.new_cache()
    steps = [model.decode(tgt[:, t : t + 1], memory, src_attend, cache) for t in range(tgt.shape[1])]
    return torch.cat(steps, dim=1)


@settings(max_examples=8)
@given(
    batch=st.integers(1, 3),
    n_src=st.integers(1, 11),
    n_tgt=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    pad_src=st.booleans(),
)
@example(batch=2, n_src=7, n_tgt=5, seed=0, pad_src=True)
def test_cached_decoding_matches_full_forward_encoder_decoder(
    batch: int, n_src: int, n_tgt: int, seed: int, pad_src: bool
) -> None:
    """Decoding one target token at a time with the cache gives the full forward pass's logits."""
    torch.manual_seed(seed)
    model = Transformer(small_config()).eval().double()
    src, tgt = tokens(batch, n_src), tokens(batch, n_tgt)
    if pad_src and n_src > 1:
        src[0, -1] = 0  # a padded source row: the cached path must mask it too
    with torch.no_grad():
        full = model(src, tgt)
        cached = decode_step_by_step(model, src, tgt)
        # the broken variant: one token at a time but no memory of earlier steps
        memory, src_attend = model.encode(src)
        forgetful = torch.cat(
            [model.decode(tgt[:, t : t + 1], memory, src_attend) for t in range(n_tgt)], dim=1
        )
    torch.testing.assert_close(cached, full, rtol=0, atol=ATOL)
    if n_tgt > 1:
        assert (forgetful[:, 1:] - full[:, 1:]).abs().max() > 1e-3


@settings(max_examples=10)
@given(
    batch=st.integers(1, 3),
    n=st.integers(2, 13),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@example(batch=2, n=11, seed=0, data=None)
def test_cached_decoding_matches_full_forward_decoder_only(batch: int, n: int, seed: int, data: st.DataObject | None) -> None:
    """The decoder-only model gives the same logits fed one token at a time, in chunks, or all at once."""
    torch.manual_seed(seed)
    model = DecoderOnlyLM(small_config()).eval().double()
    ids = tokens(batch, n)
    if data is None:
        cuts = [2, 3, 7]
    else:
        cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=4), label="chunk boundaries"))
    bounds = [0, *cuts, n]
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        one_by_one = torch.cat([model(ids[:, t : t + 1], cache) for t in range(n)], dim=1)
        cache = model.new_cache()
        chunked = torch.cat([model(ids[:, a:b], cache) for a, b in zip(bounds, bounds[1:])], dim=1)
    torch.testing.assert_close(one_by_one, full, rtol=0, atol=ATOL)
    torch.testing.assert_close(chunked, full, rtol=0, atol=ATOL)


@settings(max_examples=5)
@given(batch=st.integers(1, 3), n_src=st.integers(1, 11), n_tgt=st.integers(1, 7), seed=st.integers(0, 2**16))
@example(batch=2, n_src=7, n_tgt=5, seed=0)
def test_self_attention_cache_grows_by_one_per_step_cross_attention_cache_holds_n_src(
    batch: int, n_src: int, n_tgt: int, seed: int
) -> None:
    """Each step adds one position to every self-attention cache; the encoder-decoder caches keep n_src, projected once."""
    torch.manual_seed(seed)
    cfg = small_config()
    model = Transformer(cfg).eval()
    src, tgt = tokens(batch, n_src), tokens(batch, n_tgt)
    # count how often the encoder-decoder keys are projected (W^K applied to the memory)
    cross_key_calls = [0]
    hooks = [
        layer.cross_attn.w_k.register_forward_hook(lambda *_: cross_key_calls.__setitem__(0, cross_key_calls[0] + 1))
        for layer in model.decoder.layers
    ]
    try:
        with torch.no_grad():
            memory, src_attend = model.encode(src)
            cache = model.new_cache()
            assert len(cache) == 0
            for t in range(n_tgt):
                model.decode(tgt[:, t : t + 1], memory, src_attend, cache)
                assert len(cache) == t + 1
                for self_cache, cross_cache in zip(cache.self_attn, cache.cross_attn, strict=True):
                    assert self_cache.k is not None and self_cache.v is not None
                    assert self_cache.k.shape == (batch, cfg.h, t + 1, cfg.d_k)
                    assert self_cache.v.shape == (batch, cfg.h, t + 1, cfg.d_v)
                    assert cross_cache.k is not None and cross_cache.v is not None
                    assert cross_cache.k.shape == (batch, cfg.h, n_src, cfg.d_k)
                    assert cross_cache.v.shape == (batch, cfg.h, n_src, cfg.d_v)
                assert cross_key_calls[0] == cfg.n_layers  # filled at step 0, then only read
    finally:
        for hook in hooks:
            hook.remove()
    assert len(model.new_cache()) == 0  # a fresh cache per sentence


@settings(max_examples=8)
@given(
    batch=st.integers(1, 4),
    n_src=st.integers(1, 11),
    n_before=st.integers(1, 5),
    n_after=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@example(batch=3, n_src=7, n_before=3, n_after=2, seed=0, data=None)
def test_reorder_selects_batch_rows_like_beam_search(
    batch: int, n_src: int, n_before: int, n_after: int, seed: int, data: st.DataObject | None
) -> None:
    """After `reorder(index)`, decoding on gives the full forward pass over the rows `index` of the batch."""
    torch.manual_seed(seed)
    model = Transformer(small_config()).eval().double()
    src, tgt = tokens(batch, n_src), tokens(batch, n_before + n_after)
    if data is None:
        index = torch.tensor([2, 0, 0, 1])  # survivors, one twice, in a new order
    else:
        index = torch.tensor(data.draw(st.lists(st.integers(0, batch - 1), min_size=1, max_size=5), label="index"))
    with torch.no_grad():
        memory, src_attend = model.encode(src)
        cache = model.new_cache()
        model.decode(tgt[:, :n_before], memory, src_attend, cache)

        # beam search keeps rows `index`: the cache follows, and so do the caller's memory and targets
        cache.reorder(index)
        memory, src_attend, tgt = memory[index], src_attend[index], tgt[index]
        continued = torch.cat(
            [model.decode(tgt[:, t : t + 1], memory, src_attend, cache) for t in range(n_before, tgt.shape[1])],
            dim=1,
        )
        full = model(src[index], tgt)
    torch.testing.assert_close(continued, full[:, n_before:], rtol=0, atol=ATOL)


@pytest.mark.parametrize("index", [[1, 0, 2], [0, 0, 2], [2, 2, 2], [0, 1, 2]])
def test_reorder_within_one_batch_size_rewrites_rows_in_place_and_still_matches_the_full_pass(index: list[int]) -> None:
    """A reorder that keeps the batch size (beams among themselves) rewrites the changed rows of the
    same buffers, and decoding on still equals the full pass; an identity reorder copies nothing."""
    torch.manual_seed(1)
    model = Transformer(small_config()).eval().double()
    src, tgt = tokens(3, 6), tokens(3, 5)
    rows = torch.tensor(index)
    with torch.no_grad():
        memory, src_attend = model.encode(src)
        cache = model.new_cache()
        model.decode(tgt[:, :3], memory, src_attend, cache)
        memory, src_attend = memory[rows], src_attend[rows]
        before = [(c.k.data_ptr(), c.k.clone()) for c in cache.self_attn]
        cache.reorder(rows)  # self-attention caches in place; encoder-decoder caches (static) by a copy
        for c, (pointer, old) in zip(cache.self_attn, before, strict=True):
            assert c.k.data_ptr() == pointer  # the same buffer, rewritten where a row changed
            torch.testing.assert_close(c.k, old[rows], rtol=0, atol=0)
        tgt = tgt[rows]
        continued = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_attend, cache) for t in (3, 4)], dim=1)
        full = model(src[rows], tgt)
    torch.testing.assert_close(continued, full[:, 3:], rtol=0, atol=ATOL)

    # the broken variant: writing each row as soon as it is read overwrites a source still to be read
    if index == [1, 0, 2]:
        k = before[0][1].clone()
        for row, source in enumerate(index):
            k[row] = k[source]
        assert not torch.equal(k, before[0][1][rows])  # row 1 gets the new row 0, not the old one


def test_decoder_only_cache_reorder_matches_reordered_batch() -> None:
    """The decoder-only model's per-layer caches reorder batch rows the same way."""
    torch.manual_seed(0)
    model = DecoderOnlyLM(small_config()).eval().double()
    ids = tokens(3, 7)
    index = torch.tensor([1, 1, 2, 0, 2])
    with torch.no_grad():
        cache = model.new_cache()
        model(ids[:, :4], cache)
        cache.reorder(index)
        continued = model(ids[index, 4:], cache)
        full = model(ids[index])

        # the broken variant: a cache left in the old order (cut to the new batch size by
        # repeating it) answers for the wrong rows
        stale = model.new_cache()
        model(ids[:, :4], stale)
        stale.reorder(torch.tensor([0, 1, 2, 0, 1]))
        wrong = model(ids[index, 4:], stale)
    torch.testing.assert_close(continued, full[:, 4:], rtol=0, atol=ATOL)
    assert (wrong - full[:, 4:]).abs().max() > 1e-3
    with pytest.raises(IndexError):  # rows that do not exist are refused, not invented
        cache.self_attn[0].reorder(torch.tensor([99]))
