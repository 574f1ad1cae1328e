"""Starting, resuming and stopping a training: its own process, the resume policy, the stop request.

A training runs as `python -m cinic train --run FOLDER`, a process that outlives the app's
request; the run folder is all the caller and the training share.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cinic import paths
from cinic.runs.files import EVAL, STATUS, RunError, whole_number
from cinic.runs import warm
from cinic.runs.folder import LIVE_STATES, RunFolder
from cinic.runs.process import is_training_process, proc_available


def launch_training(config: dict | None = None, root: Path | None = None,
                    resume_run: RunFolder | None = None, name: str | None = None) -> RunFolder:
    """Start a training as its own process and return its run folder at once.

    The process outlives the caller (a Streamlit rerun, a closed tab). It waits
    on the runs root's training lock, so a second launch queues behind the
    first instead of two trainings fighting over one device. `name` names a new run's folder
    (default: the time and the preset).
    """
    if resume_run is not None:
        run = resume_run
        check_resumable(run)
        run.clear_stop()
        run.write_status("queued", pid=None, error=None)
    else:
        run = RunFolder.create(config, root, name)
    args = [sys.executable, "-m", "cinic", "train", "--run", str(run.path), "--no-progress"]
    if resume_run is not None:
        args += ["--resume", str(run.path)]  # --resume takes the run; --run alone would start afresh
    # The child records its own pid in status.json as it starts; writing it here
    # too could overwrite a "running" the child wrote first.
    # A process kept warm takes it where the app keeps one (cinic/runs/warm.py), else a fresh one starts.
    process = warm.popen(args, run.log_path, cwd=paths.project_root(), stdin=subprocess.DEVNULL,
                         start_new_session=True)
    # Reap it when it ends: unwaited, a finished training stays a zombie child of the app's server.
    threading.Thread(target=process.wait, name=f"reap {run.name}", daemon=True).start()
    return run


def check_resumable(run: RunFolder) -> None:
    """RunError unless `run` can be resumed: not live (a second process would override a stop and
    train it twice) and not damaged (one line naming the file at fault)."""
    status = run.status()
    if status["state"] in LIVE_STATES:
        raise RunError(f"run {run.name} is already {status['state']}; stop it first (`python -m cinic stop "
                       f"{run.name}`), then resume it")
    if status["state"] == "damaged" and (run.path / STATUS).exists():
        raise RunError(f"run {run.name} cannot be resumed: {status['error']}. If no training is running it, "
                       f"delete {run.path / STATUS} and resume it again")
    run.data_root()  # a damaged config.json is named now, not by the training process
    if not run.has_checkpoint("last"):  # said before the status is touched: the run stays as it reads
        raise RunError(f"{run.name} has no completed epoch to resume from; start it again instead")


RESUME_CHANGES = ("data", "epochs")  # what `train --resume` may change; anything else is a new run


def change_for_resume(run: RunFolder, data: str | None = None, epochs: int | None = None) -> list[str]:
    """Record what a resume changes: the data folder moved (the same images: counts and exact mean/std
    must match) or more epochs. RunError names the difference; returns what changed, for the log."""
    config, changed = run.config(), []
    if epochs is not None and epochs != config.get("epochs"):
        if not isinstance(epochs, int) or not whole_number(config.get("epochs")) or not (
                config["epochs"] < epochs <= 1000):
            raise RunError(f"--epochs {epochs}: a resume can only add epochs, from the run's {config.get('epochs')} "
                           "up to 1000; start a new run for fewer")
        changed.append(f"epochs {config['epochs']} -> {epochs}")
    if data is not None:
        from cinic.data import dataset as datasets

        root = str(datasets.resolve_data(data))
        if root != config.get("data"):
            _check_same_data(run, config, root, datasets)
            changed.append(f"data {config.get('data')} -> {root}")
            config["data"] = root
    if changed:
        run.update_config(data=config["data"], epochs=epochs or config["epochs"])
        if epochs:
            run.write_status(run.status()["state"], epochs=epochs)
    return changed


def _check_same_data(run: RunFolder, config: dict, root: str, datasets) -> None:
    """A moved data folder holds the run's images: the same exact training mean and std and, where
    the run was evaluated, as many test images."""
    train = datasets.load_split(root, "train")
    mean, std = datasets.channel_stats(train.images)
    same = config.get("mean") is None or all(
        abs(a - b) < 1e-5 for a, b in zip([*mean, *std], [*config["mean"], *config["std"]]))
    evaluation = run.evaluation() if (run.path / EVAL).is_file() else None
    if same and evaluation is not None:
        same = len(datasets.load_split(root, "test").labels) == evaluation["n"]
    if not same:
        raise RunError(f"--data {root} holds other images than the run trained on ({config.get('data')}): "
                       "a resume continues on the same data; start a new run to train on this one")


def stop_run(run: RunFolder, grace_s: float = 0.0) -> None:
    """Ask a live training to stop after saving; with grace_s, SIGTERM it if it has not stopped by then.

    Only the run's own training process is ever signalled (`is_training_process`);
    a run that is not training is refused, so no stale stop file lands in it.
    """
    state = run.status()["state"]
    if state not in LIVE_STATES:
        raise RunError(f"run {run.name} is {state}, not training: there is nothing to stop")
    run.request_stop()
    if grace_s <= 0:
        return
    deadline = time.time() + grace_s
    while time.time() < deadline and run.status()["state"] in LIVE_STATES:
        time.sleep(0.2)
    status = run.status()
    if status["state"] in LIVE_STATES and is_training_process(status) and proc_available():
        os.kill(status["pid"], signal.SIGTERM)
