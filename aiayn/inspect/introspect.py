"""Tools for looking inside a model: shapes, parameters, and Table 3's counts.

- `trace_shapes(model, *inputs)` runs one forward pass and records, in call order,
  the input and output shapes of every building block (embeddings, positions, each
  residual sub-layer, each attention and feed-forward network, each layer, the
  encoder and decoder stacks, and the final x E^T). `format_trace` prints it.
- `parameter_table(model)` counts parameters per block, each tensor once (the
  embedding matrix shared by source, target and the pre-softmax map appears once,
  with the names it goes by). `format_parameter_table` prints it with totals.
- `closed_form_parameters(cfg)` counts the same numbers from the hyperparameters
  alone; `table3_comparison()` sets them beside the "params" column of Table 3.

The closed form, per multi-head attention (weights and biases of W^Q, W^K, W^V, W^O):

    attention    = d_model h d_k + h d_k  (W^Q)  +  d_model h d_k + h d_k  (W^K)
                 + d_model h d_v + h d_v  (W^V)  +  h d_v d_model + d_model (W^O)
    feed_forward = d_model d_ff + d_ff + d_ff d_model + d_model          (Eq. 2)
    layer_norm   = 2 d_model                                              (gain, bias)
    encoder layer = attention + feed_forward + 2 layer_norm
    decoder layer = 2 attention + feed_forward + 3 layer_norm
    non-embedding = N (encoder layer + decoder layer)   (+ 2 layer_norm for pre-norm)
    embedding     = vocab d_model   (one matrix, shared three ways, §3.4)

Base: 44,138,496 non-embedding parameters; big: 176,357,376.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from jaxtyping import Float, Shaped
from torch import Tensor, nn

from aiayn.model.config import TABLE3_ROWS, TransformerConfig, preset
from aiayn.model.embedding import Embedding
from aiayn.model.feed_forward import PositionWiseFeedForward
from aiayn.model.multi_head import MultiHeadAttention
from aiayn.model.positions import LearnedPositions, SinusoidalPositions

Shape = tuple[int, ...]

# The "params x 10^6" column of Table 3: rounded to the million; blank for rows
# (A), (D) and (E).
PAPER_PARAMS_MILLIONS: dict[str, int] = {
    "base": 65, "B1": 58, "B2": 60, "C1": 36, "C2": 50, "C3": 80,
    "C4": 28, "C5": 168, "C6": 53, "C7": 90, "big": 213,
}


# Shapes ------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeRecord:
    """One call of one module during a forward pass."""

    name: str  # dotted path in the model ("encoder.layers.0.self_attn"); aliases joined by " = "
    kind: str  # class name ("MultiHeadAttention"), or "Embedding.logits" for x E^T
    depth: int  # nesting: 0 for the model itself
    inputs: tuple[Shape, ...]  # shapes of the tensor arguments, in order
    outputs: tuple[Shape, ...]  # shapes of the tensors returned (one for most modules)

    @property
    def output(self) -> Shape:
        return self.outputs[0] if self.outputs else ()


def _shapes(values: object) -> tuple[Shape, ...]:
    """Shapes of the tensors in an argument list, a tuple of results, or a single result."""
    items = values if isinstance(values, (tuple, list)) else (values,)
    return tuple(tuple(v.shape) for v in items if isinstance(v, Tensor))


def _module_names(model: nn.Module) -> dict[int, str]:
    """id(module) -> its dotted name(s); a module held under two names gets "a = b"."""
    names: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names.setdefault(id(module), []).append(name or type(model).__name__)
    return {key: " = ".join(dict.fromkeys(value)) for key, value in names.items()}


def _traced(module: nn.Module, every: bool) -> bool:
    """Every module if asked; by default the paper's building blocks (aiayn's own classes,
    but not its dropout, which is torch's Dropout with a faster CPU mask)."""
    return every or (type(module).__module__.startswith("aiayn.") and not isinstance(module, nn.Dropout))


