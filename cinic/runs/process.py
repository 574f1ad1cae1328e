"""Which process trains a run: a pid plus its start time names one process for good.

A training writes `this_process()` into its status.json; `is_training_process` tells whether that
process still runs, so a run whose process died reads as interrupted and only a run's own
training is ever signalled.
"""

from __future__ import annotations

import os


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
    if proc_available():
        return process_start(pid) is not None and process_start(pid) == status.get("pid_start")
    return _pid_alive(pid)


def proc_available() -> bool:
    return os.path.exists(f"/proc/{os.getpid()}/stat")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
