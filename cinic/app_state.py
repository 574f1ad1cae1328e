"""The app's remembered choices (the data set, the augmentation pipeline) and its background jobs.

Streamlit's session state is lost on a page reload, so choices that other pages
(and later visits) depend on are kept in a small JSON file under the cache
folder. The file is a convenience: a missing or damaged one means "nothing
chosen yet", never an error. No Streamlit in here.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cinic import paths
from cinic.atomic import replace_file
from cinic.errors import CinicError

STATE_FILE = "app_state.json"
PIPELINE_FILE = "app_pipeline.json"


def state_path() -> Path:
    return paths.cache_root() / STATE_FILE


def pipeline_path() -> Path:
    """The augmentation pipeline saved by the Augmentation page (also usable as `--augment FILE`)."""
    return paths.cache_root() / PIPELINE_FILE


def load_state() -> dict:
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def update_state(**fields) -> dict:
    """Merge `fields` into the state file (written atomically) and return the new state."""
    state = {**load_state(), **fields}
    _write_json(state_path(), state)
    return state


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda handle: handle.write(json.dumps(data, indent=2).encode()))


# --- the augmentation pipeline ----------------------------------------------------
def save_pipeline(steps: list[dict], n: int) -> Path:
    """Keep the composed pipeline and its sample count for the Train page and the CLI."""
    path = pipeline_path()
    _write_json(path, steps)
    update_state(pipeline_n=int(n))
    return path


def saved_pipeline() -> tuple[list[dict], int] | None:
    """The last saved (steps, n), or None when nothing (readable) was saved."""
    from cinic.augment.ops import load_pipeline

    if not pipeline_path().is_file():
        return None
    try:  # bounded in size and depth, and every step checked: a damaged file is never launched
        steps = load_pipeline(pipeline_path())
    except CinicError:
        return None
    n = load_state().get("pipeline_n")
    return steps, n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


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


# --- what the Data page shows ----------------------------------------------------------
def sample_files(root: str | Path, split: str = "train", per_class: int = 8, seed: int = 0) -> dict[str, list[Path]]:
    """A few image files of each class folder of a split, picked reproducibly at random.

    Lists the folders but decodes nothing, so a sample grid of the full
    CINIC-10 shows at once instead of after decoding 90,000 images.
    """
    import random

    from cinic.data.dataset import CLASSES, IMAGE_SUFFIXES

    rng = random.Random(seed)
    picked = {}
    for name in CLASSES:
        folder = Path(root) / split / name
        if not folder.is_dir():
            continue
        files = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith(IMAGE_SUFFIXES))
        picked[name] = [folder / f for f in rng.sample(files, min(per_class, len(files)))]
    return picked