@contextmanager
def _recording(model: nn.Module, every: bool) -> Iterator[list[ShapeRecord | None]]:
    """Hooks that fill a list of records in the order modules are *entered*."""
    names = _module_names(model)
    records: list[ShapeRecord | None] = []
    open_calls: list[tuple[int, str, str, tuple[Shape, ...]]] = []  # a stack: calls nest

    def enter(name: str, kind: str, inputs: tuple[Shape, ...]) -> None:
        open_calls.append((len(records), name, kind, inputs))
        records.append(None)  # reserve the slot: children are entered after their parent

    def leave(outputs: tuple[Shape, ...]) -> None:
        slot, name, kind, inputs = open_calls.pop()
        records[slot] = ShapeRecord(name, kind, len(open_calls), inputs, outputs)

    handles = []
    patched: list[nn.Module] = []
    for module in dict.fromkeys(model.modules()):  # each shared module once
        if not _traced(module, every):
            continue
        name, kind = names[id(module)], type(module).__name__
        handles.append(module.register_forward_pre_hook(
            lambda m, args, kwargs, name=name, kind=kind: enter(name, kind, _shapes((*args, *kwargs.values()))),
            with_kwargs=True,
        ))
        handles.append(module.register_forward_hook(lambda m, args, out: leave(_shapes(out))))
        if isinstance(module, Embedding):  # x E^T is a method, not a forward call: wrap it too
            method, first_name = module.logits, name.split(" = ")[0]

            def logits(
                x: Float[Tensor, "batch n d_model"], method=method, first_name=first_name  # noqa: ANN001
            ) -> Float[Tensor, "batch n vocab"]:
                enter(f"{first_name}.logits", "Embedding.logits", _shapes(x))
                out = method(x)
                leave(_shapes(out))
                return out

            module.logits = logits  # type: ignore[method-assign]
            patched.append(module)
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()
        for module in patched:
            del module.logits  # the class's method shows through again


def trace_shapes(model: nn.Module, *inputs: Shaped[Tensor, "..."], every: bool = False) -> tuple[ShapeRecord, ...]:
    """Run `model(*inputs)` once (no gradients kept) and record every block's shapes.

    `every=True` also records torch's own modules (Linear, LayerNorm, Dropout, ReLU).
    The model's train/eval mode is left as it is; use eval() for a repeatable pass.
    """
    with _recording(model, every) as records, torch.no_grad():
        model(*inputs)
    return tuple(r for r in records if r is not None)


def _format_shape(shape: Shape, dims: dict[int, str]) -> str:
    return "(" + ", ".join(dims.get(size, str(size)) for size in shape) + ")"


def format_trace(records: tuple[ShapeRecord, ...], dims: dict[str, int] | None = None) -> str:
    """A table, one line per call, indented by nesting.

    `dims` (e.g. {"batch": 2, "n_src": 7, "d_model": 512}) prints sizes by name
    where the size is unambiguous (only one name has that value).
    """
    by_size: dict[int, str] = {}
    if dims:
        counts = Counter(dims.values())
        by_size = {size: name for name, size in dims.items() if counts[size] == 1}
    rows = [
        (
            "  " * r.depth + r.name,
            r.kind,
            " ".join(_format_shape(s, by_size) for s in r.inputs) or "-",
            " ".join(_format_shape(s, by_size) for s in r.outputs) or "-",
        )
        for r in records
    ]
    header = ("module", "class", "input shapes", "output shape")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# Parameters --------------------------------------------------------------------

# Blocks counted as one row each; any other module that owns parameters directly
# (Embedding, LayerNorm, LearnedPositions, a classifier's Linear) is a row too.
_BLOCKS = (MultiHeadAttention, PositionWiseFeedForward)


@dataclass(frozen=True)
class ParamRow:
    """The parameters of one block, each tensor counted once in the whole table."""

    name: str  # dotted path; a shared module's names joined by " = "
    kind: str  # class name
    count: int  # parameters not already counted in an earlier row
    shapes: tuple[Shape, ...]  # shapes of the tensors counted here
    part: str  # "embedding" (token embeddings), "positions" (learned), or "non-embedding"
    note: str = ""  # ties and sharing


def _pre_softmax_embedding(model: nn.Module) -> nn.Module | None:
    """The embedding whose E^T makes the logits: the target embedding, or a language model's only one."""
    if isinstance(getattr(model, "tgt_embed", None), Embedding):
        return model.tgt_embed
    if isinstance(getattr(model, "embed", None), Embedding) and not hasattr(model, "head"):  # not a classifier
        return model.embed
    return None


