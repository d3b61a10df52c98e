"""The learner tools in aiayn.inspect.introspect: shape traces, parameter tables, Table 3 counts."""

import re

import pytest
import torch
from torch import nn

from aiayn.model.config import TransformerConfig, preset
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.encoder_classifier import EncoderClassifier
from aiayn.inspect.introspect import (
    PAPER_PARAMS_MILLIONS,
    closed_form_parameters,
    format_parameter_table,
    format_trace,
    parameter_table,
    table3_comparison,
    trace_shapes,
    vocab_reproducing,
)
from aiayn.model.transformer import Transformer

# distinct sizes, so no two dimensions can be mistaken for each other
VOCAB, D_MODEL, H, D_FF, N = 31, 12, 2, 17, 2  # d_k = 6
BATCH, N_SRC, N_TGT = 3, 7, 5


def tiny(**changes: object) -> TransformerConfig:
    return TransformerConfig(vocab_size=VOCAB, n_layers=N, d_model=D_MODEL, d_ff=D_FF, h=H, max_len=64).replace(**changes)


def ids(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, VOCAB, (BATCH, n), generator=torch.Generator().manual_seed(seed))


def unique_parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def test_trace_lists_every_sublayer_of_every_layer_with_its_shapes() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny()).eval()
    records = trace_shapes(model, ids(N_SRC), ids(N_TGT, 1))
    by_name = {r.name: r for r in records}
    src_width, tgt_width = (BATCH, N_SRC, D_MODEL), (BATCH, N_TGT, D_MODEL)

    assert records[0].name == "Transformer" and records[0].depth == 0
    assert records[0].inputs == ((BATCH, N_SRC), (BATCH, N_TGT))
    assert records[0].output == (BATCH, N_TGT, VOCAB)
    for i in range(N):
        for sub in ("self_attn", "feed_forward"):
            assert by_name[f"encoder.layers.{i}.{sub}"].output == src_width
            assert by_name[f"encoder.layers.{i}.{sub}_residual"].inputs == (src_width,)
        for sub in ("self_attn", "cross_attn", "feed_forward"):
            assert by_name[f"decoder.layers.{i}.{sub}"].output == tgt_width
            assert by_name[f"decoder.layers.{i}.{sub}_residual"].output == tgt_width
        # queries from the decoder, keys and values from the encoder output
        cross = by_name[f"decoder.layers.{i}.cross_attn"]
        assert cross.inputs[:2] == (tgt_width, src_width)
        assert cross.inputs[2] == (BATCH, 1, 1, N_SRC)  # the source padding mask
        assert by_name[f"decoder.layers.{i}.self_attn"].inputs[2] == (BATCH, 1, N_TGT, N_TGT)  # causal & padding
    assert by_name["encoder"].output == src_width and by_name["decoder"].output == tgt_width
    assert by_name["tgt_embed.logits"].inputs == (tgt_width,)
    assert by_name["tgt_embed.logits"].output == (BATCH, N_TGT, VOCAB)

    # call order: parents before children, encoder before decoder, logits last
    names = [r.name for r in records]
    assert names.index("encoder") < names.index("encoder.layers.0") < names.index("encoder.layers.0.self_attn")
    assert names.index("encoder.layers.1.feed_forward") < names.index("decoder")
    assert names[-1] == "tgt_embed.logits"
    embeddings = [r for r in records if r.kind == "Embedding"]
    assert [r.output for r in embeddings] == [src_width, tgt_width]  # one shared module, called twice
    assert embeddings[0].name == "tgt_embed = src_embed"
    # nesting: model > encoder > layer > residual wrapper > attention
    depths = [by_name[n].depth for n in ("encoder", "encoder.layers.0", "encoder.layers.0.self_attn_residual")]
    assert depths == [1, 2, 3] and by_name["encoder.layers.0.self_attn"].depth == 4


def test_trace_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(0)
    model = Transformer(tiny()).eval()
    src, tgt = ids(N_SRC), ids(N_TGT, 1)
    before = model(src, tgt)
    trace_shapes(model, src, tgt)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert "logits" not in vars(model.tgt_embed)  # the wrapper around x E^T is gone
    assert torch.equal(model(src, tgt), before)
    assert len(trace_shapes(model, src, tgt)) == len(trace_shapes(model, src, tgt))  # repeatable


