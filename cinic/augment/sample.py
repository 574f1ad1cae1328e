"""Augmentor pipelines applied: N augmented images sampled into a cache, and preview grids.

The steps (checked by `cinic.augment.ops`) are built into the real
`Augmentor.Operations` objects and applied to PIL images in memory, the way
Augmentor's `Pipeline.torch_transform` does. Augmentor's `Pipeline` itself is
never used: its `sample()` writes an `output/` folder into the training data,
which is how the seed project grew an extra class.

Every pipeline ends with a guard that makes the image 32x32 RGB again, because
crops, `scale` and `greyscale` change the size or the mode.

Generated samples are cached under ``cache_root()/augmented/`` keyed by the data
set, the pipeline, N and the seed, so the same request is made only once. The
result does not depend on the number of worker processes: images are augmented
in fixed-size chunks, each seeded from (seed, chunk index).

torch is imported inside the functions that need it, not at the top: worker
processes are spawned and import this module, and torch would add seconds to
each start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import Augmentor
import numpy as np
import PIL
from Augmentor import Operations
from PIL import Image

from cinic import paths
from cinic.atomic import read_or_build, replace_file
from cinic.augment.ops import IMAGE_SIDE, AugmentError, build_operations, validate_pipeline
from cinic.workers import map_in_processes

if TYPE_CHECKING:
    import torch

CHUNK_SIZE = 256                # images per reproducibility unit; changing it changes the samples
PREVIEW_GAP = 2                 # pixels between tiles in a preview grid (before upscaling)
CACHE_FORMAT = 2                # bump when the cache file layout, the guard or an operation changes (2: rotate)


_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def _seeded_global_rngs(seed: int, stream: int):
    """Seed Python's and NumPy's global generators (Augmentor draws from both), then restore them.

    The lock keeps two threads of one process (e.g. the app) from interleaving
    draws; restoring keeps a caller's own random state untouched.
    """
    python_seed, numpy_seed = np.random.SeedSequence([seed, stream]).generate_state(2)
    with _RNG_LOCK:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(int(python_seed))
        np.random.seed(int(numpy_seed))
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _augment_one(image: np.ndarray, operations: list[tuple[str, Operations.Operation]]) -> np.ndarray:
    """One HxWx3 uint8 image through the pipeline, as Augmentor's torch_transform does, then the guard."""
    images = [Image.fromarray(image)]
    for number, (name, operation) in enumerate(operations, start=1):
        if random.uniform(0, 1) < operation.probability:
            try:
                images = operation.perform_operation(images)
            except Exception as error:  # an Augmentor failure, named so a person can fix the step
                width, height = images[0].size
                raise AugmentError(f"step {number} ({name}) failed on a {width}x{height} "
                                   f"{images[0].mode} image: {error!r}") from error
    return np.asarray(_as_rgb_32(images[0]))


