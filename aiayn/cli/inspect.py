"""`aiayn trace` and `aiayn params`: shapes of every sub-layer, parameters per layer."""

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.model.config import (
        PRESETS,  # config holds no tensors: safe before the hook
    )

    for name, func, text in (
        ("trace", trace, "print every sub-layer's input and output shapes for one forward pass"),
        ("params", params, "print a per-layer parameter table and the Table 3 comparison"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--preset", default="base", choices=PRESETS)
        p.add_argument("--vocab-size", type=int, default=None, help="vocabulary size (default: the preset's)")
        if name == "params":
            p.add_argument("--cost", action="store_true",
                           help="also print the training cost in FLOPs, ours beside Table 2's (base and big)")
            p.add_argument("--steps", type=int, default=None, help="training steps for --cost (default: the paper's)")
            p.add_argument("--tokens-per-step", type=int, default=None,
                           help="tokens per side and step for --cost (default: the paper's 25,000)")
        if name == "trace":
            p.add_argument("--batch", type=int, default=2)
            p.add_argument("--n-src", type=int, default=7)
            p.add_argument("--n-tgt", type=int, default=5)
        p.set_defaults(func=func)


def trace(args: argparse.Namespace) -> int:
    import torch

    from aiayn.inspect.introspect import format_trace, trace_shapes
    from aiayn.model.config import preset
    from aiayn.model.transformer import Transformer

    cfg = preset(args.preset, vocab_size=args.vocab_size)
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(4, cfg.vocab_size, (args.batch, args.n_src), generator=generator)
    tgt = torch.randint(4, cfg.vocab_size, (args.batch, args.n_tgt), generator=generator)
    with torch.inference_mode():
        records = trace_shapes(model, src, tgt)
    print(f"preset {args.preset}: batch={args.batch}, n_src={args.n_src}, n_tgt={args.n_tgt}, "
          f"d_model={cfg.d_model}, h={cfg.h}, d_k={cfg.d_k}, d_ff={cfg.d_ff}, vocab={cfg.vocab_size}")  # fmt: skip
    print(format_trace(records))
    return 0


def params(args: argparse.Namespace) -> int:
    import torch

    from aiayn.inspect.introspect import (
        format_parameter_table,
        parameter_table,
        table3_comparison,
    )
    from aiayn.model.config import preset
    from aiayn.model.transformer import Transformer

    cfg = preset(args.preset, vocab_size=args.vocab_size)
    with torch.device("meta"):  # counts need no memory or initialisation
        model = Transformer(cfg)
    print(f"preset {args.preset} (vocab {cfg.vocab_size})")
    print(format_parameter_table(parameter_table(model)))
    print()
    print(table3_comparison(vocab_size=args.vocab_size or 37000))
    if args.cost:
        from aiayn.results.training_cost import STEPS, TOKENS_PER_STEP, describe

        steps = args.steps if args.steps is not None else STEPS.get(args.preset, STEPS["base"])
        tokens = args.tokens_per_step if args.tokens_per_step is not None else TOKENS_PER_STEP
        if steps < 1 or tokens < 1:
            print(f"aiayn params: --steps and --tokens-per-step must be positive, got {steps} and {tokens}",
                  file=sys.stderr)
            return 2
        print()
        print(describe(args.preset, cfg, steps, tokens))
    return 0
