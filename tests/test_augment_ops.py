"""cinic.augment.ops: the operations table, and pipelines checked, loaded and shown."""

from __future__ import annotations

import itertools
import json
import math
import random
import warnings

import Augmentor
import numpy as np
import pytest
from PIL import Image

from cinic.augment import ops as augment_ops
from cinic.augment.ops import OPERATIONS, SEED_PIPELINE, AugmentError

ZOOM = {"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3}
FLIP = {"op": "flip_left_right", "probability": 0.5}


# --- the pipeline description ------------------------------------------------------
def test_seed_pipeline_is_the_reports():
    assert list(SEED_PIPELINE) == [
        {"op": "crop_centre", "probability": 0.5, "percentage_area": 0.9},
        {"op": "flip_left_right", "probability": 0.5},
        {"op": "scale", "probability": 0.5, "scale_factor": 1.1},
        {"op": "zoom", "probability": 0.5, "min_factor": 1.1, "max_factor": 1.3},
        {"op": "random_brightness", "probability": 0.2, "min_factor": 0.3, "max_factor": 0.7},
        {"op": "resize", "probability": 1.0, "width": 32, "height": 32},
    ]
    assert augment_ops.SEED_SAMPLE_SIZE == 30000
    steps = augment_ops.validate_pipeline(SEED_PIPELINE)
    assert steps[0]["randomise_percentage_area"] is False and steps[-1]["resample_filter"] == "BICUBIC"
    assert json.loads(json.dumps(steps)) == steps


def test_the_issue_lists_every_operation():
    assert set(OPERATIONS) == {
        "crop_centre", "crop_random", "flip_left_right", "flip_top_bottom", "rotate", "rotate_random_90",
        "scale", "zoom", "zoom_random", "random_brightness", "random_contrast", "random_color", "skew",
        "shear", "random_distortion", "random_erasing", "greyscale", "resize"}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_info_renders_and_its_defaults_validate(name):
    info = OPERATIONS[name]
    assert info.params[0].name == "probability"
    json.dumps(info.to_dict())  # the app renders widgets from this
    for param in info.params:
        assert param.help and param.type in ("float", "int", "bool", "choice")
        if param.type in ("float", "int"):
            assert param.allows(param.default), f"{name}.{param.name} default outside {param.range_text()}"
    assert augment_ops.validate_pipeline([info.example()]) == [info.example()]


# --- bad pipelines are refused, naming the step ----------------------------------
@pytest.mark.parametrize("steps, fragments", [
    ([FLIP, {"op": "zooom", "probability": 0.5}],
     ["step 2: unknown operation 'zooom'", "did you mean 'zoom'", "crop_centre", "greyscale"]),
    ([FLIP, FLIP, {**ZOOM, "probability": 1.5}], ["step 3 (zoom): probability 1.5 is outside [0, 1]"]),
    ([{"op": "resize", "probability": 1, "width": -5, "height": 32}],
     ["step 1 (resize): width -5 is outside [2, 512]"]),
    ([{**ZOOM, "min_factor": 1.3, "max_factor": 1.1}],
     ["step 1 (zoom): min_factor 1.3 is greater than max_factor 1.1"]),
    ([{**ZOOM, "probability": "0.5"}], ["step 1 (zoom): probability must be a number", "str '0.5'"]),
    ([{"op": "crop_centre", "probability": 1, "percentage_area": 0.9, "randomise_percentage_area": "yes"}],
     ["step 1 (crop_centre): randomise_percentage_area must be true or false"]),
    ([{"op": "random_distortion", "probability": 1, "grid_width": 2.5, "grid_height": 4, "magnitude": 2}],
     ["grid_width must be a whole number in [1, 16], got 2.5"]),
    ([{"op": "scale", "probability": 1, "scale_factor": 1.0}], ["scale_factor 1 is outside (1, 4]"]),
    ([{"op": "zoom", "probability": 0.5, "min_factor": 1.1}], ["missing parameter 'max_factor'"]),
    ([{**FLIP, "min_fator": 1}], ["step 1 (flip_left_right): unknown parameter 'min_fator'"]),
    ([{"probability": 0.5}], ['step 1: "op" must name the operation']),
    (["zoom"], ["step 1: expected an object"]),
    ({"op": "zoom"}, ["a pipeline is a list of steps"]),
    ([{"op": "resize", "probability": 1, "width": 32, "height": 32, "resample_filter": "FAST"}],
     ["resample_filter must be one of NEAREST, BILINEAR, BICUBIC, LANCZOS"]),
    ([{"op": "crop_centre", "probability": 1, "percentage_area": 0.5, "randomise_percentage_area": True},
      {"op": "random_distortion", "probability": 0.5, "grid_width": 8, "grid_height": 4, "magnitude": 2}],
     ["step 2 (random_distortion): images may be only 3 px", "8 grid cells"]),
    ([{"op": "scale", "probability": 1, "scale_factor": 4.0}] * 3, ["step 3 (scale): images can grow to 2048 px"]),
])
def test_bad_pipelines_are_refused_with_the_step_named(steps, fragments):
    with pytest.raises(AugmentError) as caught:
        augment_ops.validate_pipeline(steps)
    for fragment in fragments:
        assert fragment in str(caught.value)


# --- load_pipeline -----------------------------------------------------------------
def test_load_pipeline_words_lists_and_files(tmp_path):
    assert augment_ops.load_pipeline("seed") == augment_ops.validate_pipeline(SEED_PIPELINE)
    assert augment_ops.load_pipeline("none") == []
    assert augment_ops.load_pipeline([FLIP]) == [{"op": "flip_left_right", "probability": 0.5}]
    as_list, as_object = tmp_path / "list.json", tmp_path / "object.json"
    as_list.write_text(json.dumps([ZOOM]))
    as_object.write_text(json.dumps({"steps": [ZOOM], "name": "mine"}))
    assert augment_ops.load_pipeline(as_list) == augment_ops.load_pipeline(str(as_object)) == [ZOOM]


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"),
    ("[{\"op\": \"zoom\",", "is not valid JSON"),
    ('{"name": "x"}', 'without "steps"'),
    (json.dumps([{**ZOOM, "probability": 2}]), "step 1 (zoom): probability 2 is outside [0, 1]"),
])
def test_load_pipeline_bad_files_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "pipeline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AugmentError) as caught:
        augment_ops.load_pipeline(path)
    assert str(path) in str(caught.value) and fragment in str(caught.value)


