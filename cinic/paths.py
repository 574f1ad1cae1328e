"""Where things live: runs, caches and data folders, each overridable by env.

Only names of places: nothing here creates, reads or decides anything (which
data set is in use is `cinic.data.choice.data_in_use`). `overlap` compares two
places as the file system sees them.
"""

from __future__ import annotations

import os
from pathlib import Path


def overlap(a, b) -> bool:
    """Whether folders `a` and `b` are the same or one holds the other, compared as resolved paths
    (links followed, '..' removed): no spelling of a folder (a link to it) hides that it is the other."""
    a, b = Path(a).expanduser().resolve(), Path(b).expanduser().resolve()
    return a.is_relative_to(b) or b.is_relative_to(a)


def project_root() -> Path:
    """The folder that holds `cinic/`, `app.py` and `checkpoints/`."""
    return Path(__file__).resolve().parent.parent


def runs_root() -> Path:
    """Run folders live here (`CINIC_RUNS` overrides)."""
    return Path(os.environ.get("CINIC_RUNS") or project_root() / "checkpoints")


def cache_root() -> Path:
    """Decoded splits, extracted archives and augmentation samples (`CINIC_CACHE`).

    Outside the project and outside any data folder, so nothing we derive ever
    lands among the user's images.
    """
    default = Path.home() / ".cache" / "cinic-explorer"
    return Path(os.environ.get("CINIC_CACHE") or default)


def cinic_root() -> Path:
    """Where the full CINIC-10 is expected (`CINIC_DATA` overrides)."""
    return Path(os.environ.get("CINIC_DATA") or project_root() / "data" / "CINIC-10")


def demo_root() -> Path:
    """Where the embedded demo data set is made on first use."""
    return project_root() / "data" / "demo"
