"""Finding, validating and decoding a CINIC-10 data set.

A CINIC-10 root holds train/, valid/ and test/, each with one folder per class
of 32x32 PNGs. `validate_root` checks all of it from the image headers and
reports every problem at once (`check_root` decodes every image as well); `load_split` and `load_folder` decode a folder
once into a cached uint8 tensor (keyed by its path, file names, sizes and
modification times), so the next load is a single `torch.load`. Nothing is
ever written into the user's folders: caches live under `paths.cache_root()`.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from cinic import paths

from cinic.data import images
from cinic.atomic import build_folder, read_or_build, replace_file
from cinic.errors import CinicError
from cinic.workers import map_in_processes, usable_cores

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")   # CINIC-10 order (sorted)
SPLITS = ("train", "valid", "test")

Progress = Callable[[int, int], None]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CACHE_VERSION = 1            # bump when decoding changes, so old caches are not reused
PARALLEL_MIN_FILES = 20_000  # below this, starting worker processes costs more than it saves
CHUNK_FILES = 512            # files per worker task and per progress report
LISTED_PROBLEMS = 20         # problems spelled out in a DataError message; the rest are counted
_OS_LITTER = {"thumbs.db", "desktop.ini", "__macosx"}  # __MACOSX: what macOS puts in every zip
_CLASS_ALIASES = {"car": "automobile", "plane": "airplane", "aeroplane": "airplane"}

log = logging.getLogger(__name__)


class DataError(CinicError):
    """A data folder or archive we cannot use; `problems` lists every fault found."""

    def __init__(self, message: str, problems: Sequence[str] = ()):
        super().__init__(message)
        self.problems = list(problems) or [message]


@dataclass
class DataSet:                 # one decoded split or class folder
    images: torch.Tensor       # uint8, N x 3 x 32 x 32, CPU, contiguous
    labels: torch.Tensor       # int64, N
    files: list[str]           # paths relative to the split folder, "cat/cifar10-train-1.png"
    origins: list[str]         # "cifar10" | "imagenet" | "unknown" per image (from the file name)
    classes: tuple[str, ...]   # class names, index = label
    source: str                # absolute path of the folder it came from


@dataclass(frozen=True)
class _ImageFile:
    rel: str        # "cat/x.png", always with forward slashes
    label: int
    size: int
    mtime_ns: int
    ino: int = 0    # with ctime, what changes when content changes even if size and mtime are put back
    ctime_ns: int = 0


# --- small helpers ---------------------------------------------------------------------
def _known_classes_text(classes: Sequence[str] = CLASSES) -> str:
    return ", ".join(classes)


def _raise_problems(subject: str, problems: list[str]) -> None:
    if not problems:
        return
    listed = "\n".join(f"  - {p}" for p in problems[:LISTED_PROBLEMS])
    more = len(problems) - LISTED_PROBLEMS
    tail = f"\n  ... and {more} more problem{'s' if more != 1 else ''}" if more > 0 else ""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    raise DataError(f"{subject}: {count} found:\n{listed}{tail}", problems)


def _existing_folder(path, what: str) -> Path:
    folder = Path(path).expanduser().absolute()
    if not folder.exists():
        raise DataError(f"no such folder: {folder}: give the path of a {what}.")
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder: give the path of a {what}.")
    return folder


def display_name(name: str) -> str:
    """A file name as text any page, table or report can show: bytes that are not UTF-8 (which Python
    keeps as lone surrogates, and which nothing can encode) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def is_litter(name: str) -> bool:
    """Hidden files and the files file browsers leave behind are not data."""
    return name.startswith(".") or name.lower() in _OS_LITTER


def _count_files(folder: Path) -> str:
    count = sum(len(files) for _, _, files in os.walk(folder))
    return f"{count:,} file{'s' if count != 1 else ''}"


def _close_class(name: str, classes: Sequence[str]) -> str | None:
    lowered = name.lower().strip()
    if lowered in classes:
        return lowered
    if _CLASS_ALIASES.get(lowered) in classes:
        return _CLASS_ALIASES[lowered]
    close = difflib.get_close_matches(lowered, classes, n=1, cutoff=0.75)
    return close[0] if close else None


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def origin_of(filename: str) -> str:
    """Where a CINIC-10 image came from, read from its file name."""
    name = os.path.basename(str(filename).replace("\\", "/")).lower()
    if re.fullmatch(r"cifar10-(train|valid|test)-\d+\.png", name):
        return "cifar10"
    if re.fullmatch(r"n\d{8}_\d+\.(png|jpe?g)", name):
        return "imagenet"
    return "unknown"


