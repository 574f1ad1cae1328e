"""Opening untrusted image files safely, and turning any of them into model input.

Every image this project reads from outside (a data set's PNGs, a file given to
`predict`, an upload in the app) goes through `open_image`: it refuses empty
files, non-images, formats outside `ALLOWED_FORMATS`, files over `MAX_BYTES`,
pictures over `MAX_PIXELS` (checked from the header, before any pixel is
decoded) and truncated files, each with an `ImageError` that names the file and
says what to do. `to_model_input` then makes a 32x32 RGB uint8 array of any
mode or size, and says in plain words what it changed.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps

from cinic.errors import CinicError

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
MAX_PIXELS = 4096 * 4096
MAX_BYTES = 20 * 1024 * 1024
MODEL_SIZE = (32, 32)  # width, height of every CINIC-10 image

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]

# Why a lock: `warnings.catch_warnings` swaps process-wide state and is not
# thread-safe before Python 3.14; only the header parse sits inside it.
_OPEN_LOCK = threading.Lock()

_MODE_NAMES = {
    "1": "black-and-white (1-bit)",
    "L": "grayscale",
    "LA": "grayscale with transparency",
    "La": "grayscale with transparency",
    "P": "palette",
    "PA": "palette with transparency",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGBX",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "LAB": "LAB",
    "HSV": "HSV",
    "I": "32-bit integer grayscale",
    "I;16": "16-bit grayscale",
    "I;16L": "16-bit grayscale",
    "I;16B": "16-bit grayscale",
    "I;16N": "16-bit grayscale",
    "F": "32-bit float grayscale",
}


class ImageError(CinicError):
    """An image file we refuse to read; the message names it and says what to do."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an image says, read without decoding its pixels."""

    format: str
    width: int
    height: int
    mode: str


def _allowed_list() -> str:
    return ", ".join(ALLOWED_FORMATS[:-1]) + " or " + ALLOWED_FORMATS[-1]