def parameter_table(model: nn.Module) -> tuple[ParamRow, ...]:
    """One row per block, in the model's order; the rows sum to the unique parameter count."""
    names = _module_names(model)
    counted: dict[int, str] = {}  # id(parameter) -> the row that counted it
    pre_softmax = _pre_softmax_embedding(model)
    rows: list[ParamRow] = []

    def visit(module: nn.Module) -> None:
        if isinstance(module, SinusoidalPositions):  # shown for completeness: fixed, nothing to learn
            rows.append(ParamRow(names[id(module)], "SinusoidalPositions", 0, (), "positions", "fixed sinusoids (§3.5)"))
            return
        owns = any(True for _ in module.parameters(recurse=False))
        if not (owns or isinstance(module, _BLOCKS)):
            for child in dict.fromkeys(module.children()):
                visit(child)
            return
        name = names[id(module)]
        new, earlier = [], []
        for p in module.parameters():
            (earlier if id(p) in counted else new).append(p)
        if not new and not earlier:
            return
        notes = []
        if " = " in name:
            notes.append("one module under the names " + " and ".join(name.split(" = ")))
        if module is pre_softmax:
            notes.append("its transpose is also the pre-softmax map x E^T (§3.4)")
        if earlier:
            notes.append("also uses " + ", ".join(sorted({counted[id(p)] for p in earlier})) + " (counted there)")
        for p in new:
            counted[id(p)] = name
        part = "embedding" if isinstance(module, Embedding) else (
            "positions" if isinstance(module, LearnedPositions) else "non-embedding"
        )
        rows.append(ParamRow(
            name, type(module).__name__, sum(p.numel() for p in new), tuple(tuple(p.shape) for p in new),
            part, "; ".join(notes),
        ))

    visit(model)
    return tuple(rows)


def _layer_of(name: str) -> str:
    """The layer a row belongs to: "encoder.layers.3" for "encoder.layers.3.self_attn"."""
    parts = name.split(" = ")[0].split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return parts[0]


def _compact(shapes: tuple[Shape, ...]) -> str:
    """'4 x [512, 512] + 4 x [512]' style summary of tensor shapes."""
    counts = Counter(shapes)
    return " + ".join(f"{n} x {list(s)}" if n > 1 else str(list(s)) for s, n in counts.items())


