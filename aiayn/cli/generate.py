"""`aiayn generate`: continue prompts with a trained language model (KV cache, sampling).

Prompts come from `--prompt` (repeatable) or standard input, one per line; all share one
left-padded batch. With one prompt the tokens are printed as they are made.
"""

import argparse
import sys
from pathlib import Path

from aiayn.cli.errors import USER_ERRORS, fail


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("generate", help="continue prompts with a trained language model")
    p.add_argument("--model", type=Path, required=True, metavar="RUN", help="a finished language-model run folder")
    p.add_argument("--prompt", action="append", default=None, help="a prompt (repeatable; default: standard input)")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None, help="sample among the fewest tokens reaching probability p")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--chat", action="store_true",
                   help="a fine-tuned (sft) run: wrap each prompt in the chat template, stop at the end of the turn")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> str | None:
    if args.max_new_tokens < 1:
        return f"--max-new-tokens must be at least 1, got {args.max_new_tokens}"
    if not args.temperature >= 0:
        return f"--temperature must be 0 (greedy) or more, got {args.temperature}"
    if args.top_k is not None and args.top_k < 1:
        return f"--top-k must be at least 1, got {args.top_k}"
    if args.top_p is not None and not 0 < args.top_p <= 1:
        return f"--top-p must be in (0, 1], got {args.top_p}"
    if args.num_samples < 1:
        return f"--num-samples must be at least 1, got {args.num_samples}"
    return None


def run(args: argparse.Namespace) -> int:
    from aiayn.decoding.sampling import generate
    from aiayn.model.decoder_only import DecoderOnlyLM
    from aiayn.tasks.runner import load_run

    problem = _check(args)
    if problem:
        return fail("generate", problem)
    try:
        trained = load_run(args.model)
    except USER_ERRORS as err:
        return fail("generate", err)
    if not isinstance(trained.model, DecoderOnlyLM):
        return fail("generate", f"{args.model} is a {trained.spec.task} run, not a language-model run")
    prompts = args.prompt if args.prompt is not None else sys.stdin.read().splitlines()
    prompts = [p.replace("\\n", "\n") for p in prompts]
    if not prompts:
        return fail("generate", "no prompt: give --prompt TEXT or lines on standard input")
    tok = trained.tokenizer
    stop = tok.eos_id
    if args.chat:
        from aiayn.data.chat import chat_ids, chat_tokenizer, prompt_ids
        from aiayn.data.tokenizer import BpeTokenizer

        if not isinstance(tok, BpeTokenizer) or chat_ids(tok) is None:
            return fail("generate", f"--chat needs a fine-tuned run (aiayn train --task sft); {args.model} has no chat tokens")
        tok, chat = chat_tokenizer(tok)
        stop = chat.end
        ids = [prompt_ids(tok, chat, p) for p in prompts for _ in range(args.num_samples)]
        prompts = ["" for _ in prompts]  # print only the answers
    else:
        ids = [tok.encode(p) or [tok.eos_id] for p in prompts for _ in range(args.num_samples)]
    stream = len(ids) == 1 and sys.stdout.isatty()
    on_token = None
    if stream:
        print(prompts[0], end="", flush=True)
        on_token = lambda row, token: print(tok.decode([token]), end="", flush=True)  # noqa: E731
    try:
        new = generate(trained.model, ids, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                       top_p=args.top_p, seed=args.seed, eos_id=stop, on_token=on_token)  # fmt: skip
    except (ValueError, *USER_ERRORS) as err:
        return fail("generate", err)
    if stream:
        print()
        return 0
    for i, out in enumerate(new):
        if i:
            print("\n----")
        print(prompts[i // args.num_samples] + tok.decode(list(out)))
    return 0
