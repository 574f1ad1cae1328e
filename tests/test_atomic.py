"""cinic/atomic.py: files and folders replaced whole or not at all, killed writers' leftovers, caches built once."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cinic.atomic import build_folder, leftover_temp_files, read_or_build, replace_file, temp_path

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def old_file(tmp_path) -> Path:
    path = tmp_path / "status.json"
    path.write_bytes(b"the old content")
    return path


def full_disk(*_args):
    raise OSError(errno.ENOSPC, "No space left on device")


def assert_untouched(path: Path) -> None:
    """The old content under the real name, and nothing else in its folder: no temp file left."""
    assert path.read_bytes() == b"the old content"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_the_file_is_replaced_whole(old_file):
    replace_file(old_file, lambda handle: handle.write(b"new"))
    assert old_file.read_bytes() == b"new"  # not b"new old content": the old file is gone, not overwritten
    assert [p.name for p in old_file.parent.iterdir()] == [old_file.name]


def test_a_new_file_is_created(tmp_path):
    path = tmp_path / "fresh.bin"
    replace_file(path, lambda handle: handle.write(b"\x00\x01"))
    assert path.read_bytes() == b"\x00\x01"


def test_readers_see_the_old_file_until_the_new_one_is_complete(old_file):
    seen = []

    def write(handle):
        handle.write(b"half")
        handle.flush()
        seen.append((old_file.read_bytes(), temp_path(old_file).read_bytes()))
        handle.write(b" and the rest")

    replace_file(old_file, write)
    assert seen == [(b"the old content", b"half")]  # mid-write: the real name still holds the old file
    assert old_file.read_bytes() == b"half and the rest"


def test_the_data_reach_the_disk_before_the_rename(old_file, monkeypatch):
    """A crash just after the rename must not leave an empty file: fsync the temp file first."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("replace", str(src))), real_replace(src, dst)))
    replace_file(old_file, lambda handle: handle.write(b"new"))
    tmp = str(temp_path(old_file))
    assert events == [("fsync", tmp), ("replace", tmp)]


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(old_file):
    def write(handle):
        handle.write(b"a start")
        raise ValueError("the writer broke")

    with pytest.raises(ValueError, match="the writer broke"):
        replace_file(old_file, write)
    assert_untouched(old_file)


def test_an_interrupt_mid_write_also_cleans_up(old_file):
    def write(handle):
        handle.write(b"a start")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_file(old_file, write)
    assert_untouched(old_file)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_leaves_the_old_file(old_file, monkeypatch, where):
    """ENOSPC from the write itself, or only at fsync (the write went to the page cache)."""
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as raised:
        replace_file(old_file, full_disk if where == "write" else lambda handle: handle.write(b"new"))
    assert raised.value.errno == errno.ENOSPC
    assert_untouched(old_file)


def test_an_oserror_wrapped_in_a_runtimeerror_comes_out_as_the_oserror(old_file):
    """torch.save's zip writer turns a full disk into a RuntimeError; callers need the OSError to name it."""
    def zip_writer(handle):
        try:
            full_disk()
        except OSError:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0")

    with pytest.raises(OSError) as raised:
        replace_file(old_file, zip_writer)
    assert raised.value.errno == errno.ENOSPC
    assert isinstance(raised.value.__cause__, RuntimeError)  # the original stays in the traceback
    assert_untouched(old_file)


def test_a_runtimeerror_of_its_own_stays_a_runtimeerror(old_file):
    def write(handle):
        raise RuntimeError("not about the disk")

    with pytest.raises(RuntimeError, match="not about the disk"):
        replace_file(old_file, write)
    assert_untouched(old_file)


def test_the_temp_file_is_hidden_beside_the_file_and_one_per_process(tmp_path):
    tmp = temp_path(tmp_path / "last.pt")
    assert tmp.parent == tmp_path and tmp.name == f".last.pt.{os.getpid()}.tmp"


# A writer killed by SIGKILL half-way through: nothing can clean up after it.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from cinic.atomic import replace_file

def write(handle):
    handle.write(b"half")
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

