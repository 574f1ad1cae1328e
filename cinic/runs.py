"""The run folder: one training's config, status, metrics, checkpoints and evaluation.

A run folder is the single source of truth about a training. The training
process writes it; the CLI and the app only read it (and may drop a `stop`
file into it). The format is documented in docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from cinic import paths
from cinic.atomic import replace_file
from cinic.errors import CinicError

CONFIG, STATUS, METRICS, EVAL, LOG, STOP = (
    "config.json", "status.json", "metrics.jsonl", "eval.json", "train.log", "stop")
CHECKPOINTS = ("last", "best")   # the files checkpoints.save writes: last.pt, best.pt
LIVE_STATES = ("queued", "running")
TRAINING_LOCK = ".training.lock"


class RunError(CinicError):
    """A path that is not a run folder, or an action the run's state forbids."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file, fsync, then rename: readers see the old or the new file, never half.

    On a full disk the temp file is removed and the previous file is untouched.
    """
    try:
        replace_file(path, lambda handle: handle.write(data))
    except OSError as e:
        raise RunError(f"could not write {path}: {e.strerror or e}. "
                       "Free some disk space and try again; the previous file is intact.") from e


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (finished, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class RunFolder:
    """One run under the runs root: `checkpoints/<name>/`."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self.name = self.path.name

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- creation and lookup -------------------------------------------------
    @classmethod
    def create(cls, config: dict, root: Path | None = None, name: str | None = None) -> "RunFolder":
        root = Path(root or paths.runs_root())
        root.mkdir(parents=True, exist_ok=True)
        if name is None:
            path = cls._new_folder(root, config)
        else:
            path = root / name
            try:
                path.mkdir(parents=False, exist_ok=False)
            except FileExistsError:
                raise RunError(f"a run named {name!r} already exists in {root}; pick another name") from None
        run = cls(path)
        write_atomically(path / CONFIG, json.dumps(config, indent=2).encode())
        run.write_status("queued", epoch=0, epochs=config.get("epochs"), created=time.time())
        return run

    @staticmethod
    def _new_folder(root: Path, config: dict) -> Path:
        """A new folder named after the time and preset. mkdir itself claims the name, so two
        launches in the same second get two folders instead of one error."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        label = config.get("preset") or "custom"
        name, i = f"{stamp}-{label}", 2
        while True:
            try:
                (root / name).mkdir()
                return root / name
            except FileExistsError:
                name, i = f"{stamp}-{label}-{i}", i + 1

    @classmethod
    def open(cls, path_or_name, root: Path | None = None) -> "RunFolder":
        path = Path(path_or_name)
        if not path.exists() and not path.is_absolute():
            path = Path(root or paths.runs_root()) / path
        if not (path / CONFIG).is_file():
            raise RunError(f"{path} is not a run folder (no {CONFIG}); "
                           "list runs with `python -m cinic runs`")
        return cls(path)

    # --- config and status ---------------------------------------------------
    def config(self) -> dict:
        return self._read_json(CONFIG)

    def update_config(self, **fields) -> None:
        """Fill in what is only known once training starts (the exact mean and std)."""
        config = self.config()
        config.update(fields)
        write_atomically(self.path / CONFIG, json.dumps(config, indent=2).encode())

    def status(self) -> dict:
        try:
            status = self._read_json(STATUS)
        except RunError:
            status = {"state": "interrupted", "error": "status.json is missing or damaged"}
        just_launched = status.get("pid") is None and time.time() - status.get("updated", 0) < 60
        if status.get("state") in LIVE_STATES and not just_launched and not pid_alive(status.get("pid")):
            status["state"] = "interrupted"
            status.setdefault("error", None)
            status["error"] = status["error"] or "the training process ended without saying why (killed?)"
        return status

    def write_status(self, state: str, **fields) -> None:
        try:
            status = self._read_json(STATUS)
        except RunError:
            status = {}
        status.update(fields, state=state, updated=time.time())
        status.setdefault("pid", None)
        status.setdefault("error", None)
        write_atomically(self.path / STATUS, json.dumps(status, indent=2).encode())

    def _read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, ValueError) as e:
            raise RunError(f"cannot read {self.path / name}: {e}") from e

    # --- metrics --------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        try:
            with open(self.path / METRICS, "a") as f:
                f.write(line)
                f.flush()
        except OSError as e:
            raise RunError(f"could not write {self.path / METRICS}: {e.strerror or e}. Free some disk space "
                           "and resume the run; the last checkpoint is intact.") from e

    def metrics(self) -> list[dict]:
        try:
            text = (self.path / METRICS).read_text()
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a kill mid-write: the epoch is redone on resume
        return records

    def epochs(self) -> list[dict]:
        by_epoch = {r["epoch"]: r for r in self.metrics() if r.get("kind") == "epoch"}
        return [by_epoch[e] for e in sorted(by_epoch)]

    def batches(self) -> list[dict]:
        return [r for r in self.metrics() if r.get("kind") == "batch"]

    def truncate_metrics_after(self, epoch: int) -> None:
        """Drop records of epochs after `epoch` (a resumed run redoes them)."""
        keep = [r for r in self.metrics() if r.get("epoch", 0) <= epoch]
        data = "".join(json.dumps(r) + "\n" for r in keep).encode()
        write_atomically(self.path / METRICS, data)

    # --- evaluation -----------------------------------------------------------
    def evaluation(self) -> dict | None:
        if not (self.path / EVAL).is_file():
            return None
        return self._read_json(EVAL)

    def write_evaluation(self, evaluation: dict) -> None:
        write_atomically(self.path / EVAL, json.dumps(evaluation).encode())

    # --- checkpoints ----------------------------------------------------------
    def checkpoint_path(self, which: str = "best") -> Path:
        if which not in CHECKPOINTS:
            raise RunError(f"unknown checkpoint {which!r}: use one of {', '.join(CHECKPOINTS)}")
        return self.path / f"{which}.pt"

    def has_checkpoint(self, which: str = "best") -> bool:
        return self.checkpoint_path(which).is_file()

    # --- stopping and logs ----------------------------------------------------
    def request_stop(self) -> None:
        (self.path / STOP).touch()

    def stop_requested(self) -> bool:
        return (self.path / STOP).exists()

    def clear_stop(self) -> None:
        (self.path / STOP).unlink(missing_ok=True)

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


# --- listing -------------------------------------------------------------------
def list_runs(root: Path | None = None) -> list[dict]:
    """A summary of every run under `root`, newest first; damaged folders are listed as such."""
    root = Path(root or paths.runs_root())
    if not root.is_dir():
        return []
    summaries = []
    for path in sorted(root.iterdir(), reverse=True):
        if path.is_dir() and (path / CONFIG).is_file():
            summaries.append(summarize_run(RunFolder(path)))
    return summaries


def summarize_run(run: RunFolder) -> dict:
    try:
        config = run.config()
    except RunError as e:
        return {"name": run.name, "path": str(run.path), "state": "damaged", "error": str(e)}
    status = run.status()
    epochs = run.epochs()
    evaluation = run.evaluation() or {}
    seconds = [e["seconds"] for e in epochs if "seconds" in e]
    return {
        "name": run.name,
        "path": str(run.path),
        "preset": config.get("preset") or "custom",
        "model": _describe(config.get("model")),
        "params": status.get("params"),
        "state": status.get("state"),
        "error": status.get("error"),
        "epoch": epochs[-1]["epoch"] if epochs else 0,
        "epochs": config.get("epochs"),
        "best_valid_acc": max((e["valid_acc"] for e in epochs), default=None),
        "test_acc": evaluation.get("accuracy"),
        "s_per_epoch": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "augment_name": config.get("augment_name") or "none",
        "augment_n": config.get("augment_n") or 0,
        "created": status.get("created") or run.path.stat().st_mtime,  # runs made before "created" existed
    }


def _describe(model_dict) -> str:
    from cinic.models import ModelSpec

    try:
        return ModelSpec.from_dict(model_dict).describe()
    except (ValueError, TypeError, KeyError, AttributeError):
        return "?"


# --- launching and stopping -----------------------------------------------------
def launch_training(config: dict | None = None, root: Path | None = None,
                    resume_run: RunFolder | None = None) -> RunFolder:
    """Start a training as its own process and return its run folder at once.

    The process outlives the caller (a Streamlit rerun, a closed tab). It waits
    on the runs root's training lock, so a second launch queues behind the
    first instead of two trainings fighting over one device.
    """
    if resume_run is not None:
        run = resume_run
        state = run.status()["state"]
        if state in LIVE_STATES:
            raise RunError(f"run {run.name} is already {state}; stop it before resuming")
        run.clear_stop()
        run.write_status("queued", pid=None, error=None)
    else:
        run = RunFolder.create(config, root)
    args = [sys.executable, "-m", "cinic", "train", "--run", str(run.path), "--no-progress"]
    if resume_run is not None:
        args += ["--resume", str(run.path)]  # --resume takes the run; --run alone would start afresh
    # The child records its own pid in status.json as it starts; writing it here
    # too could overwrite a "running" the child wrote first.
    with open(run.log_path, "ab") as log:
        subprocess.Popen(args, cwd=paths.project_root(), stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    return run


def stop_run(run: RunFolder, grace_s: float = 0.0) -> None:
    """Ask a training to stop after saving; with grace_s, SIGTERM it if it has not stopped by then."""
    run.request_stop()
    if grace_s <= 0:
        return
    deadline = time.time() + grace_s
    pid = run.status().get("pid")
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