def test_format_pipeline_reads_one_step_a_line():
    text = augment_ops.format_pipeline(augment_ops.load_pipeline("seed"))
    assert text.splitlines()[3] == "4. zoom(probability=0.5, min_factor=1.1, max_factor=1.3)"
    assert augment_ops.format_pipeline([]) == "(no augmentation)"


# --- each entry against the real Augmentor operation ---------------------------------------------
def extreme_steps(info) -> list[dict]:
    """Every mix of each parameter's lowest, default and highest allowed value (min_factor <= max_factor)."""
    options = []
    for param in info.params:
        if param.name == "probability":
            options.append([1.0])
        elif param.type == "bool":
            options.append([False, True])
        elif param.type == "choice":
            options.append(list(param.choices))
        else:
            nudge, cast = (0.01, float) if param.type == "float" else (1, int)
            low = param.min + nudge if param.min_exclusive else param.min
            high = param.max - nudge if param.max_exclusive else param.max
            options.append(sorted({cast(low), cast(param.default), cast(high)}))
    names = [param.name for param in info.params]
    steps = [{"op": info.name, **dict(zip(names, values))} for values in itertools.product(*options)]
    return [step for step in steps if step.get("min_factor", 0) <= step.get("max_factor", math.inf)]


def run_real(info, step: dict, side: int, draws: str, monkeypatch) -> Image.Image:
    """The real Augmentor operation on a side x side image, every random.uniform drawn at its low or high end.

    The size tracking and the small-image checks reason about the smallest and
    the largest outcome; pinning the draws there makes the real operation show them.
    """
    image = Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8))
    with monkeypatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # Skew's np.matrix
        patch.setattr(random, "uniform", (lambda a, b: a) if draws == "low" else (lambda a, b: b))
        return info.build(step).perform_operation([image])[0]


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_entry_builds_the_augmentor_operation_it_names(name):
    info = OPERATIONS[name]
    method, made = info.augmentor.split(" -> ")
    assert method == f"Pipeline.{name}" and callable(getattr(Augmentor.Pipeline, name))
    operation = info.build(info.example())
    assert type(operation).__name__ == made.split("(")[0]
    assert isinstance(operation, Augmentor.Operations.Operation) and operation.probability == info.example()[
        "probability"]
    assert info.title[0].isupper() and "_" not in info.title  # words, not the method name
    if info.changes_size:
        assert info.size_note, f"{name} changes the size but does not say how"
    assert json.loads(json.dumps(info.to_dict()))["title"] == info.title


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_size_tracking_matches_the_real_operation_on_32x32(name, monkeypatch):
    """What an entry says a step does to a 32 px side is what Augmentor does, at every parameter extreme."""
    info = OPERATIONS[name]
    for step in extreme_steps(info):
        if info.too_small and info.too_small(step, 32):
            continue  # refused on 32x32 images: validation never lets it run there
        smallest = info.side_after(step, 32, True) if info.changes_size else 32
        largest = info.side_after(step, 32, False) if info.changes_size else 32
        low, high = run_real(info, step, 32, "low", monkeypatch), run_real(info, step, 32, "high", monkeypatch)
        slack = centre_crop_rounding(step, smallest), centre_crop_rounding(step, largest)
        assert abs(min(low.size) - smallest) <= slack[0], (step, low.size, smallest)
        assert abs(max(high.size) - largest) <= slack[1], (step, high.size, largest)


