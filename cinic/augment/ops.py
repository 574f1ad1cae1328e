"""Augmentor operations as data: one entry per operation, and pipelines checked, loaded and shown.

A pipeline is a JSON-able list of steps such as
``{"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3}``,
using Augmentor's own operation and parameter names. Each operation is ONE
entry of `OPERATIONS`: its parameters with their ranges, how it changes an
image's size, what a small image must still fit for it to work, and how it is
built into the real `Augmentor.Operations` object. `validate_pipeline` checks
every step against its entry before any image is touched; `cinic.augment.sample`
applies, previews and caches.

Augmentor's `Pipeline` methods are not used to build the operations: they
refuse probability 0 (our "off" switch) and its `resize` still evaluates
Pillow's removed ANTIALIAS. The arguments are passed as those methods pass them.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from Augmentor import Operations

from cinic.errors import CinicError

IMAGE_SIDE = 32                 # CINIC-10 images, and what every pipeline must end as
MAX_STEPS = 100                 # steps in one pipeline (the report's has 7)
MAX_PIPELINE_BYTES = 1 << 20    # a pipeline file (a 100-step one is a few kB)
MAX_SIDE = 1024                 # largest side an image may reach inside a pipeline (memory, time)
SEED_SAMPLE_SIZE = 30000        # how many images the report sampled with its pipeline

# Pillow 10 removed ANTIALIAS; it was another name for LANCZOS. Augmentor 0.2.12
# still lists it and evals "Image.ANTIALIAS", which now raises AttributeError.
_FILTER_ALIASES = {"ANTIALIAS": "LANCZOS"}
_FILTERS = ("NEAREST", "BILINEAR", "BICUBIC", "LANCZOS")


class AugmentError(CinicError):
    """A pipeline, a pipeline file or a sampling request that cannot be used, and why."""


# --- what an operation is ------------------------------------------------------------
@dataclass(frozen=True)
class ParamInfo:
    """One parameter of an operation, enough to check it and to draw a widget for it.

    `type` is "float", "int", "bool" or "choice". A required parameter has no
    default in Augmentor; `default` is then a sensible starting value for a
    widget. Numeric bounds are inclusive unless `min_exclusive`/`max_exclusive`.
    """

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[str, ...] = ()
    required: bool = True

    def range_text(self) -> str:
        """The allowed interval in maths notation, e.g. "[0, 1]" or "(1, 4]"."""
        left = "(" if self.min_exclusive else "["
        right = ")" if self.max_exclusive else "]"
        return f"{left}{_number(self.min)}, {_number(self.max)}{right}"

    def allows(self, value: float) -> bool:
        """Whether a number lies inside the bounds."""
        above = value > self.min if self.min_exclusive else value >= self.min
        below = value < self.max if self.max_exclusive else value <= self.max
        return above and below

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OperationInfo:
    """One Augmentor operation, everything about it in one place.

    `build(step)` makes the real Augmentor operation from a checked step.
    `side_after(step, side, smallest)` is the side an image of `side` px has
    after the step: its smallest outcome, or its largest; None means the step
    keeps the size. `too_small(step, side)` says why the step fails on an image
    only `side` px on a side ("and cropping 0.1 of that leaves nothing; ..."),
    or None when it works. `size_note` tells a person what happens to the size
    and the corners, where that is worth knowing.
    """

    name: str                   # Augmentor's Pipeline method: the step's "op"
    title: str                  # the operation in words, for menus
    help: str
    params: tuple[ParamInfo, ...]
    augmentor: str              # the Augmentor method and class it stands for
    build: Callable[[dict], Operations.Operation]
    size_note: str = ""
    side_after: Callable[[dict, int, bool], int] | None = None
    too_small: Callable[[dict, int], str | None] | None = None

    @property
    def changes_size(self) -> bool:
        """Whether the output size may differ from the input's (the final guard fixes it)."""
        return self.side_after is not None

    def param(self, name: str) -> ParamInfo:
        return next(p for p in self.params if p.name == name)

    def example(self) -> dict:
        """A valid step with every parameter at its default, for adding a step in the app."""
        return {"op": self.name, **{p.name: p.default for p in self.params}}

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "help": self.help, "augmentor": self.augmentor,
                "size_note": self.size_note, "changes_size": self.changes_size,
                "params": [p.to_dict() for p in self.params]}


