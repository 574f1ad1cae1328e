"""The run folder: one training's config, status, metrics, checkpoints and evaluation.

A run folder is the single source of truth about a training. The training
process writes it; the CLI and the app only read it (and may drop a `stop`
file into it). The format is documented in docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from cinic import paths
from cinic.atomic import replace_file
from cinic.errors import CinicError

CONFIG, STATUS, METRICS, EVAL, LOG, STOP = (
    "config.json", "status.json", "metrics.jsonl", "eval.json", "train.log", "stop")
NOTES = "notes.json"   # a person's notes and tags about the run (cinic.runs.admin writes it)
CHECKPOINTS = ("last", "best")   # the files checkpoints.save writes: last.pt, best.pt
LIVE_STATES = ("queued", "running")
TRAINING_LOCK = ".training.lock"
SWEEPS = "sweeps"     # the runs root's folder of sweep records (cinic.sweeps.runner)
RESERVED = (SWEEPS,)  # names the runs root uses for itself: never a run's (any case: some disks ignore it)


class RunError(CinicError):
    """A path that is not a run folder, or an action the run's state forbids."""


# A run's name is its folder's name, typed on command lines: no spaces, no path separators.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_run_name(name) -> str:
    """`name` when it can name a run folder; RunError suggesting one that can, otherwise."""
    if isinstance(name, str) and name.lower() in RESERVED:
        raise RunError(f"run name {name!r} is reserved: the runs root keeps its own {name.lower()}/ folder "
                       f"there; pick another name, e.g. {name + '-1'!r}")
    if isinstance(name, str) and RUN_NAME.fullmatch(name):
        return name
    suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-._")[:100]
    hint = f", e.g. {suggestion!r}" if suggestion else ""
    raise RunError(f"run name {str(name)[:120]!r} cannot name a run folder: use letters, digits, '.', '_' "
                   f"and '-' (at most 100), starting with a letter or digit{hint}")


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file, fsync, then rename: readers see the old or the new file, never half.

    On a full disk the temp file is removed and the previous file, where there was one, is untouched.
    """
    existed = path.exists()
    try:
        replace_file(path, lambda handle: handle.write(data))
    except OSError as e:
        raise _write_error(path, e, "Free some disk space and try again; " + (
            "the previous file is intact." if existed else "nothing was written.")) from e


def _write_error(path: Path, error: OSError, advice: str) -> RunError:
    """Why a write into a run folder failed: a folder gone is not a full disk."""
    if not path.parent.is_dir():
        return RunError(f"could not write {path}: its folder was deleted or moved while in use; "
                        "nothing more is saved there")
    return RunError(f"could not write {path}: {error.strerror or error}. {advice}")


# --- the process that trains a run ----------------------------------------------------
def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None where it is gone,
    a zombie, or unknowable (no /proc). With the pid it names one process for good: a pid the
    system reuses after a restart belongs to a process that started at another time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # state (field 3) and starttime (field 22)


def this_process() -> dict:
    """What a training writes into status.json so that others can tell its process from any other."""
    return {"pid": os.getpid(), "pid_start": process_start(os.getpid())}


def is_training_process(status: dict) -> bool:
    """True when the pid in `status` is, provably, the process that wrote it and it still runs.

    Only a positive pid counts (os.kill(-1, ...) signals every process the user
    may signal). Where /proc tells start times, the recorded start must match;
    elsewhere a live pid is taken at its word, and is never signalled (`stop_run`).
    """
    pid = status.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if _proc_available():
        return process_start(pid) is not None and process_start(pid) == status.get("pid_start")
    return _pid_alive(pid)


def _proc_available() -> bool:
    return os.path.exists(f"/proc/{os.getpid()}/stat")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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
        try:
            root.mkdir(parents=True, exist_ok=True)
            if name is None:
                path = cls._new_folder(root, config)
            else:
                path = root / check_run_name(name)
                try:
                    path.mkdir(parents=False, exist_ok=False)
                except FileExistsError:
                    raise RunError(f"a run named {name!r} already exists in {root}; pick another name") from None
        except OSError as e:  # a read-only root, or a file where a folder belongs
            raise RunError(f"cannot make a run folder in {root}: {e.strerror or e}; give a runs root you can "
                           "write to (--runs-root, or CINIC_RUNS)") from e
        run = cls(path)
        try:
            write_atomically(path / CONFIG, json.dumps(config, indent=2).encode())
            run.write_status("queued", epoch=0, epochs=config.get("epochs"), created=time.time())
        except RunError:  # a full disk: the folder just made holds nothing worth keeping, nor listing
            shutil.rmtree(path, ignore_errors=True)
            raise
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
        """config.json; RunError naming the file when it is damaged or a field has the wrong type."""
        config = self._read_object(CONFIG)
        _check_config(config, self.path / CONFIG)
        return config

    def data_root(self) -> str:
        """The data folder the run trained on, from config.json."""
        data = self.config().get("data")
        if not data:
            raise RunError(f"{self.path / CONFIG} is damaged: it names no data folder (\"data\")")
        return data

    def update_config(self, **fields) -> None:
        """Fill in what is only known once training starts (the exact mean and std)."""
        config = self.config()
        config.update(fields)
        write_atomically(self.path / CONFIG, json.dumps(config, indent=2).encode())

    def status(self) -> dict:
        """status.json, with a live state whose training process is gone read as "interrupted"
        and a damaged file read as "damaged" (its error names the file and the fault)."""
        try:
            status = self._read_object(STATUS)
            _check_status(status, self.path / STATUS)
        except RunError as e:
            return {"state": "damaged", "error": str(e), "pid": None}
        launching = status.get("pid") is None and time.time() - _number(status.get("updated"), 0) < 60
        if status["state"] in LIVE_STATES and not launching and not is_training_process(status):
            status["state"] = "interrupted"
            status["error"] = status.get("error") or "the training process ended without saying why (killed?)"
        return status

    def write_status(self, state: str, **fields) -> None:
        try:
            status = self._read_object(STATUS)
        except RunError:
            status = {}
        status.update(fields, state=state, updated=time.time())
        status.setdefault("pid", None)
        status.setdefault("error", None)
        write_atomically(self.path / STATUS, json.dumps(status, indent=2).encode())

    def _read_object(self, name: str) -> dict:
        """A JSON object from one of the run's files; RunError naming the file when it is not one."""
        path = self.path / name
        try:
            value = json.loads(path.read_bytes())
        except OSError as e:
            raise RunError(f"cannot read {path}: {e.strerror or e}") from e
        except ValueError as e:  # not JSON, or not UTF-8
            raise RunError(f"{path} is damaged: it is not JSON ({str(e)[:120]})") from e
        if not isinstance(value, dict):
            raise RunError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not an object")
        return value

    # --- a person's notes and tags ----------------------------------------------
    def notes(self) -> dict:
        """notes.json as {"notes": str, "tags": [str]}; empty when the run has none."""
        try:
            raw = (self.path / NOTES).read_bytes()
        except FileNotFoundError:
            return {"notes": "", "tags": []}
        except OSError as e:
            raise RunError(f"cannot read {self.path / NOTES}: {e.strerror or e}") from e
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise RunError(f"{self.path / NOTES} is damaged: it is not JSON ({str(e)[:120]}); "
                           "fix it or delete it (it holds only the run's notes and tags)") from e
        notes, tags = (value.get("notes", ""), value.get("tags", [])) if isinstance(value, dict) else (None, None)
        if not isinstance(notes, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RunError(f"{self.path / NOTES} is damaged: it should hold {{\"notes\": text, \"tags\": "
                           "[text, ...]}; fix it or delete it")
        return {"notes": notes, "tags": tags}

    def write_notes(self, notes: str, tags: list[str]) -> None:
        write_atomically(self.path / NOTES, json.dumps({"notes": notes, "tags": tags}, indent=2).encode())

    # --- metrics --------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        try:
            with open(self.path / METRICS, "a") as f:
                f.write(line)
                f.flush()
        except OSError as e:
            raise _write_error(self.path / METRICS, e, "Free some disk space and resume the run; "
                                                       "the last checkpoint is intact.") from e

    def metrics(self) -> list[dict]:
        """Every readable record; a line torn by a kill mid-write, or damaged, is skipped."""
        try:
            raw = (self.path / METRICS).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise RunError(f"cannot read {self.path / METRICS}: {e.strerror or e}") from e
        records = []
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # torn or not UTF-8: a torn epoch is redone on resume
            if isinstance(record, dict) and _whole_number(record.get("epoch")):
                records.append(record)
        return records

    def epochs(self) -> list[dict]:
        """The last record of each epoch, in order; records missing a figure the curves need are skipped,
        and an optional figure that is not a number is left out."""
        by_epoch = {r["epoch"]: r for r in self.metrics()
                    if r.get("kind") == "epoch" and all(_is_number(r.get(k)) for k in EPOCH_FIGURES)}
        return [{k: v for k, v in by_epoch[e].items() if k not in EPOCH_EXTRAS or _is_number(v)}
                for e in sorted(by_epoch)]

    def batches(self) -> list[dict]:
        return [r for r in self.metrics() if r.get("kind") == "batch" and _is_number(r.get("loss"))
                and _whole_number(r.get("step"))]

    def truncate_metrics_after(self, epoch: int) -> None:
        """Drop records of epochs after `epoch` (a resumed run redoes them)."""
        keep = [r for r in self.metrics() if r.get("epoch", 0) <= epoch]
        data = "".join(json.dumps(r) + "\n" for r in keep).encode()
        write_atomically(self.path / METRICS, data)

    # --- evaluation -----------------------------------------------------------
    def evaluation(self) -> dict | None:
        if not (self.path / EVAL).is_file():
            return None
        evaluation = self._read_object(EVAL)
        fault = _evaluation_fault(evaluation)
        if fault:
            raise RunError(f"{self.path / EVAL} is damaged: {fault}; "
                           "evaluate the run again (`python -m cinic evaluate RUN`)")
        return evaluation

    def write_evaluation(self, evaluation: dict) -> None:
        """eval.json, and its headline figure into status.json, which listing reads alone."""
        write_atomically(self.path / EVAL, json.dumps(evaluation).encode())
        try:
            status = self._read_object(STATUS)
        except RunError:
            return
        status["test_acc"] = evaluation["accuracy"]
        write_atomically(self.path / STATUS, json.dumps(status, indent=2).encode())

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
    if root.exists() and not root.is_dir():
        raise RunError(f"the runs root {root} is a file, not a folder: give the folder that holds run folders")
    if not root.is_dir():
        return []
    summaries = []
    for path in sorted(root.iterdir(), reverse=True):
        if path.is_dir() and (path / CONFIG).exists():
            summaries.append(summarize_run(RunFolder(path)))
    return summaries


def summarize_run(run: RunFolder) -> dict:
    """What a list of runs shows, from config.json and status.json alone (both small), so 500 runs
    list in a blink; a run whose files cannot be read is listed as damaged, with the reason."""
    try:
        config = run.config()
        status = run.status()
        return {
            "name": run.name,
            "path": str(run.path),
            "preset": _text(config.get("preset")) or "custom",
            "model": _describe(config.get("model")),
            "params": _whole(status.get("params")),
            "state": status["state"],
            "error": _text(status.get("error")),
            "epoch": _whole(status.get("epoch")) or 0,
            "epochs": _whole(config.get("epochs")),
            "best_valid_acc": _percent(status.get("best_valid_acc")),
            "test_acc": _percent(status.get("test_acc")),
            "s_per_epoch": _number(status.get("s_per_epoch")),
            "augment_name": _text(config.get("augment_name")) or "none",
            "augment_n": _whole(config.get("augment_n")) or 0,
            "created": _number(status.get("created")) or run.path.stat().st_mtime,  # runs from before "created"
            "device": _text(status.get("device")),  # set once it trained: a run that never started has none
            **_notes_summary(run),
        }
    except (RunError, OSError) as e:
        return {"name": run.name, "path": str(run.path), "state": "damaged", "error": str(e),
                "preset": "?", "epoch": 0}


def _notes_summary(run: RunFolder) -> dict:
    """Notes and tags for a summary; a damaged notes.json hides no result, it is only said."""
    try:
        return run.notes()
    except RunError as e:
        return {"notes": "", "tags": [], "notes_error": str(e)}


def _describe(model_dict) -> str:
    from cinic.model.lenet import ModelSpec

    try:
        return ModelSpec.from_dict(model_dict).describe()
    except (ValueError, TypeError, KeyError, AttributeError):
        return "?"


# --- launching and stopping -----------------------------------------------------
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
    with open(run.log_path, "ab") as log:
        process = subprocess.Popen(args, cwd=paths.project_root(), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
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
        if not isinstance(epochs, int) or not _whole_number(config.get("epochs")) or not (
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
    if status["state"] in LIVE_STATES and is_training_process(status) and _proc_available():
        os.kill(status["pid"], signal.SIGTERM)


# --- reading typed values from files people (or accidents) may have edited -----------------------
EPOCH_FIGURES = ("train_loss", "train_acc", "valid_loss", "valid_acc")
EPOCH_EXTRAS = ("lr", "seconds", "images_per_s")  # shown when present
STATES = ("queued", "running", "finished", "failed", "cancelled")  # what a training writes


def _check_status(status: dict, path: Path) -> None:
    if status.get("state") not in STATES:
        raise RunError(f"{path} is damaged: its state {str(status.get('state'))[:40]!r} is not one of "
                       f"{', '.join(STATES)}")
    for key in ("epoch", "epochs", "params"):
        if status.get(key) is not None and not _whole_number(status[key]):
            raise RunError(f"{path} is damaged: {key} should be a whole number, not {str(status[key])[:40]!r}")
    for key in ("best_valid_acc", "test_acc", "updated", "created", "s_per_epoch", "eta_s"):
        if status.get(key) is not None and not _is_number(status[key]):
            raise RunError(f"{path} is damaged: {key} should be a number, not {str(status[key])[:40]!r}")
    for key in ("error", "device", "pid_start"):
        if status.get(key) is not None and not isinstance(status[key], str):
            raise RunError(f"{path} is damaged: {key} should be text, not {str(status[key])[:40]!r}")


# config.json fields every reader relies on, and the types they must have (None: may be null).
CONFIG_TYPES = {"data": (str,), "preset": (str, type(None)), "model": (dict, type(None)),
                "recipe": (str,), "epochs": (int,), "augment_name": (str,), "augment_n": (int,),
                "augment": (list,), "mean": (list, type(None)), "std": (list, type(None))}


def _check_config(config: dict, path: Path) -> None:
    for key, types in CONFIG_TYPES.items():
        value = config.get(key)
        if key in config and (not isinstance(value, types) or isinstance(value, bool)):
            raise RunError(f"{path} is damaged: {key} should be {_type_names(types)}, not {str(value)[:40]!r}")
    for key in ("mean", "std"):
        if config.get(key) is not None and not (len(config[key]) == 3 and all(map(_is_number, config[key]))):
            raise RunError(f"{path} is damaged: {key} should be three numbers, not {str(config[key])[:60]!r}")


def _type_names(types) -> str:
    names = {str: "text", int: "a whole number", dict: "an object", list: "a list", type(None): "null"}
    return " or ".join(names[t] for t in types)


def _evaluation_fault(e: dict) -> str | None:
    """What is wrong with an eval.json object, or None: every field a page, report or CSV reads."""
    classes = e.get("classes")
    if not _is_number(e.get("accuracy")) or not _whole_number(e.get("n")) or not _whole_number(e.get("correct", 0)):
        return "it lacks the accuracy or the number of images"
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        return "its class names are not a list of text"
    confusion = e.get("confusion")
    if not (isinstance(confusion, list) and len(confusion) == len(classes) and all(
            isinstance(row, list) and len(row) == len(classes) and all(map(_whole_number, row)) for row in confusion)):
        return "its confusion matrix is not a square of whole numbers, one row per class"
    for key in ("per_class", "precision"):
        value = e.get(key)
        if not isinstance(value, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in value.items()):
            return f"{key} is not a number per class"
    for key, fields in (("most_confused", {"true": str, "pred": str, "count": int}),
                        ("misclassified", {"index": int, "file": str, "true": str, "pred": str})):
        rows = e.get(key, [])
        if not isinstance(rows, list) or not all(
                isinstance(r, dict) and all(isinstance(r.get(f), t) and not isinstance(r.get(f), bool)
                                            for f, t in fields.items()) for r in rows):
            return f"{key} is not a list of records with {', '.join(fields)}"
    for row in e.get("misclassified", []):
        if not all(_is_number(row.get(f)) for f in ("p_pred", "p_true", "loss") if f in row):
            return "misclassified holds a probability or loss that is not a number"
    origins = e.get("per_origin", {})
    if origins is not None and not (isinstance(origins, dict) and all(
            isinstance(v, dict) and _whole_number(v.get("n")) and _is_number(v.get("accuracy"))
            for v in origins.values())):
        return "per_origin is not a count and an accuracy per origin"
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value, default=None):
    return value if _is_number(value) else default


def _whole(value):
    return value if _whole_number(value) else None


def _percent(value):
    return value if _is_number(value) and 0 <= value <= 100 else None


def _text(value) -> str | None:
    return value if isinstance(value, str) else None
