"""Does the project recipe beat the report recipe, on clean AND corrupted test images, over seeds?

    .venv/bin/python bench/recipe_study.py [--epochs 10] [--seeds 0 1 2] [--presets base stepping best]
                                           [--runs-root /tmp/cinic-recipe-study] [--json]

For each preset, recipe (report, project) and seed it trains one run with the
plain CLI (`python -m cinic train ... --name PRESET-RECIPE-sSEED-eEPOCHS`), one
at a time, into a runs root of its own; a run already finished there is
reused, an interrupted one resumed. It builds the corrupted copy of the test
split once (`cinic.data.corrupt`, seed 0, severity 3, beside the runs root) and
evaluates each run's best checkpoint on it. The table gives, per preset and
recipe, mean +- sample std over the seeds of the clean and the corrupted test
accuracy, then the project-minus-report gap of the means and whether both gaps
reach the goal of issue 12 (5 points). bench/recipe_study.json is the same
study as a `python -m cinic sweep` spec.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

GOAL = 5.0  # points the project recipe must gain over the report recipe, clean and corrupted


def train(args, preset: str, recipe: str, seed: int) -> Path:
    """The finished run folder of one training (trained now unless it already finished)."""
    from cinic.runs.folder import RunFolder

    name = f"{preset}-{recipe}-s{seed}-e{args.epochs}"
    path = args.runs_root / name
    if path.is_dir() and RunFolder.open(path).status()["state"] == "finished":
        return path
    command = [sys.executable, "-m", "cinic", "train", "--runs-root", str(args.runs_root), "--no-progress"]
    if path.is_dir():
        command += ["--resume", name]
    else:
        command += ["--data", str(args.data), "--preset", preset, "--recipe", recipe, "--seed", str(seed),
                    "--epochs", str(args.epochs), "--name", name]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
    state = RunFolder.open(path).status()["state"]
    if state != "finished":  # stopped from outside: rerunning the study resumes it
        sys.exit(f"run {name} is {state}, not finished; rerun the study to resume it")
    return path


def measure(args) -> list[dict]:
    from cinic.data.corrupt import corrupt_split
    from cinic.analysis.evaluate import evaluate_run
    from cinic.runs.folder import RunFolder

    corrupted = args.runs_root.parent / f"{args.runs_root.name}-corrupted"
    corrupt_split(args.data, corrupted, seed=0, severity=3)
    rows = []
    for preset in args.presets:
        for recipe in ("report", "project"):
            for seed in args.seeds:
                run = RunFolder.open(train(args, preset, recipe, seed))
                clean = run.evaluation()["accuracy"]
                worse = evaluate_run(run, "best", "cpu", data=corrupted)["accuracy"]
                rows.append(dict(preset=preset, recipe=recipe, seed=seed, clean=clean, corrupted=worse,
                                 run=run.name))
                print(f"  {run.name}: clean {clean:.2f} %, corrupted {worse:.2f} %", flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per preset: each recipe's mean and std over seeds, the gaps, and whether the goal is met."""
    out = []
    for preset in dict.fromkeys(r["preset"] for r in rows):
        entry = {"preset": preset}
        for recipe in ("report", "project"):
            mine = [r for r in rows if (r["preset"], r["recipe"]) == (preset, recipe)]
            for kind in ("clean", "corrupted"):
                values = [r[kind] for r in mine]
                entry[f"{recipe}_{kind}"] = (statistics.mean(values),
                                             statistics.stdev(values) if len(values) > 1 else 0.0)
            entry["n"] = len(mine)
        for kind in ("clean", "corrupted"):
            entry[f"gap_{kind}"] = entry[f"project_{kind}"][0] - entry[f"report_{kind}"][0]
        entry["goal_met"] = entry["gap_clean"] >= GOAL and entry["gap_corrupted"] >= GOAL
        out.append(entry)
    return out


def table(summary: list[dict], epochs: int) -> str:
    def cell(pair):
        return f"{pair[0]:.2f} ± {pair[1]:.2f}"

    lines = [f"test accuracy %, mean ± std over {summary[0]['n']} seeds, {epochs} epochs",
             "| preset | report recipe, clean | project recipe, clean | gap | report recipe, corrupted "
             "| project recipe, corrupted | gap | goal (+5 both) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for e in summary:
        lines.append(f"| {e['preset']} | {cell(e['report_clean'])} | {cell(e['project_clean'])} | "
                     f"{e['gap_clean']:+.2f} | {cell(e['report_corrupted'])} | {cell(e['project_corrupted'])} | "
                     f"{e['gap_corrupted']:+.2f} | {'met' if e['goal_met'] else 'NOT met'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "cifar10-sample")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--presets", nargs="+", default=["base", "stepping", "best"])
    parser.add_argument("--runs-root", type=Path, default=Path("/tmp/cinic-recipe-study"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.runs_root = args.runs_root.resolve()
    args.data = args.data.resolve()
    rows = measure(args)
    summary = summarize(rows)
    if args.json:
        print(json.dumps({"runs": rows, "summary": summary}))
    else:
        print(table(summary, args.epochs))
    return 0 if all(e["goal_met"] for e in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