# --- parameters several operations share ---------------------------------------------
def _probability() -> ParamInfo:
    return ParamInfo("probability", "float", 0.5, "chance that the step runs on an image "
                     "(0 turns it off; Augmentor itself refuses 0)", 0.0, 1.0)


def _fraction(default: float) -> ParamInfo:
    return ParamInfo("percentage_area", "float", default,
                     "fraction of each side kept (0.9 keeps 90% of width and height)",
                     0.1, 1.0, max_exclusive=True)


def _randomise() -> ParamInfo:
    return ParamInfo("randomise_percentage_area", "bool", False,
                     "draw the fraction between 0.1 and percentage_area for each image",
                     required=False)


def _factor_pair(what: str, low: float, high: float) -> tuple[ParamInfo, ParamInfo]:
    text = f"0 gives {what}, 1 the original image"
    return (ParamInfo("min_factor", "float", low, f"smallest factor drawn; {text}", 0.0, 5.0),
            ParamInfo("max_factor", "float", high, f"largest factor drawn; {text}", 0.0, 5.0))


# --- sizes and small-image failures (each one Augmentor 0.2.12 hits; tests try 1-40 px) ---
def _crop_fraction(step: dict, smallest: bool) -> float:
    """The fraction of each side a crop keeps: its smallest outcome, or its largest."""
    return 0.1 if smallest and step["randomise_percentage_area"] else step["percentage_area"]


def _cropped_side(step: dict, side: int, smallest: bool) -> int:
    # A centre crop keeping an odd number of pixels of an even side comes out one pixel
    # larger or smaller (Pillow rounds its half-pixel box to even); this ignores that.
    return math.floor(side * _crop_fraction(step, smallest))


def _crop_too_small(step: dict, side: int) -> str | None:
    fraction = _crop_fraction(step, smallest=True)
    if _cropped_side(step, side, smallest=True) < 1:
        return f"and cropping {fraction:g} of that leaves nothing; crop less or resize earlier"
    return None


def _centre_crop_too_small(step: dict, side: int) -> str | None:
    """A crop's check, and one more: Pillow rounds the half-pixel box of a 1 px centre crop to even,
    which on a side of 4k px leaves nothing (the guard then makes a black image)."""
    reason = _crop_too_small(step, side)
    if reason is None and _cropped_side(step, side, smallest=True) < 2:
        fraction = _crop_fraction(step, smallest=True)
        return (f"and cropping the centre {fraction:g} of that keeps 1 px, which Pillow can round "
                "to nothing; crop less or resize earlier")
    return reason


def _scaled_side(step: dict, side: int, smallest: bool) -> int:
    return int(side * step["scale_factor"])


def _resized_side(step: dict, side: int, smallest: bool) -> int:
    sides = (step["width"], step["height"])
    return min(sides) if smallest else max(sides)


def _zoom_too_small(step: dict, side: int) -> str | None:
    if round(side * step["min_factor"]) < 1:
        return f"and zooming by {step['min_factor']:g} leaves nothing; raise min_factor"
    return None


def _distortion_too_small(step: dict, side: int) -> str | None:
    cells = max(step["grid_width"], step["grid_height"])
    if side < cells:
        return (f"fewer than the {cells} grid cells (Augmentor divides by zero); "
                "use a smaller grid or crop less")
    return None


