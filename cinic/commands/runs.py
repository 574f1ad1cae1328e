"""The commands over run folders: runs, rename, delete, note, stop."""

from __future__ import annotations

import sys

from cinic.commands.common import add_runs_root, print_json
from cinic.errors import CinicError
from cinic.runs.admin import SORTS

def runs_arguments(p) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("--state", action="append", help="only runs in this state (repeatable: any of them)")
    p.add_argument("--preset", action="append", help="only runs of this preset, or custom (repeatable)")
    p.add_argument("--tag", action="append", help="only runs carrying this tag (repeatable: all of them)")
    p.add_argument("--min-test", type=float, metavar="PERCENT", help="only runs with at least this test accuracy")
    p.add_argument("--sort", default="newest", choices=SORTS)
    add_runs_root(p)


def cmd_runs(args) -> int:
    from cinic.runs.admin import filter_runs, sort_runs
    from cinic.runs.folder import list_runs

    every = list_runs(args.runs_root)
    runs = sort_runs(filter_runs(every, args.state or (), args.preset or (), args.tag or (), args.min_test),
                     args.sort)
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print(f"none of the {len(every)} runs match these filters" if every else
              "no runs yet: start one with `python -m cinic train --preset base`")
        return 0
    header = f"{'run':32s} {'preset':14s} {'state':12s} {'epochs':>7s} {'best valid':>10s} {'test':>7s}  tags"
    print(header)
    for r in runs:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{r['name'][:32]:32s} {str(r.get('preset'))[:14]:14s} {str(r['state']):12s} "
              f"{r.get('epoch', 0):>3}/{r.get('epochs') or '?':<3} {fmt(r.get('best_valid_acc')):>10s} "
              f"{fmt(r.get('test_acc')):>7s}  {' '.join(r.get('tags') or ())}")
    return 0


def rename_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("new_name", metavar="NEW_NAME")
    add_runs_root(p)


def cmd_rename(args) -> int:
    from cinic.runs.admin import locate, rename_run

    run = rename_run(locate(args.run, args.runs_root), args.new_name)
    print(f"renamed {args.run} to {run.name}")
    return 0


def delete_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--yes", action="store_true", help="do not ask for a confirmation")
    add_runs_root(p)


def cmd_delete(args) -> int:
    from cinic.runs.admin import delete_run, locate
    from cinic.runs.folder import summarize_run

    run = locate(args.run, args.runs_root)
    if not args.yes:
        summary = summarize_run(run)
        test = f", test {summary['test_acc']:.2f}%" if summary.get("test_acc") is not None else ""
        question = f"delete run {run.name} ({summary['state']}{test}) and every file in {run.path}? [y/N] "
        if not sys.stdin.isatty():
            raise CinicError(f"deleting {run.name} needs a yes: run it in a terminal, or add --yes")
        if input(question).strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    path = delete_run(run)
    print(f"deleted {path}")
    return 0


def note_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--text", help="the run's notes (replaces them; \"\" clears them)")
    p.add_argument("--tag", action="append", help="add a tag (repeatable)")
    p.add_argument("--untag", action="append", help="remove a tag (repeatable)")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)


def cmd_note(args) -> int:
    from cinic.runs.admin import annotate
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    if args.text is None and not args.tag and not args.untag:
        notes = run.notes()
    else:
        notes = annotate(run, args.text, args.tag or (), args.untag or ())
    if args.json:
        print_json(notes)
    else:
        print(f"{run.name}: tags {' '.join(notes['tags']) or '(none)'}")
        if notes["notes"]:
            print(notes["notes"])
    return 0


def stop_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait before sending SIGTERM")
    add_runs_root(p)


def cmd_stop(args) -> int:
    from cinic.runs.folder import RunFolder
    from cinic.runs.launch import stop_run

    run = RunFolder.open(args.run, root=args.runs_root)
    stop_run(run, grace_s=args.wait)
    print(f"asked {run.name} to stop; it saves its last completed epoch first")
    return 0
