"""What a model looks at: a saliency map of one image for one class, and how faithful it is.

Three methods, all from captum (PyTorch's own interpretability library), not hand-written
gradient code:
- Grad-CAM: the last conv layer's feature maps weighted by the class score's mean gradient,
  upsampled to 32x32. Coarse (one value per cell of that layer) and class-discriminative;
  it weighs whole feature maps, so it shows where the features that favour the class fired,
  not which positions the classifier reads.
- Integrated gradients: the class score's gradient integrated along the straight path from
  a plain image of the training set's mean colour to this one; per pixel.
- Occlusion: how much the class score falls when a 5x5 patch is replaced by the training
  set's mean colour, averaged over every patch covering a pixel.

Every map is for the class's logit; only the evidence FOR the class is kept (negative
values are cut at 0), and a map is scaled so its most important pixel is 1. Pictures are
H x W x 3 uint8 arrays, as `cinic.data.images.to_model_input` and the app give them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from cinic.errors import CinicError
from cinic.model.classifier import Classifier, as_images

METHODS = {"gradcam": "Grad-CAM", "integrated-gradients": "Integrated gradients", "occlusion": "Occlusion"}
METHOD_NOTES = {
    "gradcam": "where the last conv layer's features that favour the class fired (coarse: one value per "
               "cell of that layer)",
    "integrated-gradients": "how much each pixel, against a plain image of the mean colour, adds to the class score",
    "occlusion": "how much the class score falls when a 5x5 patch around the pixel is hidden",
}
IG_STEPS = 32            # integration steps; 32 and 64 gave maps within 1% of each other on LeNets
OCCLUSION_PATCH = 5      # pixels; stride 1, so every pixel is covered by 25 patches
OCCLUSION_BATCH = 256    # occluded copies per forward pass
HIDE_FRACTION = 0.2      # the faithfulness check hides this share of the pixels


class ExplainError(CinicError):
    """A method, class or image that cannot be explained; the message says what to use."""


# --- saliency --------------------------------------------------------------------------------------
def saliency(classifier: Classifier, picture: np.ndarray, target: int, method: str = "gradcam") -> np.ndarray:
    """H x W float32 map in [0, 1] of how much each pixel speaks for class `target`.

    Captum's hooks go on a view of the network made for this call, never on the shared one:
    another user's picture passing through it at the same time is not this call's business."""
    from cinic.model.device import exact_float32

    attribute = {"gradcam": _gradcam, "integrated-gradients": _integrated_gradients,
                 "occlusion": _occlusion}.get(method)
    if attribute is None:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    x = classifier.prepare(picture)
    with exact_float32(classifier.device):
        raw = attribute(classifier.view(), x, int(target)).detach().float().cpu()
    raw = raw.clamp(min=0)  # evidence for the class only
    peak = float(raw.max())
    return (raw / peak if peak > 0 else raw).numpy().astype(np.float32)


def last_conv_activation(model: nn.Module) -> nn.Module:
    """The activation right after the last conv layer of `model.features`: Grad-CAM's layer.
    Before pooling, so the map has the layer's full resolution (10x10 for LeNet-5)."""
    layers = list(model.features)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
    if not convs:
        raise ExplainError("the model has no conv layer; Grad-CAM needs one (use integrated-gradients or occlusion)")
    return layers[convs[-1] + 1]


def _gradcam(model, x, target):
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model, last_conv_activation(model)).attribute(x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")[0, 0]


def _integrated_gradients(model, x, target):
    from captum.attr import IntegratedGradients

    # Baseline 0 after normalisation: a plain image of the training set's mean colour.
    attributions = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                        n_steps=IG_STEPS)
    return attributions[0].sum(dim=0)  # a pixel's three channels together


def _occlusion(model, x, target):
    from captum.attr import Occlusion

    attributions = Occlusion(model).attribute(
        x, sliding_window_shapes=(3, OCCLUSION_PATCH, OCCLUSION_PATCH), strides=(3, 1, 1), baselines=0.0,
        target=target, perturbations_per_eval=OCCLUSION_BATCH)
    return attributions[0].mean(dim=0)  # the window spans the channels: each holds the same value


# --- one picture, explained -------------------------------------------------------------------------
def class_index(name_or_index, classes: Sequence[str]) -> int:
    """A class given by name or number, as an index into `classes`."""
    if isinstance(name_or_index, (int, np.integer)) and 0 <= name_or_index < len(classes):
        return int(name_or_index)
    if isinstance(name_or_index, str) and name_or_index in classes:
        return list(classes).index(name_or_index)
    raise ExplainError(f"unknown class {name_or_index!r}; choose one of {', '.join(classes)}")