class RotateInside(Operations.RotateRange):
    """Augmentor's RotateRange without its black corner bits.

    RotateRange crops the largest upright rectangle inside the rotated image but rounds its
    edges to the nearest pixel, and bicubic rotation blends the rim with black: on a 32x32
    image small angles left black wedges in the corners (Augmentor's own TODO says so). This
    draws the same random angle, then crops inward (ceil on each side, plus the blended rim).
    """

    def perform_operation(self, images):
        import random

        from PIL import Image

        left, right = random.randint(self.max_left_rotation, 0), random.randint(0, self.max_right_rotation)
        rotation = left if random.randint(0, 1) == 0 else right  # RotateRange's draws, in its order

        def rotate(image):
            if rotation == 0:
                return image
            width, height = image.size
            turned = image.rotate(rotation, expand=True, resample=Image.BICUBIC)
            big_w, big_h = turned.size
            a, b = math.radians(abs(rotation)), math.radians(90 - abs(rotation))
            ratio = math.sin(a) / math.sin(b)
            e = ratio * (big_h - big_w * ratio) - ratio**2  # RotateRange's inner rectangle, unrounded
            top = ratio * (big_w - e)
            box = (math.ceil(e) + 1, math.ceil(top) + 1, math.floor(big_w - e) - 1, math.floor(big_h - top) - 1)
            if box[2] <= box[0] or box[3] <= box[1]:  # a few pixels wide: RotateRange's own rounded box
                box = (round(e), round(top), round(big_w - e), round(big_h - top))
            return turned.crop(box).resize((width, height), resample=Image.BICUBIC)

        return [rotate(image) for image in images]


# --- the operations ------------------------------------------------------------------
_ROTATION = "largest number of degrees to rotate {} (the rotated image is cropped back)"
_SHEAR = "largest shear angle in degrees to the {}"
_SIDE = "new {} in pixels"
_CROP_NOTE = "shrinks: each side keeps percentage_area of its length (the final guard resizes to 32x32)"

