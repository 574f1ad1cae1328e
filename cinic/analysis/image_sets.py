"""Classifying many images at once: a folder, a zip, or a folder uploaded in the app.

Images in class folders (cat/, dog/, ... named as CINIC-10 names its classes)
are labelled: besides each image's top classes they get accuracy, a confusion
matrix and the mistakes, computed by `cinic.analysis.evaluate.evaluate` as
`python -m cinic evaluate RUN --data FOLDER` does (a folder on disk is read by
`cinic.data.dataset.load_evaluation_set`, the same path). Any other images get their
top classes each.

A zip (or an upload) is untrusted. Its index is read first and the whole zip is
refused when an entry would land outside it (an absolute path, `..`), is a link,
or is encrypted, and when it has more than MAX_ENTRIES entries, MAX_IMAGES
images, MAX_TOTAL_BYTES in all entries (by the sizes its index declares, which
zipfile never inflates past) or declares more than MAX_PACKING times its packed
size (a bomb of zeros). An entry that is not an image is never read, only named
as left out. Nothing is extracted to disk: each image is read into memory, at
most images.MAX_BYTES + 1 bytes, and opened by `cinic.data.images.open_image`
only; one it refuses is left out with its message. Reading and decoding stop
after MAX_SECONDS, so no small input keeps a core busy for long.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Sequence

import torch

from cinic.data.dataset import (CLASSES, IMAGE_SUFFIXES, SPLITS, DataSet, display_name, is_litter, load_evaluation_set,
                        origin_of)
from cinic.errors import CinicError
from cinic.model.classifier import Classifier, as_images
from cinic.data.images import MAX_BYTES, ImageError, open_image, to_model_input

MAX_ENTRIES = 50_000          # entries of any kind in a zip's index
MAX_IMAGES = 20_000           # images in one zip, upload or unlabelled folder
MAX_TOTAL_BYTES = 1 << 30     # uncompressed bytes of all entries in one zip, of images in one upload
MAX_PACKING = 100             # declared / packed size of a whole zip; images barely pack, zeros by 1000s
PACKING_FLOOR = 1 << 20       # a zip declaring less than this is too small to matter, however it packs
MAX_SECONDS = 300             # reading and decoding one folder, zip or upload


class BatchError(CinicError):
    """A folder, zip or upload that cannot be classified; the message names it and what to do."""


@dataclass
class Batch:
    """Images to classify, decoded to the 32x32 the model sees, and where each came from."""

    images: torch.Tensor                    # uint8 N x 3 x 32 x 32
    files: list[str]                        # relative paths, "cat/x.png" or "holiday/beach.jpg"
    labels: torch.Tensor | None             # CLASSES indices when the images sit in class folders
    source: str                             # the folder or zip, for messages and the evaluation
    notes: list[list[str]] = field(default_factory=list)  # per image: what to_model_input changed
    errors: list[str] = field(default_factory=list)       # images that could not be read, left out
    skipped: list[str] = field(default_factory=list)      # files that are not images, left out

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def as_dataset(self) -> DataSet:
        return DataSet(images=self.images, labels=self.labels, files=self.files,
                       origins=[origin_of(f) for f in self.files], classes=CLASSES, source=self.source)


# --- reading -----------------------------------------------------------------------------------
def load_batch(source, name: str | None = None) -> Batch:
    """A Batch from a folder path, a .zip path, or a zip's bytes (an upload called `name`)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return from_members(zip_members(bytes(source), name or "the uploaded zip"), name or "the uploaded zip")
    path = Path(source).expanduser()
    if path.is_dir():
        return from_folder(path)
    if path.is_file():
        return from_members(zip_members(path, str(path)), str(path))
    raise BatchError(f"no such folder or zip: {path}: give a folder of images or a .zip of them")


