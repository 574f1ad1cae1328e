"""How long from Start to the first batch? `launch_training` to the first batch record in metrics.jsonl.

    .venv/bin/python bench/launch_latency.py [--repeats 3] [--preset base]

What a person waits for after clicking Start on the Train page: the training
process starting (Python, torch, cinic), reading the decoded splits, the channel
statistics, building the model, the first 10 batches' first record. Measured on
the demo data set and on the shared real sample (where present), 1-epoch runs
stopped at their first batch, in a throwaway runs root and cache. The first
launch of each data set decodes its splits into the fresh cache ("cold"); the
others find them there ("warm", what the app sees once the Data page has shown
the set). Prints the cold figure and the median of the warm ones, in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cinic.data import choice as datasets
from cinic.runs.config import make_config  # noqa: E402
from cinic.data.demo import ensure_demo_dataset  # noqa: E402
from cinic.runs.folder import LIVE_STATES, RunFolder, launch_training  # noqa: E402

TIMEOUT_S = 300


def first_batch_seconds(data: Path, preset: str) -> tuple[float, dict]:
    """Seconds from launch to the first batch record, and the phases the run reported on the way."""
    config = make_config(str(data), preset=preset, epochs=1, device="cpu").to_dict()
    started = time.perf_counter()
    run = launch_training(config)
    phases, deadline = {}, time.monotonic() + TIMEOUT_S
    while not run.batches():
        phase = run.status().get("phase")
        if phase and phase not in phases:
            phases[phase] = round(time.perf_counter() - started, 2)
        if run.status()["state"] not in LIVE_STATES or time.monotonic() > deadline:
            raise SystemExit(f"{run.name} ended or hung before its first batch:\n{run.log_tail()}")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    run.request_stop()
    while run.status()["state"] in LIVE_STATES:
        time.sleep(0.1)
    return seconds, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm launches per data set (after one cold)")
    parser.add_argument("--preset", default="base")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CINIC_RUNS"], os.environ["CINIC_CACHE"] = f"{tmp}/runs", f"{tmp}/cache"
        sets = {"demo (3,000 images)": ensure_demo_dataset(Path(tmp) / "demo")}
        if datasets.shared_sample() is not None:
            sets["shared sample (6,102 images)"] = datasets.shared_sample()
        print(f"| data set | cold s | warm s (median of {args.repeats}) | warm runs | phases of the last |")
        print("|---|---:|---:|---|---|")
        for label, data in sets.items():
            cold, _ = first_batch_seconds(data, args.preset)
            warm = [first_batch_seconds(data, args.preset) for _ in range(args.repeats)]
            print(f"| {label} | {cold:.2f} | {statistics.median(s for s, _ in warm):.2f} | "
                  f"{', '.join(f'{s:.2f}' for s, _ in warm)} | {warm[-1][1] or '-'} |", flush=True)


if __name__ == "__main__":
    main()