replace_file(Path(sys.argv[1]), write)
"""


def test_leftover_temp_files_finds_the_temp_files_of_killed_writers(old_file):
    killed = [subprocess.run([sys.executable, "-c", KILLED_WRITER, str(old_file)], cwd=PROJECT, timeout=60)
              for _ in range(2)]
    assert [k.returncode for k in killed] == [-signal.SIGKILL] * 2
    leftovers = leftover_temp_files(old_file)
    assert len(leftovers) == 2 and all(p.read_bytes() == b"half" for p in leftovers)
    assert old_file.read_bytes() == b"the old content"  # the real name never saw a half file


def test_leftover_temp_files_are_only_this_files(old_file):
    folder = old_file.parent
    mine = folder / f".{old_file.name}.4242.tmp"
    # Not: the temp file of status.json.bak, of another file, a name that is not hidden, one not ending .tmp.
    for name in (mine.name, ".status.json.bak.4242.tmp", ".other.json.4242.tmp", "status.json.4242.tmp",
                 ".status.json.4242.tmp.old"):
        (folder / name).write_bytes(b"x")
    assert leftover_temp_files(old_file) == [mine]
    assert leftover_temp_files(folder / "nothing-written.json") == []


# --- build_folder ------------------------------------------------------------------------------------
def fill(files: dict[str, bytes], seen: list | None = None, target: Path | None = None):
    """A build that writes `files` and, when asked, notes what `target` looked like meanwhile."""
    def build(folder: Path) -> None:
        for name, content in files.items():
            (folder / name).write_bytes(content)
        if seen is not None:
            seen.append(sorted(p.name for p in target.iterdir()) if target.exists() else None)
    return build


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_folder_appears_whole_under_its_name(tmp_path):
    target, seen = tmp_path / "demo", []
    assert build_folder(target, fill({"a.png": b"a", "b.png": b"b"}, seen, target)) == target
    assert seen == [None]  # while it was built, the real name did not exist
    assert folder_contents(target) == {"a.png": b"a", "b.png": b"b"}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no hidden build folder left


def test_an_older_folder_is_replaced_and_readable_until_then(tmp_path):
    target, seen = tmp_path / "demo", []
    build_folder(target, fill({"old.png": b"old"}))
    build_folder(target, fill({"new.png": b"new"}, seen, target))
    assert seen == [["old.png"]]  # the old folder stayed whole during the build
    assert folder_contents(target) == {"new.png": b"new"}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # the old one moved aside and removed


@pytest.mark.parametrize("error", [ValueError("refused at the last moment"), KeyboardInterrupt()])
def test_a_failed_build_leaves_the_old_folder_and_no_half_one(tmp_path, error):
    target = tmp_path / "demo"
    build_folder(target, fill({"old.png": b"old"}))

    def half_then_fail(folder: Path) -> None:
        (folder / "half.png").write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        build_folder(target, half_then_fail)
    assert folder_contents(target) == {"old.png": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_a_failed_first_build_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        build_folder(tmp_path / "new" / "demo", full_disk)
    assert [p.name for p in (tmp_path / "new").iterdir()] == []


# --- read_or_build -----------------------------------------------------------------------------------
def test_a_cache_that_reads_is_not_built_nor_locked(tmp_path):
    assert read_or_build(tmp_path / "cache.pt", lambda: "cached", lambda: pytest.fail("built")) == "cached"
    assert list(tmp_path.iterdir()) == []  # no lock file: reading a cache needs no write access


def test_a_missing_cache_is_built_and_returned(tmp_path):
    cache, built = tmp_path / "cache" / "x.pt", []

    def build():
        built.append(1)
        replace_file(cache, lambda handle: handle.write(b"made"))
        return "made"

    assert read_or_build(cache, lambda: None, build) == "made"
    assert built == [1] and cache.read_bytes() == b"made"


def test_two_asking_at_once_build_it_once(tmp_path):
    """The second waits on the lock, then reads what the first built."""
    cache, builds, results = tmp_path / "x.bin", [], []
    start = threading.Barrier(2)

    def read():
        return cache.read_bytes() if cache.exists() else None

    def build():
        builds.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the other to arrive while this one builds
        replace_file(cache, lambda handle: handle.write(b"made once"))
        return b"made once"

    def ask():
        start.wait()
        results.append(read_or_build(cache, read, build))

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=30)
    assert results == [b"made once", b"made once"] and len(builds) == 1
