"""cinic.augment_ops: the operations table, and pipelines checked, loaded and shown."""

from __future__ import annotations

import json

import pytest

from cinic import augment_ops
from cinic.augment_ops import OPERATIONS, SEED_PIPELINE, AugmentError

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
