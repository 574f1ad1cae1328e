"""A sweep on Ray against its trials trained one after another: wall time and ratio, same trials, same run.

    .venv/bin/python bench/sweep_speed.py [--data DIR] [--presets base stepping] [--seeds 0 1]
                                          [--epochs 1] [--order sweep-first|serial-first] [--json]

Both sides start from nothing a user would not also start from: the sweep is
`python -m cinic sweep SPEC` end to end (interpreter, Ray's start, every trial,
the summary); the baseline is `python -m cinic train` once per trial, one after
another, with the same settings (every thread torch wants, as a training alone
gets); and, to tell Ray's parallelism from the start-up each command pays, the
same trainings one after another in this one process (`train.train_run`). The decoded splits are cached once before either is timed, so neither
pays the first decode. Each side writes into its own temp runs root; nothing
outside the temp folder is touched. On a shared machine run it twice with
--order swapped: the ratio is the figure, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from cinic.sweeps.spec import parse_spec  # noqa: E402

SAMPLE = PROJECT.parent / "shared" / "data" / "cifar10-sample"


def cinic(args: list[str], env: dict) -> float:
    """Seconds `python -m cinic ARGS` took; its failure stops the bench with its output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cinic", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m cinic {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def train_args(config: dict) -> list[str]:
    """The `train` flags that give a trial's settings (the ones this bench varies or fixes)."""
    return ["--data", config["data"], "--preset", config["preset"], "--recipe", config["recipe"],
            "--epochs", str(config["epochs"]), "--batch-size", str(config["batch_size"]),
            "--seed", str(config["seed"]), "--no-progress"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SAMPLE))
    parser.add_argument("--presets", nargs="+", default=["base", "stepping"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--order", choices=("sweep-first", "serial-first"), default="sweep-first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    spec = {"name": "bench", "data": args.data, "epochs": args.epochs, "batch_size": args.batch_size,
            "grid": {"preset": args.presets, "seed": args.seeds}}
    trials = parse_spec(spec).trials  # checked, and the exact configs the sweep will train
    with tempfile.TemporaryDirectory(prefix="sweep-speed-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, CINIC_CACHE=str(tmp / "cache"))
        (tmp / "spec.json").write_text(json.dumps(spec))
        from cinic.data.dataset import load_split  # warm the decoded-split cache for both sides

        os.environ["CINIC_CACHE"] = env["CINIC_CACHE"]
        for split in ("train", "valid", "test"):
            load_split(args.data, split)

        def sweep() -> float:
            return cinic(["sweep", str(tmp / "spec.json"), "--runs-root", str(tmp / "sweep-runs")], env)

        def serial() -> float:
            return sum(cinic(["train", *train_args(t.config), "--runs-root", str(tmp / "serial-runs"),
                              "--name", t.name], env) for t in trials)

        def in_process() -> float:
            """The trainings alone: one process, no interpreter start or data check per trial."""
            from cinic.runs.folder import RunFolder
            from cinic.training.loop import train_run

            started = time.perf_counter()
            for t in trials:
                run = RunFolder.create(t.config, tmp / "in-process-runs", t.name)
                train_run(run, progress=False, log=lambda m: None)
            return time.perf_counter() - started

        sides = [("sweep", sweep), ("serial", serial), ("in_process", in_process)]
        if args.order == "serial-first":
            sides.reverse()
        seconds = {name: run() for name, run in sides}
    result = {"trials": len(trials), "epochs": args.epochs, "cpus": os.cpu_count(),
              "sweep_s": round(seconds["sweep"], 1), "serial_s": round(seconds["serial"], 1),
              "in_process_s": round(seconds["in_process"], 1),
              "ratio": round(seconds["serial"] / seconds["sweep"], 2),
              "ratio_in_process": round(seconds["in_process"] / seconds["sweep"], 2),
              "trials_per_hour": round(len(trials) * 3600 / seconds["sweep"], 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['trials']} trials x {args.epochs} epoch(s) on {args.data} ({result['cpus']} CPUs)")
        print(f"  one after another (python -m cinic train each): {result['serial_s']:8.1f} s")
        print(f"  sweep on Ray (python -m cinic sweep, end to end): {result['sweep_s']:8.1f} s")
        print(f"  one after another in one process (train_run each): {result['in_process_s']:8.1f} s")
        print(f"  ratio serial / sweep: {result['ratio']:.2f}x (in one process / sweep: "
              f"{result['ratio_in_process']:.2f}x); the sweep does {result['trials_per_hour']:.0f} trials per hour")
    return 0


if __name__ == "__main__":
    sys.exit(main())