_TABLE = (
    OperationInfo(
        "crop_centre", "Crop the centre", "crop the centre of the image",
        (_probability(), _fraction(0.9), _randomise()),
        "Pipeline.crop_centre -> CropPercentage(centre=True)",
        build=lambda s: Operations.CropPercentage(
            s["probability"], s["percentage_area"], centre=True,
            randomise_percentage_area=s["randomise_percentage_area"]),
        size_note=_CROP_NOTE, side_after=_cropped_side, too_small=_centre_crop_too_small),
    OperationInfo(
        "crop_random", "Crop a random part", "crop a random part of the image",
        (_probability(), _fraction(0.9), _randomise()),
        "Pipeline.crop_random -> CropPercentage(centre=False)",
        build=lambda s: Operations.CropPercentage(
            s["probability"], s["percentage_area"], centre=False,
            randomise_percentage_area=s["randomise_percentage_area"]),
        size_note=_CROP_NOTE, side_after=_cropped_side, too_small=_crop_too_small),
    OperationInfo(
        "flip_left_right", "Mirror left to right", "mirror the image left to right", (_probability(),),
        "Pipeline.flip_left_right -> Flip('LEFT_RIGHT')",
        build=lambda s: Operations.Flip(s["probability"], "LEFT_RIGHT")),
    OperationInfo(
        "flip_top_bottom", "Mirror top to bottom", "mirror the image top to bottom", (_probability(),),
        "Pipeline.flip_top_bottom -> Flip('TOP_BOTTOM')",
        build=lambda s: Operations.Flip(s["probability"], "TOP_BOTTOM")),
    OperationInfo(
        "rotate", "Rotate by a random angle", "rotate by a random angle, then crop and resize back",
        (_probability(),
         ParamInfo("max_left_rotation", "int", 10, _ROTATION.format("left"), 0, 25),
         ParamInfo("max_right_rotation", "int", 10, _ROTATION.format("right"), 0, 25)),
        "Pipeline.rotate -> RotateInside(RotateRange, its crop made exact: no black corner bits)",
        build=lambda s: RotateInside(s["probability"], s["max_left_rotation"], s["max_right_rotation"]),
        size_note="keeps the size: crops the largest upright rectangle inside the rotated image and "
                  "resizes it back, so no black corners (the edges are lost)"),
    OperationInfo(
        "rotate_random_90", "Rotate by a quarter turn", "rotate by 90, 180 or 270 degrees",
        (_probability(),),
        "Pipeline.rotate_random_90 -> Rotate(-1)",
        build=lambda s: Operations.Rotate(s["probability"], -1),
        # Width and height swap on a non-square image; the tracking follows both sides anyway.
        size_note="keeps the size of a square image (swaps width and height otherwise)"),
    OperationInfo(
        "scale", "Enlarge", "enlarge the whole image (it gets bigger)",
        (_probability(),
         ParamInfo("scale_factor", "float", 1.1, "1.5 makes the image 150% of its size",
                   1.0, 4.0, min_exclusive=True)),
        "Pipeline.scale -> Scale",
        build=lambda s: Operations.Scale(s["probability"], s["scale_factor"]),
        size_note="enlarges: each side grows by scale_factor (the final guard resizes to 32x32)",
        side_after=_scaled_side),
    OperationInfo(
        "zoom", "Zoom into the centre", "zoom into the centre by a random factor, keeping the size",
        (_probability(),
         ParamInfo("min_factor", "float", 1.1, "smallest zoom (below 1 zooms out)",
                   0.0, 4.0, min_exclusive=True),
         ParamInfo("max_factor", "float", 1.5, "largest zoom", 0.0, 4.0, min_exclusive=True)),
        "Pipeline.zoom -> Zoom",
        build=lambda s: Operations.Zoom(s["probability"], s["min_factor"], s["max_factor"]),
        size_note="keeps the size: enlarges, then crops the centre (the edges are lost); "
                  "a factor below 1 leaves a black border",
        too_small=_zoom_too_small),
    OperationInfo(
        "zoom_random", "Zoom into a random part", "zoom into a random part of the image, keeping the size",
        (_probability(), _fraction(0.8), _randomise()),
        "Pipeline.zoom_random -> ZoomRandom",
        build=lambda s: Operations.ZoomRandom(
            s["probability"], s["percentage_area"], s["randomise_percentage_area"]),
        size_note="keeps the size: crops a random part and resizes it back (the rest is lost)"),
    OperationInfo(
        "random_brightness", "Change the brightness", "change brightness by a random factor",
        (_probability(), *_factor_pair("a black image", 0.5, 1.5)),
        "Pipeline.random_brightness -> RandomBrightness",
        build=lambda s: Operations.RandomBrightness(s["probability"], s["min_factor"], s["max_factor"])),
    OperationInfo(
        "random_contrast", "Change the contrast", "change contrast by a random factor",
        (_probability(), *_factor_pair("a solid grey image", 0.5, 1.5)),
        "Pipeline.random_contrast -> RandomContrast",
        build=lambda s: Operations.RandomContrast(s["probability"], s["min_factor"], s["max_factor"])),
    OperationInfo(
        "random_color", "Change the colour saturation", "change colour saturation by a random factor",
        (_probability(), *_factor_pair("a black and white image", 0.5, 1.5)),
        "Pipeline.random_color -> RandomColor",
        build=lambda s: Operations.RandomColor(s["probability"], s["min_factor"], s["max_factor"])),
    OperationInfo(
        "skew", "Tilt in perspective", "tilt the image in perspective, in a random direction",
        (_probability(),
         ParamInfo("magnitude", "float", 1.0, "largest tilt (1 is 45 degrees)",
                   0.0, 1.0, min_exclusive=True, required=False)),
        "Pipeline.skew -> Skew('RANDOM')",
        build=lambda s: Operations.Skew(s["probability"], "RANDOM", s["magnitude"]),
        size_note="keeps the size: pulls a side or corner outwards, so no black corners "
                  "(what is pulled past the edge is lost)"),
    OperationInfo(
        "shear", "Slant (shear)", "shear along x or y by a random angle",
        (_probability(),
         ParamInfo("max_shear_left", "float", 10.0, _SHEAR.format("left"), 0.0, 25.0, min_exclusive=True),
         ParamInfo("max_shear_right", "float", 10.0, _SHEAR.format("right"), 0.0, 25.0, min_exclusive=True)),
        "Pipeline.shear -> Shear",
        build=lambda s: Operations.Shear(s["probability"], s["max_shear_left"], s["max_shear_right"]),
        size_note="keeps the size: crops the largest upright rectangle inside the slanted image and "
                  "resizes it back, so no black corners"),
    OperationInfo(
        "random_distortion", "Distort elastically", "elastic distortion on a grid",
        (_probability(),
         ParamInfo("grid_width", "int", 4, "grid cells across (more cells, finer distortion)", 1, 16),
         ParamInfo("grid_height", "int", 4, "grid cells down", 1, 16),
         ParamInfo("magnitude", "int", 2, "pixels each grid point may move", 0, 16)),
        "Pipeline.random_distortion -> Distort",
        build=lambda s: Operations.Distort(
            s["probability"], s["grid_width"], s["grid_height"], s["magnitude"]),
        size_note="keeps the size; a magnitude near a grid cell's size (32 px / cells) folds black "
                  "in from beyond the edges",
        too_small=_distortion_too_small),
    OperationInfo(
        "random_erasing", "Erase a random rectangle", "replace a random rectangle with noise",
        (_probability(),
         ParamInfo("rectangle_area", "float", 0.3,
                   "largest side of the rectangle as a fraction of the image's side "
                   "(Augmentor accepts 0.01 but fails below 0.1)", 0.1, 1.0)),
        "Pipeline.random_erasing -> RandomErasing",
        build=lambda s: Operations.RandomErasing(s["probability"], s["rectangle_area"])),
    OperationInfo(
        "greyscale", "Convert to greyscale", "convert to shades of grey", (_probability(),),
        "Pipeline.greyscale -> Greyscale",
        build=lambda s: Operations.Greyscale(s["probability"]),
        size_note="keeps the size; one channel (the final guard makes it RGB again)"),
    OperationInfo(
        "resize", "Resize to a fixed size", "resize to a fixed width and height",
        (_probability(),
         ParamInfo("width", "int", IMAGE_SIDE, _SIDE.format("width"), 2, 512),
         ParamInfo("height", "int", IMAGE_SIDE, _SIDE.format("height"), 2, 512),
         ParamInfo("resample_filter", "choice", "BICUBIC",
                   "Pillow filter (ANTIALIAS, removed from Pillow, is read as LANCZOS)",
                   choices=_FILTERS, required=False)),
        "Pipeline.resize -> Resize",
        build=lambda s: Operations.Resize(s["probability"], s["width"], s["height"], s["resample_filter"]),
        size_note="any size: width x height, stretched if the shape differs "
                  "(the final guard resizes to 32x32)",
        side_after=_resized_side),
)