def format_parameter_table(rows: tuple[ParamRow, ...]) -> str:
    """The rows, a subtotal after each layer, and the totals (embedding / non-embedding)."""
    header = ("block", "class", "parameters", "tensors")
    lines: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    i = 0
    while i < len(rows):
        layer = _layer_of(rows[i].name)
        j = i
        while j < len(rows) and _layer_of(rows[j].name) == layer:
            j += 1
        group = list(rows[i:j])
        for r in group:
            mark = f" [{len(notes) + 1}]" if r.note else ""
            if r.note:
                notes.append(f"[{len(notes) + 1}] {r.name}: {r.note}")
            lines.append((r.name + mark, r.kind, f"{r.count:,}", _compact(r.shapes)))
        if len(group) > 1:
            lines.append((f"{layer} (subtotal)", "", f"{sum(r.count for r in group):,}", ""))
        i = j
    totals = {part: sum(r.count for r in rows if r.part == part) for part in ("embedding", "positions", "non-embedding")}
    total = sum(totals.values())
    widths = [max(len(line[k]) for line in lines) for k in range(4)]
    out = [
        "  ".join((c.rjust(w) if k == 2 else c.ljust(w)) for k, (c, w) in enumerate(zip(line, widths))).rstrip()
        for line in lines
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append("")
    out.append(f"total (each tensor once): {total:,}  ({total / 1e6:.2f}M)")
    out.append(f"  token embeddings:       {totals['embedding']:,}")
    if totals["positions"]:
        out.append(f"  learned positions:      {totals['positions']:,}")
    out.append(f"  non-embedding:          {totals['non-embedding']:,}  ({totals['non-embedding'] / 1e6:.2f}M)")
    return "\n".join(out + ([""] + notes if notes else []))


# The closed form and Table 3 -------------------------------------------------------


def closed_form_parameters(cfg: TransformerConfig) -> dict[str, int]:
    """Parameter counts of `Transformer(cfg)` from its hyperparameters (see the module docstring)."""
    d, h, d_k, d_v, d_ff, n = cfg.d_model, cfg.h, cfg.d_k, cfg.d_v, cfg.d_ff, cfg.n_layers
    attention = 2 * (d * h * d_k + h * d_k) + (d * h * d_v + h * d_v) + (h * d_v * d + d)  # W^Q, W^K; W^V; W^O
    feed_forward = (d * d_ff + d_ff) + (d_ff * d + d)  # W_1, b_1; W_2, b_2
    layer_norm = 2 * d  # gain and bias
    encoder_layer = attention + feed_forward + 2 * layer_norm
    decoder_layer = 2 * attention + feed_forward + 3 * layer_norm
    final_norms = 2 * layer_norm if cfg.norm == "pre" else 0
    non_embedding = n * (encoder_layer + decoder_layer) + final_norms
    embedding = (1 if cfg.share_embeddings else 2) * cfg.vocab_size * d  # the pre-softmax map is tied to tgt
    positions = cfg.max_len * d if cfg.positions == "learned" else 0
    return {
        "attention": attention,
        "feed_forward": feed_forward,
        "layer_norm": layer_norm,
        "encoder_layer": encoder_layer,
        "decoder_layer": decoder_layer,
        "non_embedding": non_embedding,
        "embedding": embedding,
        "positions": positions,
        "total": non_embedding + embedding + positions,
    }


def vocab_reproducing(cfg: TransformerConfig, millions: int) -> tuple[int, int]:
    """The shared vocabulary sizes [low, high] for which cfg's total rounds to `millions`.

    total(V) = fixed + V * per_token must lie in [millions - 0.5, millions + 0.5) x 10^6.
    """
    count = closed_form_parameters(cfg.replace(vocab_size=1))
    per_token = count["embedding"]  # parameters per vocabulary entry
    fixed = count["total"] - per_token
    low_bound, high_bound = (2 * millions - 1) * 500_000 - fixed, (2 * millions + 1) * 500_000 - fixed
    return -(-low_bound // per_token), -(-high_bound // per_token) - 1  # ceil, and the last V below


def _changes(name: str) -> str:
    if name == "base":
        return "N=6 d_model=512 d_ff=2048 h=8 P_drop=0.1"
    if name == "big":
        return "d_model=1024 d_ff=4096 h=16 P_drop=0.3"
    return " ".join(f"{k.removesuffix('_override')}={v}" for k, v in TABLE3_ROWS[name].items())


def table3_comparison(vocab_size: int = 37000) -> str:
    """Our counts for base, every Table 3 row and big, beside the paper's rounded figures."""
    header = ("model", "changes from base", "non-embedding", "total", "paper", "ours - paper")
    lines = [header]
    for name in ("base", *TABLE3_ROWS, "big"):
        count = closed_form_parameters(preset(name, vocab_size=vocab_size))
        paper = PAPER_PARAMS_MILLIONS.get(name)
        diff = "" if paper is None else f"{(count['total'] / 1e6 - paper) / paper:+.1%}"
        lines.append((
            name, _changes(name), f"{count['non_embedding'] / 1e6:.2f}M", f"{count['total'] / 1e6:.2f}M",
            "-" if paper is None else f"{paper}M", diff,
        ))
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    base_width = [vocab_reproducing(preset(n), m) for n, m in PAPER_PARAMS_MILLIONS.items() if n != "big"]
    low, high = max(lo for lo, _ in base_width), min(hi for _, hi in base_width)
    big_lo, big_hi = vocab_reproducing(preset("big"), PAPER_PARAMS_MILLIONS["big"])
    out += [
        "",
        f"Shared vocabulary {vocab_size:,}. The paper rounds to the million and does not give its exact",
        "vocabulary size; the non-embedding counts above are exact. Every listed base-width figure",
        f"is reproduced by a vocabulary of {low:,}-{high:,}; big's 213M needs {big_lo:,}-{big_hi:,}.",
    ]
    return "\n".join(out)
