"""Does listing stay fast with many runs? `python -m cinic runs --json` and the Home page, 1 run against N.

    .venv/bin/python bench/many_runs.py [--runs 500] [--repeats 5] [--no-browser] [--json]

Trains one real run (base, 2 epochs, on a tiny demo set made in a temp folder)
and makes two runs roots in that temp folder: one holding that run alone, one
holding N runs made from it, each looking like a run of a 10-epoch training on
CINIC-10: its own config.json (presets base/stepping/best), status.json (finished,
failed, cancelled, interrupted), notes.json on every third, a 1,410-line
metrics.jsonl, eval.json, train.log, and best.pt/last.pt (hard links to the real
checkpoints: listing must never open them, and 500 copies would only fill the disk).

Then, taking the two roots in turn (so a busy machine slows both alike) and
giving the median of --repeats:
- `cinic.runs.folder.list_runs()` in this process (what both of the others call);
- `python -m cinic runs --json` as a process (interpreter start and imports included);
- the Home page's script run under streamlit.testing's AppTest (the server-side
  work of one page load: listing, filters, the table);
- with Chromium (unless --no-browser): a real `streamlit run app.py` server and a
  page load in headless Chromium until the runs table is drawn and the script done.
Nothing outside the temp folder is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from cinic.runs.config import make_config  # noqa: E402
from cinic.data.demo import make_demo_dataset  # noqa: E402
from cinic.model.lenet import PRESETS  # noqa: E402
from cinic.runs.folder import RunFolder  # noqa: E402

STATES = ["finished"] * 7 + ["failed", "cancelled", "running"]  # "running" with a dead pid reads interrupted
BATCH_LINES_PER_EPOCH = 140  # CINIC-10's 90,000 training images, batch 64, a record every 10 batches
EPOCHS = 10


def train_one(base: Path) -> RunFolder:
    from cinic.training.loop import train_run

    data = make_demo_dataset(base / "data", per_class=(30, 6, 6), seed=3)
    config = make_config(str(data), preset="base", epochs=2, batch_size=32, device="cpu")
    run = RunFolder.create(config.to_dict(), root=base / "one", name="20260101-000000-base")
    status = train_run(run, progress=False, log=lambda m: None)
    assert status["state"] == "finished", run.log_tail()
    return run


def long_metrics(rng: random.Random) -> str:
    lines = []
    for epoch in range(1, EPOCHS + 1):
        for i in range(BATCH_LINES_PER_EPOCH):
            lines.append({"kind": "batch", "epoch": epoch, "step": (epoch - 1) * 1400 + i * 10,
                          "loss": round(2.3 - epoch * 0.1 + rng.random() * 0.2, 4)})
        lines.append({"kind": "epoch", "epoch": epoch, "train_loss": 1.5, "train_acc": 40 + epoch,
                      "valid_loss": 1.6, "valid_acc": 38 + epoch, "lr": 0.004, "seconds": 6.5,
                      "images_per_s": 13800})
    return "".join(json.dumps(line) + "\n" for line in lines)


def make_many(real: RunFolder, root: Path, n: int) -> None:
    """n run folders made from the real one, varied as a year of someone's runs would be."""
    rng = random.Random(0)
    config = real.config()
    status = json.loads((real.path / "status.json").read_text())
    evaluation = (real.path / "eval.json").read_text()
    log = real.log_tail(400) or "epoch 1/10 ...\n" * 40
    root.mkdir(parents=True)
    for i in range(n):
        preset = rng.choice(["base", "stepping", "best"])
        run = root / f"2026{1 + i // 28 % 12:02d}{1 + i % 28:02d}-{i:06d}-{preset}"
        run.mkdir()
        run_config = dict(config, preset=preset, model=PRESETS[preset].to_dict(), epochs=EPOCHS)
        (run / "config.json").write_text(json.dumps(run_config, indent=2))
        state = rng.choice(STATES)
        run_status = dict(status, state=state, epoch=EPOCHS if state == "finished" else rng.randint(1, 9),
                          epochs=EPOCHS, best_valid_acc=round(rng.uniform(35, 66), 2),
                          test_acc=round(rng.uniform(35, 66), 2) if state == "finished" else None,
                          created=time.time() - i * 3600, pid=999_999 if state == "running" else None)
        (run / "status.json").write_text(json.dumps(run_status, indent=2))
        if i % 3 == 0:
            (run / "notes.json").write_text(json.dumps({"notes": f"try {i}: lr 0.004", "tags": [
                rng.choice(["baseline", "augment", "lr-sweep", "keep"])]}))
        (run / "metrics.jsonl").write_text(long_metrics(rng))
        (run / "eval.json").write_text(evaluation)
        (run / "train.log").write_text(log)
        for checkpoint in ("best.pt", "last.pt"):
            os.link(real.path / checkpoint, run / checkpoint)