def source_key(source) -> str:
    """What a folder or zip path holds, as a digest: every file under it (its relative path, size,
    times and inode), or the zip's own. It changes when any image is added, removed or replaced, also
    deep in a class folder whose parent's mtime stays put, so a result cached on it is never stale."""
    path = Path(source).expanduser()
    digest = hashlib.sha1(str(path.absolute()).encode("utf-8", "surrogateescape"))
    for file in _files_under(path) if path.is_dir() else [path]:
        try:
            s = file.stat()
        except OSError:  # gone meanwhile, or a broken link: its absence is part of the key
            continue
        digest.update(f"{file}\0{s.st_size}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\0{s.st_ino}\n"
                      .encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, in a stable order, at most MAX_ENTRIES of them (a bigger folder is
    refused when read, so a longer listing would change nothing)."""
    count = 0
    for parent, folders, files in os.walk(folder):
        folders.sort()
        for name in sorted(files):
            yield Path(parent, name)
            count += 1
            if count > MAX_ENTRIES:
                return


def from_folder(folder: Path) -> Batch:
    """A folder on disk: labelled through load_evaluation_set when it holds class folders (or is a
    CINIC-10 root: its test split), else every image under it (at most MAX_IMAGES)."""
    folder = folder.absolute()
    if all((folder / split).is_dir() for split in SPLITS) or any((folder / name).is_dir() for name in CLASSES):
        dataset, _ = load_evaluation_set(folder)
        return Batch(images=dataset.images, labels=dataset.labels, files=list(dataset.files),
                     source=dataset.source, notes=[[] for _ in dataset.files])
    images, skipped = [], []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if not path.is_file() or _litter(relative.parts):
            continue
        (images if path.suffix.lower() in IMAGE_SUFFIXES else skipped).append(relative)
        if len(images) > MAX_IMAGES:
            raise BatchError(f"{folder} holds more than {MAX_IMAGES:,} images; classify fewer at once (split "
                             "the folder), or put them in class folders to evaluate any number")
    return _decode(((p.as_posix(), folder / p) for p in sorted(images)), str(folder), None,
                   sorted(map(str, skipped)), _Deadline(str(folder)))


def from_members(members: Iterable[tuple[str, bytes | None]], source: str) -> Batch:
    """Images given as (relative name, bytes): a zip's entries or a folder uploaded in the app.
    Entries that are not images are only named (zip_members gives None for their bytes)."""
    kept, skipped, total = [], [], 0
    deadline = _Deadline(source)
    for name, data in members:
        deadline.check()
        parts = _safe_parts(name, source)
        if not parts or _litter(parts):
            continue
        if not _is_image_name(name):
            skipped.append(name)
            continue
        total += len(data)
        kept.append((parts, data))
        if len(kept) > MAX_IMAGES or total > MAX_TOTAL_BYTES:
            raise BatchError(f"{source} holds more than {MAX_IMAGES:,} images or {MAX_TOTAL_BYTES >> 20:,} MB of "
                             "them; classify fewer at once")
    kept = _without_common_folders(sorted(kept))
    labels = _labels([parts for parts, _ in kept], source)
    return _decode((("/".join(parts), data) for parts, data in kept), source, labels, skipped, deadline)


def zip_members(zip_source, source: str) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of each image entry of a zip and (name, None) of every other file entry (never
    read: a compressed entry costs time to inflate even when its bytes are thrown away), after
    checking the whole index."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_source) if isinstance(zip_source, bytes) else zip_source)
    except (zipfile.BadZipFile, OSError) as e:
        raise BatchError(f"{source} is not a readable zip ({e}): make it again, or give a folder") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise BatchError(f"{source} has {len(entries):,} entries, more than the {MAX_ENTRIES:,} read; "
                             "split it into smaller zips")
        for entry in entries:
            _safe_parts(entry.filename, source)
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise BatchError(f"{source}: entry {entry.filename!r} is a link, which is refused: zip the "
                                 "images themselves")
            if entry.flag_bits & 0x1:
                raise BatchError(f"{source}: entry {entry.filename!r} is encrypted: zip the images without a password")
        _check_declared_sizes(entries, source)
        for entry in entries:
            if entry.is_dir():
                continue
            if not _is_image_name(entry.filename) or _litter(_safe_parts(entry.filename, source)):
                yield entry.filename, None
                continue
            try:  # zipfile inflates no more than the declared size, and an image no more than MAX_BYTES + 1:
                with archive.open(entry) as member:  # open_image refuses a bigger one with its own message
                    yield entry.filename, member.read(MAX_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise BatchError(f"{source}: entry {entry.filename!r} is damaged ({e}): make the zip again") from None


def _check_declared_sizes(entries: list[zipfile.ZipInfo], source: str) -> None:
    """Refuse a zip by its index: too much in all (every entry counts, images or not), or packed
    so tightly that it can only be a bomb."""
    declared = sum(e.file_size for e in entries)
    if declared > MAX_TOTAL_BYTES:
        raise BatchError(f"{source} would unpack to {declared >> 20:,} MB, more than the "
                         f"{MAX_TOTAL_BYTES >> 20:,} MB read at once; split it into smaller zips")
    packed = sum(e.compress_size for e in entries)
    if declared > PACKING_FLOOR and declared > MAX_PACKING * max(packed, 1):
        raise BatchError(f"{source} declares {declared >> 20:,} MB, more than {MAX_PACKING} times its packed size "
                         f"({packed:,} bytes): images do not pack like that, so it is refused as a zip bomb; "
                         "zip the images themselves")


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


class _Deadline:
    """Stops reading a batch that takes longer than MAX_SECONDS, with the one line that says so."""

    def __init__(self, source: str):
        self.source, self.seconds = source, MAX_SECONDS
        self.end = time.monotonic() + MAX_SECONDS

    def check(self) -> None:
        if time.monotonic() >= self.end:
            raise BatchError(f"{self.source}: reading its images took more than {self.seconds} s; classify "
                             "fewer or smaller images at once")


def _safe_parts(name: str, source: str) -> tuple[str, ...]:
    """A member's path parts; BatchError when it would land outside its folder."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        raise BatchError(f"{source}: entry {name!r} has an absolute path, which is refused: the zip is damaged "
                         "or hostile; make it again from the folder of images")
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if ".." in parts:
        raise BatchError(f"{source}: entry {name!r} points outside the zip ('..'), which is refused: the zip is "
                         "damaged or hostile; make it again from the folder of images")
    return parts


