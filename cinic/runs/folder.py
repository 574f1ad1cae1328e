"""The run folder: one training's config, status, metrics, checkpoints and evaluation; listing runs.

A run folder is the single source of truth about a training. The training
process writes it; the CLI and the app only read it (and may drop a `stop`
file into it). The format is documented in docs/architecture.md. Its parts live
beside it: the files' names and safe reading and writing (`files`), the metrics
and evaluation a training records (`records`), which process trains it
(`process`), and starting, resuming and stopping a training (`launch`).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

from cinic import paths
from cinic.runs.files import (CHECKPOINTS, CONFIG, LOG, NOTES, STATUS, STOP, RunError, is_number, read_object,
                              whole_number, write_atomically)
from cinic.runs.process import is_training_process
from cinic.runs.records import RunRecords

LIVE_STATES = ("queued", "running")
TRAINING_LOCK = ".training.lock"
SWEEPS = "sweeps"     # the runs root's folder of sweep records (cinic.sweeps.runner)
RESERVED = (SWEEPS,)  # names the runs root uses for itself: never a run's (any case: some disks ignore it)


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


class RunFolder(RunRecords):
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
        if config.get("recipe") == "seed":  # written before the report's recipe was called "report"
            from cinic.runs.config import recipe_name

            config["recipe"] = recipe_name(config["recipe"])
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
        return read_object(self.path / name)

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


# --- what a run trained, in words ---------------------------------------------------------
# The same preset trains another model under each recipe (the project recipe adds contrast-normalised
# input, flip TTA and Xavier weights), so a run is named by both. The report's recipe was keyed "seed"
# before it was keyed "report": both read the same.
def recipe_label(recipe) -> str:
    """"report recipe" or "project recipe", an old name read as the recipe it names now ("seed": the
    report's); an unknown key reads as itself."""
    from cinic.runs.config import recipe_name

    return f"{recipe_name(recipe)} recipe" if recipe else "recipe unknown"


def run_label(config: dict) -> str:
    """"base · report recipe": what a run trained, from its config.json (or a summary of it)."""
    return f"{config.get('preset') or 'custom'} · {recipe_label(config.get('recipe'))}"


def optimizer_label(optimizer: str, weight_decay: float | None) -> str:
    """The optimiser in words: "adam" runs AdamW, which without weight decay is Adam (the report's)."""
    from cinic.runs.config import OPTIMIZER_NAMES

    if optimizer == "adam" and not weight_decay:
        return "Adam"
    return OPTIMIZER_NAMES.get(optimizer, optimizer)


# --- listing -------------------------------------------------------------------
def list_runs(root: Path | None = None) -> list[dict]:
    """A summary of every run under `root`, newest first; damaged folders are listed as such."""
    root = Path(root or paths.runs_root())
    if root.exists() and not root.is_dir():
        raise RunError(f"the runs root {root} is a file, not a folder: give the folder that holds run folders")
    if not root.is_dir():
        return []
    summaries = [summarize_run(RunFolder(path)) for path in root.iterdir()
                 if path.is_dir() and (path / CONFIG).exists()]
    # By when each run was made, not by name: a run named by hand ("tab2-base") sorts anywhere by name.
    return sorted(summaries, key=lambda s: (-s["created"], s["name"]))


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
            "recipe": _text(config.get("recipe")),
            "label": run_label(config),
            "data": _text(config.get("data")),
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
                "preset": "?", "epoch": 0, "created": _folder_time(run)}


def _folder_time(run: RunFolder) -> float:
    try:
        return run.path.stat().st_mtime
    except OSError:  # removed while being listed
        return 0.0


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


# --- reading typed values from files people (or accidents) may have edited -----------------------
STATES = ("queued", "running", "finished", "failed", "cancelled")  # what a training writes


def _check_status(status: dict, path: Path) -> None:
    if status.get("state") not in STATES:
        raise RunError(f"{path} is damaged: its state {str(status.get('state'))[:40]!r} is not one of "
                       f"{', '.join(STATES)}")
    for key in ("epoch", "epochs", "params"):
        if status.get(key) is not None and not whole_number(status[key]):
            raise RunError(f"{path} is damaged: {key} should be a whole number, not {str(status[key])[:40]!r}")
    for key in ("best_valid_acc", "test_acc", "updated", "created", "s_per_epoch", "eta_s"):
        if status.get(key) is not None and not is_number(status[key]):
            raise RunError(f"{path} is damaged: {key} should be a number, not {str(status[key])[:40]!r}")
    for key in ("error", "device", "pid_start"):
        if status.get(key) is not None and not isinstance(status[key], str):
            raise RunError(f"{path} is damaged: {key} should be text, not {str(status[key])[:40]!r}")


def _check_config(config: dict, path: Path) -> None:
    """Every setting config.json holds is of its type in the table of settings (a field may be absent:
    configs from older versions, or written by hand, lack some)."""
    from cinic.runs.config import SETTINGS

    for setting in SETTINGS:
        value = config.get(setting.name)
        if setting.name in config and not setting.is_of_type(value):
            raise RunError(f"{path} is damaged: {setting.name} should be {_type_names(setting.json_types)}, "
                           f"not {str(value)[:40]!r}")
    for key in ("mean", "std"):
        if config.get(key) is not None and not (len(config[key]) == 3 and all(map(is_number, config[key]))):
            raise RunError(f"{path} is damaged: {key} should be three numbers, not {str(config[key])[:60]!r}")


def _type_names(types) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false", dict: "an object",
             list: "a list", type(None): "null"}
    words = [names[t] for t in types if not (t is int and float in types)]  # a number includes whole ones
    return " or ".join(words)


def _number(value, default=None):
    return value if is_number(value) else default


def _whole(value):
    return value if whole_number(value) else None


def _percent(value):
    return value if is_number(value) and 0 <= value <= 100 else None


def _text(value) -> str | None:
    return value if isinstance(value, str) else None
