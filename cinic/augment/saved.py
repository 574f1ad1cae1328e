"""The Augmentor pipeline saved on the Augmentation page, for the Train page and the CLI
(`--augment FILE`): its steps in a file beside the app's state, its sample count in the state."""

from __future__ import annotations

from pathlib import Path

from cinic import paths
from cinic.app_state import load_state, update_state, write_json
from cinic.augment.ops import load_pipeline
from cinic.errors import CinicError

PIPELINE_FILE = "app_pipeline.json"


def pipeline_path() -> Path:
    """The augmentation pipeline saved by the Augmentation page (also usable as `--augment FILE`)."""
    return paths.cache_root() / PIPELINE_FILE


def save_pipeline(steps: list[dict], n: int) -> Path:
    """Keep the composed pipeline and its sample count for the Train page and the CLI."""
    path = pipeline_path()
    write_json(path, steps)
    update_state(pipeline_n=int(n))
    return path


def saved_pipeline() -> tuple[list[dict], int] | None:
    """The last saved (steps, n), or None when nothing (readable) was saved."""
    if not pipeline_path().is_file():
        return None
    try:  # bounded in size and depth, and every step checked: a damaged file is never launched
        steps = load_pipeline(pipeline_path())
    except CinicError:
        return None
    n = load_state().get("pipeline_n")
    return steps, n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
