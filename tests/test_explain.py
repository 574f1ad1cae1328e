"""cinic/analysis/explain.py: saliency maps that point where the model's decision really comes from.

A known answer: a hand-made model whose class-1 score reads only the red in the top-left
quadrant. Faithfulness on a trained model: hiding the pixels a map calls most important
costs the predicted class more probability than hiding those it calls least important.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cinic import cli

from cinic.analysis import explain
from cinic.model.classifier import Classifier
from cinic.model.lenet import PRESETS, ConvSpec, ModelSpec, build_model

RED = 1


def quadrant_classifier(model) -> Classifier:
    """The model with no normalisation (mean 0, std 1), so a pixel's value is what it reads."""
    return Classifier(model, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], ["plain", "red top-left"])


def quadrant_model():
    """One 1x1 conv that fires only on strongly red pixels, and a classifier whose class-1 score
    is the sum of that over the top-left quadrant alone; class 0 is a constant 3."""
    model = build_model(ModelSpec(conv=(ConvSpec(1, 1, pool=False),), fc=(), num_classes=2)).eval()
    conv, linear = model.features[0], model.classifier[-1]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -0.5, -0.5]).view(1, 3, 1, 1))  # grey gives 0 - 0.3 < 0
        conv.bias.fill_(-0.3)
        weights = torch.zeros(2, 1, 32, 32)
        weights[RED, 0, :16, :16] = 1.0
        linear.weight.copy_(weights.view(2, -1))
        linear.bias.copy_(torch.tensor([3.0, 0.0]))
    return model


def red_squares(rng, quadrants) -> np.ndarray:
    """Grey noise with a 6x6 red square somewhere inside each of the given (row, column) quadrants."""
    grey = rng.integers(0, 256, (32, 32, 1)).astype(np.uint8).repeat(3, axis=2)
    for qy, qx in quadrants:
        y, x = qy * 16 + rng.integers(0, 11), qx * 16 + rng.integers(0, 11)
        grey[y:y + 6, x:x + 6] = (255, 0, 0)
    return grey


def top_left_share(saliency_map: np.ndarray) -> float:
    return float(saliency_map[:16, :16].sum() / saliency_map.sum())


EVERY_QUADRANT = [(0, 0), (0, 1), (1, 0), (1, 1)]


# --- known answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, least", [("integrated-gradients", 0.99), ("occlusion", 0.75)])
def test_pixel_methods_find_the_only_quadrant_the_model_reads(method, least):
    """Red squares in all four quadrants; only the top-left one counts, and the maps say so."""
    model, rng = quadrant_model(), np.random.default_rng(0)
    for _ in range(6):
        picture = red_squares(rng, EVERY_QUADRANT)
        saliency_map = explain.saliency(quadrant_classifier(model), picture, RED, method)
        assert top_left_share(saliency_map) >= least
        peak = np.unravel_index(saliency_map.argmax(), saliency_map.shape)
        assert peak[0] < 16 and peak[1] < 16


@pytest.mark.parametrize("method", list(explain.METHODS))
def test_every_method_finds_the_evidence_where_the_model_reads_it(method):
    model, rng = quadrant_model(), np.random.default_rng(1)
    for _ in range(4):
        picture = red_squares(rng, [(0, 0)])
        saliency_map = explain.saliency(quadrant_classifier(model), picture, RED, method)
        assert top_left_share(saliency_map) >= 0.75


def test_gradcam_marks_where_the_features_fire_not_which_positions_are_read():
    """Grad-CAM weighs whole feature maps: a red square the classifier ignores lights up as much as
    the one it reads. What METHOD_NOTES tells the user, measured."""
    picture = red_squares(np.random.default_rng(2), EVERY_QUADRANT)
    saliency_map = explain.saliency(quadrant_classifier(quadrant_model()), picture, RED, "gradcam")
    assert top_left_share(saliency_map) == pytest.approx(0.25, abs=0.05)


@pytest.mark.parametrize("method", ["integrated-gradients", "occlusion"])
def test_evidence_against_the_class_is_not_shown_as_evidence_for_it(method):
    """Red in the top-right quadrant now lowers the class-1 score: the map must stay dark there."""
    model = quadrant_model()
    with torch.no_grad():
        model.classifier[-1].weight.view(2, 32, 32)[RED, :16, 16:] = -1.0
    picture = red_squares(np.random.default_rng(5), [(0, 0), (0, 1)])
    saliency_map = explain.saliency(quadrant_classifier(model), picture, RED, method)
    assert saliency_map[:16, 20:].max() < 0.05 and saliency_map[:16, :12].max() == 1.0


@pytest.mark.parametrize("method", list(explain.METHODS))
def test_nothing_speaks_for_a_class_whose_score_is_constant(method):
    """"Why not plain?": class 0's score is a constant, so no pixel speaks for it."""
    picture = red_squares(np.random.default_rng(3), [(0, 0)])
    saliency_map = explain.saliency(quadrant_classifier(quadrant_model()), picture, 0, method)
    assert not saliency_map.any()