# --- scanning a folder of class folders ------------------------------------------------
def _unknown_folder_problem(entry: os.DirEntry, parent: Path, classes: Sequence[str]) -> str:
    close = _close_class(entry.name, classes)
    if close is not None:
        return (f"class folder '{entry.name}' in {parent} is not a CINIC-10 class name: did you mean "
                f"'{close}'? Rename it (the classes are {_known_classes_text(classes)}).")
    held = _count_files(Path(entry.path))
    hint = (" Augmentor writes its samples into output/ inside the folder it reads;"
            " this project keeps them in its cache instead." if entry.name.lower() == "output" else "")
    return (f"extra folder '{entry.name}' in {parent} (holding {held}) is not a CINIC-10 class, "
            f"so a trainer would read it as one more class: move it out of the data folder.{hint} "
            f"The classes are {_known_classes_text(classes)}.")


def _scan_class(folder: Path, label: int, with_stat: bool) -> tuple[list[_ImageFile], list[str]]:
    """The image files of one class folder, and what else it wrongly holds."""
    found: list[_ImageFile] = []
    problems: list[str] = []
    try:
        listing = _listing(folder)
    except OSError as e:
        return [], [f"cannot read class folder {folder}: {e.strerror or e}; fix its permissions or remove it."]
    for entry in listing:
        path = Path(entry.path)
        try:  # a broken or looping link, or an unreadable entry, is one problem, not a crash
            is_folder = entry.is_dir()
            stat = entry.stat() if with_stat and not is_folder else None
        except OSError as e:
            problems.append(f"cannot read {path}: {e.strerror or e} (a broken or looping link?); fix or remove it.")
            continue
        if is_folder:
            problems.append(
                f"unexpected folder {path} inside class folder {folder} (holding "
                f"{_count_files(path)}): a class folder holds only images; move it out"
                + (" (Augmentor writes its samples into output/)." if entry.name.lower() == "output" else "."))
        elif not entry.name.lower().endswith(IMAGE_SUFFIXES):
            problems.append(f"not an image file: {path}: a class folder holds only images "
                            f"({', '.join(IMAGE_SUFFIXES)}); move or delete it.")
        else:
            found.append(_ImageFile(f"{folder.name}/{entry.name}", label, *(
                (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns) if stat else (0, 0, 0, 0))))
    return found, problems


