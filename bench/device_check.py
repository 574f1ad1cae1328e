"""The GPU check's steps, each recorded into one JSON (run through bench/device_check.sh, which says
what the GPU machine needs). `--dry-run` runs every step on the CPU on tiny inputs: what it checks
is that each step runs and records its figures, not the figures.

Steps, in order (one failing does not stop the others; the exit status is 1 if any failed):
  environment  torch, the device, which optional packages are importable
  tests        the device tests of the suite (the loader, the training, the device choice, the loop's
               speed work), on the GPU where the tests have GPU cases
  full_scale   a CINIC-10-sized folder (90,000 images per split) made from the demo set
  bench        `python -m cinic bench --device cuda --gap --json` on it
  sweep        several trials per GPU on Ray (resources.gpus 0.25): a seed grid of base, 1 epoch
  reproduce    `python -m cinic reproduce --data FULL --seeds 3 --json`, where the command exists
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TESTS = ["tests/test_device.py", "tests/test_loader.py", "tests/test_train.py", "tests/test_speed_neutral.py"]
OPTIONAL = ("ray", "Augmentor", "streamlit", "captum")
STEPS = ("environment", "tests", "full_scale", "bench", "sweep", "reproduce")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every step on the CPU on tiny inputs")
    parser.add_argument("--out", default=os.environ.get("OUT") or "/tmp/device_check",
                        help="folder for the JSON, the logs and the data (default $OUT, else /tmp/device_check)")
    parser.add_argument("--bench-epochs", type=int, default=2, help="timed epochs per pipeline in the bench")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, args.dry_run, args.bench_epochs)
    report = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "dry_run": args.dry_run,
              "python": sys.executable, "steps": {}}
    for name in STEPS:
        started = time.monotonic()
        try:
            result = getattr(check, name)()
        except StepFailed as e:
            result = {"status": "failed", "why": str(e)}
        result["seconds"] = round(time.monotonic() - started, 1)
        report["steps"][name] = result
        print(f"[device_check] {name}: {result['status']} ({result['seconds']} s)"
              + (f": {result['why']}" if result.get("why") else ""), file=sys.stderr, flush=True)
        (out / "device_check.json").write_text(json.dumps(report, indent=1))  # so far, should a step hang
    failed = [name for name, r in report["steps"].items() if r["status"] == "failed"]
    print(f"[device_check] {out / 'device_check.json'}" + (f"; failed: {', '.join(failed)}" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


class StepFailed(Exception):
    pass


class Check:
    def __init__(self, out: Path, dry_run: bool, bench_epochs: int):
        self.out, self.dry_run, self.bench_epochs = out, dry_run, bench_epochs
        self.device = "cpu" if dry_run else "cuda"
        self.full = out / "full-scale"

    def run(self, name: str, args: list[str], timeout: float | None = None) -> str:
        """`python -m ...` (or any args) with its output in logs/NAME.log; its stdout returned; StepFailed if it fails."""
        logs = self.out / "logs"
        logs.mkdir(exist_ok=True)
        env = {**os.environ, "CINIC_CACHE": str(self.out / "cache"), "CINIC_RUNS": str(self.out / "runs")}
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        (logs / f"{name}.log").write_text(f"$ {' '.join(args)}\n{done.stdout}\n--- stderr ---\n{done.stderr}")
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise StepFailed(f"exit {done.returncode}: {tail[0][:300]} (logs/{name}.log)")
        return done.stdout

    def environment(self) -> dict:
        import importlib.util

        import torch

        cuda = torch.cuda.is_available()
        if not cuda and not self.dry_run:
            raise StepFailed("torch sees no CUDA GPU: run on the GPU machine, or with --dry-run here")
        return {"status": "ok", "torch": torch.__version__, "cuda": torch.version.cuda,
                "gpu": torch.cuda.get_device_name(0) if cuda else None, "gpus": torch.cuda.device_count(),
                "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "optional": {name: importlib.util.find_spec(name) is not None for name in OPTIONAL}}

    def tests(self) -> dict:
        marks = ["-m", "not slow"] if self.dry_run else []
        try:
            said = self.run("tests", ["-m", "pytest", "-q", "-p", "no:cacheprovider", *marks, *DEVICE_TESTS])
            status = "ok"
        except StepFailed as e:
            said, status = (self.out / "logs" / "tests.log").read_text(), "failed"
            why = str(e)
        counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", said)}
        return {"status": status, "files": DEVICE_TESTS, **counts, **({"why": why} if status == "failed" else {})}

    def full_scale(self) -> dict:
        demo = self.out / "demo"
        if not demo.is_dir():
            self.run("demo_data", ["-m", "cinic", "demo-data", str(demo)])
        if not (self.full / "test").is_dir():
            per_split = 100 if self.dry_run else 90_000
            self.run("full_scale", ["-m", "cinic", "make-full-scale", str(self.full), "--data", str(demo),
                                    "--per-split", str(per_split), "--json"])
        return {"status": "ok", "folder": str(self.full),
                "images": {split: sum(1 for p in (self.full / split).rglob("*") if p.is_file())
                           for split in ("train", "valid", "test")}}

    def bench(self) -> dict:
        tiny = ["--presets", "base", "--epochs", "1", "--eval-images", "200", "--workers", "0"] if self.dry_run else [
            "--epochs", str(self.bench_epochs)]
        said = self.run("bench", ["-m", "cinic", "bench", "--device", self.device, "--data", str(self.full),
                                  "--gap", "--json", *tiny])
        report = json.loads(said)
        return {"status": "ok", "figures": {r["preset"]: {k: r[k] for k in (
            "seed_s_per_epoch", "project_s_per_epoch", "ratio", "bare_s_per_epoch", "project_over_bare",
            "project_s_per_120k_images")} for r in report["results"]}, "report": report}

    def sweep(self) -> dict:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return {"status": "skipped", "why": "ray is not installed: carry its wheel (bench/device_check.sh)"}
        seeds = [0, 1] if self.dry_run else [0, 1, 2, 3, 4, 5, 6, 7]
        spec = {"name": "device-check", "data": str(self.full), "epochs": 1, "device": self.device,
                "grid": {"preset": ["base"], "seed": seeds},
                "resources": {"cpus": 1, "gpus": 0 if self.dry_run else 0.25}}  # four trials share a GPU
        (self.out / "sweep.json").write_text(json.dumps(spec))
        started = time.monotonic()
        said = self.run("sweep", ["-m", "cinic", "sweep", str(self.out / "sweep.json"), "--json",
                                  "--runs-root", str(self.out / "sweep-runs")])
        summary = json.loads(said)
        return {"status": "ok", "spec": spec, "seconds_all_trials": round(time.monotonic() - started, 1),
                "state": summary["state"], "trials": len(summary["trials"]), "summary": summary}

    def reproduce(self) -> dict:
        try:
            self.run("reproduce_help", ["-m", "cinic", "reproduce", "--help"])
        except StepFailed:
            return {"status": "skipped", "why": "`python -m cinic reproduce` does not exist in this checkout yet"}
        data = str(self.out / "demo") if self.dry_run else str(self.full)
        seeds = "1" if self.dry_run else "3"
        said = self.run("reproduce", ["-m", "cinic", "reproduce", "--data", data, "--seeds", seeds, "--json"])
        return {"status": "ok", "result": json.loads(said)}


if __name__ == "__main__":
    sys.exit(main())
