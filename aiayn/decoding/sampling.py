"""Sampling from the decoder-only language model, with the key/value cache.

Not in the paper (which decodes translations by beam search, §6.1); GPT-style models
are sampled. One step turns the logits of each row's last position into a token:

    greedy                      argmax, when temperature == 0 or top_k == 1
    temperature t               softmax(logits / t): t < 1 sharpens, t > 1 flattens
    top-k                       keep the k largest logits (ties at the k-th all stay)
    top-p (nucleus)             keep the smallest set of most probable tokens whose
                                probability reaches p: token i (sorted by probability)
                                stays when the tokens before it hold less than p

Filters apply in that order (temperature, top-k, top-p), then a token is drawn from
what is left, renormalised. The padding id is never an output.

Batching: prompts of different lengths are padded on the LEFT, so every row's last real
token sits in the last column, and the model is given the mask of real tokens, from
which it counts positions per row (`aiayn.model.decoder_only`). A left-padded prompt
therefore gets the same logits as the prompt alone. A row stops at `eos_id` (the eos is
not part of its output) and leaves the batch (and the cache) at once; the rest go on to
`max_new_tokens`.

Context window: the model reads at most `context` tokens at once (by default its
`max_len`, all that learned positions cover). A longer prompt is read from its last
`context` tokens; when generation fills the window, it slides: the last context / 2
tokens are kept and read afresh (a new cache, positions from 0 again), so the window
holds between context / 2 and `context` tokens and the cache is rebuilt only once
every context / 2 steps.

Choices of ours: every prompt holds at least one token (start one with bos or a newline
if it has nothing); the draws come from one `torch.Generator` seeded with `seed`, one
draw per live row per step, so a result depends on the seed and on the batch as given.
`use_cache=False` recomputes the whole window every step (the reference the cache is
checked against, spec/variant_decoder_only.py, and timed by scripts/bench_kv_cache.py).
"""

from collections.abc import Callable, Sequence

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from aiayn.decoding.search import inference
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.inputs import pad_rows

OnToken = Callable[[int, int], None]  # (prompt index, token id), called as each token is made


def top_p_keep(probs: Float[Tensor, "batch vocab"], top_p: float) -> Bool[Tensor, "batch vocab"]:
    """The smallest set of most probable tokens whose probability reaches top_p, per row."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above
    keep_sorted = before < top_p
    keep_sorted[..., 0] = True  # the most probable token always stays
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def next_token_probs(
    logits: Float[Tensor, "batch vocab"], temperature: float, top_k: int | None, top_p: float | None
) -> Float[Tensor, "batch vocab"]:
    """The distribution a token is drawn from (temperature > 0): scaled, cut by top-k and top-p."""
    scaled = logits.double() / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if top_p is not None and top_p < 1.0:
        probs = probs * top_p_keep(probs, top_p)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def choose(
    logits: Float[Tensor, "batch vocab"],
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator,
) -> Int[Tensor, " batch"]:
    """One token per row: greedy at temperature 0 or top_k 1, else drawn from `next_token_probs`."""
    if temperature == 0 or top_k == 1:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _check(
    model: DecoderOnlyLM,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    context: int | None,
) -> None:
    if not prompts:
        raise ValueError("generate: no prompts given")
    for i, prompt in enumerate(prompts):
        if len(prompt) == 0:
            raise ValueError(f"generate: prompt {i} is empty; start it with a token (bos, or a newline)")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if not temperature >= 0:
        raise ValueError(f"generate: temperature must be >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"generate: top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"generate: top_p must lie in (0, 1], got {top_p!r}")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise ValueError(f"generate: context must be a positive integer or None, got {context!r}")
    if context is not None and model.cfg.positions == "learned" and context > model.cfg.max_len:
        raise ValueError(f"generate: context={context} is beyond the learned positions' max_len={model.cfg.max_len}")


def generate(
    model: DecoderOnlyLM,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    eos_id: int | None = None,
    pad_id: int | None = None,
    on_token: OnToken | None = None,
    use_cache: bool = True,
    context: int | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Continue every prompt by up to `max_new_tokens` tokens; returns the new tokens of each
    (without the prompt, and without the eos that stopped it).

    The model reads at most `context` columns at once (default: its `max_len`)."""
    _check(model, prompts, max_new_tokens, temperature, top_k, top_p, context)
    pad_id = model.cfg.pad_id if pad_id is None else pad_id
    context = model.cfg.max_len if context is None else context
    keep = max(1, context // 2)  # columns kept when the window slides
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    out: list[list[int]] = [[] for _ in prompts]
    with inference(model):
        tokens = pad_rows(prompts, pad_id, left=True).to(device)
        lengths = torch.tensor([len(p) for p in prompts], device=device)
        columns = torch.arange(tokens.shape[1], device=device)[None, :]
        attend = columns >= tokens.shape[1] - lengths[:, None]  # True on real tokens, padding on the left
        rows = torch.arange(len(prompts), device=device)  # which prompt each live row continues
        start = max(0, tokens.shape[1] - context)  # first column of the window the model reads
        cache = model.new_cache() if use_cache else None
        fed = start  # first column the next call feeds: the window, or (cached) only the new one
        for _ in range(max_new_tokens):
            logits = model(tokens[:, fed:], cache, attend[:, start:])[:, -1]
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
            logits[:, pad_id] = float("-inf")
            chosen = choose(logits, temperature, top_k, top_p, generator)
            stop = chosen == eos_id if eos_id is not None else torch.zeros_like(chosen, dtype=torch.bool)
            for row, token, done in zip(rows.tolist(), chosen.tolist(), stop.tolist()):
                if not done:
                    out[row].append(token)
                    if on_token is not None:
                        on_token(row, token)
            live = (~stop).nonzero().squeeze(-1)
            if live.numel() == 0:
                break
            if live.numel() < rows.numel():  # finished rows leave the batch
                rows, tokens, attend, chosen = rows[live], tokens[live], attend[live], chosen[live]
                if cache is not None:
                    cache.reorder(live)
            tokens = torch.cat([tokens, chosen[:, None]], dim=1)
            attend = torch.cat([attend, torch.ones_like(chosen[:, None], dtype=torch.bool)], dim=1)
            if tokens.shape[1] - start > context:  # the window is full: slide it, keeping the last `keep`
                start = tokens.shape[1] - keep
                cache = model.new_cache() if use_cache else None
                fed = start
            else:
                fed = start if cache is None else tokens.shape[1] - 1
    return tuple(tuple(row) for row in out)