def _listing(folder: Path) -> list[os.DirEntry]:
    """The entries of `folder` by name, litter left out."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not is_litter(e.name)), key=lambda e: e.name)


def _top_level_problems(folder: Path, listing: list[os.DirEntry], classes: Sequence[str],
                        present: list[str]) -> list[str]:
    """Faults among the entries of a folder that should hold only class folders."""
    stray = [e for e in listing if not e.is_dir()]
    if not present and all(s.name in SPLITS for s in listing if s.is_dir()) and (
            all((folder / split).is_dir() for split in SPLITS)):
        return [f"{folder} is a whole CINIC-10 folder (train/, valid/, test/), not a folder of class "
                f"folders: give one split of it, e.g. {folder / 'test'}."]
    if not present and stray and all(e.name.lower().endswith(IMAGE_SUFFIXES) for e in stray):
        return [f"{folder} holds {len(stray):,} images directly, not in class folders: put each image "
                f"in a folder named after its class ({_known_classes_text(classes)})."]
    problems = [f"stray file {e.path}: images belong inside a class folder such as "
                f"{folder / classes[0]}/; move or delete it." for e in stray]
    problems += [_unknown_folder_problem(e, folder, classes)
                 for e in listing if e.is_dir() and e.name not in classes]
    return problems


def _scan_class_folders(folder: Path, classes: Sequence[str], *, strict: bool,
                        with_stat: bool) -> tuple[list[_ImageFile], list[str], dict[str, int]]:
    """Every image under `folder`/<class>/, the problems seen, and images per class.

    `strict` (a CINIC-10 split) also wants every class present and non-empty.
    Labels index `CLASSES`, whatever subset of it `classes` is, so a model
    trained on CINIC-10 reads them unchanged.
    """
    found: list[_ImageFile] = []
    counts: dict[str, int] = {}
    try:
        listing = _listing(folder)
    except OSError as e:
        return [], [f"cannot read folder {folder}: {e.strerror or e}; fix its permissions."], {}
    present = [name for name in classes if (folder / name).is_dir()]
    problems = _top_level_problems(folder, listing, classes, present)
    for name in classes:
        if name not in present:
            if strict:
                problems.append(f"missing class folder '{name}' in {folder}: CINIC-10 has one folder per "
                                f"class ({_known_classes_text()}); add it.")
            continue
        files, class_problems = _scan_class(folder / name, CLASSES.index(name), with_stat)
        problems += class_problems
        counts[name] = len(files)
        if strict and not files:
            problems.append(f"empty class folder {folder / name}: it holds no images; add its images "
                            "or remove the folder.")
        found += files
    return found, problems, counts


# --- running work over many files, in worker processes when it pays --------------------
def _worker_count(n_files: int) -> int:
    """1 (this process) for small inputs, else a process per usable core, at most 16.

    `CINIC_DECODE_WORKERS` overrides it (1 = never start worker processes).
    """
    override = os.environ.get("CINIC_DECODE_WORKERS", "").strip()
    if override.isdigit():
        return max(1, int(override))
    if override:
        log.warning("ignoring CINIC_DECODE_WORKERS=%r: it must be a whole number", override)
    if n_files < PARALLEL_MIN_FILES:
        return 1
    return min(usable_cores(), 16)


def _map_chunks(work: Callable[[list[str]], object], items: list[str],
                progress: Progress | None) -> list:
    """`work` over chunks of `items`, results in order; worker processes for large inputs."""
    chunks = [items[i:i + CHUNK_FILES] for i in range(0, len(items), CHUNK_FILES)]
    _report(progress, 0, len(items))
    done = 0

    def count(index: int, _result) -> None:
        nonlocal done
        done += len(chunks[index])
        _report(progress, done, len(items))

    return map_in_processes(work, chunks, _worker_count(len(items)), on_result=count)


# --- validation --------------------------------------------------------------------------
def _header_problems(folder: Path, files: list[_ImageFile], progress: Progress | None,
                     exact_size: bool) -> tuple[list[str], int, int, set[str]]:
    """Problems read from every image header; how many are not RGB or not 32x32; the failing files."""
    paths_ = [str(folder / f.rel) for f in files]
    infos = [info for chunk in _map_chunks(images.probe_chunk, paths_, progress) for info in chunk]
    problems: list[str] = []
    failing: set[str] = set()
    non_rgb = other_size = 0
    want_w, want_h = images.MODEL_SIZE
    for f, path, info in zip(files, paths_, infos):
        if isinstance(info, str):
            problems.append(info)
            failing.add(f.rel)
            continue
        non_rgb += info.mode != "RGB"
        if (info.width, info.height) != (want_w, want_h):
            other_size += 1
            if exact_size:
                problems.append(f"image {path} is {info.width}x{info.height}, not {want_w}x{want_h}: "
                                f"CINIC-10 images are {want_w}x{want_h}; resize it or remove it.")
                failing.add(f.rel)
    return problems, non_rgb, other_size, failing


def _root_hint(root: Path) -> str:
    """Point at the CINIC-10 folder a near miss belongs to: one level down (the usual slip after
    extracting), or above a split folder (.../train) or a class folder (.../train/cat)."""
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if all((child / split).is_dir() for split in SPLITS):
            return f" (did you mean {child}?)"
    for above, what in ((root.parent, "split"), (root.parent.parent, "class")):
        if all((above / split).is_dir() for split in SPLITS):
            return f" ({root.name}/ is a {what} folder of the CINIC-10 folder {above}: did you mean that one?)"
    return ""


def validate_root(root, progress: Progress | None = None) -> dict:
    """Check a CINIC-10 root from its image headers; every problem at once.

    Returns {"root", "counts": {split: {class: n}}, "total", "non_rgb",
    "seconds"}; raises `DataError` (with `.problems`) when anything is wrong.
    Non-RGB 32x32 images are fine: they are converted to RGB on decoding.
    """
    report, problems, _ = _inspect_root(root, progress)
    _raise_problems(f"{report['root']} is not a usable CINIC-10 folder", problems)
    return report


def _inspect_root(root, progress: Progress | None) -> tuple[dict, list[str], list[_ImageFile]]:
    """(report, problems, files whose headers are fine) of a CINIC-10 root; raises nothing
    but for a root that is not a folder."""
    started = time.perf_counter()
    root = _existing_folder(root, "CINIC-10 folder (holding train/, valid/ and test/)")
    problems: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    found: list[_ImageFile] = []
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            problems.append(f"missing split folder '{split}' in {root}: expected train/, valid/ and test/"
                            + _root_hint(root))
            continue
        files, split_problems, counts[split] = _scan_class_folders(folder, CLASSES, strict=True,
                                                                   with_stat=False)
        problems += split_problems
        found += [_ImageFile(f"{split}/{f.rel}", f.label, 0, 0) for f in files]
    header_problems, non_rgb, _, failing = _header_problems(root, found, progress, exact_size=True)
    report = {"root": str(root), "counts": counts, "total": len(found), "non_rgb": non_rgb,
              "seconds": round(time.perf_counter() - started, 3)}
    return report, problems + header_problems, [f for f in found if f.rel not in failing]


def check_root(root, progress: Progress | None = None) -> dict:
    """Everything `validate_root` checks, and every image decoded too (a header can be whole while
    the pixel data is cut short), all problems of both kinds in one DataError; the report adds
    the training split's exact mean and std. Clean splits are decoded into the cache for training.
    """
    report, problems, readable = _inspect_root(root, progress)
    root = Path(report["root"])
    if problems:  # decode what the headers passed, to list its problems now rather than next time
        paths_ = [str(root / f.rel) for f in readable]
        for _, errors, _ in _map_chunks(images.decode_chunk, paths_, progress):
            problems += [message for _, message in errors]
        _raise_problems(f"{root} is not a usable CINIC-10 folder", problems)
    decoded = {}
    for split in SPLITS:
        try:
            decoded[split] = load_split(root, split, progress)
        except DataError as error:
            problems += error.problems
    _raise_problems(f"{root} is not a usable CINIC-10 folder", problems)
    mean, std = channel_stats(decoded["train"].images)
    return dict(report, mean=[round(m, 4) for m in mean], std=[round(v, 4) for v in std])


def validate_class_folder(folder, classes: Sequence[str] = CLASSES,
                          progress: Progress | None = None) -> dict:
    """Check any folder of class folders (an evaluation set); a subset of classes is fine.

    Images of other sizes are allowed (they are resized on decoding). Returns
    {"root", "counts": {class: n}, "total", "non_rgb", "other_size", "seconds"}.
    """
    started = time.perf_counter()
    folder = _existing_folder(folder, "folder of class folders (cat/, dog/, ...)")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise DataError(f"unknown class name(s) {', '.join(unknown)}: the CINIC-10 classes are "
                        f"{_known_classes_text()}.")
    files, problems, counts = _scan_class_folders(folder, classes, strict=False, with_stat=False)
    if not counts and not problems:
        problems.append(f"{folder} holds no class folders: expected folders named after classes "
                        f"({_known_classes_text(classes)}), each holding images.")
    header_problems, non_rgb, other_size, _ = _header_problems(folder, files, progress, exact_size=False)
    _raise_problems(f"{folder} is not a usable folder of class folders", problems + header_problems)
    return {"root": str(folder), "counts": counts, "total": len(files), "non_rgb": non_rgb,
            "other_size": other_size, "seconds": round(time.perf_counter() - started, 3)}


# --- decoding and the cache --------------------------------------------------------------
def _cache_key(folder: Path, files: Iterable[_ImageFile]) -> str:
    digest = hashlib.sha1(f"cinic-decoded-v{CACHE_VERSION}\0{folder}\0".encode("utf-8", "surrogateescape"))
    for f in files:
        digest.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\0{f.ino}\0{f.ctime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _decode(folder: Path, files: list[_ImageFile], progress: Progress | None) -> DataSet:
    started = time.perf_counter()
    paths_ = [str(folder / f.rel) for f in files]
    arrays, problems, adjusted = [], [], 0
    for array, errors, chunk_adjusted in _map_chunks(images.decode_chunk, paths_, progress):
        arrays.append(array)
        problems += [message for _, message in errors]
        adjusted += chunk_adjusted
    _raise_problems(f"{folder} has images that cannot be decoded", problems)
    pixels = torch.from_numpy(np.concatenate(arrays)).permute(0, 3, 1, 2).contiguous()
    log.info("decoded %d images from %s in %.2fs (%d converted or resized)",
             len(files), folder, time.perf_counter() - started, adjusted)
    return DataSet(images=pixels,
                   labels=torch.tensor([f.label for f in files], dtype=torch.int64),
                   files=[f.rel for f in files],
                   origins=[origin_of(f.rel) for f in files],
                   classes=CLASSES,
                   source=str(folder))


def _read_cache(path: Path, folder: Path, files: list[_ImageFile]) -> DataSet | None:
    """The cached DataSet, or None when absent, unreadable or not what `files` say."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        dataset = DataSet(images=payload["images"], labels=payload["labels"],
                          files=list(payload["files"]), origins=list(payload["origins"]),
                          classes=tuple(payload["classes"]), source=str(payload["source"]))
    except Exception as err:  # a torn or foreign file: rebuilt by the caller, never fatal
        log.warning("ignoring unreadable decoded cache %s (%s); decoding again", path, err)
        return None
    n = len(files)
    fits = (payload.get("version") == CACHE_VERSION
            and dataset.images.dtype == torch.uint8 and tuple(dataset.images.shape) == (n, 3, 32, 32)
            and dataset.labels.dtype == torch.int64 and tuple(dataset.labels.shape) == (n,)
            and dataset.files == [f.rel for f in files] and len(dataset.origins) == n
            and dataset.source == str(folder))
    if not fits:
        log.warning("ignoring decoded cache %s: it does not match %s; decoding again", path, folder)
        return None
    return dataset