def _describe_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _read_bounded(src: ImageSource, name: str) -> bytes:
    """All bytes of `src`, refusing empty and over-large inputs before reading them."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        data = _read_file_bounded(Path(src), name)
    else:
        data = src.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ImageError(
            f"{name} is more than the {_describe_bytes(MAX_BYTES)} allowed for one image: "
            "use a smaller file."
        )
    if not data:
        raise ImageError(f"{name} is empty (0 bytes), so it holds no image: choose a {_allowed_list()} file.")
    return data


def _read_file_bounded(path: Path, name: str) -> bytes:
    try:
        if path.is_dir():
            raise ImageError(f"{name} is a folder, not an image file: give the path of one image.")
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a link to /dev/zero reads forever, a fifo blocks forever
            raise ImageError(f"{name} is not a regular file (a device, pipe or socket): give an image file.")
        size = info.st_size
        if size > MAX_BYTES:  # refuse by size before reading a byte
            raise ImageError(
                f"{name} is {_describe_bytes(size)}, more than the {_describe_bytes(MAX_BYTES)} "
                "allowed for one image: use a smaller file."
            )
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)  # bounded even if the file grows after the check
    except FileNotFoundError:
        raise ImageError(f"no such file: {name}: check the path.") from None
    except PermissionError:
        raise ImageError(f"{name} cannot be read (permission denied): check its permissions.") from None


def _default_name(src: ImageSource) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    return str(getattr(src, "name", None) or "the given file")


def _format_by_signature(prefix: bytes) -> str | None:
    """Which Pillow format the first bytes announce, by magic number only (no parsing)."""
    Image.init()
    for format_name, (_factory, accept) in Image.OPEN.items():
        try:
            result = accept(prefix) if accept is not None else False
        except Exception:  # a plugin's signature test failing means "not this format"
            continue
        if result and not isinstance(result, str):  # a str is Pillow's "maybe" warning
            return format_name
    return None


def _open_header(data: bytes, name: str) -> Image.Image:
    """Parse the header only; refuse unknown formats and oversized pictures."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.UnidentifiedImageError:
        found = _format_by_signature(data[:16])
        if found is not None:
            raise ImageError(
                f"{name} is in {found} format, which is not accepted: convert it to PNG or JPEG "
                f"(accepted: {_allowed_list()})."
            ) from None
        raise ImageError(
            f"{name} is not an image file (or not one Pillow can read): choose a {_allowed_list()} file."
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        # Pillow's own limit (about 89 megapixels), above ours: its message speaks of "DOS attacks".
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        raise ImageError(_too_many_pixels(name, int(claimed.group(1)) if claimed else None)) from None
    except Exception as err:  # a malformed header: Pillow raises many kinds
        raise ImageError(f"{name} has a damaged header ({err}): re-export or re-download it.") from None
    _check_pixels(img.size, name)
    return img


def limits_in_words() -> str:
    """The size limits of one image, as the Classify page states them."""
    side = int(MAX_PIXELS**0.5)
    return f"at most {MAX_BYTES // 2**20} MB and {MAX_PIXELS / 1e6:.1f} megapixels ({side}x{side}) each"


def _too_many_pixels(name: str, pixels: int | None, size: tuple[int, int] | None = None) -> str:
    """Plain words for a picture with too many pixels (refused from its header, nothing decoded)."""
    side = int(MAX_PIXELS**0.5)
    count = f"{pixels / 1e6:.1f} megapixels" if pixels else "more pixels than Pillow allows"
    if size:
        count = f"{size[0]}x{size[1]} pixels, {count}"
    return (f"{name} is too large a picture ({count}); at most {MAX_PIXELS / 1e6:.1f} megapixels "
            f"({side}x{side}) are accepted: shrink it, then try again.")


def _check_pixels(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(_too_many_pixels(name, width * height, (width, height)))
    if width < 1 or height < 1:
        raise ImageError(f"{name} claims a size of {width}x{height}: it is damaged, re-export it.")


def probe_image(src: ImageSource, name: str | None = None) -> ImageInfo:
    """Format, size and mode from the header alone, with every check but truncation."""
    name = name or _default_name(src)
    img = _open_header(_read_bounded(src, name), name)
    return ImageInfo(img.format or "?", img.width, img.height, img.mode)


def open_image(src: ImageSource, name: str | None = None) -> Image.Image:
    """A fully decoded image from a path, bytes or file-like, or an `ImageError`.

    Multi-frame files (animated GIF, WEBP, multi-page TIFF) give their first
    frame; `n_frames` on the result still says how many there were.
    """
    name = name or _default_name(src)
    img = _open_header(_read_bounded(src, name), name)
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()  # force the decode here, so truncation surfaces as ImageError
    except Exception as err:  # truncated or corrupt data: Pillow raises many kinds
        raise ImageError(
            f"{name} is truncated or corrupt and cannot be decoded ({err}): "
            "re-download or re-export it."
        ) from None
    return img


def _mode_words(mode: str) -> str:
    """"palette (P)", or "RGBA" alone where the mode has no other name ("RGBA (RGBA)" said it twice)."""
    name = _MODE_NAMES.get(mode, mode)
    return name if name == mode else f"{name} ({mode})"


def _scale_to_uint8(img: Image.Image, notes: list[str]) -> Image.Image:
    """High bit-depth grayscale to 8 bits by its real range (Pillow's convert clips). A float image's
    NaN and infinite pixels carry no value: they are drawn black, and one with no other is refused."""
    values = np.asarray(img).astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        if not finite.any():
            raise ImageError("this image has no valid pixels: every value is NaN or infinite (a float image "
                             "saved from a failed computation?); save it with real values")
        notes.append(f"{(~finite).sum():,} pixels not finite (NaN or infinite), drawn black")
        values = np.where(finite, values, values[finite].min())
    if img.mode.startswith("I;16"):
        top = 65535.0
    elif img.mode == "F" and values.min() >= 0.0 and values.max() <= 1.0:
        top = 1.0
    elif values.min() >= 0.0 and values.max() <= 255.0:
        top = 255.0
    elif values.min() >= 0.0 and values.max() <= 65535.0:
        top = 65535.0
    else:  # unusual range: stretch what is there onto 0..255
        low, high = values.min(), values.max()
        values = values - low
        top = max(high - low, 1e-12)
    return Image.fromarray(np.clip(np.rint(values / top * 255.0), 0, 255).astype(np.uint8))


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        notes.append(f"converted from {_mode_words(mode)} to 8-bit RGB")
        return _scale_to_uint8(img, notes).convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        notes.append(f"converted from {_mode_words(mode)} to RGB, transparent parts made white")
        return _composite_on_white(img)
    notes.append(f"converted from {_mode_words(mode)} to RGB")
    try:
        return img.convert("RGB")
    except ValueError as err:  # a mode Pillow cannot map to RGB, e.g. some LAB TIFFs
        raise ImageError(f"an image in {mode} mode cannot be converted to RGB ({err}): save it as RGB.") from None


def _upright(img: Image.Image, notes: list[str]) -> Image.Image:
    """Turn camera photos the way the EXIF orientation says they are seen."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: leave the picture as stored
        return img
    if orientation in (None, 1):
        return img
    notes.append(f"turned upright as its EXIF orientation ({orientation}) asks")
    return ImageOps.exif_transpose(img)


def _resize(img: Image.Image, notes: list[str], fit: str = "squeeze") -> Image.Image:
    if img.size == MODEL_SIZE:
        return img
    width, height = img.size
    notes.append(f"resized from {width}x{height} to {MODEL_SIZE[0]}x{MODEL_SIZE[1]}")
    if width != height and fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
        notes.append(f"the {width}x{height} picture is not square, so its centre {side}x{side} was kept")
    elif width != height:
        notes.append(f"the {width}x{height} picture is not square, so it was squeezed to fit")
    # LANCZOS is antialiased when shrinking; reducing_gap first box-shrinks big photos, fast.
    return img.resize(MODEL_SIZE, Image.Resampling.LANCZOS, reducing_gap=3.0)


FITS = ("squeeze", "crop")  # a non-square picture: squeezed whole into the square, or its centre square kept


def to_model_input(img: Image.Image, fit: str = "squeeze") -> tuple[np.ndarray, list[str]]:
    """A 32x32x3 uint8 RGB array of any decoded image, and notes on what was changed.

    `fit` says what becomes of a non-square picture: "squeeze" keeps all of it, distorted (as
    CINIC-10's own images were made), "crop" keeps its centre square undistorted."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    notes: list[str] = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notes.append(f"used the first of {frames} frames")
    img = _upright(img, notes)
    img = _to_rgb(img, notes)
    img = _resize(img, notes, fit)
    array = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(array), notes


DISPLAY_SIDE = 640  # the longest side of an image shown beside its prediction
DISPLAY_RATIO = 8   # a longer strip is shown centred on a grey band this many times as long as it is high


def display_image(img: Image.Image) -> Image.Image:
    """An RGB copy of any image `open_image` accepts that every page can show: upright, at most
    DISPLAY_SIDE on its longest side, and no thinner than 1:DISPLAY_RATIO (a 70000x200 strip can
    neither be encoded for the browser whole nor scaled down to a width without vanishing)."""
    shown = _to_rgb(_upright(img, []), [])
    width, height = shown.size
    scale = min(1.0, DISPLAY_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != shown.size:
        shown = shown.resize(size, Image.Resampling.LANCZOS)
    band = (max(size[0], -(-size[1] // DISPLAY_RATIO)), max(size[1], -(-size[0] // DISPLAY_RATIO)))
    if band == size:
        return shown
    canvas = Image.new("RGB", band, (128, 128, 128))
    canvas.paste(shown, ((band[0] - size[0]) // 2, (band[1] - size[1]) // 2))
    return canvas


def decode_chunk(paths: list[str]) -> tuple[np.ndarray, list[tuple[int, str]], int]:
    """Decode image files into an N x 32 x 32 x 3 uint8 array (a worker's share).

    Returns the array, (index, message) for each file that failed (its rows
    stay zero) and how many images had to be converted or resized. Lives here,
    away from torch, so worker processes start quickly.
    """
    out = np.zeros((len(paths), MODEL_SIZE[1], MODEL_SIZE[0], 3), dtype=np.uint8)
    errors: list[tuple[int, str]] = []
    adjusted = 0
    for index, path in enumerate(paths):
        try:
            array, notes = to_model_input(open_image(path))
        except ImageError as err:
            errors.append((index, str(err)))
            continue
        out[index] = array
        adjusted += bool(notes)
    return out, errors, adjusted


def probe_chunk(paths: list[str]) -> list[ImageInfo | str]:
    """Header facts for each file, or the `ImageError` message (a worker's share)."""
    results: list[ImageInfo | str] = []
    for path in paths:
        try:
            results.append(probe_image(path))
        except ImageError as err:
            results.append(str(err))
    return results
