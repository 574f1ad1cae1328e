"""cinic.data.fetch against a real HTTP server on 127.0.0.1 and hand-built (hostile) archives."""

from __future__ import annotations

import io
import re
import socket
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinic.data import fetch
from cinic.data.fetch import FetchError, download, extract_archive

# ---------------------------------------------------------------- a loopback server


@dataclass
class Behaviour:
    """What the test server does; `ranges` records the Range header of every request."""
    body: bytes
    status: int = 200
    honour_range: bool = True
    drop_after: int | None = None    # send only this many body bytes, then close...
    drops: int = 1                   # ...on this many first requests
    range_shift: int = 0             # answer a Range request from this many bytes further on
    ranges: list = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    timeout = 5                      # a stuck client cannot hold a server thread for long

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        rule: Behaviour = self.server.behaviour
        asked = self.headers.get("Range")
        rule.ranges.append(asked)
        if rule.status != 200:
            self.send_error(rule.status)
            return
        start = 0
        if asked and rule.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) + rule.range_shift
        size = len(rule.body)
        if start >= size > 0 and asked:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        payload = rule.body[start:]
        if rule.drop_after is not None and len(rule.ranges) <= rule.drops:
            payload = payload[:rule.drop_after]      # then the connection closes (HTTP/1.0)
        self.wfile.write(payload)
        self.wfile.flush()


@pytest.fixture
def serve():
    """serve(behaviour) -> URL on 127.0.0.1; every server is shut down after the test (or after 60 s)."""
    servers = []

    def start(behaviour: Behaviour) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.behaviour = behaviour
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        watchdog = threading.Timer(60, server.shutdown)   # bounded even if the test hangs
        watchdog.daemon = True
        watchdog.start()
        servers.append((server, watchdog))
        return f"http://127.0.0.1:{server.server_address[1]}/CINIC-10.tar.gz"

    yield start
    for server, watchdog in servers:
        watchdog.cancel()
        server.shutdown()
        server.server_close()


def fast(**kwargs):
    """download() settings that keep failing tests quick."""
    return {"timeout": 5, "chunk": 4096, "backoff": 0.01, **kwargs}


# ---------------------------------------------------------------- archives


def png_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def file_entry(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def cinic_entries(prefix: str = "") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """A tiny CINIC-10 layout: 3 splits x 2 classes x 2 PNGs, a README and a csv."""
    entries = [file_entry(prefix + "README.md", b"tiny CINIC-10\n"),
               file_entry(prefix + "imagenet-contributors.csv", b"synset,name\n")]
    for s, split in enumerate(("train", "valid", "test")):
        for c, name in enumerate(("cat", "dog")):
            for i in range(2):
                entries.append(file_entry(f"{prefix}{split}/{name}/cifar10-{split}-{i}.png",
                                          png_bytes(s * 100 + c * 10 + i)))
    return entries


def write_tar(path: Path, entries) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ---------------------------------------------------------------- download


def test_plain_download_with_progress(tmp_path, serve):
    body = np.random.default_rng(0).bytes(50_000)
    url = serve(Behaviour(body))
    seen = []
    dest = download(url, tmp_path / "a.tar.gz", progress=lambda done, total: seen.append((done, total)),
                    **fast())
    assert dest.read_bytes() == body
    assert seen[-1] == (len(body), len(body))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_dropped_connection_resumes_from_the_bytes_on_disk(tmp_path, serve):
    body = np.random.default_rng(1).bytes(50_000)
    rule = Behaviour(body, drop_after=12_345)
    dest = download(serve(rule), tmp_path / "a.tar.gz", **fast())
    assert dest.read_bytes() == body
    assert rule.ranges == [None, "bytes=12345-"]


def test_progress_resets_the_retry_count_on_a_flaky_line(tmp_path, serve):
    # Every one of the first 6 requests drops after 9,000 bytes; retries=1 still finishes,
    # because each attempt that made progress does not count as a failure.
    body = np.random.default_rng(2).bytes(50_000)
    rule = Behaviour(body, drop_after=9_000, drops=6)
    dest = download(serve(rule), tmp_path / "a.tar.gz", **fast(retries=1))
    assert dest.read_bytes() == body
    assert rule.ranges == [None] + [f"bytes={n}-" for n in range(9_000, 50_000, 9_000)]


def test_server_ignoring_range_restarts_from_zero(tmp_path, serve):
    body = np.random.default_rng(3).bytes(50_000)
    rule = Behaviour(body, honour_range=False, drop_after=20_000)
    dest = download(serve(rule), tmp_path / "a.tar.gz", **fast())
    assert dest.read_bytes() == body
    assert rule.ranges == [None, "bytes=20000-"]      # asked to resume, got 200 and the whole body


def test_partial_response_that_would_leave_a_hole_restarts_from_zero(tmp_path, serve):
    body = np.random.default_rng(6).bytes(30_000)
    rule = Behaviour(body, drop_after=10_000, range_shift=100)
    dest = download(serve(rule), tmp_path / "a.tar.gz", **fast())
    assert dest.read_bytes() == body
    assert rule.ranges == [None, "bytes=10000-", None]


def test_stale_part_is_overwritten_when_range_is_ignored(tmp_path, serve):
    body = np.random.default_rng(4).bytes(30_000)
    (tmp_path / "a.tar.gz.part").write_bytes(b"x" * 40_000)   # longer than the file, and wrong
    dest = download(serve(Behaviour(body, honour_range=False)), tmp_path / "a.tar.gz", **fast())
    assert dest.read_bytes() == body


def test_part_already_complete_is_accepted_on_416(tmp_path, serve):
    body = np.random.default_rng(5).bytes(10_000)
    (tmp_path / "a.tar.gz.part").write_bytes(body)
    rule = Behaviour(body)
    dest = download(serve(rule), tmp_path / "a.tar.gz", **fast())
    assert dest.read_bytes() == body
    assert rule.ranges == ["bytes=10000-"]


def test_404_fails_at_once_with_a_clear_message(tmp_path, serve):
    rule = Behaviour(b"", status=404)
    with pytest.raises(FetchError, match=r"404.*by hand"):
        download(serve(rule), tmp_path / "a.tar.gz", **fast())
    assert len(rule.ranges) == 1                     # no pointless retries
    assert listing(tmp_path) == set()


def test_network_down_says_so_and_suggests_a_manual_download(tmp_path):
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match=r"(?s)3 attempts.*network may be down.*by hand.*cinic check"):
        download(f"http://127.0.0.1:{port}/x.tar.gz", tmp_path / "a.tar.gz", **fast(retries=2))
    assert not (tmp_path / "a.tar.gz").exists()