OPERATIONS: dict[str, OperationInfo] = {info.name: info for info in _TABLE}

# The report's pipeline, argument for argument (Augmentor fills the rest with its defaults).
SEED_PIPELINE: tuple[dict, ...] = (
    {"op": "crop_centre", "probability": 0.5, "percentage_area": 0.9},
    {"op": "flip_left_right", "probability": 0.5},
    {"op": "scale", "probability": 0.5, "scale_factor": 1.1},
    {"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3},
    {"op": "random_brightness", "probability": 0.2, "min_factor": 0.3, "max_factor": 0.7},
    {"op": "resize", "probability": 1.0, "width": 32, "height": 32},
)


def report_image_count(data_root) -> int:
    """How many Augmentor images the report's recipe adds to a data set: a third of its training split
    (30,000 to CINIC-10's 90,000), counted from the files of <data_root>/train/<class>/."""
    from cinic.data.dataset import is_litter

    train = Path(data_root) / "train"
    count = sum(1 for folder in (train.iterdir() if train.is_dir() else ()) if folder.is_dir()
                for entry in os.scandir(folder) if entry.is_file() and not is_litter(entry.name))
    return count // 3


def build_operations(steps: Sequence[Mapping]) -> list[tuple[str, Operations.Operation]]:
    """(operation name, real Augmentor operation) for each step, after validating them."""
    return [(step["op"], OPERATIONS[step["op"]].build(step)) for step in validate_pipeline(steps)]


# --- checking a pipeline -----------------------------------------------------------
def validate_pipeline(steps: Sequence[Mapping]) -> list[dict]:
    """The steps with every parameter checked and defaults filled, or an AugmentError.

    Checks types and ranges, min_factor <= max_factor, and that no step can
    meet an image too small for it or too big to handle (crops shrink images,
    `scale` grows them). Numbers come back as float or int per parameter, so
    the result is stable JSON (it goes into run configs and cache keys).
    """
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
        raise AugmentError(f"a pipeline is a list of steps like {_EXAMPLE}, "
                           f"got {type(steps).__name__}")
    if len(steps) > MAX_STEPS:  # every run's config.json holds its pipeline
        raise AugmentError(f"a pipeline of {len(steps):,} steps is more than the {MAX_STEPS} allowed; "
                           "a real one has a handful")
    normalised = [_validate_step(number, step) for number, step in enumerate(steps, start=1)]
    _check_image_sizes(normalised)
    return normalised


_EXAMPLE = '{"op": "flip_left_right", "probability": 0.5}'


def _validate_step(number: int, step: Any) -> dict:
    if not isinstance(step, Mapping):
        raise AugmentError(f"step {number}: expected an object like {_EXAMPLE}, "
                           f"got {type(step).__name__} {step!r}")
    name = step.get("op")
    if not isinstance(name, str):
        raise AugmentError(f'step {number}: "op" must name the operation, got {name!r}; '
                           f"known operations: {', '.join(OPERATIONS)}")
    if name not in OPERATIONS:
        raise AugmentError(f"step {number}: unknown operation {name!r}{_did_you_mean(name)}; "
                           f"known operations: {', '.join(OPERATIONS)}")
    info = OPERATIONS[name]
    where = f"step {number} ({name})"
    unknown = [key for key in step if key != "op" and key not in {p.name for p in info.params}]
    if unknown:
        raise AugmentError(f"{where}: unknown parameter {unknown[0]!r}; {name} takes "
                           f"{', '.join(p.name for p in info.params)}")
    normalised = {"op": name}
    for param in info.params:
        if param.name in step:
            normalised[param.name] = _check_value(where, param, step[param.name])
        elif param.required:
            raise AugmentError(f"{where}: missing parameter {param.name!r} "
                               f"({_kind(param)}, e.g. {param.default!r})")
        else:
            normalised[param.name] = param.default
    if normalised.get("min_factor", 0) > normalised.get("max_factor", math.inf):
        raise AugmentError(f"{where}: min_factor {_number(normalised['min_factor'])} is greater "
                           f"than max_factor {_number(normalised['max_factor'])}")
    return normalised


def _did_you_mean(name: Any) -> str:
    close = difflib.get_close_matches(str(name), OPERATIONS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(param: ParamInfo) -> str:
    if param.type == "bool":
        return "true or false"
    if param.type == "choice":
        return "one of " + ", ".join(param.choices)
    noun = "a whole number" if param.type == "int" else "a number"
    return f"{noun} in {param.range_text()}"


def _check_value(where: str, param: ParamInfo, value: Any) -> Any:
    """The value converted to the parameter's type, or an AugmentError saying what is wrong."""
    if param.type == "bool":
        if not isinstance(value, bool):
            raise AugmentError(f"{where}: {param.name} must be true or false, got {value!r}")
        return value
    if param.type == "choice":
        chosen = _FILTER_ALIASES.get(str(value).upper(), str(value).upper())
        if not isinstance(value, str) or chosen not in param.choices:
            raise AugmentError(f"{where}: {param.name} must be {_kind(param)}, got {value!r}")
        return chosen
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AugmentError(f"{where}: {param.name} must be {_kind(param)}, "
                           f"got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise AugmentError(f"{where}: {param.name} must be {_kind(param)}, got {value!r}")
    if param.type == "int":
        if value != int(value):
            raise AugmentError(f"{where}: {param.name} must be {_kind(param)}, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if not param.allows(value):
        raise AugmentError(f"{where}: {param.name} {_number(value)} is outside {param.range_text()}")
    return value


def _number(value: float) -> str:
    """1.0 -> "1", 1.5 -> "1.5", -5 -> "-5": numbers as a person writes them."""
    return format(value, "g") if isinstance(value, float) else str(value)


def _check_image_sizes(steps: list[dict]) -> None:
    """Refuse pipelines whose steps can meet an image they fail on, before anything runs.

    Follows the smallest and the largest side an image can have after each step
    (a step with probability below 1 may or may not run), starting from 32x32.
    """
    smallest = largest = IMAGE_SIDE
    for number, step in enumerate(steps, start=1):
        info = OPERATIONS[step["op"]]
        where = f"step {number} ({step['op']})"
        reason = info.too_small(step, smallest) if info.too_small else None
        if reason:
            raise AugmentError(f"{where}: images may be only {smallest} px on a side when this step "
                               f"runs, {reason}")
        if step["probability"] == 0 or not info.changes_size:
            continue
        new_smallest, new_largest = info.side_after(step, smallest, True), info.side_after(step, largest, False)
        if step["probability"] < 1:
            new_smallest, new_largest = min(smallest, new_smallest), max(largest, new_largest)
        smallest, largest = new_smallest, new_largest
        if largest > MAX_SIDE:
            raise AugmentError(f"{where}: images can grow to {largest} px here; "
                               f"keep them under {MAX_SIDE} px (lower scale_factor, or resize earlier)")


# --- loading and showing a pipeline ---------------------------------------------------
def load_pipeline(spec: str | os.PathLike | Sequence[Mapping] | Mapping) -> list[dict]:
    """Validated steps from "report" (or its old name "seed"), "none", a JSON file path, a list of steps or {"steps": [...]}.

    A JSON file holds either a list of steps or an object with a "steps" list.
    """
    if isinstance(spec, Mapping):
        return validate_pipeline(_steps_of(spec, "the pipeline"))
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return validate_pipeline(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise AugmentError(f"a pipeline is 'report', 'none', a JSON file or a list of steps, "
                           f"got {type(spec).__name__}")
    word = str(spec).strip().lower()
    if word in ("report", "seed"):  # "seed": its name before "seed" meant only random seeds
        return validate_pipeline(SEED_PIPELINE)
    if word == "none":
        return []
    return _load_pipeline_file(Path(spec).expanduser())


def _load_pipeline_file(path: Path) -> list[dict]:
    if not path.is_file():
        raise AugmentError(f"pipeline file {path} does not exist; give 'report', 'none' or a JSON "
                           f"file holding a list of steps like [{_EXAMPLE}]")
    try:
        if path.stat().st_size > MAX_PIPELINE_BYTES:
            raise AugmentError(f"pipeline file {path} is {path.stat().st_size:,} bytes, more than the "
                               f"{MAX_PIPELINE_BYTES:,} a pipeline of at most {MAX_STEPS} steps needs")
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AugmentError(f"pipeline file {path} is not valid JSON: {error.msg} "
                           f"at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise AugmentError(f"pipeline file {path} nests lists or objects too deeply to be a pipeline") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AugmentError(f"pipeline file {path} cannot be read: {error}") from None
    steps = _steps_of(data, f"pipeline file {path}") if isinstance(data, Mapping) else data
    try:
        return validate_pipeline(steps)
    except AugmentError as error:
        raise AugmentError(f"pipeline file {path}: {error}") from None


def _steps_of(data: Mapping, where: str) -> Any:
    if "steps" not in data:
        raise AugmentError(f'{where} is an object without "steps"; give a list of steps '
                           f'or {{"steps": [{_EXAMPLE}]}}')
    return data["steps"]


MAX_AUGMENT_N = 2_000_000  # 22 times CINIC-10's training split; 6 GB of pixels


def check_sample_size(n: int, cache: Path) -> None:
    """AugmentError unless `n` augmented 32x32 images fit the limit, this machine's memory (they are
    held twice while joined to the training images) and the cache's free disk space."""
    need = n * 3 * IMAGE_SIDE * IMAGE_SIDE
    if n > MAX_AUGMENT_N:
        raise AugmentError(f"augment N {n:,} is more than the {MAX_AUGMENT_N:,} allowed")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    if memory and 2 * need > memory:
        raise AugmentError(f"augment N {n:,} needs about {2 * need / 1e9:.1f} GB of memory; this machine has "
                           f"{memory / 1e9:.1f} GB: use a smaller N")
    existing = next((p for p in (cache, *cache.parents) if p.exists()), None)
    if existing is not None:
        import shutil

        free = shutil.disk_usage(existing).free
        if need > free:
            raise AugmentError(f"augment N {n:,} needs about {need / 1e9:.1f} GB in the cache {cache}, which has "
                               f"{free / 1e9:.1f} GB free: use a smaller N or free some space")


def format_pipeline(steps: Sequence[Mapping]) -> str:
    """One line per step, e.g. "1. zoom(probability=0.5, min_factor=1.1, max_factor=1.3)"."""
    if not steps:
        return "(no augmentation)"
    lines = []
    for number, step in enumerate(steps, start=1):
        args = ", ".join(f"{key}={value!r}" for key, value in step.items() if key != "op")
        lines.append(f"{number}. {step['op']}({args})")
    return "\n".join(lines)
