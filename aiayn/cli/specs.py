"""`aiayn specs`: run the spec suite, print the checklist by section, update TODO.md.

TODO.md also gets the verdicts of §6.2's checks on the recorded Table 3 rerun
(spec/results/, docs/table3/table3.json); those are read, not run, and gate nothing."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("specs", help="run the spec suite, print the checklist, update TODO.md")
    p.add_argument("--no-write", action="store_true", help="do not rewrite TODO.md")
    p.add_argument("--verbose", "-v", action="store_true", help="show pytest's own output")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiayn.checks import checklist

    sections = checklist.collect()
    results = checklist.run(extra_args=tuple(args.pytest_args), quiet=not args.verbose)
    print(checklist.format_report(sections, results))
    if not args.no_write:
        print(checklist.write_todo(checklist.render_markdown(sections, results)))
        checklist.write_todo(checklist.render_results())  # §6.2 on the recorded Table 3 rerun (not gated)
    return 0 if results.green else 1
