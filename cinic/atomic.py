"""Files replaced whole: readers see the old file or the new one, never half of one.

Every file the project writes for others to read (run folders, caches, the
app's remembered choices) goes through `replace_file`, so a kill or a full disk
in the middle of a write never leaves a half file under the real name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable


def temp_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: hidden, and one per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def leftover_temp_files(path: Path) -> list[Path]:
    """Temp files of `path` left by writers killed mid-write (any process).

    Only `.NAME.PID.tmp`: `.NAME.bak.PID.tmp` is the temp file of another file, NAME.bak.
    """
    prefix = f".{path.name}."
    return [p for p in path.parent.glob(f"{prefix}*.tmp") if p.name[len(prefix):-len(".tmp")].isdigit()]


def replace_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(handle)` into a temp file beside `path`, fsync, then rename it over `path`.

    On any failure the temp file is removed and `path` is untouched. A full disk
    raises its OSError, also when torch.save's zip writer wrapped it in a
    RuntimeError, so callers can name the cause.
    """
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, RuntimeError) and isinstance(error.__context__, OSError):
            raise error.__context__ from error
        raise