# --- the map's form and the prediction beside it ---------------------------------------------------------
def test_explain_picture_gives_the_prediction_and_a_32x32_map_in_0_1():
    classifier = Classifier(build_model(PRESETS["base"]), [0.5] * 3, [0.25] * 3, [f"c{i}" for i in range(10)])
    picture = np.random.default_rng(4).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    from cinic.analysis.evaluate import classify_pictures

    top = classify_pictures(classifier, [picture], k=1)[0][0]
    for method in explain.METHODS:
        result = explain.explain_picture(classifier, picture, method)
        assert result["predicted"] == result["target"] == top["class"]
        assert result["p_predicted"] == pytest.approx(top["prob"], abs=1e-6)
        saliency_map = np.array(result["saliency"])
        assert saliency_map.shape == (32, 32) and saliency_map.min() >= 0 and saliency_map.max() == 1
    other = explain.explain_picture(classifier, picture, "gradcam", target="c7")
    assert other["target"] == "c7" and other["predicted"] == top["class"]
    with pytest.raises(explain.ExplainError, match="unknown class 'kitten'"):
        explain.explain_picture(classifier, picture, "gradcam", target="kitten")
    with pytest.raises(explain.ExplainError, match="unknown method"):
        explain.saliency(classifier, picture, 0, "lime")


@pytest.mark.parametrize("preset", ["base", "best"])
def test_gradcam_reads_the_activation_after_the_last_conv(preset):
    model = build_model(PRESETS[preset])
    layers = list(model.features)
    last_conv = max(i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.Conv2d))
    assert explain.last_conv_activation(model) is layers[last_conv + 1]


def test_overlay_shows_the_image_where_nothing_matters_and_the_map_where_it_does():
    picture = np.full((32, 32, 3), 100, dtype=np.uint8)
    saliency_map = np.zeros((32, 32), dtype=np.float32)
    saliency_map[:4, :4] = 1.0
    blended = explain.overlay(picture, saliency_map)
    assert (blended[8:, 8:] == 100).all()
    assert not (blended[:4, :4] == 100).all()
    panel = explain.panel(picture, saliency_map, "Grad-CAM: cat", zoom=8)
    assert panel.shape[0] == 32 * 8 + 28 and panel.shape[1] > 3 * 32 * 8
    enlarged = explain.enlarge(picture[:2, :2], 3)
    assert enlarged.shape == (6, 6, 3)


def test_hide_sets_the_masked_pixels_to_the_image_mean_colour():
    picture = np.zeros((4, 4, 3), dtype=np.uint8)
    picture[0, 0] = (160, 80, 16)
    mask = np.zeros((4, 4), dtype=bool)
    mask[3, 3] = True
    hidden = explain.hide(picture, mask)
    assert tuple(hidden[3, 3]) == (10, 5, 1) and (hidden[:3] == picture[:3]).all()
    order = explain.ranked_pixels(np.array([[0.0, 0.5], [1.0, 0.0]]))
    assert list(order[:2]) == [2, 1]


# --- faithfulness on a trained model -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_base(sample_root, train_finished):
    """base trained for three epochs on the real sample (about 45 % test accuracy)."""
    from cinic.data.dataset import load_split
    from cinic.runs import checkpoints
    from cinic.runs.config import TrainConfig

    run = train_finished(sample_root, "base", epochs=3, batch_size=TrainConfig.batch_size)
    test = load_split(sample_root, "test")
    classifier = checkpoints.load_model(run, "best", "cpu")
    pictures = [test.images[i].permute(1, 2, 0).numpy() for i in range(0, 1017, 28)]  # 37 images, all classes
    return classifier, pictures


@pytest.mark.slow  # trains base for three epochs on the real sample
@pytest.mark.parametrize("method", list(explain.METHODS))
def test_hiding_the_most_salient_pixels_costs_more_than_hiding_the_least(trained_base, method):
    classifier, pictures = trained_base
    result = explain.faithfulness(classifier, pictures, method)
    print(result)
    assert result["n"] == 37
    assert result["drop_most"] > result["drop_least"] + 0.02, result  # two points: more than noise here


# --- the command line ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def a_run(train_finished, tiny_data):
    return train_finished(tiny_data, "base", batch_size=16)


def test_explain_from_the_command_line(a_run, tiny_data, tmp_path, capsys):
    image = next((tiny_data / "test" / "cat").iterdir())
    out = tmp_path / "overlay.png"
    assert cli.main(["explain", str(a_run.path), str(image), "--method", "occlusion", "--target", "dog",
                     "--out", str(out), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"predicted", "target", "method", "saliency"}
    assert result["target"] == "dog" and result["method"] == "occlusion"
    saliency_map = np.array(result["saliency"])
    assert saliency_map.shape == (32, 32) and (saliency_map >= 0).all()
    with Image.open(out) as drawn:
        assert drawn.size[1] == 32 * 8 + 28

    assert cli.main(["explain", str(a_run.path), str(image), "--target", "kitten"]) == 2
    said = capsys.readouterr().err.strip()
    assert said.startswith("error: unknown class 'kitten'") and len(said.splitlines()) == 1


def test_gradcam_with_flip_tta_shows_the_image_as_given_not_its_mirror():
    # With flip TTA the conv layers see the image and its mirror in one batch; the map must be the
    # image's own (the mirror's would be flipped), as the single-view model with the same weights draws it.
    from dataclasses import replace

    torch.manual_seed(0)
    spec = replace(PRESETS["base"], input_norm="contrast")
    single = build_model(spec)
    both = build_model(replace(spec, flip_tta=True))
    both.load_state_dict(single.state_dict())
    picture = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    normalisation, classes = ([0.5] * 3, [0.25] * 3), [f"c{i}" for i in range(10)]
    expected = explain.saliency(Classifier(single, *normalisation, classes), picture, 3, "gradcam")
    got = explain.saliency(Classifier(both, *normalisation, classes), picture, 3, "gradcam")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, got[:, ::-1], atol=1e-3)
