"""`aiayn evaluate`: score a trained run on a split of its task, a text file, or LAMBADA.

    aiayn evaluate --model RUN [--split test]      the run's own task (what training reported)
    aiayn evaluate --model LM_RUN --text FILE      loss, perplexity, bits per character of a text
    aiayn evaluate --model LM_RUN --task lambada   LAMBADA's last words, scored as lm-evaluation-harness does
"""

import argparse
import json
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail
from aiayn.cli.translate import add_inference_flags, inference_device


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.decoding.search import ALPHA, BEAM_SIZE

    p = sub.add_parser("evaluate", help="score a run on its task's split, a text file (LM), or LAMBADA (LM)")
    p.add_argument("--model", type=Path, required=True, metavar="RUN")
    p.add_argument("--split", default="test", choices=("validation", "test"))
    p.add_argument("--text", type=Path, default=None, help="language models: score this UTF-8 text file")
    p.add_argument("--task", choices=("lambada",), default=None, help="language models: another evaluation task")
    p.add_argument("--data-path", default=None, help="with --task lambada: a local copy of the data set")
    p.add_argument("--beam-size", type=int, default=BEAM_SIZE, help="translation: beam size (1 = greedy)")
    p.add_argument("--alpha", type=float, default=ALPHA, help="translation: length penalty")
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (translation, lambada)")
    add_inference_flags(p)
    p.set_defaults(func=run)


def _read_text(path: Path) -> str:
    from aiayn.tasks.base import RunError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"--text {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"--text {path}: cannot be read as UTF-8 text ({err})") from None
    if not text.strip():
        raise RunError(f"--text {path}: the file holds no text")
    return text


def run(args: argparse.Namespace) -> int:
    from aiayn.model.decoder_only import DecoderOnlyLM
    from aiayn.tasks.base import get_task
    from aiayn.tasks.runner import load_run

    if args.beam_size < 1:
        return fail("evaluate", f"--beam-size must be at least 1, got {args.beam_size}")
    if args.limit is not None and args.limit < 1:
        return fail("evaluate", f"--limit must be at least 1, got {args.limit}")
    if args.text is not None and args.task is not None:
        return fail("evaluate", "give --text FILE or --task lambada, not both")
    try:
        device = inference_device(args)
    except ValueError as err:
        return fail("evaluate", err)
    try:
        trained = load_run(args.model, device)
        task = get_task(trained.spec)
        if (args.text is not None or args.task is not None) and not isinstance(trained.model, DecoderOnlyLM):
            return fail("evaluate", f"--text and --task score language models; {args.model} is a "
                                    f"{trained.spec.task} run")  # fmt: skip
        if args.text is not None:
            record = task.evaluate_text(trained, _read_text(args.text), print)
        elif args.task == "lambada":
            record = task.evaluate_lambada(trained, print, path=args.data_path, limit=args.limit)
        else:
            options = {"beam_size": args.beam_size, "alpha": args.alpha, "limit": args.limit,
                       "batch_size": args.batch_size, "max_tokens": args.max_tokens}  # fmt: skip
            record = task.evaluate(trained, args.split, print, **options)
    except USER_ERRORS as err:
        return fail("evaluate", err)
    print(json.dumps({k: v for k, v in record.items() if not isinstance(v, (dict, list))}))
    return 0
