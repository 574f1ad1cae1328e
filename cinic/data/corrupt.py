"""A corrupted copy of a test split: how a model holds up on worse photos (the CIFAR-10-C idea).

`corrupt_split(data, out, split, seed, severity)` writes a CINIC-10 folder at
`out`: the chosen split with every image corrupted, the other splits copied
byte for byte (so the copy is a valid root, `python -m cinic check` passes and
`evaluate RUN --data OUT` reads its split). Each image gets ONE corruption,
drawn with its strength from a generator seeded by `seed`: the same seed gives
the same bytes, and every kind is present in about equal numbers. One kind per
image rather than every kind per image keeps the copy the size of the split,
so its accuracy is one number over the usual 1,017 test images.

The five kinds follow Hendrycks & Dietterich's CIFAR-10-C at its severities
1..5 (3, the default, is "moderate"): Gaussian noise, Gaussian blur, contrast
reduced towards the image's mean colour, brightness shifted (up or down; the
original only brightens) and JPEG compression. `corruption.json` at the root
records the source, the settings and each file's kind.

The folder is built whole by `atomic.build_folder` and reused through
`atomic.read_or_build` only when its record matches the request and every file
it lists is there; a folder at `out` that is not such a copy is never touched.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from cinic import paths
from cinic.atomic import build_folder, read_or_build, replace_file
from cinic.data.dataset import SPLITS, load_split, resolve_data
from cinic.errors import CinicError

RECORD = "corruption.json"
VERSION = 1  # bump when a corruption's arithmetic changes: older copies are then rebuilt
SEVERITIES = (1, 2, 3, 4, 5)
DEFAULT_SEVERITY = 3

# CIFAR-10-C's parameters per severity 1..5 (Hendrycks & Dietterich, 2019).
NOISE_STD = (0.04, 0.06, 0.08, 0.09, 0.10)        # of the 0..1 range
BLUR_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)            # pixels
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)     # distance to the mean colour kept
BRIGHTNESS_SHIFT = (0.05, 0.1, 0.15, 0.2, 0.3)    # of the 0..1 range
JPEG_QUALITY = (80, 65, 58, 50, 40)


class CorruptError(CinicError):
    """A corruption request that cannot be carried out; the message names the setting or folder."""


def _noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(scale=NOISE_STD[s - 1], size=x.shape)


def _blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(BLUR_SIGMA[s - 1], BLUR_SIGMA[s - 1], 0), mode="reflect")


def _contrast(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(0, 1), keepdims=True)
    return (x - mean) * CONTRAST_FACTOR[s - 1] + mean


def _brightness(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return x + BRIGHTNESS_SHIFT[s - 1] * rng.choice((-1.0, 1.0))


def _jpeg(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(_to_uint8(x)).save(buffer, format="JPEG", quality=JPEG_QUALITY[s - 1])
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255.0


# Each takes and returns H x W x 3 floats in 0..1 (returned values may leave the range: clipped after).
CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _noise, "gaussian_blur": _blur, "contrast": _contrast,
    "brightness": _brightness, "jpeg": _jpeg,
}


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def corrupt_image(picture: np.ndarray, kind: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """One H x W x 3 uint8 picture with corruption `kind` at `severity` (1..5), as uint8."""
    check_request(severity=severity)
    if kind not in CORRUPTIONS:
        raise CorruptError(f"unknown corruption {kind!r}: use one of {', '.join(CORRUPTIONS)}")
    return _to_uint8(CORRUPTIONS[kind](picture.astype(np.float64) / 255.0, severity, rng))


def check_request(split: str = "test", seed: int = 0, severity: int = DEFAULT_SEVERITY) -> None:
    if split not in SPLITS:
        raise CorruptError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CorruptError(f"seed must be a whole number >= 0, got {seed!r}")
    if severity not in SEVERITIES:
        raise CorruptError(f"severity must be one of {', '.join(map(str, SEVERITIES))} "
                           f"(3 is moderate), got {severity!r}")


def corrupt_split(data, out, split: str = "test", seed: int = 0, severity: int = DEFAULT_SEVERITY,
                  progress=None) -> dict:
    """Write (or reuse) the corrupted copy at `out`; returns its record (see the module's doc)."""
    check_request(split, seed, severity)
    source = resolve_data(data, progress)
    out = Path(out).expanduser().resolve()
    if paths.overlap(out, source):
        raise CorruptError(f"--out {out} overlaps the data folder {source}: write the copy elsewhere "
                           "(nothing is ever written into a data folder)")
    wanted = {"version": VERSION, "source": str(source), "split": split, "seed": seed, "severity": severity}
    if out.exists() and _load_record(out) is None and any(out.iterdir()):
        raise CorruptError(f"{out} exists and is not a corrupted copy made by `corrupt`: "
                           "give a new or empty folder to --out")

    def read():
        record = _load_record(out)
        same = record is not None and all(record.get(k) == v for k, v in wanted.items())
        return record if same and _complete(out, record) else None

    def build():
        build_folder(out, lambda folder: _write_copy(folder, source, wanted, progress))
        return _load_record(out)

    # The lock sits beside `out` (read_or_build puts it next to the path it is given), not inside it.
    return read_or_build(out, read, build)


def _load_record(out: Path) -> dict | None:
    """The record of a copy made here, else None (no copy, or a folder of someone else's)."""
    try:
        record = json.loads((out / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def _complete(out: Path, record: dict) -> bool:
    """Every file the record lists is there: a copy damaged since is rebuilt, not used."""
    split = out / str(record.get("split"))
    return all((split / name).is_file() for name in record["files"])


def _write_copy(folder: Path, source: Path, wanted: dict, progress) -> None:
    split, seed, severity = wanted["split"], wanted["seed"], wanted["severity"]
    for other in SPLITS:
        if other != split:
            _copy_split(source / other, folder / other, load_split(source, other, progress).files)
    dataset = load_split(source, split, progress)
    rng = np.random.default_rng(seed)
    kinds = list(CORRUPTIONS)
    files = {}
    for picture, name in zip(dataset.images.permute(0, 2, 3, 1).numpy(), dataset.files):
        kind = kinds[int(rng.integers(len(kinds)))]
        target = folder / split / name
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(corrupt_image(picture, kind, severity, rng)).save(target.with_suffix(".png"), format="PNG")
        files[str(Path(name).with_suffix(".png").as_posix())] = kind
    counts = {k: sum(v == k for v in files.values()) for k in kinds}
    record = dict(wanted, counts=counts, files=files)
    replace_file(folder / RECORD, lambda handle: handle.write(json.dumps(record, indent=1).encode()))


def _copy_split(source: Path, target: Path, files: list[str]) -> None:
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
