"""How long from Start to the first batch? `launch_training` to the first batch record in metrics.jsonl.

    .venv/bin/python bench/launch_latency.py [--repeats 3] [--preset base] [--data-sets demo]

What a person waits for after clicking Start on the Train page: the training
process starting (Python, torch, cinic), reading the decoded splits, the channel
statistics, building the model, the first 10 batches' first record. Measured on
the demo data set and on the shared real sample (where present), 1-epoch runs
stopped at their first batch, in a throwaway runs root and cache. The first
launch of each data set decodes its splits into the fresh cache ("cold"); the
others find them there ("warm", what the app sees once the Data page has shown
the set). Warm launches are measured twice: started as a fresh process, and
taken by a training process the app keeps warm (cinic/runs/warm.py, what the
Train page does), given the seconds to finish its imports it has between two
clicks. Prints the cold figure and the medians of the warm ones, in seconds.
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
from cinic.runs import warm  # noqa: E402
from cinic.runs.folder import LIVE_STATES, RunFolder  # noqa: E402
from cinic.runs.launch import launch_training  # noqa: E402

TIMEOUT_S = 300


def first_batch_seconds(data: Path, preset: str, kept_warm: bool = False) -> tuple[float, dict]:
    """Seconds from launch to the first batch record, and the phases the run reported on the way;
    `kept_warm`: launched into a training process kept warm, once it has finished its imports."""
    if kept_warm:
        warm.keep_warm()
        if not warm.wait_ready(TIMEOUT_S):
            raise SystemExit("the warm training process did not get ready")
    else:
        warm.shutdown()
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
    parser.add_argument("--data-sets", default="demo,sample", help="demo, sample or both (default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CINIC_RUNS"], os.environ["CINIC_CACHE"] = f"{tmp}/runs", f"{tmp}/cache"
        sets = {"demo (3,000 images)": ensure_demo_dataset(Path(tmp) / "demo")} if "demo" in args.data_sets else {}
        if "sample" in args.data_sets and datasets.shared_sample() is not None:
            sets["shared sample (6,102 images)"] = datasets.shared_sample()
        print(f"load average {[round(v, 2) for v in os.getloadavg()]}")
        print(f"| data set | cold s | warm s, fresh process (median of {args.repeats}) | warm s, process kept warm "
              f"| warm runs, fresh / kept warm | phases of the last |")
        print("|---|---:|---:|---:|---|---|")
        for label, data in sets.items():
            cold, _ = first_batch_seconds(data, args.preset)
            fresh, kept = [], []
            for _ in range(args.repeats):  # in turn: a load change hits both alike
                fresh.append(first_batch_seconds(data, args.preset))
                kept.append(first_batch_seconds(data, args.preset, kept_warm=True))
            print(f"| {label} | {cold:.2f} | {statistics.median(s for s, _ in fresh):.2f} | "
                  f"{statistics.median(s for s, _ in kept):.2f} | {', '.join(f'{s:.2f}' for s, _ in fresh)} / "
                  f"{', '.join(f'{s:.2f}' for s, _ in kept)} | {kept[-1][1] or '-'} |", flush=True)
        warm.shutdown()


if __name__ == "__main__":
    main()