def explain_picture(classifier: Classifier, picture: np.ndarray, method: str = "gradcam",
                    target=None) -> dict[str, Any]:
    """The prediction and the saliency map for `target` (a class name; the prediction when None).

    {"predicted", "target", "method", "p_predicted", "p_target", "saliency" (H x W list)}"""
    from cinic.analysis.evaluate import predict_probs

    classes = classifier.classes
    probs = predict_probs(classifier, as_images(picture))[0]
    predicted = int(probs.argmax())
    wanted = predicted if target is None else class_index(target, classes)
    saliency_map = saliency(classifier, picture, wanted, method)
    return {"predicted": classes[predicted], "target": classes[wanted], "method": method,
            "p_predicted": float(probs[predicted]), "p_target": float(probs[wanted]),
            "saliency": saliency_map.round(5).tolist()}


# --- pictures a person can see -------------------------------------------------------------------------
def colour(values: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """H x W values in [0, 1] as an H x W x 3 uint8 picture in a perceptually even colour map."""
    from matplotlib import colormaps

    return (colormaps[colormap](np.clip(values, 0, 1))[..., :3] * 255).round().astype(np.uint8)


def enlarge(picture: np.ndarray, zoom: int) -> np.ndarray:
    """Nearest-neighbour upscaling: each model pixel becomes a zoom x zoom block, nothing blurred."""
    return np.repeat(np.repeat(picture, zoom, axis=0), zoom, axis=1)


def overlay(picture: np.ndarray, saliency_map: np.ndarray, strength: float = 0.7) -> np.ndarray:
    """The map over the picture: the more important a pixel, the more it takes the map's colour,
    so unimportant parts still show the image."""
    weight = (strength * np.clip(saliency_map, 0, 1))[..., None]
    blended = picture.astype(np.float32) * (1 - weight) + colour(saliency_map).astype(np.float32) * weight
    return blended.round().astype(np.uint8)


def panel(picture: np.ndarray, saliency_map: np.ndarray, title: str, zoom: int = 8) -> np.ndarray:
    """One picture to look at: the image, the map beside it and over it, each `zoom` times larger
    (nearest neighbour), and a colour legend; headings above each."""
    from PIL import Image, ImageDraw, ImageFont

    views = [enlarge(picture, zoom), enlarge(colour(saliency_map), zoom), enlarge(overlay(picture, saliency_map), zoom)]
    size, gap, heading, bar = views[0].shape[0], 12, 28, 22
    font = ImageFont.load_default(size=15)
    ticks = ((heading, "1 most important"), (heading + size // 2 - 8, "0.5"), (heading + size - 16, "0 none"))
    legend_width = bar + 6 + int(max(font.getlength(text) for _, text in ticks)) + 4
    canvas = Image.new("RGB", (3 * size + 3 * gap + legend_width, size + heading), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (view, label) in enumerate(zip(views, ["image (32x32)", title, "map over image"])):
        x = i * (size + gap)
        canvas.paste(Image.fromarray(view), (x, heading))
        draw.text((x, 4), label, fill="black", font=font)
    x = 3 * (size + gap)
    ramp = np.linspace(1, 0, size)[:, None].repeat(bar, axis=1)  # most important at the top
    canvas.paste(Image.fromarray(colour(ramp)), (x, heading))
    for y, text in ticks:
        draw.text((x + bar + 6, y), text, fill="black", font=font)
    return np.asarray(canvas)


# --- faithfulness -------------------------------------------------------------------------------------
def hide(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The picture with the masked pixels set to its own mean colour."""
    hidden = picture.copy()
    hidden[mask] = picture.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
    return hidden


def ranked_pixels(saliency_map: np.ndarray, seed: int = 0) -> np.ndarray:
    """Pixel positions (flat) from most to least salient; ties in random order, not raster order,
    so a flat map does not hide the image's top rows first."""
    tie_break = np.random.default_rng(seed).random(saliency_map.size)
    return np.lexsort((tie_break, -saliency_map.ravel()))


def faithfulness(classifier: Classifier, pictures: Sequence[np.ndarray], method: str,
                 fraction: float = HIDE_FRACTION) -> dict[str, Any]:
    """How much the predicted class's probability falls, on average, when the `fraction` most
    salient pixels are hidden (set to the image's mean colour), against the `fraction` least
    salient. A faithful map makes the first drop larger."""
    from cinic.analysis.evaluate import predict_probs

    def probabilities(batch):
        return predict_probs(classifier, as_images(batch))

    before = probabilities(pictures)
    targets = before.argmax(dim=1)
    most, least = [], []
    for picture, target in zip(pictures, targets.tolist()):
        order = ranked_pixels(saliency(classifier, picture, target, method))
        count = int(round(fraction * order.size))
        for chosen, out in ((order[:count], most), (order[-count:], least)):
            mask = np.zeros(order.size, dtype=bool)
            mask[chosen] = True
            out.append(hide(picture, mask.reshape(picture.shape[:2])))
    rows = torch.arange(len(pictures))
    p_before = before[rows, targets]
    drop_most = p_before - probabilities(most)[rows, targets]
    drop_least = p_before - probabilities(least)[rows, targets]
    return {"method": method, "n": len(pictures), "fraction": fraction,
            "drop_most": float(drop_most.mean()), "drop_least": float(drop_least.mean())}
