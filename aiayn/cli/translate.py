"""`aiayn translate`: translate lines from standard input or a file with beam search (§6.1).

Inference runs on `--device` (by default CUDA when there is one), in batches of
sentences of similar length: at most `--batch-size` sentences and `--max-tokens` padded
source tokens each (`add_inference_flags`, which `aiayn evaluate` shares).
"""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def add_inference_flags(p: argparse.ArgumentParser) -> None:
    """--device, --batch-size and --max-tokens, for every command that decodes a run."""
    p.add_argument("--device", default="auto", help="where to decode: auto (CUDA when there is one), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=64, help="most sentences decoded together (default 64)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="most padded source tokens per batch (default: no limit beyond --batch-size)")  # fmt: skip


def inference_device(args: argparse.Namespace):  # noqa: ANN201  (torch is imported late)
    """The torch device named by --device, or a ValueError that says what is wrong with it;
    --batch-size and --max-tokens are checked here too."""
    import torch

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise ValueError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {args.device!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: this machine has no CUDA device (use --device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {args.device}: there are only {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {args.device}: only cpu and cuda are supported")
    return device


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.decoding.search import ALPHA, BEAM_SIZE

    p = sub.add_parser("translate", help="translate lines from standard input or a file")
    p.add_argument("--model", type=Path, required=True, metavar="RUN", help="a finished translation run folder")
    p.add_argument("--input", "-i", type=Path, default=None, help="input file (default: standard input)")
    p.add_argument("--beam-size", type=int, default=BEAM_SIZE, help=f"1 = greedy (paper: {BEAM_SIZE})")
    p.add_argument("--alpha", type=float, default=ALPHA, help=f"length penalty (paper: {ALPHA})")
    add_inference_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.tasks.runner import load_run
    from aiayn.tasks.translation import TranslationTask, translate_lines

    if args.beam_size < 1:
        return fail("translate", f"--beam-size must be at least 1, got {args.beam_size}")
    if not args.alpha >= 0:
        return fail("translate", f"--alpha must be 0 or more, got {args.alpha}")
    try:
        device = inference_device(args)
    except ValueError as err:
        return fail("translate", err)
    try:
        trained = load_run(args.model, device)
    except USER_ERRORS as err:
        return fail("translate", err)
    if trained.spec.task not in TranslationTask.recipes:
        return fail("translate", f"{args.model} is a {trained.spec.task} run, not a translation run")
    if args.input is not None:
        try:
            lines = args.input.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return fail("translate", f"input file {args.input} not found")
        except (OSError, UnicodeDecodeError) as err:
            return fail("translate", f"input file {args.input} cannot be read as UTF-8 text ({err})")
    else:
        lines = sys.stdin.read().splitlines()
    for line in translate_lines(trained.model, trained.tokenizer, lines, beam_size=args.beam_size, alpha=args.alpha,
                                batch_size=args.batch_size, max_tokens=args.max_tokens):  # fmt: skip
        print(line)
    return 0