def _write_cache(path: Path, dataset: DataSet) -> None:
    """Atomically: a reader sees the old file, or no file, or the whole new one."""
    payload = {"version": CACHE_VERSION, "images": dataset.images, "labels": dataset.labels,
               "files": dataset.files, "origins": dataset.origins,
               "classes": list(dataset.classes), "source": dataset.source}
    try:
        replace_file(path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as err:  # the cache only saves time: a full disk must not stop the load
        log.warning("could not write decoded cache %s (%s); the next load decodes again", path, err)


def _load_cached(folder: Path, files: list[_ImageFile], progress: Progress | None) -> DataSet:
    cache = paths.cache_root() / "decoded" / f"{_cache_key(folder, files)}.pt"

    def decode_and_write() -> DataSet:
        dataset = _decode(folder, files, progress)
        _write_cache(cache, dataset)
        return dataset

    dataset = read_or_build(cache, lambda: _read_cache(cache, folder, files), decode_and_write)
    _report(progress, len(files), len(files))
    return dataset


def load_folder(folder, progress: Progress | None = None) -> DataSet:
    """Decode a folder of class folders (any subset of CLASSES), cached; labels index CLASSES."""
    folder = _existing_folder(folder, "folder of class folders (cat/, dog/, ...)")
    files, problems, counts = _scan_class_folders(folder, CLASSES, strict=False, with_stat=True)
    _raise_problems(f"{folder} cannot be loaded", problems)
    if not files:
        raise DataError(f"{folder} holds no images: expected class folders ({_known_classes_text()}) "
                        "with images inside.")
    return _load_cached(folder, files, progress)


def load_split(root, split: str, progress: Progress | None = None) -> DataSet:
    """Decode one split of a CINIC-10 root (cached); `files` are relative to the split folder."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    root = _existing_folder(root, "CINIC-10 folder (holding train/, valid/ and test/)")
    if not (root / split).is_dir():
        raise DataError(f"missing split folder '{split}' in {root}: expected train/, valid/ and test/"
                        + _root_hint(root))
    return load_folder(root / split, progress)


# --- statistics ----------------------------------------------------------------------------
def channel_stats(images_uint8, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std over all pixels, in [0, 1], of N x C x H x W uint8 images.

    A histogram of the 256 values per channel is exact and cheap (counted in
    int64, chunk by chunk, so 90,000 images need no big float copy); the
    moments come from it in float64. This is the data set's std, not the
    average of per-image stds.
    """
    pixels = torch.as_tensor(images_uint8)
    if pixels.dtype != torch.uint8 or pixels.dim() != 4:
        raise DataError(f"channel_stats needs uint8 images shaped N x C x H x W, got {pixels.dtype} "
                        f"shaped {tuple(pixels.shape)}.")
    if pixels.shape[0] == 0:
        raise DataError("channel_stats got no images: load a split with images first.")
    channels = pixels.shape[1]
    histogram = torch.zeros(channels, 256, dtype=torch.int64)
    for start in range(0, pixels.shape[0], chunk):
        block = pixels[start:start + chunk]
        for c in range(channels):
            histogram[c] += torch.bincount(block[:, c].reshape(-1), minlength=256)
    values = torch.arange(256, dtype=torch.float64) / 255
    count = histogram.sum(dim=1).to(torch.float64)
    mean = (histogram * values).sum(dim=1) / count
    variance = (histogram * (values - mean[:, None]) ** 2).sum(dim=1) / count  # two-pass: no cancellation
    return tuple(float(m) for m in mean), tuple(float(s) for s in variance.sqrt())


# --- finding the data ----------------------------------------------------------------------
def _find_cinic_root(folder: Path, depth: int = 3) -> Path | None:
    if all((folder / split).is_dir() for split in SPLITS):
        return folder
    if depth == 0:
        return None
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not is_litter(p.name)):
        found = _find_cinic_root(child, depth - 1)
        if found is not None:
            return found
    return None


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".tar.gz") or name.endswith(".tgz")


