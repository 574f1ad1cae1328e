"""cinic/analysis/feature_maps.py: the maps after each conv block are what the next layer receives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cinic.analysis import feature_maps
from cinic.model.classifier import Classifier
from cinic.model.lenet import PRESETS, build_model, summarize

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


# The last layer of each block: conv, ReLU, pool (base, stepping), and BatchNorm after the pool (best).
BLOCK_ENDS = {"base": [2, 5], "stepping": [2, 5], "best": [3, 7]}


@pytest.mark.parametrize("preset", list(BLOCK_ENDS))
def test_one_grid_per_conv_block_holding_exactly_that_blocks_output(preset):
    torch.manual_seed(0)
    model = build_model(PRESETS[preset])
    classifier = Classifier(model, MEAN, STD, [f"c{i}" for i in range(10)])
    picture = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    blocks = feature_maps.feature_maps(classifier, picture)
    spec = PRESETS[preset]
    assert len(blocks) == len(spec.conv)

    x = classifier.prepare(picture)
    ends = BLOCK_ENDS[preset]
    shapes = [row["output_shape"] for row in summarize(spec)]
    for block, end in zip(blocks, ends):
        with torch.no_grad():
            expected = model.features[:end + 1](x)[0]
        assert list(block["maps"].shape) == shapes[end]
        # strongest first, and each map is the block's output channel it names
        assert block["strength"] == sorted(block["strength"], reverse=True)
        for position, channel in enumerate(block["channels"]):
            assert np.allclose(block["maps"][position], expected[channel].numpy(), atol=1e-6)
    assert not model.training
    assert not any(module._forward_hooks for module in model.modules()), "hooks go on a view, never the model"


def test_first_layer_filters_as_colour_pictures():
    model = build_model(PRESETS["base"])
    with torch.no_grad():
        model.features[0].weight.zero_()
        model.features[0].weight[2, 0] = 1.0  # filter 2: all red, the strongest
    filters = feature_maps.first_layer_filters(Classifier(model, MEAN, STD, [f"c{i}" for i in range(10)]))
    assert filters.shape == (6, 5, 5, 3) and filters.dtype == np.uint8
    assert (filters[0] == 128).all()  # a zero filter is grey
    assert (filters[2, ..., 0] == 255).all() and (filters[2, ..., 1:] == 128).all()


def test_grids_lay_tiles_out_in_rows():
    maps = np.random.default_rng(1).random((10, 5, 5)).astype(np.float32)
    grid = feature_maps.maps_grid(maps, size_px=20, columns=4)
    tile, gap = 20, feature_maps.GAP
    assert grid.shape == (3 * tile + 2 * gap, 4 * tile + 3 * gap, 3)
    assert (grid[2 * (tile + gap):, 2 * (tile + gap):] == 255).all()  # the last row holds two maps
