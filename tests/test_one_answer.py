"""One model, one answer: the same image gets the same prediction on every path.

Every prediction a person sees (evaluate and eval.json, predict, the Results and
Classify pages, exports) is computed in true float32, so it does not depend on
the batch an image lands in or on its neighbours. bf16 autocast, which training
and the per-epoch validation keep, rounds per batch: a borderline image could
read "cat" on one page and "dog" on another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow
import pytest
import torch

from cinic.data.dataset import CLASSES
from cinic.analysis.evaluate import classify_pictures, evaluate, predict_probs
from cinic.model.classifier import Classifier
from cinic.model.lenet import PRESETS, build_model
from test_app import (demo_dir, finished_runs_root, open_app,  # noqa: F401
                      with_demo, with_finished_run)

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def model_and_images():
    torch.manual_seed(0)
    model = build_model(PRESETS["best"]).eval()
    # BatchNorm with the statistics of real-looking activations, not the identity it starts as.
    model.train()
    with torch.no_grad():
        model(torch.randn(512, 3, 32, 32))
        model.classifier[-1].weight.mul_(60)  # logits of a trained model's size (about 5), not about 0.1
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (300, 3, 32, 32), dtype=np.uint8))
    return Classifier(model, MEAN, STD, CLASSES), images


MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def test_an_image_gets_the_same_probabilities_alone_in_7_and_in_256(model_and_images):
    classifier, images = model_and_images
    images = images[:256]
    alone = predict_probs(classifier, images, batch_size=1)  # each image on its own
    in_sevens = predict_probs(classifier, images, batch_size=7)  # each with 6 neighbours
    in_256 = predict_probs(classifier, images, batch_size=256)  # all together
    assert (alone - in_sevens).abs().max() < TOLERANCE
    assert (alone - in_256).abs().max() < TOLERANCE
    other_neighbours = torch.cat([images[128:], images[:128]])  # the same images beside others
    moved = predict_probs(classifier, other_neighbours, batch_size=7)
    assert (torch.cat([moved[128:], moved[:128]]) - alone).abs().max() < TOLERANCE


def test_batch_size_and_order_change_no_prediction(model_and_images):
    classifier, images = model_and_images
    reference = predict_probs(classifier, images, batch_size=1)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(3))
    for batch_size in (7, 64, 256, 1024):
        shuffled = predict_probs(classifier, images[order], batch_size=batch_size)
        assert torch.allclose(shuffled, reference[order], atol=TOLERANCE, rtol=0), batch_size
        assert torch.equal(shuffled.argmax(1), reference[order].argmax(1)), batch_size


def test_the_classify_path_and_the_evaluation_path_agree(model_and_images):
    """classify_pictures (the Classify page, `predict`) against evaluate (eval.json, the Results page)."""
    from types import SimpleNamespace

    classifier, images = model_and_images
    pictures = [img.permute(1, 2, 0).numpy() for img in images[:20]]
    tops = classify_pictures(classifier, pictures, k=1)
    probs = predict_probs(classifier, images[:20])
    labels = probs.argmax(1)
    dataset = SimpleNamespace(images=images[:20], labels=labels, files=[f"x{i}.png" for i in range(20)],
                              origins=["unknown"] * 20, classes=CLASSES, source="memory")
    result = evaluate(classifier, dataset, batch_size=8)
    assert result["accuracy"] == 100.0 and result["compute_dtype"] == "float32"
    for top, row in zip(tops, probs):
        assert top[0]["class"] == CLASSES[int(row.argmax())]
        assert abs(top[0]["prob"] - float(row.max())) < TOLERANCE


def test_the_results_page_and_the_classify_page_agree_on_a_test_image(with_finished_run, tiny_data):
    """A test image the Results page shows in a confusion cell (true T predicted P, p=0.xx) is
    classified P with the same probability when uploaded on the Classify page."""
    at = open_app("Results")
    cells = [o for o in at.selectbox(key="results-explain-image").options if o.startswith("cell ")]
    assert cells, "the most-confused cell of the finished run holds images"
    true_class, rest = cells[0][len("cell "):].split(" → ")
    predicted, rest = rest.split(": ", 1)
    file, shown_p = rest.rsplit(" (p=", 1)
    shown_p = float(shown_p.rstrip(")"))

    at = open_app("Classify")
    upload = (tiny_data / "test" / file).read_bytes()
    at.file_uploader(key="classify-upload").set_value([(Path(file).name, upload, "image/png")]).run()
    assert not at.exception
    verdict = next(m.value for m in at.markdown if m.value.startswith("**") and "%)" in m.value)
    assert verdict.startswith(f"**{predicted}**"), (verdict, cells[0])
    top_k = next(c for c in at.get("vega_lite_chart")).proto.datasets[0].data.data  # the top-k bars
    bars = pyarrow.ipc.open_stream(top_k).read_pandas().set_index("class")["probability"]
    assert bars.idxmax() == predicted
    assert bars[predicted] == pytest.approx(shown_p, abs=0.005)  # the Results caption has 2 decimals
