"""A CINIC-10-sized folder made from a small sample, to measure at full scale.

    python -m cinic make-full-scale OUT [--data SAMPLE] [--per-split 90000] [--jobs N]

Each image is a sample image mirrored at random, shifted up to 2 px and given
light noise, written as PNG in CINIC-10 layout by a pool of processes. For
timing only: near copies make accuracy on it meaningless.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cinic import paths
from cinic.data import dataset as data
from cinic.atomic import build_folder
from cinic.data.dataset import CLASSES, SPLITS
from cinic.errors import CinicError
from cinic.workers import map_in_processes

PER_SPLIT = 90_000   # CINIC-10: 9,000 images per class per split
CHUNK = 1000         # images per worker task


class FullScaleError(CinicError):
    """A source or target folder we cannot use; the message says what to do."""


_SOURCES: dict = {}


def _init_full_scale_worker(sources: dict, out: str, seed: int) -> None:
    _SOURCES.update(sources=sources, out=out, seed=seed)


def perturb(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A near copy of an HxWx3 uint8 image: maybe mirrored, shifted up to 2 px, light noise."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    dy, dx = rng.integers(-2, 3, size=2)
    h, w = image.shape[:2]
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="edge")
    shifted = padded[2 + dy:2 + dy + h, 2 + dx:2 + dx + w].astype(np.int16)
    noisy = shifted + rng.normal(0, 3, size=shifted.shape).round().astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _write_full_scale_chunk(task: tuple[str, int, int, int]) -> int:
    """Write images start..stop-1 of one split's class; returns how many."""
    from PIL import Image

    split, label, start, stop = task
    pool = _SOURCES["sources"][split][label]
    folder = Path(_SOURCES["out"]) / split / CLASSES[label]
    for k in range(start, stop):
        rng = np.random.default_rng([_SOURCES["seed"], SPLITS.index(split), label, k])
        pixels = perturb(pool[k % len(pool)], rng)
        Image.fromarray(pixels, "RGB").save(folder / f"synthetic-{split}-{label}-{k:06d}.png", "PNG")
    return stop - start


def _class_pools(root: Path) -> dict:
    """{split: {label: N x 32 x 32 x 3 uint8}} of the source data, every class required."""
    pools = {}
    for split in SPLITS:
        decoded = data.load_split(root, split)
        hwc = decoded.images.permute(0, 2, 3, 1).numpy()
        pools[split] = {}
        for label, name in enumerate(CLASSES):
            chosen = hwc[(decoded.labels == label).numpy()]
            if len(chosen) == 0:
                raise FullScaleError(f"{root / split / name} has no images to copy from: "
                                     "make-full-scale needs every class in every split of --data")
            pools[split][label] = np.ascontiguousarray(chosen)
    return pools


def check_request(out: Path, per_split: int, jobs: int) -> Path:
    """The absolute target folder, after refusing what cannot be made (before any work)."""
    out = Path(out).expanduser().absolute()
    if per_split < len(CLASSES):
        raise FullScaleError(f"--per-split must be at least {len(CLASSES)} images per split (one per class), "
                             f"got {per_split}")
    if jobs < 1:
        raise FullScaleError(f"--jobs must be at least 1 worker process, got {jobs}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FullScaleError(f"{out} already exists and is not an empty folder: give a new folder "
                             "for make-full-scale (it writes train/, valid/ and test/ there)")
    return out


def make_full_scale(source: Path, out: Path, per_split: int, jobs: int, seed: int = 0) -> dict:
    """Write `per_split` perturbed copies of `source`'s images per split, in CINIC-10 layout.

    Built in a hidden folder beside `out` and renamed into place, so a stopped
    run never leaves a half folder that looks complete.
    """
    if paths.overlap(source, out):
        raise FullScaleError(f"{out} overlaps the images it would copy ({source}): write the copy elsewhere, "
                             "outside the source folder")
    out = check_request(out, per_split, jobs)
    started = time.perf_counter()
    pools = _class_pools(source)
    written = 0

    def write(folder: Path) -> None:
        nonlocal written
        tasks = []
        for split in SPLITS:
            for label, name in enumerate(CLASSES):
                (folder / split / name).mkdir(parents=True)
                count = per_split // len(CLASSES) + (label < per_split % len(CLASSES))
                tasks += [(split, label, a, min(a + CHUNK, count)) for a in range(0, count, CHUNK)]
        written = sum(map_in_processes(_write_full_scale_chunk, tasks, jobs, initializer=_init_full_scale_worker,
                                       initargs=(pools, str(folder), seed)))
        (folder / "FULL_SCALE.txt").write_text(
            f"Made by `python -m cinic make-full-scale` from {source}: {per_split} images per split,\n"
            "each a source image mirrored at random, shifted up to 2 px and given light noise.\n"
            "For timing only: its images are near copies, so accuracy on it means little.\n")

    build_folder(out, write)
    return {"out": str(out), "per_split": per_split, "images": written, "jobs": jobs,
            "seconds": round(time.perf_counter() - started, 2)}
