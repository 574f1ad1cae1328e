"""A training process kept warm: Python, torch and the training loop already imported, waiting
for the app's next launch, so Start reaches the first batch without the 2-3 s of imports.

The app turns it on (`keep_warm`, the Train page); `popen` then hands the next
`python -m cinic train ...` of `launch_training` to the waiting process, which
becomes that training exactly as a fresh process would: its own session, its
output into the run's log, its own pid and start time in status.json (written by
the training, as ever), the stop file and SIGTERM handled by the same code. A
fresh warm process replaces it a few seconds later, once the training has
started. Anything that does not fit (no warm process, one that died, another
environment) launches a fresh process as before.

A waiting process reads its job from a pipe from the app: when the app exits,
however it exits, the pipe closes and the waiting process exits too. Only the
trainings it became outlive the app, as every training does. Nothing here ever
signals a process: a waiting one is ended by closing its pipe.

    python -m cinic.warm_start     # what `keep_warm` starts (cinic/warm_start.py); not for people
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field

REPLACE_AFTER_S = 3.0  # the next warm process's imports start once the launched training is under way
# Environment variables read only when used (cinic.paths, pytest's own): a launch passes them on. Any
# other difference (threads, GPUs, paths that imports read) makes the launch start a fresh process.
READ_WHEN_USED = ("CINIC_", "PYTEST_CURRENT_TEST")
READY = b"ready\n"


@dataclass
class _Waiting:
    process: subprocess.Popen
    env: dict
    ready: threading.Event = field(default_factory=threading.Event)


_lock = threading.Lock()
_state = {"enabled": False, "waiting": None, "timer": None}


# --- in the app -----------------------------------------------------------------------
def keep_warm() -> None:
    """From now on keep one training process warm for this process's launches (idempotent)."""
    with _lock:
        _state["enabled"] = True
        if _state["waiting"] is None and _state["timer"] is None:
            _state["waiting"] = _start()


def shutdown() -> None:
    """Stop keeping a process warm; the waiting one exits as its pipe closes."""
    with _lock:
        _state["enabled"] = False
        if _state["timer"] is not None:
            _state["timer"].cancel()
        waiting, _state["waiting"], _state["timer"] = _state["waiting"], None, None
    if waiting is not None:
        _close(waiting)


def wait_ready(timeout: float) -> bool:
    """True once a warm process has finished its imports (bench/launch_latency.py waits for it)."""
    with _lock:
        waiting = _state["waiting"]
    return waiting is not None and waiting.ready.wait(timeout)


def popen(args: list[str], log_path, **popen_args) -> subprocess.Popen:
    """Start `args` as `subprocess.Popen(args, **popen_args)` would, output into `log_path`; a
    `python -m cinic ...` goes to the warm process when one fits, else a fresh process starts."""
    taken = _hand_over(args, log_path, popen_args.get("cwd"))
    if taken is not None:
        return taken
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **popen_args)


def _hand_over(args: list[str], log_path, cwd) -> subprocess.Popen | None:
    if args[:3] != [sys.executable, "-m", "cinic"]:
        return None
    with _lock:
        waiting, _state["waiting"] = _state["waiting"], None
        if _state["enabled"] and _state["timer"] is None:
            _state["timer"] = threading.Timer(REPLACE_AFTER_S, _replace)
            _state["timer"].daemon = True
            _state["timer"].start()
    if waiting is None:
        return None
    if waiting.process.poll() is not None or _set_at_start(waiting.env) != _set_at_start(os.environ):
        _close(waiting)  # died, or started under other settings (threads, GPUs ...): start afresh
        return None
    job = {"argv": args[3:], "log": str(log_path), "cwd": str(cwd or os.getcwd()), "env": dict(os.environ)}
    try:
        waiting.process.stdin.write(json.dumps(job).encode() + b"\n")
        waiting.process.stdin.close()
    except OSError:  # it exited in between: start afresh
        return None
    return waiting.process


def _set_at_start(env) -> dict:
    return {name: value for name, value in env.items() if not name.startswith(READ_WHEN_USED)}


def _replace() -> None:
    with _lock:
        _state["timer"] = None
        if _state["enabled"] and _state["waiting"] is None:
            _state["waiting"] = _start()


def _start() -> _Waiting:
    from cinic import paths

    env = dict(os.environ)
    process = subprocess.Popen([sys.executable, "-m", "cinic.warm_start"], cwd=paths.project_root(), env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # as a launched training: Ctrl-C of the app spares it
    waiting = _Waiting(process, env)

    def listen():  # "ready" once imported; reaped when it ends, taken or not
        if process.stdout.readline() == READY:
            waiting.ready.set()
        process.wait()

    threading.Thread(target=listen, name="warm training process", daemon=True).start()
    return waiting


def _close(waiting: _Waiting) -> None:
    try:
        waiting.process.stdin.close()
    except OSError:
        pass
