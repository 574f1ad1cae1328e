"""A run's files, read and written safely: their names, atomic writes, JSON objects, and typed values
read from files people (or accidents) may have edited.
"""

from __future__ import annotations

import json
from pathlib import Path

from cinic.atomic import replace_file
from cinic.errors import CinicError

CONFIG, STATUS, METRICS, EVAL, LOG, STOP = (
    "config.json", "status.json", "metrics.jsonl", "eval.json", "train.log", "stop")
NOTES = "notes.json"   # a person's notes and tags about the run (cinic.runs.admin writes it)
CHECKPOINTS = ("last", "best")   # the files checkpoints.save writes: last.pt, best.pt


class RunError(CinicError):
    """A path that is not a run folder, or an action the run's state forbids."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file, fsync, then rename: readers see the old or the new file, never half.

    On a full disk the temp file is removed and the previous file, where there was one, is untouched.
    """
    existed = path.exists()
    try:
        replace_file(path, lambda handle: handle.write(data))
    except OSError as e:
        raise write_error(path, e, "Free some disk space and try again; " + (
            "the previous file is intact." if existed else "nothing was written.")) from e


def write_error(path: Path, error: OSError, advice: str) -> RunError:
    """Why a write into a run folder failed: a folder gone is not a full disk."""
    if not path.parent.is_dir():
        return RunError(f"could not write {path}: its folder was deleted or moved while in use; "
                        "nothing more is saved there")
    return RunError(f"could not write {path}: {error.strerror or error}. {advice}")


def read_object(path: Path) -> dict:
    """A JSON object from one of a run's files; RunError naming the file when it is not one."""
    try:
        value = json.loads(path.read_bytes())
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:  # not JSON, or not UTF-8
        raise RunError(f"{path} is damaged: it is not JSON ({str(e)[:120]})") from e
    if not isinstance(value, dict):
        raise RunError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not an object")
    return value


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