def _litter(parts: Sequence[str]) -> bool:
    return any(is_litter(part) for part in parts)


def _without_common_folders(kept: list) -> list:
    """Drop leading folders every image shares ("holiday/cat/x.png" -> "cat/x.png"), never a class folder."""
    while kept and all(len(parts) > 1 for parts, _ in kept):
        first = kept[0][0][0]
        if first.lower() in CLASSES or any(parts[0] != first for parts, _ in kept):
            break
        kept = [(parts[1:], data) for parts, data in kept]
    return kept


def _labels(all_parts: list[tuple[str, ...]], source: str) -> list[int] | None:
    """Class indices when the images sit in class folders (all of them must), else None."""
    in_class = [len(p) == 2 and p[0].lower() in CLASSES for p in all_parts]
    if not any(in_class):
        return None
    stray = next("/".join(p) for p, ok in zip(all_parts, in_class) if not ok) if not all(in_class) else None
    if stray:
        raise BatchError(f"{source}: {stray} is not directly in a class folder while other images are: put "
                         f"every image in a folder named after its class ({', '.join(CLASSES)}), or none of them")
    return [CLASSES.index(p[0].lower()) for p in all_parts]


def _decode(items: Iterable[tuple[str, object]], source: str, labels: list[int] | None,
            skipped: list[str], deadline: _Deadline) -> Batch:
    """Open each image (bytes or a path) with open_image; one that fails is left out, with its message."""
    pictures, files, kept_labels, notes, errors = [], [], [], [], []
    for index, (name, data) in enumerate(items):
        deadline.check()
        try:
            picture, changed = to_model_input(open_image(data, name=name))
        except ImageError as e:
            errors.append(str(e))
            continue
        pictures.append(picture)
        files.append(name)
        notes.append(changed)
        if labels is not None:
            kept_labels.append(labels[index])
    if not pictures:
        reason = f"; {len(errors)} could not be read, the first: {errors[0]}" if errors else ""
        raise BatchError(f"{source} holds no image that can be classified{reason}. Give PNG or JPEG images, "
                         "loose or in class folders (cat/, dog/, ...)")
    return Batch(images=as_images(pictures), files=files, source=source, notes=notes, errors=errors, skipped=skipped,
                 labels=torch.tensor(kept_labels, dtype=torch.int64) if labels is not None else None)


# --- classifying -------------------------------------------------------------------------------------
def classify_batch(classifier: Classifier, batch: Batch, k: int = 3) -> dict:
    """Every image's top-k classes; for a labelled batch also the evaluation (the eval.json object).

    {"source", "labelled", "n", "predictions": [{"file", "top", "true"?, "notes"}], "evaluation",
     "errors", "skipped"}
    """
    from cinic.analysis.evaluate import evaluate, predict_probs, top_k

    probs = predict_probs(classifier, batch.images)
    predictions = []
    for i, (name, row) in enumerate(zip(batch.files, probs)):
        entry = {"file": display_name(name), "top": top_k(row, classifier.classes, k),
                 "notes": batch.notes[i] if batch.notes else []}
        if batch.labelled:
            entry["true"] = CLASSES[int(batch.labels[i])]
        predictions.append(entry)
    evaluation = evaluate(classifier, batch.as_dataset(), split=Path(batch.source).name) \
        if batch.labelled else None
    return {"source": batch.source, "labelled": batch.labelled, "n": len(batch.files), "predictions": predictions,
            "evaluation": evaluation, "errors": batch.errors, "skipped": batch.skipped}


def predictions_csv(result: dict) -> str:
    """One row per image: file, (true class,) then each of the top-k classes with its probability."""
    from cinic.spreadsheet import csv_text

    k = max((len(p["top"]) for p in result["predictions"]), default=0)
    header = ["file"] + (["true"] if result["labelled"] else []) + \
        [column for i in range(1, k + 1) for column in (f"class {i}", f"p {i}")]
    return csv_text([header] + [[p["file"]] + ([p["true"]] if result["labelled"] else []) +
                                [value for t in p["top"] for value in (t["class"], round(t["prob"], 6))]
                                for p in result["predictions"]])
