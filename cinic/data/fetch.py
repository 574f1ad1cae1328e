"""Getting CINIC-10: a resumable download and a tar extraction that trusts nothing.

The archive is about 690 MB, so a dropped connection must not cost what was
already received: `download` keeps a `.part` file and asks the server for the
rest with an HTTP Range request. `extract_archive` refuses any member that
could write outside the target (absolute paths, `..`, links, devices) before
extracting anything, and extracts into a hidden folder that is renamed into
place only when complete.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cinic.errors import CinicError

CINIC10_URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/3192/CINIC-10.tar.gz"
CINIC10_DOI = "10.7488/ds/2448"
ARCHIVE_NAME = "CINIC-10.tar.gz"
SPLIT_NAMES = ("train", "valid", "test")   # the folders a CINIC-10 archive must hold

# Failures worth another try: the network, not the request, was at fault.
TRANSIENT = (http.client.IncompleteRead, http.client.HTTPException, ConnectionError,
             TimeoutError, socket.timeout, urllib.error.URLError)

Progress = Callable[[int, "int | None"], None]


class FetchError(CinicError):
    """A download or extraction that failed, with what to do about it."""


class _ShortRead(Exception):
    """The server closed the connection before sending the whole body."""


class _RestartFromZero(Exception):
    """The server's partial response does not continue our .part file: drop it and start over."""


def by_hand(url: str) -> str:
    return (f"download {url} by hand (e.g. in a browser; DOI {CINIC10_DOI}) and pass the .tar.gz "
            "to the app or to `python -m cinic check PATH`")


# ---------------------------------------------------------------- download

def parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """`bytes 100-199/1000` -> (100, 1000); `bytes */1000` -> (None, 1000); an unknown part -> None."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def open_from(url: str, offset: int, timeout: float):
    """GET `url` from byte `offset`: (response, byte the body starts at, total size or None)."""
    request = urllib.request.Request(url, headers={"User-Agent": "cinic-explorer"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    response = urllib.request.urlopen(request, timeout=timeout)
    if response.status == 206:
        start, total = parse_content_range(response.headers.get("Content-Range"))
        if start is None or start > offset:
            # Writing there would leave a hole in the file (or we cannot tell where it goes).
            response.close()
            raise _RestartFromZero(f"unusable Content-Range {response.headers.get('Content-Range')!r}")
        return response, start, total
    # 200: the whole body, whatever we asked for (some servers ignore Range).
    length = response.headers.get("Content-Length")
    return response, 0, int(length) if length and length.isdigit() else None


def receive(response, part: Path, start: int, total: int | None, chunk: int,
            progress: Progress | None) -> None:
    """Write the body into `part` from byte `start` on, dropping whatever the file held after it."""
    try:
        with open(part, "r+b" if part.exists() else "wb") as f:
            f.seek(start)
            f.truncate()
            done = start
            while block := response.read(chunk):
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
            f.flush()
            os.fsync(f.fileno())
    except TRANSIENT:
        raise
    except OSError as e:
        raise FetchError(f"could not write {part}: {e.strerror or e}. Free some disk space and "
                         "run again: the download resumes from the bytes already saved.") from e
    if total is not None and done < total:
        # http.client returns b"" (not IncompleteRead) when a connection closes early.
        raise _ShortRead(f"connection closed at byte {done} of {total}")


def already_complete(error: urllib.error.HTTPError, part: Path) -> bool:
    """A 416 to our Range request means the .part may hold the whole file already."""
    _, total = parse_content_range(error.headers.get("Content-Range") if error.headers else None)
    return total is not None and part.exists() and part.stat().st_size == total


def retry_worthy(error: urllib.error.HTTPError) -> bool:
    """Server trouble (5xx, timeouts, rate limits) may pass; a 404 or 403 will not."""
    return error.code >= 500 or error.code in (408, 429)


def download(url: str, dest, progress: Progress | None = None, retries: int = 5,
             timeout: float = 30, chunk: int = 1 << 20, backoff: float = 0.5) -> Path:
    """Download `url` to `dest`, resuming from `dest.part` after a drop or an earlier attempt.

    `progress(done_bytes, total_bytes_or_None)` is called after each chunk.
    `retries` counts consecutive attempts that received nothing; an attempt that
    made progress resets it, so a flaky line still finishes a large file.
    Between attempts it waits `backoff` seconds, doubled per failure, at most 30.
    The file appears at `dest` only when complete (size checked against the server's).
    """
    dest = Path(dest)
    if not re.match(r"https?://", url):
        raise FetchError(f"{url!r} is not an http(s) URL")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures, last_error = 0, None
    while failures <= retries:
        offset = part.stat().st_size if part.exists() else 0
        try:
            response, start, total = open_from(url, offset, timeout)
            with response:
                receive(response, part, start, total, chunk, progress)
            os.replace(part, dest)
            return dest
        except urllib.error.HTTPError as e:
            if e.code == 416 and already_complete(e, part):
                os.replace(part, dest)
                return dest
            if e.code == 416:                    # our .part is not a prefix of this file
                part.unlink(missing_ok=True)
            elif not retry_worthy(e):
                raise FetchError(f"{url}: the server answered {e.code} {e.reason}. Check the URL, "
                                 f"or {by_hand(url)}.") from e
            last_error = e
        except _RestartFromZero as e:
            part.unlink(missing_ok=True)
            last_error = e
        except (_ShortRead, *TRANSIENT) as e:
            last_error = e
        made_progress = part.exists() and part.stat().st_size > offset
        failures = 0 if made_progress else failures + 1
        if failures <= retries:
            time.sleep(min(backoff * 2 ** max(failures - 1, 0), 30))
    reason = getattr(last_error, "reason", None) or last_error
    raise FetchError(f"could not download {url} after {retries + 1} attempts in a row: {reason}. "
                     "The network may be down or the server unreachable. Run the same command again "
                     f"to resume from the bytes already saved, or {by_hand(url)}.")


# ---------------------------------------------------------------- extraction

def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be extracted, or None if it is a plain file or folder inside the target."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "has a '..' component"
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return "is a device or fifo"
    if not (member.isreg() or member.isdir()):
        return "is not a regular file or folder"
    return None


# CINIC-10 is 270,000 PNGs of 32x32 pixels (a few kB each, about 0.7 GB in all, barely compressible):
# bounds well above that, checked from the member list before a byte is written.
MAX_MEMBERS = 400_000
MAX_MEMBER_BYTES = 1 << 20        # one 32x32 image in any format is far smaller
MAX_TOTAL_BYTES = 2 * 1024 ** 3
MAX_EXPANSION = 20                # PNGs do not compress; a bomb expands a thousandfold


def check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        if reason := unsafe_reason(member):
            raise FetchError(f"{archive}: refusing to extract member {member.name!r}: it {reason}. "
                             "The archive is damaged or not CINIC-10; download it again.")
        if member.size > MAX_MEMBER_BYTES:
            raise FetchError(f"{archive}: refusing to extract member {member.name!r}: it is {member.size:,} "
                             f"bytes, more than any CINIC-10 image ({MAX_MEMBER_BYTES:,} allowed); the archive "
                             "is not CINIC-10.")
    total = sum(member.size for member in members)
    limit = min(MAX_TOTAL_BYTES, MAX_EXPANSION * archive.stat().st_size + MAX_MEMBER_BYTES)
    if len(members) > MAX_MEMBERS or total > limit:
        raise FetchError(f"{archive}: refusing to extract {len(members):,} members of {total:,} bytes from a "
                         f"{archive.stat().st_size:,}-byte archive: CINIC-10 is 270,000 images of about 0.7 GB "
                         "that barely compress. The archive is not CINIC-10 (or is a decompression bomb).")


def folders_in(members: list[tarfile.TarInfo]) -> set[tuple[str, ...]]:
    """Every folder the archive would create, as path parts ('./' prefixes dropped)."""
    folders = set()
    for member in members:
        parts = PurePosixPath(member.name).parts
        folders.update(parts[:i] for i in range(1, len(parts)))
        if member.isdir() and parts:
            folders.add(parts)
    return folders


def data_prefix(archive: Path, members: list[tarfile.TarInfo]) -> str:
    """The folder inside the archive that holds train/, valid/ and test/: '' or one folder name."""
    if not members:
        raise FetchError(f"{archive} is an empty archive; download it again.")
    folders = folders_in(members)
    if all((split,) in folders for split in SPLIT_NAMES):
        return ""
    for (top,) in sorted(f for f in folders if len(f) == 1):
        if all((top, split) in folders for split in SPLIT_NAMES):
            return top
    raise FetchError(f"{archive} holds no train/, valid/ and test/ folders (at its top level or one "
                     "folder down), so it is not a CINIC-10 archive.")


def open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except FileNotFoundError as e:
        raise FetchError(f"{archive} does not exist") from e
    except (tarfile.TarError, OSError, EOFError) as e:
        raise FetchError(f"{archive} is not a readable tar archive ({e}); download it again.") from e


def refuse_clashes(to: Path, names) -> None:
    clashes = sorted(name for name in set(names) if (to / name).exists())
    if clashes:
        raise FetchError(f"{to} already holds {', '.join(clashes)}; remove them or extract elsewhere.")


def move_into(extracted: Path, to: Path) -> None:
    """Rename what was extracted into `to`: in one step when `to` is absent or empty, else entry by entry.

    The split folders move last, `test` the very last, so an interruption leaves a
    folder that fails validation rather than one that looks complete.
    """
    if not to.exists() or not any(to.iterdir()):
        os.replace(extracted, to)       # renaming onto an empty folder is allowed, and atomic
        return
    entries = sorted(extracted.iterdir(), key=lambda p: (p.name in SPLIT_NAMES, p.name == "test"))
    refuse_clashes(to, [p.name for p in entries])
    for entry in entries:
        os.replace(entry, to / entry.name)


def counting(members: list[tarfile.TarInfo], progress: Progress | None):
    """Yield the members, reporting each one once tarfile asks for the next (i.e. it is written)."""
    for done, member in enumerate(members, 1):
        yield member
        if progress:
            progress(done, len(members))


# Python's own guard (3.11.4+), a second line of defence behind check_members.
DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def extract_archive(archive, to, progress: Progress | None = None) -> Path:
    """Extract a CINIC-10 .tar(.gz) into `to` and return the folder holding train/, valid/, test/.

    Every member is checked before anything is written; extraction goes into a
    hidden folder beside `to`, so a failure leaves nothing half-extracted.
    `progress(done_members, total_members)` is called after each member.
    """
    archive, to = Path(archive), Path(to).absolute()
    with open_tar(archive) as tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise FetchError(f"{archive} is truncated or damaged ({e}); download it again.") from e
        check_members(archive, members)
        prefix = data_prefix(archive, members)
        refuse_clashes(to, [parts[0] for m in members if (parts := PurePosixPath(m.name).parts)])
        to.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=to.parent, prefix=f".{to.name}.extracting-"))
        try:
            # extractall (not extract per member) so read-only folders get their mode at the end.
            tar.extractall(staging, members=counting(members, progress), **DATA_FILTER)
            move_into(staging, to)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise FetchError(f"could not extract {archive} into {to}: {e}. Nothing was kept; check "
                             "the free disk space, or download the archive again.") from e
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return to / prefix if prefix else to


def extracted_root(to: Path) -> Path | None:
    """`to` or `to/CINIC-10` when it already holds train/, valid/ and test/, else None.

    Only these two: any other subfolder (say the demo set beside it) is not CINIC-10.
    """
    for candidate in (to, to / "CINIC-10"):
        if all((candidate / split).is_dir() for split in SPLIT_NAMES):
            return candidate
    return None


def fetch(to, url: str = CINIC10_URL, progress: Progress | None = None,
          extract_progress: Progress | None = None, keep_archive: bool = True) -> Path:
    """Download CINIC-10 into `to/CINIC-10.tar.gz` (resuming), extract it into `to`, return the data root.

    `progress(done_bytes, total_bytes)` reports the download and
    `extract_progress(done_members, total_members)` the extraction. Data already
    extracted in `to` is returned as is; a complete archive is not downloaded again.
    """
    to = Path(to).absolute()
    if root := extracted_root(to):
        return root
    archive = to / ARCHIVE_NAME
    if not archive.exists():
        download(url, archive, progress=progress)
    root = extract_archive(archive, to, progress=extract_progress)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return root
