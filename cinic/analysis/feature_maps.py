"""What the layers see: the feature maps after each conv block for one picture, and the first
layer's filters as colour pictures.

Plain forward hooks on the model's own modules (of a view made for the call, over the same
weights): nothing is re-implemented, so what is shown is exactly what the next layer receives.
A conv block is a conv layer and what follows it up to the next conv layer (activation,
pooling, batch norm).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from cinic.analysis.explain import colour, enlarge
from cinic.model.classifier import Classifier

GRID_COLUMNS = 8
GAP = 2  # pixels of white between tiles


def block_outputs(model: nn.Module) -> list[nn.Module]:
    """The last module of each conv block in `model.features`, whose output is the block's."""
    layers = list(model.features)
    starts = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
    ends = [nxt - 1 for nxt in starts[1:]] + [len(layers) - 1]
    return [layers[end] for end in ends]


def feature_maps(classifier: Classifier, picture: np.ndarray) -> list[dict[str, Any]]:
    """Per conv block: {"block" (from 1), "maps" (C x H x W float32, strongest first), "channels"
    (each map's channel number), "strength" (mean |activation| of each map)}."""
    captured: list[torch.Tensor] = []
    network = classifier.view()  # the hooks go on this call's view: the shared network never holds one
    for module in block_outputs(network):
        module.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().float().cpu()))
    with torch.inference_mode():
        network(classifier.prepare(picture))
    blocks = []
    for number, output in enumerate(captured, start=1):
        maps = output[0]
        strength = maps.abs().mean(dim=(1, 2))
        order = strength.argsort(descending=True, stable=True)
        blocks.append({"block": number, "maps": maps[order].numpy(), "channels": order.tolist(),
                       "strength": strength[order].tolist()})
    return blocks


def first_layer_filters(classifier: Classifier) -> np.ndarray:
    """The first conv layer's filters as N x k x k x 3 uint8 colour pictures: grey is 0, and one
    scale for all, so a strong filter looks stronger than a weak one."""
    conv = next((m for m in classifier.network.features if isinstance(m, nn.Conv2d)), None)
    if conv is None or conv.in_channels != 3:
        return np.zeros((0, 1, 1, 3), dtype=np.uint8)
    weights = conv.weight.detach().float().cpu()
    scale = float(weights.abs().max()) or 1.0
    return (weights / scale * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def tile(pictures: Sequence[np.ndarray] | np.ndarray, zoom: int, columns: int = GRID_COLUMNS) -> np.ndarray:
    """H x W x 3 pictures of one size in a grid, each `zoom` times larger (nearest neighbour)."""
    pictures = [enlarge(p, zoom) for p in pictures]
    if not pictures:
        return np.full((1, 1, 3), 255, dtype=np.uint8)
    height, width = pictures[0].shape[:2]
    columns = min(columns, len(pictures))
    rows = -(-len(pictures) // columns)
    grid = np.full((rows * (height + GAP) - GAP, columns * (width + GAP) - GAP, 3), 255, dtype=np.uint8)
    for i, picture in enumerate(pictures):
        y, x = divmod(i, columns)
        grid[y * (height + GAP):y * (height + GAP) + height, x * (width + GAP):x * (width + GAP) + width] = picture
    return grid


def maps_grid(maps: np.ndarray, size_px: int = 64, columns: int = GRID_COLUMNS) -> np.ndarray:
    """A block's maps (C x H x W) as one colour picture, one shared scale: a weak map looks weak."""
    low, high = float(maps.min()), float(maps.max())
    scaled = (maps - low) / (high - low) if high > low else np.zeros_like(maps)
    zoom = max(1, size_px // maps.shape[1])
    return tile([colour(m, "viridis") for m in scaled], zoom, columns)
