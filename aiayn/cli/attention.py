"""`aiayn attention`: attention maps of a trained run as PNG grids and one HTML page.

    aiayn attention --model RUN --text "..." [--target "..."] [--layer L --head H] [--out DIR]

A translation run draws encoder self, decoder self and encoder-decoder attention for
the source and a target (the model's own greedy translation unless --target is given);
a language-model run (a `DecoderOnlyLM`) draws its masked self-attention over the
text. The folder the files went to is the last line printed.
"""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("attention", help="draw a trained model's attention maps (PNG and HTML)")
    p.add_argument("--model", type=Path, required=True, metavar="RUN", help="a finished run folder")
    p.add_argument("--text", required=True, help="the source sentence (translation) or the text (language model)")
    p.add_argument("--target", default=None, help="translation: the target to feed (default: the model's own)")
    p.add_argument("--beam-size", type=int, default=1, help="translation without --target: 1 = greedy")
    p.add_argument("--layer", type=int, default=None, help="with --head: also draw this one map large")
    p.add_argument("--head", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: RUN/attention)")
    p.set_defaults(func=run)


Loader = Callable[[Path], Any]  # run folder -> a run with .model (eval mode) and .tokenizer


def load_trained(run_dir: Path) -> Any:
    """Any finished run, through its task (`aiayn.tasks.runner.load_run`)."""
    from aiayn.tasks.runner import load_run

    return load_run(run_dir)


def draw(args: argparse.Namespace, load: Loader = load_trained) -> int:
    """The command's work; `load` reads the run (its model decides which maps are drawn)."""
    from aiayn.inspect.attention_maps import (
        language_model_attention,
        translation_attention,
    )
    from aiayn.inspect.pictures import grid_png, html_page, single_png
    from aiayn.model.decoder_only import DecoderOnlyLM
    from aiayn.model.transformer import Transformer

    if (args.layer is None) != (args.head is None):
        return fail("attention", "--layer and --head go together (one map: --layer L --head H)")
    if not args.text.strip():
        return fail("attention", "--text is empty")
    if args.beam_size < 1:
        return fail("attention", f"--beam-size {args.beam_size}: must be at least 1")
    try:
        trained = load(args.model)
    except USER_ERRORS as err:
        return fail("attention", err)
    model, tokenizer = trained.model, trained.tokenizer
    cfg = model.cfg
    if args.layer is not None and not (0 <= args.layer < cfg.n_layers and 0 <= args.head < cfg.h):
        return fail("attention", f"--layer {args.layer} --head {args.head}: this model has layers 0..{cfg.n_layers - 1} "
                                 f"and heads 0..{cfg.h - 1}")  # fmt: skip
    if isinstance(model, Transformer):
        attention = translation_attention(model, tokenizer, args.text, args.target, beam_size=args.beam_size)
    elif isinstance(model, DecoderOnlyLM):
        if args.target is not None:
            return fail("attention", "--target is for translation runs; a language model reads --text only")
        attention = language_model_attention(model, tokenizer, args.text)
    else:
        return fail("attention", f"{args.model}: cannot draw the attention of a {type(model).__name__}")
    out = Path(args.out) if args.out is not None else Path(args.model) / "attention"
    out.mkdir(parents=True, exist_ok=True)
    print(f"text: {attention.text}  ({len(attention.maps[0].key_tokens)} tokens)")
    if attention.target is not None:
        print(f"target ({attention.target_source}): {attention.target}  ({len(attention.maps[1].query_tokens)} tokens, <s> first)")
    for maps in attention.maps:
        grid_png(maps, out / f"{maps.kind}.png")
        print(f"{maps.kind}.png: {maps.title}, {maps.n_layers} layer(s) x {maps.h} heads")
        if args.layer is not None:
            name = f"{maps.kind}_layer{args.layer}_head{args.head}.png"
            single_png(maps, args.layer, args.head, out / name)
            print(f"{name}: layer {args.layer}, head {args.head}")
    html_page(attention, out / "attention.html")
    print("attention.html: every map; pick the attention, layer and head")
    print(out)
    return 0


def run(args: argparse.Namespace) -> int:
    return draw(args)