def centre_crop_rounding(step: dict, kept: int) -> int:
    """Pillow rounds a centre crop's half-pixel box to even: an odd kept side of a 32 px side is one px off."""
    return 1 if step["op"] == "crop_centre" and kept % 2 else 0


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_small_image_checks_match_what_augmentor_does_on_1_to_40_px(name, monkeypatch):
    """A step its entry lets run on an image works there; one it refuses fails or leaves nothing."""
    info = OPERATIONS[name]
    for step, side in itertools.product(extreme_steps(info), range(1, 41)):
        reason = info.too_small(step, side) if info.too_small else None
        for draws in ("low", "high"):
            try:
                works = min(run_real(info, step, side, draws, monkeypatch).size) >= 1
            except Exception:  # Augmentor's own failure (a division by zero, an empty resize)
                works = False
            if reason is None:
                assert works, f"{step} accepted on {side} px images but fails there (draws {draws})"
            elif draws == "low" and "keeps 1 px" not in reason:  # the checks reason about the smallest outcome
                assert not works, f"{step} refused on {side} px images ({reason}) but works there"


def test_a_one_pixel_centre_crop_vanishes_on_some_sides_which_is_why_it_is_refused(monkeypatch):
    info = OPERATIONS["crop_centre"]
    step = {"op": "crop_centre", "probability": 1.0, "percentage_area": 0.1, "randomise_percentage_area": False}
    sides = {side: run_real(info, step, side, "low", monkeypatch).size[0] for side in range(10, 20)}
    assert {side for side, kept in sides.items() if kept == 0} == {12, 16}  # 4k px: the box rounds to nothing
    assert all("keeps 1 px" in info.too_small(step, side) for side in sides)
    with pytest.raises(AugmentError, match=r"step 2 \(crop_centre\): images may be only 12 px .* keeps 1 px"):
        augment_ops.validate_pipeline([{"op": "resize", "probability": 1, "width": 12, "height": 12}, step])


def test_rotation_leaves_no_black_corners():
    """Augmentor's RotateRange rounded its crop and left black bits in the corners of 32x32 images."""
    from cinic.augment.sample import augment_images

    white = np.full((200, 32, 32, 3), 255, np.uint8)
    rotated = augment_images(white, [{"op": "rotate", "probability": 1.0, "max_left_rotation": 25,
                                      "max_right_rotation": 25}], seed=3)
    assert rotated.min() > 200, f"{int((rotated.min(axis=-1) < 200).sum())} dark pixels"
