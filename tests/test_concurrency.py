"""One loaded model, many users at once: every answer is the one the same call gives alone.

The app keeps one model per checkpoint for every browser tab (st.cache_resource). Feature maps
and captum's Grad-CAM need forward hooks; put on the shared network, one user's hook caught
another user's activations (their maps came back) and concurrent saliency raised "The
differentiated Tensor ... appears to not have been used in the graph" (issue 20, item 1).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cinic.analysis import explain, feature_maps
from cinic.analysis.evaluate import classify_pictures
from cinic.runs.checkpoints import load_model

THREADS = 8
ROUNDS = 3  # each (call, picture) asked this many times, all shuffled together


def answer(call: str, classifier, picture: np.ndarray):
    """What one user asks for about their own picture, as plain arrays to compare."""
    if call == "feature maps":
        return [block["maps"] for block in feature_maps.feature_maps(classifier, picture)]
    if call == "classification":
        [top] = classify_pictures(classifier, [picture], k=10)
        return [np.array([row["prob"] for row in top])]
    target = 3  # one fixed class: a wrong map is then the other picture's, not another class's
    return [explain.saliency(classifier, picture, target, call)]


CALLS = ["feature maps", "gradcam", "integrated-gradients", "classification"]


def test_many_users_on_one_model_each_get_their_own_answer(trained, one_thread):
    classifier = load_model(trained, "best", "cpu")
    network = classifier.network
    grads_before = [p.requires_grad for p in network.parameters()]
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(THREADS)]
    alone = {(call, i): answer(call, classifier, picture) for call in CALLS for i, picture in enumerate(pictures)}

    asks = [(call, i) for call in CALLS for i in range(len(pictures))] * ROUNDS
    random.Random(1).shuffle(asks)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [(ask, pool.submit(answer, ask[0], classifier, pictures[ask[1]])) for ask in asks]
        failures, wrong = [], []
        for ask, future in futures:
            try:
                got = future.result()
            except Exception as e:  # noqa: BLE001 - every failure counted, the first shown
                failures.append(f"{ask}: {type(e).__name__}: {e}")
                continue
            expected = alone[ask]
            if len(got) != len(expected) or not all(
                    g.shape == e.shape and np.allclose(g, e, atol=1e-5) for g, e in zip(got, expected)):
                wrong.append(ask)
    assert not failures, f"{len(failures)} of {len(asks)} calls raised; the first: {failures[0]}"
    assert not wrong, f"{len(wrong)} of {len(asks)} answers differ from the same call made alone: {wrong[:5]}"
    # ... and the shared model is as it was loaded: eval mode, no hook left, requires_grad untouched
    assert not any(module.training for module in network.modules())
    assert not any(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                   for module in network.modules())
    assert [p.requires_grad for p in network.parameters()] == grads_before