def time_cli(root: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cinic", "runs", "--json"], cwd=PROJECT, capture_output=True,
                          env={**env, "CINIC_RUNS": str(root)})
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr.decode()
    return seconds


def time_listing(root: Path) -> float:
    from cinic.runs.folder import list_runs

    started = time.perf_counter()
    listed = list_runs(root)
    seconds = time.perf_counter() - started
    assert len(listed) == sum(p.is_dir() for p in root.iterdir()), "a run is missing"
    return seconds


def time_home(root: Path) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ["CINIC_RUNS"] = str(root)
    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=120)
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == sum(p.is_dir() for p in root.iterdir()), "a run is missing"
    return seconds


class BrowserHome:
    """A real server per runs root and one headless Chromium, timing page loads of the Home page."""

    def __init__(self, roots: dict[str, Path], env: dict, base: Path):
        self.servers, self.urls, self.playwright, self.browser = [], {}, None, None
        try:
            self._start(roots, env, base)
        except BaseException:
            self.close()
            raise

    def _start(self, roots: dict[str, Path], env: dict, base: Path) -> None:
        from playwright.sync_api import sync_playwright

        sys.path.insert(0, str(PROJECT / "tests"))
        from test_e2e import CHROMIUM_ARGS, find_chromium, free_port, wait_for_health

        for label, root in roots.items():
            port = free_port()
            log = base / f"server-{label}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                 "--server.headless", "true", "--server.fileWatcherType", "none"],
                cwd=PROJECT, env={**env, "CINIC_RUNS": str(root)}, stdout=log.open("w"),
                stderr=subprocess.STDOUT, start_new_session=True)
            self.servers.append(process)
            self.urls[label] = f"http://127.0.0.1:{port}"
            wait_for_health(self.urls[label], process, log)
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        for label in roots:  # the first load of a fresh server imports everything: not what is measured
            self.time(label)

    def time(self, label: str) -> float:
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(self.urls[label])
        page.get_by_test_id("stDataFrame").wait_for(timeout=120_000)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
        seconds = time.perf_counter() - started
        page.close()
        return seconds

    def close(self) -> None:
        if self.browser:
            self.browser.close()
        if self.playwright:
            self.playwright.stop()
        for process in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                process.wait(timeout=30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="leave out the real server and Chromium")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="cinic-many-runs-"))
    env = {**os.environ, "CINIC_CACHE": str(base / "cache"), "CINIC_DATA": str(base / "data"),
           "PYTHONUNBUFFERED": "1"}
    os.environ.update(CINIC_CACHE=env["CINIC_CACHE"], CINIC_DATA=env["CINIC_DATA"])
    browser = None
    try:
        real = train_one(base)
        roots = {"1 run": real.path.parent, f"{args.runs} runs": base / "many"}
        make_many(real, roots[f"{args.runs} runs"], args.runs)
        size = sum(f.stat().st_size for f in roots[f"{args.runs} runs"].rglob("*") if f.is_file())
        print(f"{args.runs} run folders, {size / 1e6:.0f} MB counting each hard-linked checkpoint",
              file=sys.stderr)
        timings = {what: {label: [] for label in roots} for what in ("listing", "cli", "home")}
        browser = None if args.no_browser else BrowserHome(roots, env, base)
        if browser:
            timings["browser"] = {label: [] for label in roots}
        for label, root in roots.items():  # warm-up: imports and the OS's file cache
            time_cli(root, env), time_home(root)
        for _ in range(args.repeats):
            for label, root in roots.items():
                timings["listing"][label].append(time_listing(root))
                timings["cli"][label].append(time_cli(root, env))
                timings["home"][label].append(time_home(root))
                if browser:
                    timings["browser"][label].append(browser.time(label))
    finally:
        if browser:
            browser.close()  # a failed measurement must not leave servers running
        shutil.rmtree(base, ignore_errors=True)

    one, many = roots
    report = {}
    for what, by_root in timings.items():
        medians = {label: statistics.median(t) for label, t in by_root.items()}
        report[what] = {"median_s": {label: round(m, 4) for label, m in medians.items()},
                        "all_s": {label: [round(x, 4) for x in t] for label, t in by_root.items()},
                        "extra_s": round(medians[many] - medians[one], 4),
                        "ratio": round(medians[many] / medians[one], 2)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    names = {"listing": "cinic.runs.folder.list_runs() in process", "cli": "python -m cinic runs --json", "home": "Home page script run (AppTest)",
             "browser": "Home page load in Chromium"}
    print(f"{'what':36s} {one:>9s} {many:>10s} {'extra s':>8s} {'ratio':>6s}   (medians of {args.repeats})")
    for what, figures in report.items():
        m = figures["median_s"]
        print(f"{names[what]:36s} {m[one]:9.4f} {m[many]:10.4f} {figures['extra_s']:8.4f} {figures['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