def _extract_once(archive: Path, progress: Progress | None) -> Path:
    """Extract into the cache (once per archive content); returns the extracted folder."""
    from cinic.data.fetch import FetchError, extract_archive  # lazily: only archives need it

    stat = archive.stat()
    stem = re.sub(r"\.(tar\.gz|tgz)$", "", archive.name, flags=re.IGNORECASE)
    tag = hashlib.sha1(f"{archive}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    target = paths.cache_root() / "extracted" / f"{stem}-{tag}"

    def extract(folder: Path) -> None:
        try:
            extract_archive(archive, folder, progress=progress)
        except FetchError as err:  # already says what to do
            raise DataError(str(err)) from err
        root = _find_cinic_root(folder)
        if root is not None:  # refused here, the failed build is removed: no refused data stays in the cache
            try:
                validate_root(root)
            except DataError as err:  # named after the archive, not the hidden folder about to go
                raise DataError(str(err).replace(str(folder), str(archive))) from err

    return read_or_build(target, lambda: target if target.is_dir() else None,
                         lambda: build_folder(target, extract))


def resolve_data(path, progress: Progress | None = None) -> Path:
    """A CINIC-10 root from a folder or a .tar.gz/.tgz (extracted once into the cache)."""
    given = Path(path).expanduser().absolute()
    expected = "a CINIC-10 folder (holding train/, valid/ and test/) or its .tar.gz archive"
    if not given.exists():
        raise DataError(f"no such file or folder: {given}: give {expected}.")
    if given.is_dir():
        if all((given / split).is_dir() for split in SPLITS):
            return given
        missing = [s for s in SPLITS if not (given / s).is_dir()]
        raise DataError(f"{given} is not a CINIC-10 folder: it lacks {', '.join(m + '/' for m in missing)}; "
                        f"give {expected}{_root_hint(given)}.")
    if not _is_archive(given):
        raise DataError(f"{given} is neither a folder nor a .tar.gz/.tgz archive: give {expected}.")
    extracted = _extract_once(given, progress)
    root = _find_cinic_root(extracted)
    if root is None:
        raise DataError(f"the archive {given} holds no CINIC-10 folder (train/, valid/ and test/ "
                        f"with class folders); it was extracted to {extracted}: check it is CINIC-10.")
    return root


def load_evaluation_set(source, split: str = "test", progress: Progress | None = None) -> tuple[DataSet, str]:
    """(data set, its name) to evaluate on: a split of a CINIC-10 root or archive, or any folder
    of class folders (named after the folder)."""
    given = Path(source).expanduser()
    root = resolve_data(given, progress) if _is_archive(given) else given
    if (root / split).is_dir():
        return load_split(root, split, progress), split
    return load_folder(root, progress), root.name
