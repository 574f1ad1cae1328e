"""cinic/model/classifier.py: one trained model, the pictures it takes, and a view of it for one call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cinic.model.classifier import Classifier, PictureError, as_images, normalize
from cinic.model.lenet import PRESETS, build_model

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
CLASSES = [f"c{i}" for i in range(10)]


@pytest.fixture
def classifier():
    torch.manual_seed(0)
    return Classifier(build_model(PRESETS["best"]), MEAN, STD, CLASSES)


def test_one_picture_a_stack_and_a_list_are_prepared_alike(classifier):
    pictures = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    expected = normalize(torch.from_numpy(pictures).permute(0, 3, 1, 2), torch.tensor(MEAN), torch.tensor(STD))
    torch.testing.assert_close(classifier.prepare(pictures), expected, rtol=0, atol=0)
    torch.testing.assert_close(classifier.prepare(list(pictures)), expected, rtol=0, atol=0)
    torch.testing.assert_close(classifier.prepare(pictures[1]), expected[1:2], rtol=0, atol=0)
    read_only = pictures[2].copy()
    read_only.flags.writeable = False
    assert torch.equal(as_images(read_only)[0], torch.from_numpy(pictures[2]).permute(2, 0, 1))


@pytest.mark.parametrize("bad", [np.zeros((32, 32, 3), dtype=np.float32), np.zeros((32, 32), dtype=np.uint8),
                                 np.zeros((2, 32, 32, 4), dtype=np.uint8)])
def test_what_is_not_a_uint8_rgb_picture_is_refused_in_one_line(classifier, bad):
    with pytest.raises(PictureError, match=r"pictures must be H x W x 3 uint8 arrays, got \(") as caught:
        classifier.prepare(bad)
    assert len(str(caught.value).splitlines()) == 1


def test_a_view_shares_the_weights_but_not_hooks_grad_flags_or_mode(classifier):
    network = classifier.network
    view = classifier.view()
    pairs = list(zip(network.parameters(), view.parameters())) + list(zip(network.buffers(), view.buffers()))
    assert pairs and all(a.data_ptr() == b.data_ptr() and a is not b for a, b in pairs)  # no copy of a weight

    seen = []
    view.features[0].register_forward_hook(lambda *_: seen.append("view"))
    for parameter in view.parameters():
        parameter.requires_grad_(False)
    view.train()
    x = classifier.prepare(np.zeros((32, 32, 3), dtype=np.uint8))
    with torch.no_grad():
        network(x)
    assert seen == [], "a hook on the view fired on the shared network"
    assert all(p.requires_grad for p in network.parameters()) and not network.training


def test_the_exported_module_gives_the_classifiers_own_logits(classifier):
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8))
    with torch.no_grad():
        logits, probabilities = classifier.with_preprocessing()(images)
        torch.testing.assert_close(logits, classifier.forward(images), rtol=0, atol=0)
    torch.testing.assert_close(probabilities, logits.softmax(dim=1))