def test_trace_every_module_shows_the_inner_width_d_ff() -> None:
    model = Transformer(tiny()).eval()
    records = trace_shapes(model, ids(N_SRC), ids(N_TGT, 1), every=True)
    w_1 = next(r for r in records if r.name == "encoder.layers.0.feed_forward.w_1")
    assert w_1.kind == "Linear" and w_1.output == (BATCH, N_SRC, D_FF)
    assert any(r.kind == "Dropout" for r in records) and any(r.kind == "LayerNorm" for r in records)
    assert len(records) > len(trace_shapes(model, ids(N_SRC), ids(N_TGT, 1)))


def test_trace_works_for_decoder_only_and_classifier_models() -> None:
    lm = DecoderOnlyLM(tiny()).eval()
    records = trace_shapes(lm, ids(N_SRC))
    assert records[0].output == (BATCH, N_SRC, VOCAB)
    assert [r.name for r in records if r.kind == "EncoderLayer"] == ["blocks.layers.0", "blocks.layers.1"]
    assert records[-1].name == "embed.logits"
    classifier = EncoderClassifier(tiny(), n_classes=3).eval()
    assert trace_shapes(classifier, ids(N_SRC))[0].output == (BATCH, 3)


def test_format_trace_is_a_table_naming_dimensions_when_asked() -> None:
    model = Transformer(tiny()).eval()
    records = trace_shapes(model, ids(N_SRC), ids(N_TGT, 1))
    text = format_trace(records)
    lines = text.splitlines()
    assert lines[0].split() == ["module", "class", "input", "shapes", "output", "shape"]
    assert len(lines) == len(records) + 2
    assert f"({BATCH}, {N_TGT}, {VOCAB})" in lines[2]
    assert re.search(r"^\s+decoder\.layers\.1\.cross_attn\s+MultiHeadAttention", text, re.M)
    named = format_trace(records, dims={"batch": BATCH, "n_src": N_SRC, "n_tgt": N_TGT, "d_model": D_MODEL, "vocab": VOCAB})
    assert "(batch, n_src, d_model)" in named and "(batch, n_tgt, vocab)" in named
    # an ambiguous size stays a number
    assert "(3, n_src, d_model)" in format_trace(records, dims={"batch": 3, "h": 3, "n_src": N_SRC, "d_model": D_MODEL})


def test_trace_runs_on_the_real_base_model() -> None:
    """What `aiayn trace --preset base` does: a real (not meta) base model, batch 2, short inputs."""
    torch.manual_seed(0)
    model = Transformer(preset("base")).eval()
    src, tgt = torch.randint(1, 37000, (2, 5)), torch.randint(1, 37000, (2, 3))
    records = trace_shapes(model, src, tgt)
    assert records[0].output == (2, 3, 37000)
    assert sum(r.kind == "MultiHeadAttention" for r in records) == 6 + 2 * 6
    assert "decoder.layers.5.feed_forward" in format_trace(records)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Transformer(tiny()),
        lambda: Transformer(tiny(share_embeddings=False)),
        lambda: Transformer(tiny(positions="learned", norm="pre")),
        lambda: DecoderOnlyLM(tiny()),
        lambda: EncoderClassifier(tiny(), n_classes=3),
    ],
    ids=["shared", "unshared", "learned-prenorm", "decoder-only", "classifier"],
)
def test_parameter_table_sums_to_the_unique_parameter_count(make) -> None:  # noqa: ANN001
    model = make()
    rows = parameter_table(model)
    assert sum(r.count for r in rows) == unique_parameter_count(model)
    assert all(r.count == sum(torch.Size(s).numel() for s in r.shapes) for r in rows)
    names = [r.name for r in rows]
    assert len(names) == len(set(names))


