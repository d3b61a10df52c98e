"""`aiayn prepare`: a translation task's vocabulary and binarized training pairs, made once.

One process does the long part of a first WMT 2014 run (reading 4.5M pairs, learning the
shared BPE from a uniform sample of them, tokenizing both sides) and prints its progress;
`aiayn train` with the same task flags then only maps the cached files, so processes
under torchrun never wait hours for one of them (`aiayn.tasks.translation_data`).
"""

import argparse
import dataclasses
import time

from aiayn.cli.errors import USER_ERRORS, fail

TASKS = ("wmt14", "files", "numbers")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from aiayn.cli.train import TASK_FLAGS, TRANSLATION

    p = sub.add_parser("prepare", help="build a translation task's vocabulary and binarized data once, in one process")
    p.add_argument("--task", choices=TASKS, default="wmt14", help="default: wmt14")
    for flag, (_, kind, tasks, help_text) in TASK_FLAGS.items():
        if set(tasks) & set(TRANSLATION):
            p.add_argument(flag, type=kind, default=None, help=f"{help_text} ({', '.join(tasks)}); as for `aiayn train`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.cli.train import TASK_FLAGS, UsageError, _check_task_values, task_options
    from aiayn.data.binarized import read_meta
    from aiayn.tasks.base import get_task, task_class
    from aiayn.tasks.translation_data import binarized_dir, prepare_data, tokenizer_cache

    recipe = task_class(args.task).recipes[args.task]
    try:
        given = {f: getattr(args, f[2:].replace("-", "_"), None) for f in TASK_FLAGS}
        _check_task_values(argparse.Namespace(max_tokens=None, **{f[2:].replace("-", "_"): v for f, v in given.items()}),
                           args.task)  # fmt: skip
        spec = dataclasses.replace(recipe, data=task_options(args.task, recipe.data, given))
        task = get_task(spec)
        t0 = time.perf_counter()
        built = prepare_data(task, lambda line: print(line, flush=True))
        tok = tokenizer_cache(task)
        folder = binarized_dir(task, tok)
        stats = read_meta(folder)["splits"]["train"]
    except (UsageError, *USER_ERRORS) as err:
        return fail("prepare", err)
    print(f"{'prepared' if built else 'already prepared'}: {stats['pairs']:,} training pairs, {stats['tokens']:,} "
          f"tokens ({time.perf_counter() - t0:.0f} s)\n  vocabulary {tok}\n  binarized  {folder}\n"
          f"`aiayn train --task {args.task}` with the same task flags reads these")  # fmt: skip
    return 0
