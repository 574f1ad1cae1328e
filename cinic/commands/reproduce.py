"""`python -m cinic reproduce`: the reproduce study from the command line (its options and its handler,
which cinic/cli.py registers)."""

from __future__ import annotations

import sys

HELP = ("reproduce the course report: its three variants as it ran them, over seeds, beside its figures, "
        "with its six conclusions tested; a rerun retrains nothing that finished")


def add_arguments(p) -> None:
    p.add_argument("--data", help="CINIC-10 folder or .tar.gz (default: the data set chosen in the app, "
                                  "else data/CINIC-10, else the demo set)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant (default 3)")
    p.add_argument("--name", default="reproduce", help="the study's sweep name (default: reproduce)")
    p.add_argument("--max-concurrent", type=int, metavar="K", help="at most K trainings at once (default: as "
                                                                   "many as Ray has CPUs and GPUs for)")
    p.add_argument("--address", help="join this Ray cluster (HOST:PORT) instead of starting a local Ray")
    p.add_argument("--no-claims", action="store_true",
                   help="leave out the extra arms that test conclusions 4 and 5 (best without its late drop, "
                        "base with Xavier init)")
    p.add_argument("--ours", action="store_true", help="also the three variants with the project's recipe")
    p.add_argument("--epochs-scale", type=float, default=1.0, metavar="F",
                   help="scale every variant's epochs and learning-rate drops by F in (0, 1] for a quick look "
                        "(default 1: the report's schedules; anything else is not the report's schedule)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", metavar="WRITEUP.html", help="also write the write-up (one HTML file) here")
    p.add_argument("--runs-root", help="folder of run folders (default: checkpoints/, or $CINIC_RUNS)")


def cmd_reproduce(args) -> int:
    from pathlib import Path

    from cinic.commands.common import EXIT_FAILED, print_json
    from cinic.data import dataset
    from cinic.data.choice import data_in_use
    from cinic.errors import CinicError
    from cinic.study import reproduce, writeup

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise CinicError(f"--max-concurrent must be at least 1, got {args.max_concurrent}")
    root = dataset.resolve_data(args.data) if args.data else data_in_use(make_demo=True)
    spec = reproduce.study_spec(str(Path(root).resolve()), seeds=args.seeds, name=args.name,
                                claims=not args.no_claims, ours=args.ours, epochs_scale=args.epochs_scale)
    if args.address:
        from cinic.sweeps.runner import check_reachable

        check_reachable(args.address)  # before the plan's timing run and before any folder is made
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    plan = reproduce.plan(spec, args.runs_root, args.max_concurrent)  # checks the whole spec first
    log(f"{plan['trainings']} trainings, {plan['to_run']} to run, {plan['concurrent']} at once: about "
        f"{_duration(plan['estimate_s'])} (seconds per epoch: "
        + ", ".join(f"{p} {s:.1f} from {plan['timed_from'][p]}" for p, s in plan["s_per_epoch"].items()) + ")")
    command = "python -m cinic reproduce " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["reproduce"] else None
    summary = reproduce.run_study(spec, args.runs_root, args.address, args.max_concurrent, log, command)
    result = reproduce.study_result(args.name, args.runs_root)
    written = writeup.write_writeup(result, Path(result["path"]) / "writeup.html")
    result["writeup"] = str(written)
    if args.out:
        writeup.write_writeup(result, args.out)
        log(f"write-up: {args.out}")
    if args.json:
        print_json(result)
    else:
        print(writeup.table_markdown(result))
        for c in result["claims"]:
            p = f", p = {c['p_value']:.3g}" if c["p_value"] is not None else ""
            settle = f"; about {c['n_to_settle']} seeds per arm would settle it" if c["n_to_settle"] else ""
            print(f"{c['id']}. {c['claim']} -> {c['verdict']} ({c['test']}{p}){settle}")
        print(f"study {result['study']}: {result['state']}; write-up: {written}")
    ended = {t["state"] for t in summary["trials"]}
    return 0 if ended <= {"finished"} else EXIT_FAILED


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
