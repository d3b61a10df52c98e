"""The `aiayn` command.

    aiayn specs                  run the spec suite, print the checklist, update TODO.md
    aiayn trace --preset base    every sub-layer's input and output shapes, one forward pass
    aiayn params --preset base   parameters per layer, and the Table 3 comparison
    aiayn train ...              train (see `aiayn train --help`)
    aiayn translate / evaluate / average

Shape checking (jaxtyping + beartype) is on by default; `--no-shape-checks` or
AIAYN_SHAPE_CHECKS=0 turns it off. It must be decided before any model code is
imported, so this module imports the rest of aiayn inside the commands.
"""

import argparse
import sys
from collections.abc import Sequence

from aiayn.checks import shapecheck


def _cmd_specs(args: argparse.Namespace) -> int:
    from aiayn.checks import checklist

    sections = checklist.collect()
    results = checklist.run(extra_args=tuple(args.pytest_args), quiet=not args.verbose)
    print(checklist.format_report(sections, results))
    if not args.no_write:
        changed = checklist.update_todo(checklist.render_markdown(sections, results))
        print(f"TODO.md {'updated' if changed else 'already current'}")
    return 0 if results.green else 1


def _tiny_inputs(batch: int, n_src: int, n_tgt: int, vocab_size: int):  # noqa: ANN202
    import torch

    generator = torch.Generator().manual_seed(0)
    src = torch.randint(4, vocab_size, (batch, n_src), generator=generator)
    tgt = torch.randint(4, vocab_size, (batch, n_tgt), generator=generator)
    return src, tgt


def _cmd_trace(args: argparse.Namespace) -> int:
    import torch

    from aiayn.model.config import preset
    from aiayn.inspect.introspect import format_trace, trace_shapes
    from aiayn.model.transformer import Transformer

    cfg = preset(args.preset, vocab_size=args.vocab_size)
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    src, tgt = _tiny_inputs(args.batch, args.n_src, args.n_tgt, cfg.vocab_size)
    with torch.inference_mode():
        records = trace_shapes(model, src, tgt)
    print(f"preset {args.preset}: batch={args.batch}, n_src={args.n_src}, n_tgt={args.n_tgt}, "
          f"d_model={cfg.d_model}, h={cfg.h}, d_k={cfg.d_k}, d_ff={cfg.d_ff}, vocab={cfg.vocab_size}")  # fmt: skip
    print(format_trace(records))
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    import torch

    from aiayn.model.config import preset
    from aiayn.inspect.introspect import format_parameter_table, parameter_table, table3_comparison
    from aiayn.model.transformer import Transformer

    cfg = preset(args.preset, vocab_size=args.vocab_size)
    with torch.device("meta"):  # counts need no memory or initialisation
        model = Transformer(cfg)
    print(f"preset {args.preset} (vocab {cfg.vocab_size})")
    print(format_parameter_table(parameter_table(model)))
    print()
    print(table3_comparison(vocab_size=args.vocab_size or 37000))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiayn", description="Attention Is All You Need, as executable specs.")
    parser.add_argument(
        "--no-shape-checks", action="store_true",
        help="turn off run-time shape checking (faster; needed for torch.compile). Same as AIAYN_SHAPE_CHECKS=0",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    specs = sub.add_parser("specs", help="run the spec suite, print the checklist, update TODO.md")
    specs.add_argument("--no-write", action="store_true", help="do not rewrite TODO.md")
    specs.add_argument("--verbose", "-v", action="store_true", help="show pytest's own output")
    specs.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    specs.set_defaults(func=_cmd_specs)

    from aiayn.model.config import PRESETS  # config holds no tensors: safe before the hook

    for name, func, text in (
        ("trace", _cmd_trace, "print every sub-layer's input and output shapes for one forward pass"),
        ("params", _cmd_params, "print a per-layer parameter table and the Table 3 comparison"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--preset", default="base", choices=PRESETS)
        p.add_argument("--vocab-size", type=int, default=None, help="vocabulary size (default: the preset's)")
        if name == "trace":
            p.add_argument("--batch", type=int, default=2)
            p.add_argument("--n-src", type=int, default=7)
            p.add_argument("--n-tgt", type=int, default=5)
        p.set_defaults(func=func)

    from aiayn.cli import train_commands as commands  # imports no model code until a command runs

    commands.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    no_checks = "--no-shape-checks" in argv  # accepted before or after the command
    if shapecheck.wanted(False if no_checks else None):
        shapecheck.enable()
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--no-shape-checks"])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
