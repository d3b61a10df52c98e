"""Attention maps: the weights every head used, layer by layer, with the tokens.

    with capture_attention(model) as recorder:   # every MultiHeadAttention in model
        model(src, tgt)
    recorder.of(model.encoder.layers[0].self_attn)  # one (batch, h, n_q, n_kv) per call

While the capture is open, the watched modules compute Eq. 1 written out instead of
the fused kernel and hand over the weights they multiplied the values by (so the maps
are the weights used, not a recomputation). Nothing is stored on the modules: on
leaving the `with` block they are as before, and later calls record nothing.

`translation_attention` and `language_model_attention` run one sentence through a
model and return, per kind of attention, a (layer, head, query, key) tensor with the
query and key tokens: for a translation model the encoder self-attention, the
decoder's masked self-attention and the encoder-decoder attention (Figure 1); for a
decoder-only model its masked self-attention.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor, nn

from aiayn.decoding.search import beam_search, greedy_decode, inference
from aiayn.model.multi_head import MultiHeadAttention, WeightWatcher, watching_weights

# kind -> (title, what the query rows are, what the key columns are), as the pictures say it
KINDS = {
    "encoder_self": ("encoder self-attention", "source token (query)", "source token (key)"),
    "decoder_self": ("decoder self-attention (masked)", "target input, predicting the next (query)",
                     "target input (key)"),
    "encoder_decoder": ("encoder-decoder attention", "target input, predicting the next (query)",
                        "source token (key)"),
    "self": ("self-attention (masked)", "token, predicting the next (query)", "token (key)"),
}  # fmt: skip


class AttentionRecorder:
    """The weights handed over by each watched module, in call order, while a capture is open."""

    def __init__(self, model: nn.Module) -> None:
        self._names = {id(m): name for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
        self._modules = tuple(m for m in model.modules() if isinstance(m, MultiHeadAttention))
        self._calls: list[tuple[str, Tensor]] = []

    def watcher(self, name: str) -> WeightWatcher:
        def record(weights: Float[Tensor, "batch h n_q n_all"]) -> None:
            self._calls.append((name, weights))

        return record

    def watchers(self) -> tuple[tuple[MultiHeadAttention, WeightWatcher], ...]:
        return tuple((m, self.watcher(self._names[id(m)])) for m in self._modules)

    @property
    def calls(self) -> tuple[tuple[str, Tensor], ...]:
        """(module name, weights) for every call, in order."""
        return tuple(self._calls)

    def of(self, module: MultiHeadAttention) -> tuple[Tensor, ...]:
        """The weights (batch, h, n_q, n_kv) of each call of one module, in order."""
        if id(module) not in self._names:
            raise KeyError("this MultiHeadAttention is not part of the captured model")
        name = self._names[id(module)]
        return tuple(w for n, w in self._calls if n == name)


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[AttentionRecorder]:
    """Record the attention weights of every MultiHeadAttention in `model` inside the block."""
    recorder = AttentionRecorder(model)
    watchers = recorder.watchers()
    if not watchers:
        raise ValueError(f"capture_attention: {type(model).__name__} holds no MultiHeadAttention")
    with watching_weights(watchers):
        yield recorder


@dataclass(frozen=True)
class AttentionMaps:
    """One kind of attention: weights[layer, head, i, j] is how much query token i
    attends to key token j in that layer and head (each row sums to 1)."""

    kind: str
    weights: Float[Tensor, "layer h n_q n_kv"]
    query_tokens: tuple[str, ...]
    key_tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        n_q, n_kv = self.weights.shape[-2:]
        if (len(self.query_tokens), len(self.key_tokens)) != (n_q, n_kv):
            raise ValueError(
                f"AttentionMaps {self.kind}: weights are {n_q} x {n_kv} but there are "
                f"{len(self.query_tokens)} query and {len(self.key_tokens)} key tokens"
            )

    @property
    def title(self) -> str:
        return KINDS.get(self.kind, (self.kind,))[0]

    @property
    def axes(self) -> tuple[str, str]:
        """(query, key) axis labels."""
        return KINDS[self.kind][1:] if self.kind in KINDS else ("query", "key")

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def h(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class ModelAttention:
    """Every kind of attention of one model on one input; `maps` in the order of Figure 1."""

    model: str  # "translation" or "language_model"
    text: str
    target: str | None  # translation: the target fed to the decoder
    target_source: str  # "given", "greedy" or "beam N"; "" for a language model
    maps: tuple[AttentionMaps, ...]

    def __getitem__(self, kind: str) -> AttentionMaps:
        for m in self.maps:
            if m.kind == kind:
                return m
        raise KeyError(f"no {kind!r} attention here; there is {', '.join(m.kind for m in self.maps)}")


@runtime_checkable
class Tokens(Protocol):
    """What the maps need of a tokenizer (`aiayn.data.tokenizer.BpeTokenizer` has it)."""

    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def token(self, token_id: int) -> str: ...


def token_label(tokenizer: Tokens, token_id: int) -> str:
    """A readable label: a special token's name (<s>, </s>), else the piece's text without its space."""
    if token_id in (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id):
        return tokenizer.token(token_id)
    return tokenizer.decode([token_id]).strip() or tokenizer.token(token_id)


def _stack(recorder: AttentionRecorder, modules: tuple[MultiHeadAttention, ...]) -> Float[Tensor, "layer h n_q n_kv"]:
    per_layer = []
    for i, mha in enumerate(modules):
        calls = recorder.of(mha)
        if len(calls) != 1:
            raise RuntimeError(f"layer {i}: expected one attention call, got {len(calls)}")
        per_layer.append(calls[0][0])  # the one sentence of the batch
    return torch.stack(per_layer).float().cpu()


def translation_attention(
    model: nn.Module, tokenizer: Tokens, source: str, target: str | None = None, beam_size: int = 1
) -> ModelAttention:
    """Encoder self, decoder self and encoder-decoder maps for `source` and a target: `target`
    if given, else the model's own translation (greedy for beam_size 1, else beam search),
    fed to the decoder after <s> as in training (teacher forcing)."""
    if not source.strip():
        raise ValueError("translation_attention: the source text is empty")
    device = next(model.parameters()).device
    src_ids = [*tokenizer.encode(source.strip()), tokenizer.eos_id]  # as `translate_lines` feeds it
    src = torch.tensor([src_ids], device=device)
    if target is None:
        search = greedy_decode if beam_size == 1 else beam_search
        kwargs = {} if beam_size == 1 else {"beam_size": beam_size}
        tgt_ids = list(search(model, src, tokenizer.bos_id, tokenizer.eos_id, **kwargs)[0])
        how = "greedy" if beam_size == 1 else f"beam {beam_size}"
        target = tokenizer.decode(tgt_ids)
    else:
        tgt_ids, how = tokenizer.encode(target.strip()), "given"
    tgt_in = [tokenizer.bos_id, *tgt_ids]
    with inference(model), capture_attention(model) as recorder:
        model(src, torch.tensor([tgt_in], device=device))
    src_tokens = tuple(token_label(tokenizer, i) for i in src_ids)
    tgt_tokens = tuple(token_label(tokenizer, i) for i in tgt_in)
    enc, dec = tuple(model.encoder.layers), tuple(model.decoder.layers)
    maps = (
        AttentionMaps("encoder_self", _stack(recorder, tuple(x.self_attn for x in enc)), src_tokens, src_tokens),
        AttentionMaps("decoder_self", _stack(recorder, tuple(x.self_attn for x in dec)), tgt_tokens, tgt_tokens),
        AttentionMaps("encoder_decoder", _stack(recorder, tuple(x.cross_attn for x in dec)), tgt_tokens, src_tokens),
    )
    return ModelAttention("translation", source, target, how, maps)


def language_model_attention(model: nn.Module, tokenizer: Tokens, text: str, prepend_bos: bool = False) -> ModelAttention:
    """The masked self-attention maps of a decoder-only model (`DecoderOnlyLM`) over `text`."""
    ids = [tokenizer.bos_id] * prepend_bos + tokenizer.encode(text)
    if not ids:
        raise ValueError("language_model_attention: the text is empty")
    device = next(model.parameters()).device
    with inference(model), capture_attention(model) as recorder:
        model(torch.tensor([ids], device=device))
    tokens = tuple(token_label(tokenizer, i) for i in ids)
    weights = _stack(recorder, tuple(x.self_attn for x in model.blocks.layers))
    return ModelAttention("language_model", text, None, "", (AttentionMaps("self", weights, tokens, tokens),))