def test_parameter_table_counts_the_shared_embedding_once_and_says_so() -> None:
    model = Transformer(tiny())
    rows = parameter_table(model)
    embeddings = [r for r in rows if r.part == "embedding"]
    assert len(embeddings) == 1 and embeddings[0].count == VOCAB * D_MODEL
    assert embeddings[0].name == "tgt_embed = src_embed"
    assert "pre-softmax" in embeddings[0].note and "tgt_embed and src_embed" in embeddings[0].note
    unshared = [r for r in parameter_table(Transformer(tiny(share_embeddings=False))) if r.part == "embedding"]
    assert [r.name for r in unshared] == ["tgt_embed", "src_embed"]
    assert "pre-softmax" in unshared[0].note and not unshared[1].note  # only the target's E^T makes logits
    classifier = parameter_table(EncoderClassifier(tiny(), n_classes=3))
    assert not [r for r in classifier if "pre-softmax" in r.note]
    assert "pre-softmax" in parameter_table(DecoderOnlyLM(tiny()))[0].note
    # per-layer blocks, each with the closed-form size
    count = closed_form_parameters(tiny())
    by_name = {r.name: r for r in rows}
    assert by_name["encoder.layers.0.self_attn"].count == count["attention"]
    assert by_name["decoder.layers.1.feed_forward"].count == count["feed_forward"]
    assert by_name["decoder.layers.1.cross_attn_residual.norm"].count == count["layer_norm"]
    # a tensor shared between two modules is counted in the first row only
    shared_bias = nn.Module()
    shared_bias.a, shared_bias.b = nn.Linear(3, 5), nn.Linear(3, 5)
    shared_bias.b.weight = shared_bias.a.weight
    table = parameter_table(shared_bias)
    assert [r.count for r in table] == [3 * 5 + 5, 5] and "a" in table[1].note


def test_format_parameter_table_shows_subtotals_and_totals() -> None:
    model = Transformer(tiny())
    text = format_parameter_table(parameter_table(model))
    count = closed_form_parameters(tiny())
    assert f"{count['total']:,}" in text and f"{count['non_embedding']:,}" in text
    assert re.search(rf"encoder\.layers\.0 \(subtotal\)\s+{count['encoder_layer']:,}", text)
    assert re.search(rf"decoder\.layers\.1 \(subtotal\)\s+{count['decoder_layer']:,}", text)
    assert "[1] tgt_embed = src_embed" in text


@pytest.mark.parametrize(
    "cfg",
    [tiny(), tiny(share_embeddings=False), tiny(positions="learned"), tiny(norm="pre"),
     tiny(d_k_override=5, d_v_override=3), tiny(h=3, d_model=14, d_k_override=4, d_v_override=7)],
    ids=["base-shape", "unshared", "learned", "pre-norm", "dk-dv", "odd"],
)
def test_closed_form_matches_the_built_model(cfg: TransformerConfig) -> None:
    model = Transformer(cfg)
    count = closed_form_parameters(cfg)
    assert count["total"] == unique_parameter_count(model)
    table = parameter_table(model)
    assert count["embedding"] == sum(r.count for r in table if r.part == "embedding")
    assert count["positions"] == sum(r.count for r in table if r.part == "positions")
    assert count["non_embedding"] == sum(r.count for r in table if r.part == "non-embedding")


def test_table3_comparison_reports_every_row_and_the_papers_figures() -> None:
    text = table3_comparison()
    base = next(line for line in text.splitlines() if line.startswith("base "))
    assert "44.14M" in base and "63.08M" in base and "65M" in base
    big = next(line for line in text.splitlines() if line.startswith("big "))
    assert "176.36M" in big and "214.25M" in big and "213M" in big
    for row in ("A1", "A4", "B1", "C5", "D4", "E"):
        assert re.search(rf"^{row}\s", text, re.M)
    for row, millions in PAPER_PARAMS_MILLIONS.items():
        line = next(line for line in text.splitlines() if line.startswith(f"{row} "))
        assert f" {millions}M " in line
    assert "37,000" in text and "40,932-41,160" in text
    assert "64.11M" in table3_comparison(vocab_size=39000)  # 44,138,496 + 39,000 * 512 = 64,106,496


def test_vocab_reproducing_gives_the_exact_interval() -> None:
    cfg = preset("base")
    low, high = vocab_reproducing(cfg, 65)
    total = lambda v: closed_form_parameters(cfg.replace(vocab_size=v))["total"]  # noqa: E731
    assert 64_500_000 <= total(low) and total(low - 1) < 64_500_000
    assert total(high) < 65_500_000 <= total(high + 1)
