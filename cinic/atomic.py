"""Files and folders replaced whole: readers see the old one or the new one, never half of one.

Every file the project writes for others to read (run folders, caches, the
app's remembered choices) goes through `replace_file`, every folder it makes
(an extracted archive, the demo set, a full-scale copy) through `build_folder`,
so a kill or a full disk in the middle never leaves a half file or folder under
the real name. `read_or_build` is the one way a cache is filled: read it, else
build it under a lock so that two processes never build the same thing twice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

from filelock import FileLock

from cinic.errors import CinicError


class CacheError(CinicError):
    """A cache folder that cannot be written."""


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


def build_folder(target: Path, build: Callable[[Path], None]) -> Path:
    """Make the folder `target` whole or not at all.

    `build(folder)` fills a hidden folder beside `target`, which is then renamed
    to `target` (an older `target` is moved aside first, then removed). A
    failure or a kill mid-build never leaves a half folder under the real name;
    the hidden folder of a failed build is removed. `build` may raise to refuse
    at the last moment (e.g. a foreign folder appeared at `target`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
    try:
        build(building)
        _swap_in(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return target


def _swap_in(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.replace(target, old / target.name)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


T = TypeVar("T")


def read_or_build(path: Path, read: Callable[[], T | None], build: Callable[[], T]) -> T:
    """A cached thing at `path`: `read()` it, else build it once across processes.

    `read()` returns None when the cache is absent, stale or damaged; `build()`
    makes the thing and writes it (through `replace_file` or `build_folder`).
    Under a lock file beside `path`, the cache is read again first: a second
    process asking for the same thing waits for the first, then reads its result
    instead of building it twice.
    """
    value = read()
    if value is not None:
        return value
    path = Path(path)
    lock = FileLock(str(path.with_name(f".{path.name}.lock")))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as e:  # a read-only cache, or a file where its folder belongs
        raise CacheError(f"cannot write the cache folder {path.parent}: {e.strerror or e}; set CINIC_CACHE "
                         "to a folder you can write to") from e
    try:
        value = read()
        return build() if value is None else value
    finally:
        lock.release()