def test_non_http_url_is_refused(tmp_path):
    with pytest.raises(FetchError, match="not an http"):
        download("file:///etc/passwd", tmp_path / "a")


# ---------------------------------------------------------------- extraction


def test_normal_archive_extracts_and_returns_the_root(tmp_path):
    archive = write_tar(tmp_path / "c.tar.gz", cinic_entries())
    seen = []
    root = extract_archive(archive, tmp_path / "data", progress=lambda d, t: seen.append((d, t)))
    assert root == tmp_path / "data"
    assert len(list(root.glob("*/*/*.png"))) == 12
    assert (root / "test" / "dog" / "cifar10-test-1.png").read_bytes() == png_bytes(211)
    assert seen[-1] == (14, 14) and len(seen) == 14
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tar.gz", "data"]   # no temp folder left


def test_root_one_folder_down_into_a_folder_holding_the_archive(tmp_path):
    to = tmp_path / "CINIC-10"
    to.mkdir()
    archive = write_tar(to / "CINIC-10.tar.gz", cinic_entries("CINIC-10/"))
    root = extract_archive(archive, to)
    assert root == to / "CINIC-10"
    assert all((root / split / "cat").is_dir() for split in ("train", "valid", "test"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CINIC-10"]


def test_existing_folders_are_never_overwritten(tmp_path):
    archive = write_tar(tmp_path / "c.tar.gz", cinic_entries())
    (tmp_path / "data" / "train").mkdir(parents=True)
    with pytest.raises(FetchError, match=r"already holds train"):
        extract_archive(archive, tmp_path / "data")
    assert listing(tmp_path / "data") == {"train"}


@pytest.mark.parametrize("evil, why", [
    (lambda tmp: file_entry("train/../../evil.txt", b"x"), "'..'"),
    (lambda tmp: file_entry(str(tmp / "abs_evil.txt"), b"x"), "absolute"),
    (lambda tmp: special("train/cat/link.png", tarfile.SYMTYPE, "/etc/passwd"), "link"),
    (lambda tmp: special("train/cat/hard.png", tarfile.LNKTYPE, "README.md"), "link"),
    (lambda tmp: special("train/cat/tty", tarfile.CHRTYPE), "device"),
    (lambda tmp: special("train/cat/pipe", tarfile.FIFOTYPE), "fifo"),
], ids=["dotdot", "absolute", "symlink", "hardlink", "device", "fifo"])
def test_hostile_members_are_refused_by_name_and_nothing_is_written(tmp_path, evil, why):
    work = tmp_path / "work"
    work.mkdir()
    info, _ = bad = evil(tmp_path)
    archive = write_tar(work / "c.tar.gz", cinic_entries() + [bad])
    with pytest.raises(FetchError, match=re.escape(repr(info.name)) + ".*" + why):
        extract_archive(archive, work / "data")
    assert listing(tmp_path) == {"work", "work/c.tar.gz"}


def test_data_filter_is_a_second_line_of_defence(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "check_members", lambda archive, members: None)
    work = tmp_path / "work"
    work.mkdir()
    archive = write_tar(work / "c.tar.gz", cinic_entries() + [file_entry("train/../../evil.txt", b"x")])
    with pytest.raises(FetchError, match="could not extract"):
        extract_archive(archive, work / "data")
    assert listing(tmp_path) == {"work", "work/c.tar.gz"}


def test_empty_archive_is_refused(tmp_path):
    archive = write_tar(tmp_path / "c.tar.gz", [])
    with pytest.raises(FetchError, match="empty archive"):
        extract_archive(archive, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_archive_without_splits_is_refused(tmp_path):
    archive = write_tar(tmp_path / "c.tar.gz", [file_entry("images/cat/1.png", png_bytes(0)),
                                                 file_entry("train/cat/1.png", png_bytes(1))])
    with pytest.raises(FetchError, match=r"no train/, valid/ and test/"):
        extract_archive(archive, tmp_path / "data")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("content, message", [
    (b"this is not a tar archive at all" * 10, "not a readable tar"),
    (None, "does not exist"),
])
def test_unreadable_archive_is_refused(tmp_path, content, message):
    archive = tmp_path / "c.tar.gz"
    if content is not None:
        archive.write_bytes(content)
    with pytest.raises(FetchError, match=message):
        extract_archive(archive, tmp_path / "data")


def test_truncated_archive_is_refused(tmp_path):
    archive = write_tar(tmp_path / "c.tar.gz", cinic_entries())
    archive.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    with pytest.raises(FetchError, match=str(archive)):
        extract_archive(archive, tmp_path / "data")
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------- fetch


def test_fetch_downloads_extracts_and_then_reuses(tmp_path, serve):
    body = write_tar(tmp_path / "served.tar.gz", cinic_entries()).read_bytes()
    rule = Behaviour(body, drop_after=1_000)
    downloaded, extracted = [], []
    root = fetch.fetch(tmp_path / "CINIC-10", url=serve(rule),
                       progress=lambda done, total: downloaded.append((done, total)),
                       extract_progress=lambda done, total: extracted.append((done, total)))
    assert root == tmp_path / "CINIC-10"
    assert downloaded[-1] == (len(body), len(body)) and extracted[-1] == (14, 14)
    assert (root / "CINIC-10.tar.gz").read_bytes() == body
    assert len(list(root.glob("*/*/*.png"))) == 12
    assert fetch.fetch(tmp_path / "CINIC-10", url=serve(rule)) == root
    assert len(rule.ranges) == 2                     # the second fetch asked the server nothing


def test_fetch_ignores_other_data_sets_beside_it(tmp_path, serve):
    # data/ holding the demo set is not "CINIC-10 already there".
    for split in ("train", "valid", "test"):
        (tmp_path / "data" / "demo" / split).mkdir(parents=True)
    archive = write_tar(tmp_path / "served.tar.gz", cinic_entries("CINIC-10/"))
    root = fetch.fetch(tmp_path / "data", url=serve(Behaviour(archive.read_bytes())), keep_archive=False)
    assert root == tmp_path / "data" / "CINIC-10"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["CINIC-10", "demo"]


def test_extracting_into_an_empty_existing_folder(tmp_path):
    # cinic.data.dataset extracts archives into a fresh mkdtemp folder: it exists and is empty.
    (tmp_path / "data").mkdir()
    archive = write_tar(tmp_path / "c.tar.gz", cinic_entries())
    assert extract_archive(archive, tmp_path / "data") == tmp_path / "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tar.gz", "data"]


# --- size bombs: bounded against CINIC-10's sizes before a byte is written ------------------------------------
@pytest.mark.parametrize("bomb, said", [
    ("one huge member", "more than any CINIC-10 image"),
    ("many zero members", "barely compress"),
])
def test_an_archive_that_expands_far_beyond_cinic10_is_refused_before_writing(tmp_path, bomb, said):
    from cinic.data import fetch

    entries = cinic_entries()
    if bomb == "one huge member":
        entries.append(file_entry("train/cat/huge.png", b"\0" * (fetch.MAX_MEMBER_BYTES + 1)))
    else:
        entries += [file_entry(f"train/cat/zero-{i}.png", b"\0" * 60_000) for i in range(200)]
    archive = write_tar(tmp_path / "bomb.tar.gz", entries)
    assert archive.stat().st_size < 100_000
    with pytest.raises(fetch.FetchError, match=said):
        fetch.extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and listing(tmp_path) == {"bomb.tar.gz"}


def test_an_archive_refused_by_validation_leaves_nothing_in_the_cache(tmp_path, capsys):
    from cinic import cli, paths

    entries = cinic_entries() + [file_entry("train/cat/notes.png", b"not an image at all")]
    archive = write_tar(tmp_path / "odd.tar.gz", entries)
    assert cli.main(["check", str(archive)]) == 2
    err = capsys.readouterr().err
    assert f"{archive} is not a usable CINIC-10" in err and "building" not in err
    extracted = paths.cache_root() / "extracted"
    assert not extracted.exists() or not [p for p in extracted.iterdir() if not p.name.startswith(".")]