def _as_rgb_32(image: Image.Image) -> Image.Image:
    """The final guard: RGB, 32x32 (BICUBIC, as Augmentor's own resizes; ANTIALIAS is gone)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (IMAGE_SIDE, IMAGE_SIDE):
        image = image.resize((IMAGE_SIDE, IMAGE_SIDE), resample=Image.Resampling.BICUBIC)
    return image


def _augment_chunk(task: tuple[list[dict], np.ndarray, int, int]) -> np.ndarray:
    """Augment one chunk of images, seeded from (seed, chunk index). Runs in worker processes."""
    steps, images, seed, chunk_index = task
    operations = build_operations(steps)
    out = np.empty((len(images), IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    with _seeded_global_rngs(seed, chunk_index), warnings.catch_warnings():
        # Skew builds an np.matrix, which NumPy marks as pending deprecation.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        for i, image in enumerate(images):
            out[i] = _augment_one(image, operations)
    return out


def augment_images(images, steps: Sequence[Mapping], seed: int = 0, workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Each image through the pipeline once: uint8 k x 32 x 32 x 3, the same for any `workers`.

    `images` is a uint8 k x 3 x 32 x 32 tensor/array or k x 32 x 32 x 3 array.
    `workers` None or 1 runs here, serially; more spreads chunks over worker
    processes (`cinic.workers.map_in_processes`). Serial is the default because
    it measured faster: one image costs ~80 us, so 30,000 take ~2.5 s, and a
    pool's start-up and copying cost more than it saved on 2 cores
    (bench/augment_speed.py). `progress(done, total)` is called after each chunk.
    """
    steps = validate_pipeline(steps)
    _check_seed(seed)
    images = _as_hwc_uint8(images)
    tasks = [(steps, images[start:start + CHUNK_SIZE], seed, index)
             for index, start in enumerate(range(0, len(images), CHUNK_SIZE))]
    total, done = len(images), 0
    if progress:
        progress(0, total)

    def count(_index: int, chunk: np.ndarray) -> None:
        nonlocal done
        done += len(chunk)
        progress(done, total)

    results = map_in_processes(_augment_chunk, tasks, _worker_count(workers),
                               on_result=count if progress else None)
    if not results:
        return np.empty((0, IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    return np.concatenate(results)


def _worker_count(workers: int | None) -> int:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise AugmentError(f"workers must be a whole number >= 1 (or None: serial), got {workers!r}")
    return workers or 1


def _as_hwc_uint8(images) -> np.ndarray:
    """k x 32 x 32 x 3 uint8 from a k x 3 x 32 x 32 tensor/array or k x 32 x 32 x 3 array (or one image)."""
    if not isinstance(images, np.ndarray):
        if not hasattr(images, "numpy"):
            raise AugmentError(f"images must be a torch tensor or numpy array, got {type(images).__name__}")
        images = images.detach().cpu().numpy()
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8:
        raise AugmentError(f"images must be uint8 (0-255), got {images.dtype}")
    square = (IMAGE_SIDE, IMAGE_SIDE)
    if images.ndim == 4 and images.shape[1] == 3 and images.shape[2:] == square:
        images = images.transpose(0, 2, 3, 1)
    if images.ndim != 4 or images.shape[1:] != (*square, 3):
        raise AugmentError(f"images must be k x 3 x 32 x 32 or k x 32 x 32 x 3, got shape "
                           f"{tuple(images.shape)}")
    return np.ascontiguousarray(images)


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise AugmentError(f"seed must be a whole number 0..2**63-1, got {seed!r}")


# --- preview -----------------------------------------------------------------------
PREVIEW_IMAGES = 64  # rows of a preview grid


def preview_grid(steps: Sequence[Mapping], images, versions: int = 6, seed: int = 0,
                 scale: int = 3) -> np.ndarray:
    """A uint8 H x W x 3 picture: one row per image, the original then `versions` augmented copies.

    Tiles are separated by a white gap (a double one after the original) and
    the whole grid is upscaled `scale` times by nearest neighbour so 32x32
    images are visible. The same seed gives the same picture.
    """
    steps = validate_pipeline(steps)
    _check_seed(seed)
    if isinstance(versions, bool) or not isinstance(versions, int) or not 0 <= versions <= 32:
        raise AugmentError(f"versions must be 0..32, got {versions!r}")
    originals = _as_hwc_uint8(images)
    if len(originals) == 0:
        raise AugmentError("preview_grid needs at least one image")
    for name, value, least in (("versions", versions, 0), ("scale", scale, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise AugmentError(f"{name} must be a whole number >= {least}, got {value!r}")
    rows = []
    for row, original in enumerate(originals):
        copies = np.repeat(original[None], versions, axis=0)
        rows.append([original, *_augment_chunk((steps, copies, seed, row))])
    grid = _tile(rows)
    return np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)


def _tile(rows: list[list[np.ndarray]]) -> np.ndarray:
    gap, side = PREVIEW_GAP, IMAGE_SIDE
    per_row = len(rows[0])
    extra = gap if per_row > 1 else 0  # the original stands apart from its versions
    height = len(rows) * side + (len(rows) + 1) * gap
    width = per_row * side + (per_row + 1) * gap + extra
    grid = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, tiles in enumerate(rows):
        top = gap + r * (side + gap)
        for c, tile in enumerate(tiles):
            left = gap + c * (side + gap) + (extra if c > 0 else 0)
            grid[top:top + side, left:left + side] = tile
    return grid


# --- sampling N images into the cache ------------------------------------------------
@dataclass
class AugmentedSet:
    """N augmented images drawn from a data set, ready to concatenate with its images and labels."""

    images: torch.Tensor        # uint8, n x 3 x 32 x 32
    labels: torch.Tensor        # int64, n: the label of the image each was made from
    source_index: torch.Tensor  # int64, n: index into the data set of that image
    classes: tuple[str, ...]
    per_class: dict[str, int]   # images per class name, every class listed
    path: Path                  # the cache file holding them
    steps: list[dict]           # the normalised pipeline
    seed: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def sample_augmented(dataset, steps: Sequence[Mapping], n: int, seed: int = 0,
                     progress: Callable[[int, int], None] | None = None,
                     workers: int | None = None) -> AugmentedSet:
    """`n` images made by the pipeline from source images drawn uniformly (with replacement).

    Like Augmentor's `sample(n)`, but in memory and reproducible. `dataset` is a
    `cinic.data.dataset.DataSet` (or anything with images, labels, classes, source).
    The result is cached under cache_root()/augmented/ and reused when the same
    data set, pipeline, n and seed come again; nothing is written anywhere else.
    """
    steps = validate_pipeline(steps)
    _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise AugmentError(f"the number of augmented images must be a whole number >= 0, got {n!r}")
    if n > 0 and len(dataset.labels) == 0:
        raise AugmentError(f"cannot sample {n} augmented images from the empty data set at {dataset.source}")
    path = cache_path(dataset, steps, n, seed)

    def read() -> AugmentedSet | None:
        cached = _read_cache(path, dataset, steps, seed)
        if cached is not None and progress:
            progress(n, n)
        return cached

    def build() -> AugmentedSet:
        made = _make_sample(dataset, steps, n, seed, path, progress, workers)
        _write_cache(made)
        return made

    # One process makes a given sample; another asking for it waits, then reads it.
    return read_or_build(path, read, build)


def cache_path(dataset, steps: list[dict], n: int, seed: int) -> Path:
    """Where the sample for this data set, normalised pipeline, n and seed is (or will be) cached."""
    key = {"format": CACHE_FORMAT, "source": str(dataset.source), "dataset": dataset_fingerprint(dataset),
           "steps": steps, "n": n, "seed": seed, "chunk": CHUNK_SIZE,
           "augmentor": Augmentor.__version__, "pillow": PIL.__version__}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return paths.cache_root() / "augmented" / f"{digest}.pt"


def dataset_fingerprint(dataset, images_hashed: int = 64) -> str:
    """A cheap identity for a decoded data set: its size, all labels and a spread of its images."""
    count = len(dataset.labels)
    digest = hashlib.sha1(f"{count}:{tuple(dataset.images.shape)}".encode())
    digest.update(np.ascontiguousarray(dataset.labels.numpy()).tobytes())
    if count:
        picks = np.unique(np.linspace(0, count - 1, num=min(count, images_hashed)).astype(np.int64))
        digest.update(np.ascontiguousarray(dataset.images[picks].numpy()).tobytes())
    return digest.hexdigest()


def _make_sample(dataset, steps, n, seed, path, progress, workers) -> AugmentedSet:
    import torch

    source_index = np.random.default_rng(seed).integers(0, max(len(dataset.labels), 1), size=n)
    index = torch.from_numpy(source_index)
    augmented = augment_images(dataset.images[index], steps, seed, workers, progress)
    labels = dataset.labels[index].to(torch.int64)
    return AugmentedSet(
        images=torch.from_numpy(augmented).permute(0, 3, 1, 2).contiguous(),
        labels=labels, source_index=index, classes=tuple(dataset.classes),
        per_class=_count_per_class(labels, dataset.classes), path=path, steps=steps, seed=seed)


def _count_per_class(labels: torch.Tensor, classes: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(labels.numpy(), minlength=len(classes))
    return {name: int(counts[i]) for i, name in enumerate(classes)}


def _write_cache(sample: AugmentedSet) -> None:
    """torch.save to a temporary file, then rename: a reader never sees half a file."""
    import torch

    meta = {"format": CACHE_FORMAT, "steps": sample.steps, "seed": sample.seed,
            "classes": list(sample.classes), "per_class": sample.per_class}
    payload = {"images": sample.images, "labels": sample.labels,
               "source_index": sample.source_index, "meta": meta}
    try:
        replace_file(sample.path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as error:
        raise AugmentError(f"could not write the augmented images to {sample.path}: {error}. "
                           "Free some disk space and try again.") from error


def _read_cache(path: Path, dataset, steps: list[dict], seed: int) -> AugmentedSet | None:
    """The cached sample, or None when there is none or it cannot be read (it is then remade)."""
    import torch

    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = payload["meta"]
        if meta.get("format") != CACHE_FORMAT:
            return None
        return AugmentedSet(images=payload["images"], labels=payload["labels"],
                            source_index=payload["source_index"], classes=tuple(dataset.classes),
                            per_class=dict(meta["per_class"]), path=path, steps=steps, seed=seed)
    except Exception:  # a damaged or foreign file: regenerate rather than fail the training
        return None
