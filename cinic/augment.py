"""Augmentor pipelines as data: describe, check, preview, and sample N images into a cache.

A pipeline is a JSON-able list of steps such as
``{"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3}``,
using Augmentor's own operation and parameter names. `validate_pipeline`
checks every parameter before any image is touched; the steps are then built
into the real `Augmentor.Operations` objects and applied to PIL images in
memory, the way Augmentor's `Pipeline.torch_transform` does. Augmentor's
`Pipeline` itself is never used: its `sample()` writes an `output/` folder into
the training data, which is how the seed project grew an extra class.

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
import dataclasses
import difflib
import hashlib
import json
import math
import multiprocessing
import os
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
from cinic.atomic import replace_file
from cinic.errors import CinicError

if TYPE_CHECKING:
    import torch

IMAGE_SIDE = 32                 # CINIC-10 images, and what every pipeline must end as
MAX_SIDE = 1024                 # largest side an image may reach inside a pipeline (memory, time)
CHUNK_SIZE = 256                # images per reproducibility unit; changing it changes the samples
PREVIEW_GAP = 2                 # pixels between tiles in a preview grid (before upscaling)
CACHE_FORMAT = 1                # bump when the cache file layout or the guard changes
SEED_SAMPLE_SIZE = 30000        # how many images the report sampled with its pipeline

# Pillow 10 removed ANTIALIAS; it was another name for LANCZOS. Augmentor 0.2.12
# still lists it and evals "Image.ANTIALIAS", which now raises AttributeError.
_FILTER_ALIASES = {"ANTIALIAS": "LANCZOS"}
_FILTERS = ("NEAREST", "BILINEAR", "BICUBIC", "LANCZOS")


class AugmentError(CinicError):
    """A pipeline, a pipeline file or a sampling request that cannot be used, and why."""


# --- what each operation takes -------------------------------------------------------
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
    """An operation: its Augmentor name, what it does, and its parameters (probability first)."""

    name: str
    help: str
    params: tuple[ParamInfo, ...]
    augmentor: str              # the Augmentor method and class it stands for
    changes_size: bool = False  # output size may differ from the input's (the guard fixes it)

    def param(self, name: str) -> ParamInfo:
        return next(p for p in self.params if p.name == name)

    def example(self) -> dict:
        """A valid step with every parameter at its default, for adding a step in the app."""
        return {"op": self.name, **{p.name: p.default for p in self.params}}

    def to_dict(self) -> dict:
        return {"name": self.name, "help": self.help, "augmentor": self.augmentor,
                "changes_size": self.changes_size, "params": [p.to_dict() for p in self.params]}


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


def _operations() -> dict[str, OperationInfo]:
    rotation = "largest number of degrees to rotate {} (the rotated image is cropped back)"
    shear = "largest shear angle in degrees to the {}"
    side = "new {} in pixels"
    infos = [
        OperationInfo("crop_centre", "crop the centre of the image", (
            _probability(), _fraction(0.9), _randomise()),
            "Pipeline.crop_centre -> CropPercentage(centre=True)", changes_size=True),
        OperationInfo("crop_random", "crop a random part of the image", (
            _probability(), _fraction(0.9), _randomise()),
            "Pipeline.crop_random -> CropPercentage(centre=False)", changes_size=True),
        OperationInfo("flip_left_right", "mirror the image left to right", (_probability(),),
                      "Pipeline.flip_left_right -> Flip('LEFT_RIGHT')"),
        OperationInfo("flip_top_bottom", "mirror the image top to bottom", (_probability(),),
                      "Pipeline.flip_top_bottom -> Flip('TOP_BOTTOM')"),
        OperationInfo("rotate", "rotate by a random angle, then crop and resize back", (
            _probability(),
            ParamInfo("max_left_rotation", "int", 10, rotation.format("left"), 0, 25),
            ParamInfo("max_right_rotation", "int", 10, rotation.format("right"), 0, 25)),
            "Pipeline.rotate -> RotateRange"),
        OperationInfo("rotate_random_90", "rotate by 90, 180 or 270 degrees", (_probability(),),
                      "Pipeline.rotate_random_90 -> Rotate(-1)"),
        OperationInfo("scale", "enlarge the whole image (it gets bigger)", (
            _probability(),
            ParamInfo("scale_factor", "float", 1.1, "1.5 makes the image 150% of its size",
                      1.0, 4.0, min_exclusive=True)),
            "Pipeline.scale -> Scale", changes_size=True),
        OperationInfo("zoom", "zoom into the centre by a random factor, keeping the size", (
            _probability(),
            ParamInfo("min_factor", "float", 1.1, "smallest zoom (below 1 zooms out)",
                      0.0, 4.0, min_exclusive=True),
            ParamInfo("max_factor", "float", 1.5, "largest zoom", 0.0, 4.0, min_exclusive=True)),
            "Pipeline.zoom -> Zoom"),
        OperationInfo("zoom_random", "zoom into a random part of the image, keeping the size", (
            _probability(), _fraction(0.8), _randomise()),
            "Pipeline.zoom_random -> ZoomRandom"),
        OperationInfo("random_brightness", "change brightness by a random factor", (
            _probability(), *_factor_pair("a black image", 0.5, 1.5)),
            "Pipeline.random_brightness -> RandomBrightness"),
        OperationInfo("random_contrast", "change contrast by a random factor", (
            _probability(), *_factor_pair("a solid grey image", 0.5, 1.5)),
            "Pipeline.random_contrast -> RandomContrast"),
        OperationInfo("random_color", "change colour saturation by a random factor", (
            _probability(), *_factor_pair("a black and white image", 0.5, 1.5)),
            "Pipeline.random_color -> RandomColor"),
        OperationInfo("skew", "tilt the image in perspective, in a random direction", (
            _probability(),
            ParamInfo("magnitude", "float", 1.0, "largest tilt (1 is 45 degrees)",
                      0.0, 1.0, min_exclusive=True, required=False)),
            "Pipeline.skew -> Skew('RANDOM')"),
        OperationInfo("shear", "shear along x or y by a random angle", (
            _probability(),
            ParamInfo("max_shear_left", "float", 10.0, shear.format("left"), 0.0, 25.0,
                      min_exclusive=True),
            ParamInfo("max_shear_right", "float", 10.0, shear.format("right"), 0.0, 25.0,
                      min_exclusive=True)),
            "Pipeline.shear -> Shear"),
        OperationInfo("random_distortion", "elastic distortion on a grid", (
            _probability(),
            ParamInfo("grid_width", "int", 4, "grid cells across (more cells, finer distortion)",
                      1, 16),
            ParamInfo("grid_height", "int", 4, "grid cells down", 1, 16),
            ParamInfo("magnitude", "int", 2, "pixels each grid point may move", 0, 16)),
            "Pipeline.random_distortion -> Distort"),
        OperationInfo("random_erasing", "replace a random rectangle with noise", (
            _probability(),
            ParamInfo("rectangle_area", "float", 0.3,
                      "largest side of the rectangle as a fraction of the image's side "
                      "(Augmentor accepts 0.01 but fails below 0.1)", 0.1, 1.0)),
            "Pipeline.random_erasing -> RandomErasing"),
        OperationInfo("greyscale", "convert to shades of grey", (_probability(),),
                      "Pipeline.greyscale -> Greyscale"),
        OperationInfo("resize", "resize to a fixed width and height", (
            _probability(),
            ParamInfo("width", "int", IMAGE_SIDE, side.format("width"), 2, 512),
            ParamInfo("height", "int", IMAGE_SIDE, side.format("height"), 2, 512),
            ParamInfo("resample_filter", "choice", "BICUBIC",
                      "Pillow filter (ANTIALIAS, removed from Pillow, is read as LANCZOS)",
                      choices=_FILTERS, required=False)),
            "Pipeline.resize -> Resize", changes_size=True),
    ]
    return {info.name: info for info in infos}


OPERATIONS: dict[str, OperationInfo] = _operations()

# The report's pipeline, argument for argument (Augmentor fills the rest with its defaults).
SEED_PIPELINE: tuple[dict, ...] = (
    {"op": "crop_centre", "probability": 0.5, "percentage_area": 0.9},
    {"op": "flip_left_right", "probability": 0.5},
    {"op": "scale", "probability": 0.5, "scale_factor": 1.1},
    {"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3},
    {"op": "random_brightness", "probability": 0.2, "min_factor": 0.3, "max_factor": 0.7},
    {"op": "resize", "probability": 1.0, "width": 32, "height": 32},
)

# The real Augmentor operation for each step (arguments as Augmentor's Pipeline methods pass them).
_BUILDERS: dict[str, Callable[[dict], Operations.Operation]] = {
    "crop_centre": lambda s: Operations.CropPercentage(
        s["probability"], s["percentage_area"], centre=True,
        randomise_percentage_area=s["randomise_percentage_area"]),
    "crop_random": lambda s: Operations.CropPercentage(
        s["probability"], s["percentage_area"], centre=False,
        randomise_percentage_area=s["randomise_percentage_area"]),
    "flip_left_right": lambda s: Operations.Flip(s["probability"], "LEFT_RIGHT"),
    "flip_top_bottom": lambda s: Operations.Flip(s["probability"], "TOP_BOTTOM"),
    "rotate": lambda s: Operations.RotateRange(
        s["probability"], s["max_left_rotation"], s["max_right_rotation"]),
    "rotate_random_90": lambda s: Operations.Rotate(s["probability"], -1),
    "scale": lambda s: Operations.Scale(s["probability"], s["scale_factor"]),
    "zoom": lambda s: Operations.Zoom(s["probability"], s["min_factor"], s["max_factor"]),
    "zoom_random": lambda s: Operations.ZoomRandom(
        s["probability"], s["percentage_area"], s["randomise_percentage_area"]),
    "random_brightness": lambda s: Operations.RandomBrightness(
        s["probability"], s["min_factor"], s["max_factor"]),
    "random_contrast": lambda s: Operations.RandomContrast(
        s["probability"], s["min_factor"], s["max_factor"]),
    "random_color": lambda s: Operations.RandomColor(
        s["probability"], s["min_factor"], s["max_factor"]),
    "skew": lambda s: Operations.Skew(s["probability"], "RANDOM", s["magnitude"]),
    "shear": lambda s: Operations.Shear(s["probability"], s["max_shear_left"], s["max_shear_right"]),
    "random_distortion": lambda s: Operations.Distort(
        s["probability"], s["grid_width"], s["grid_height"], s["magnitude"]),
    "random_erasing": lambda s: Operations.RandomErasing(s["probability"], s["rectangle_area"]),
    "greyscale": lambda s: Operations.Greyscale(s["probability"]),
    "resize": lambda s: Operations.Resize(s["probability"], s["width"], s["height"],
                                          s["resample_filter"]),
}


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
        _check_step_fits(number, step, smallest)
        if step["probability"] == 0:
            continue
        new_smallest, new_largest = _side_after(step, smallest, True), _side_after(step, largest, False)
        if step["probability"] < 1:
            new_smallest, new_largest = min(smallest, new_smallest), max(largest, new_largest)
        smallest, largest = new_smallest, new_largest
        if largest > MAX_SIDE:
            raise AugmentError(f"step {number} ({step['op']}): images can grow to {largest} px here; "
                               f"keep them under {MAX_SIDE} px (lower scale_factor, or resize earlier)")


def _side_after(step: dict, side: int, smallest: bool) -> int:
    """The side an image of `side` px has after `step` runs: its smallest or largest outcome."""
    op = step["op"]
    if op in ("crop_centre", "crop_random"):
        randomised = smallest and step["randomise_percentage_area"]
        return math.floor(side * (0.1 if randomised else step["percentage_area"]))
    if op == "scale":
        return int(side * step["scale_factor"])
    if op == "resize":
        sides = (step["width"], step["height"])
        return min(sides) if smallest else max(sides)
    return side  # the others keep the size (rotate_random_90 swaps sides; we track both)


def _check_step_fits(number: int, step: dict, smallest: int) -> None:
    """Each failure here is one Augmentor 0.2.12 hits on small images (tested on 1-40 px)."""
    where = f"step {number} ({step['op']})"
    after = f"images may be only {smallest} px on a side when this step runs"
    op = step["op"]
    if op in ("crop_centre", "crop_random"):
        fraction = 0.1 if step["randomise_percentage_area"] else step["percentage_area"]
        if math.floor(smallest * fraction) < 1:
            raise AugmentError(f"{where}: {after}, and cropping {fraction:g} of that leaves nothing; "
                               "crop less or resize earlier")
    if op == "zoom" and round(smallest * step["min_factor"]) < 1:
        raise AugmentError(f"{where}: {after}, and zooming by {step['min_factor']:g} leaves nothing; "
                           "raise min_factor")
    if op == "random_distortion":
        cells = max(step["grid_width"], step["grid_height"])
        if smallest < cells:
            raise AugmentError(f"{where}: {after}, fewer than the {cells} grid cells "
                               "(Augmentor divides by zero); use a smaller grid or crop less")


# --- loading a pipeline ------------------------------------------------------------
def load_pipeline(spec: str | os.PathLike | Sequence[Mapping] | Mapping) -> list[dict]:
    """Validated steps from "seed", "none", a JSON file path, a list of steps or {"steps": [...]}.

    A JSON file holds either a list of steps or an object with a "steps" list.
    """
    if isinstance(spec, Mapping):
        return validate_pipeline(_steps_of(spec, "the pipeline"))
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return validate_pipeline(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise AugmentError(f"a pipeline is 'seed', 'none', a JSON file or a list of steps, "
                           f"got {type(spec).__name__}")
    word = str(spec).strip().lower()
    if word == "seed":
        return validate_pipeline(SEED_PIPELINE)
    if word == "none":
        return []
    return _load_pipeline_file(Path(spec).expanduser())


def _load_pipeline_file(path: Path) -> list[dict]:
    if not path.is_file():
        raise AugmentError(f"pipeline file {path} does not exist; give 'seed', 'none' or a JSON "
                           f"file holding a list of steps like [{_EXAMPLE}]")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AugmentError(f"pipeline file {path} is not valid JSON: {error.msg} "
                           f"at line {error.lineno}, column {error.colno}") from None
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


def format_pipeline(steps: Sequence[Mapping]) -> str:
    """One line per step, e.g. "1. zoom(probability=0.5, min_factor=1.1, max_factor=1.3)"."""
    if not steps:
        return "(no augmentation)"
    lines = []
    for number, step in enumerate(steps, start=1):
        args = ", ".join(f"{key}={value!r}" for key, value in step.items() if key != "op")
        lines.append(f"{number}. {step['op']}({args})")
    return "\n".join(lines)


# --- applying a pipeline -----------------------------------------------------------
def build_operations(steps: Sequence[Mapping]) -> list[tuple[str, Operations.Operation]]:
    """(operation name, real Augmentor operation) for each step, after validating them."""
    return _build_validated(validate_pipeline(steps))


def _build_validated(steps: list[dict]) -> list[tuple[str, Operations.Operation]]:
    return [(step["op"], _BUILDERS[step["op"]](step)) for step in steps]


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
    operations = _build_validated(steps)
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
    `workers` None or 1 runs here, serially; more spreads chunks over a pool of
    spawned processes. Serial is the default because it measured faster: one
    image costs ~80 us, so 30,000 take ~2.5 s, and a pool's start-up and
    copying cost more than it saved on 2 cores (bench/augment_speed.py).
    `progress(done, total)` is called after each chunk.
    """
    steps = validate_pipeline(steps)
    _check_seed(seed)
    images = _as_hwc_uint8(images)
    tasks = [(steps, images[start:start + CHUNK_SIZE], seed, index)
             for index, start in enumerate(range(0, len(images), CHUNK_SIZE))]
    total, done, results = len(images), 0, []
    if progress:
        progress(0, total)
    with _chunk_runner(_worker_count(workers, len(tasks))) as run:
        for result in run(_augment_chunk, tasks):
            results.append(result)
            done += len(result)
            if progress:
                progress(done, total)
    if not results:
        return np.empty((0, IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    return np.concatenate(results)


def _worker_count(workers: int | None, chunks: int) -> int:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise AugmentError(f"workers must be a whole number >= 1 (or None: serial), got {workers!r}")
    return max(1, min(workers or 1, chunks))


@contextlib.contextmanager
def _chunk_runner(workers: int):
    """A `map` over chunks: in this process for one worker, else a pool of spawned processes.

    "spawn", not "fork": forking a process that holds torch's thread pools, or
    the app's threads, can deadlock the child. Tasks carry steps and arrays,
    never closures (Augmentor's torch_transform closure cannot be pickled).
    """
    if workers == 1:
        yield map
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield pool.imap


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
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AugmentError(f"seed must be a whole number >= 0, got {seed!r}")


# --- preview -----------------------------------------------------------------------
def preview_grid(steps: Sequence[Mapping], images, versions: int = 6, seed: int = 0,
                 scale: int = 3) -> np.ndarray:
    """A uint8 H x W x 3 picture: one row per image, the original then `versions` augmented copies.

    Tiles are separated by a white gap (a double one after the original) and
    the whole grid is upscaled `scale` times by nearest neighbour so 32x32
    images are visible. The same seed gives the same picture.
    """
    steps = validate_pipeline(steps)
    _check_seed(seed)
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
    `cinic.data.DataSet` (or anything with images, labels, classes, source).
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
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    # One process makes a given sample; another asking for it waits, then loads it.
    with FileLock(str(path) + ".lock"):
        cached = _read_cache(path, dataset, steps, seed)
        if cached is not None:
            if progress:
                progress(n, n)
            return cached
        made = _make_sample(dataset, steps, n, seed, path, progress, workers)
        _write_cache(made)
        return made


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

    sample.path.parent.mkdir(parents=True, exist_ok=True)
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
