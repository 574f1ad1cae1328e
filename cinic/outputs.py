"""The one file a command writes where a person said (`--out`): checked once, before any work.

`report`, `export`, `explain` and `augment-preview` write a file at a path
someone typed. That path may name a device, a FIFO, a link to one (/dev/stdout),
the command's own input, a file inside a run folder, a missing folder or a
suffix the writer cannot honour. `output_file` is the one check every such
writer goes through: it returns the regular file (or new name) to write, a link
to a regular file resolved to that file, and refuses anything else in one line.
`write_output` then replaces that file whole through `cinic.atomic.replace_file`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

from cinic import paths
from cinic.atomic import replace_file
from cinic.errors import CinicError

# Picture files the CLI writes (explain, augment-preview), by suffix: the format Pillow saves them in.
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
RUN_MARKS = ("config.json", "status.json")  # what RunFolder.create writes first: a folder holding both is a run


class OutputError(CinicError):
    """An --out path that names something other than a regular file or a new name in an existing folder."""


def output_file(out, suffixes: Sequence[str] | None = None, inputs: Iterable = (), example: str = "out") -> Path:
    """The path to write for `out`, after refusing anything a write there would harm or fail on.

    `suffixes`: the endings the writer can honour (None: any). `inputs`: what the command reads (a
    file must not be overwritten, a folder must not receive the output). `example`: a file name
    for the message when `out` is a folder.
    """
    given = Path(out).expanduser()
    if given.is_dir():
        raise OutputError(f"{given} is a folder: give a file name, e.g. {given / example}")
    target = given.resolve()  # through links: a link to a regular file is written through
    if not target.parent.is_dir():
        raise OutputError(f"no folder {given.parent} to write {given.name} into: create it first")
    kind = _kind(given)
    if kind not in (None, "a regular file"):
        raise OutputError(f"{given} is {kind}, not a regular file: give a new file name (or a regular file "
                          "to replace); nothing was written")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise OutputError(f"{given} ends in {target.suffix or 'no suffix'!r}: give a file name ending in "
                          f"{' or '.join(suffixes)}")
    run = next((folder for folder in target.parents if all((folder / m).is_file() for m in RUN_MARKS)), None)
    if run is not None:
        raise OutputError(f"{given} is inside the run folder {run}: write it outside (a run folder holds "
                          "only what training writes)")
    for source in inputs:
        _check_not_input(given, target, Path(source).expanduser())
    return target


def write_output(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """`write(handle)` into the checked `path`, whole or not at all; a failed write is one line."""
    try:
        replace_file(path, write)
    except OSError as e:
        raise OutputError(f"could not write {path}: {e.strerror or e}; nothing was written there") from e
    return path


def _kind(path: Path) -> str | None:
    """What `path` names, following links (/dev/stdout leads to a pipe or a terminal); None when nothing."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:  # a link loop, a permission problem: nothing to write through
        raise OutputError(f"{path} cannot be written ({e.strerror or e}): give a new file name") from None
    return kind_of(mode)


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words ("a regular file", "a FIFO (named pipe)", ...)."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _check_not_input(given: Path, target: Path, source: Path) -> None:
    if source.is_dir():
        if paths.overlap(target, source):
            raise OutputError(f"{given} is inside {source}, which this command reads: write it elsewhere")
    elif target == source.resolve() or (target.exists() and source.exists() and os.path.samefile(target, source)):
        raise OutputError(f"{given} is the command's own input {source}: give another file name")
