"""Issue 20, items 5 and 6: `report`, `export`, `explain` and `augment-preview --out` write only a regular
file or a new name: a device, a FIFO, a link to a pipe, the command's own input, a run folder, a bad suffix
or a missing folder is refused in one line (exit 2) and left as it was."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from cinic import cli


def one_image(tiny_data) -> Path:
    return sorted((tiny_data / "test" / "cat").iterdir())[0]


WRITERS = {  # name -> (argv before --out, a good file name)
    "report": (lambda run, data: ["report", run.path], "r.html"),
    "export": (lambda run, data: ["export", run.path], "m.safetensors"),
    "explain": (lambda run, data: ["explain", run.path, one_image(data), "--device", "cpu"], "o.png"),
    "augment-preview": (lambda run, data: ["augment-preview", "--data", data, "--images", "1", "--versions", "1"],
                        "g.png"),
}


def _drain(path_or_fd) -> threading.Thread:
    """Read whatever a (wrongly) writing command sends into a pipe, so that old code cannot hang the test."""
    def read():
        fd = os.open(path_or_fd, os.O_RDONLY) if isinstance(path_or_fd, Path) else path_or_fd
        while os.read(fd, 1 << 16):
            pass
        os.close(fd)
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _release(fifo: Path) -> None:
    """Let a reader still waiting for a writer on `fifo` go (the command, rightly, never opened it)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # the reader had already gone


def _run(capsys, argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_character_device_is_refused_and_stays_one(writer, trained, tiny_data, tmp_path, capsys):
    before, name = WRITERS[writer]
    device = tmp_path / name
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", device])
    assert code == 2 and "is a character device, not a regular file" in err and "Traceback" not in err
    assert stat.S_ISCHR(os.lstat(device).st_mode)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_fifo_is_refused_and_stays_one(writer, trained, tiny_data, tmp_path, capsys):
    before, name = WRITERS[writer]
    fifo = tmp_path / name
    os.mkfifo(fifo)
    reader = _drain(fifo)
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", fifo])
    _release(fifo)
    reader.join(5)
    assert code == 2 and "is a FIFO (named pipe), not a regular file" in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_link_to_a_pipe_is_refused_and_stays_a_link(writer, trained, tiny_data, tmp_path, capsys):
    """What /dev/stdout is: a link to /proc/self/fd/1, here a pipe of the test's own."""
    before, name = WRITERS[writer]
    read_end, write_end = os.pipe()
    reader = _drain(read_end)
    link = tmp_path / name
    link.symlink_to(f"/proc/self/fd/{write_end}")
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", link])
    os.close(write_end)
    reader.join(5)
    assert code == 2 and "not a regular file" in err
    assert link.is_symlink()


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_link_to_a_regular_file_is_written_through(writer, trained, tiny_data, tmp_path, capsys):
    before, name = WRITERS[writer]
    real = tmp_path / "real" / name
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / name
    link.symlink_to(real)
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", link])
    assert code == 0, err
    assert link.is_symlink() and real.read_bytes() != b"old" and real.stat().st_size > 100


def test_explain_onto_its_own_image_is_refused(trained, tiny_data, tmp_path, capsys):
    image = tmp_path / "cat.png"
    image.write_bytes(one_image(tiny_data).read_bytes())
    before = image.read_bytes()
    code, err = _run(capsys, ["explain", trained.path, image, "--device", "cpu", "--out", image])
    assert code == 2 and "the command's own input" in err
    assert image.read_bytes() == before


@pytest.mark.parametrize("writer", ["explain", "report", "export"])
def test_no_writer_puts_a_file_into_a_run_folder(writer, trained, tiny_data, tmp_path, capsys):
    before, name = WRITERS[writer]
    listed = sorted(os.listdir(trained.path))
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", trained.path / name])
    assert code == 2 and "is inside the run folder" in err
    assert sorted(os.listdir(trained.path)) == listed


def test_augment_preview_is_not_written_into_the_data_it_reads(trained, tiny_data, tmp_path, capsys):
    out = tiny_data / "train" / "cat" / "preview.png"
    code, err = _run(capsys, ["augment-preview", "--data", tiny_data, "--images", "1", "--out", out])
    assert code == 2 and "which this command reads" in err and not out.exists()


@pytest.mark.parametrize("writer, out, said", [
    ("explain", "x.pt", "give a file name ending in .png or .jpg or .jpeg"),
    ("augment-preview", "x.jpeg2", "give a file name ending in .png or .jpg or .jpeg"),
    ("report", "r.pdf", "give a file name ending in .html or .htm"),
    ("explain", "missing/o.png", "create it first"),
    ("augment-preview", "missing/g.png", "create it first"),
    ("report", "missing/r.html", "create it first"),
])
def test_a_bad_suffix_or_a_missing_folder_is_one_line(writer, out, said, trained, tiny_data, tmp_path, capsys):
    before, _ = WRITERS[writer]
    code, err = _run(capsys, [*before(trained, tiny_data), "--out", tmp_path / out])
    assert code == 2 and said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == []


def test_a_full_disk_during_an_export_is_one_line_and_leaves_nothing(trained, tmp_path, capsys, monkeypatch):
    import errno

    from cinic import atomic

    def full_disk(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(atomic, "replace_file", full_disk)
    monkeypatch.setattr("cinic.runs.checkpoints.replace_file", full_disk)
    monkeypatch.setattr("cinic.outputs.replace_file", full_disk)
    for name in ("m.safetensors", "r.html"):
        command = "export" if name.endswith("safetensors") else "report"
        code, err = _run(capsys, [command, trained.path, "--out", tmp_path / name])
        assert code == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []
