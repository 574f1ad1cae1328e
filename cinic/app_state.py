"""The app's remembered choices (a small JSON file) and its background jobs.

Streamlit's session state is lost on a page reload, so choices that other pages
(and later visits) depend on are kept in a small JSON file under the cache
folder. The file is a convenience: a missing or damaged one means "nothing
chosen yet", never an error. No Streamlit in here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cinic import paths
from cinic.atomic import replace_file
from cinic.errors import CinicError

STATE_FILE = "app_state.json"


def state_path() -> Path:
    return paths.cache_root() / STATE_FILE


def load_state() -> dict:
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def update_state(**fields) -> dict:
    """Merge `fields` into the state file (written atomically) and return the new state."""
    state = {**load_state(), **fields}
    write_json(state_path(), state)
    return state


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda handle: handle.write(json.dumps(data, indent=2).encode()))


# --- work that outlives a script run ------------------------------------------------
class BackgroundJob:
    """A long call (a download, an extraction) run in a thread, its progress readable at any time.

    A Streamlit rerun stops the script, not this thread, so a download keeps
    going while the user clicks around; the page polls `done`/`total`. The
    thread never touches Streamlit. `work` gets a progress(done, total, stage="") callable.
    """

    def __init__(self, work: Callable[[Callable[[int, int], None]], Any], label: str = ""):
        self.label = label
        self.done, self.total, self.stage = 0, 0, ""
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name=f"job {label}")

    def start(self) -> "BackgroundJob":
        self._thread.start()
        return self

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except BaseException as e:  # kept for the page to show; a thread has nobody else to tell
            self.error = e
        finally:
            self.finished = True

    def _progress(self, done: int, total: int | None, stage: str = "") -> None:
        self.done, self.total, self.stage = int(done), int(total or 0), stage

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished (for tests and scripts); True when it finished."""
        self._thread.join(timeout)
        return self.finished
