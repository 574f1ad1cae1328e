"""Metrics and predictions: what a trained model gets right, and what it confuses.

Every figure is counted per image over the whole split. The seed averaged
accuracy per batch (wrong whenever the last batch is short) and called the
confusion matrix with (predicted, true) swapped; here rows are the true class,
columns the prediction, and recall/precision come from scikit-learn.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cinic.data.dataset import display_name
from cinic.model.device import autocast_for, exact_float32, uses_bf16, uses_channels_last
from cinic.errors import CinicError
from cinic.model.classifier import Classifier, as_images

# The eval.json object (see docs/architecture.md): plain JSON-able data.
Evaluation = dict[str, Any]

MOST_CONFUSED = 10  # class pairs listed in "most_confused"


class EvaluationError(CinicError):
    """Inputs that cannot be evaluated; the message says what is wrong and where."""


# ----------------------------------------------------------------------------
# Predictions


def default_batch_size(device: str | torch.device) -> int:
    """Images per evaluation batch: on a CPU 256 keeps a batch's activations in cache (the bench
    evaluated 90,000 images 1.4x faster with best and 1.9x with base than at 1024); a GPU wants more."""
    return 256 if torch.device(device).type == "cpu" else 1024


def predict_logits(classifier: Classifier, images_uint8: torch.Tensor, batch_size: int | None = None,
                   amp: bool = False) -> torch.Tensor:
    """Logits (float32, CPU, N x C) for uint8 N x 3 x H x W images.

    Batches move to the classifier's device and are normalised there exactly as in
    training; each batch's logits come straight back to the CPU so a big split never
    piles up on the GPU. Nothing about the network changes (its mode is set once, at
    load): many users may predict with one classifier at once.
    Computed in true float32 (`device.exact_float32`): one image gets the same
    probabilities alone or in any batch, as anyone loading the exported weights
    gets them. `amp=True` (bf16 where the device has it) is for the bench only.
    """
    _check_images(images_uint8)
    device = classifier.device
    if batch_size is None:
        batch_size = default_batch_size(device)
    if batch_size < 1:
        raise EvaluationError(f"batch_size must be at least 1, got {batch_size}")
    channels_last = uses_channels_last(device)  # NHWC as in training: faster, and exact in float32 too
    chunks = []
    with torch.inference_mode(), exact_float32(device), autocast_for(device, amp):
        for start in range(0, images_uint8.shape[0], batch_size):
            logits = classifier.forward(images_uint8[start:start + batch_size], channels_last)
            chunks.append(logits.float().cpu())
    if not chunks:
        raise EvaluationError("no images to predict: the image tensor is empty (N = 0)")
    return torch.cat(chunks)


def predict_probs(classifier: Classifier, images_uint8: torch.Tensor,
                  batch_size: int | None = None) -> torch.Tensor:
    """Class probabilities (float32, CPU, N x C): softmax of `predict_logits`."""
    return predict_logits(classifier, images_uint8, batch_size).softmax(dim=1)


def top_k(probs_row: torch.Tensor | Sequence[float], classes: Sequence[str],
          k: int = 3) -> list[dict[str, Any]]:
    """The k most likely classes of one image, most likely first: [{"class", "prob"}]."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EvaluationError(f"top-k must be a whole number of at least 1, got {k!r}")
    probs = torch.as_tensor(probs_row, dtype=torch.float64).flatten()
    if probs.numel() != len(classes):
        raise EvaluationError(
            f"{probs.numel()} probabilities for {len(classes)} class names; they must match")
    values, indices = probs.topk(min(k, len(classes)))
    return [{"class": classes[i], "prob": float(p)} for p, i in zip(values.tolist(), indices.tolist())]


def classify_pictures(classifier: Classifier, pictures, k: int = 3) -> list[list[dict[str, Any]]]:
    """The top-k classes of each HxWx3 uint8 picture (as cinic.data.images.to_model_input gives them)."""
    return [top_k(row, classifier.classes, k) for row in predict_probs(classifier, as_images(pictures))]


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        dtype = images.dtype if isinstance(images, torch.Tensor) else ""
        raise EvaluationError(f"images must be a uint8 tensor N x 3 x H x W, got {shape} {dtype}".rstrip())


# ----------------------------------------------------------------------------
# Evaluation


def evaluate(classifier: Classifier, dataset: Any, batch_size: int | None = None,
             top_misclassified: int = 200, split: str = "test", amp: bool = False) -> Evaluation:
    """The eval.json object (docs/architecture.md) for `classifier` on `dataset`.

    `dataset` is a cinic.data.dataset.DataSet or anything with its fields: images,
    labels, files, origins, classes and source.
    """
    classes = list(dataset.classes)
    labels = dataset.labels.to(torch.int64).cpu()
    n = labels.shape[0]
    if n == 0:
        raise EvaluationError(f"the {split} split of {dataset.source} has no images; nothing to evaluate")
    logits = predict_logits(classifier, dataset.images, batch_size, amp=amp)
    _check_outputs(logits, labels, classes, dataset.source)

    # float64 so the mean over a large split is exact to the digits we report
    losses = F.cross_entropy(logits.double(), labels, reduction="none")
    probs = logits.double().softmax(dim=1)
    preds = probs.argmax(dim=1)
    y_true, y_pred = labels.numpy(), preds.numpy()
    correct = int((y_true == y_pred).sum())
    # Imported here: scikit-learn (with pandas and scipy) took 1-2.5 s of every training's start.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    confusion = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
    precision, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=range(len(classes)), average=None, zero_division=0)
    return {
        "split": split,
        "source": str(dataset.source),
        "compute_dtype": "bfloat16" if uses_bf16(classifier.device, amp) else "float32",
        "n": n,
        "correct": correct,
        "accuracy": _percent(correct / n),
        "loss": round(float(losses.mean()), 4),
        "classes": classes,
        "per_class": {c: _percent(r) for c, r in zip(classes, recall)},
        "precision": {c: _percent(p) for c, p in zip(classes, precision)},
        "confusion": confusion.tolist(),
        "most_confused": most_confused(confusion, classes),
        "per_origin": per_origin_accuracy(list(dataset.origins), y_true == y_pred),
        "misclassified": misclassified(dataset.files, labels, preds, probs, losses, classes,
                                       top_misclassified),
    }


def _percent(fraction: float) -> float:
    return round(float(fraction) * 100, 2)


def _check_outputs(logits: torch.Tensor, labels: torch.Tensor, classes: list[str], source: str) -> None:
    if logits.shape[0] != labels.shape[0]:
        raise EvaluationError(
            f"{source} has {logits.shape[0]} images but {labels.shape[0]} labels; reload the data set")
    outputs = logits.shape[1] if logits.dim() == 2 else tuple(logits.shape[1:])
    if outputs != len(classes):
        raise EvaluationError(
            f"the model gives {outputs} outputs per image but {source} has "
            f"{len(classes)} classes; evaluate with a model trained for these classes")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise EvaluationError(f"labels of {source} fall outside 0..{len(classes) - 1}; reload the data set")


def most_confused(confusion: np.ndarray, classes: Sequence[str],
                  top: int = MOST_CONFUSED) -> list[dict[str, Any]]:
    """Off-diagonal cells, largest first (ties by class order): [{"true", "pred", "count"}]."""
    cells = [(int(confusion[t, p]), t, p)
             for t in range(len(classes)) for p in range(len(classes))
             if t != p and confusion[t, p] > 0]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [{"true": classes[t], "pred": classes[p], "count": count} for count, t, p in cells[:top]]


def per_origin_accuracy(origins: list[str], is_correct: np.ndarray) -> dict[str, dict[str, Any]]:
    """Accuracy per image origin ("cifar10", "imagenet", ...): {origin: {"n", "accuracy"}}."""
    result = {}
    for origin in sorted(set(origins)):
        mask = np.array([o == origin for o in origins])
        result[origin] = {"n": int(mask.sum()), "accuracy": _percent(is_correct[mask].mean())}
    return result


def misclassified(files: Sequence[str], labels: torch.Tensor, preds: torch.Tensor, probs: torch.Tensor,
                  losses: torch.Tensor, classes: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """The wrong predictions with the highest loss first, at most `limit` of them."""
    wrong = torch.nonzero(preds != labels).flatten()
    ranked = wrong[losses[wrong].argsort(descending=True, stable=True)][:max(limit, 0)]
    rows = []
    for i in ranked.tolist():
        true, pred = int(labels[i]), int(preds[i])
        rows.append({
            "index": i,
            "file": display_name(files[i]),  # what eval.json and every page show
            "true": classes[true],
            "pred": classes[pred],
            "p_pred": round(float(probs[i, pred]), 4),
            "p_true": round(float(probs[i, true]), 4),
            "loss": round(float(losses[i]), 4),
        })
    return rows


# ----------------------------------------------------------------------------
# A run's evaluation


def evaluate_run(run, which: str = "best", device: str | torch.device = "cpu", data=None,
                 split: str = "test", batch_size: int | None = None, progress=None) -> Evaluation:
    """A run's checkpoint evaluated on a split of its own data, or on `data` (a CINIC-10 root,
    an archive, or a folder of class folders). The run's own test split is its reported result:
    that one is written to eval.json. Training, the CLI and the Results page all call this."""
    from cinic.runs import checkpoints
    from cinic.data.dataset import load_evaluation_set

    classifier = checkpoints.load_model(run, which, device)
    dataset, name = load_evaluation_set(data or run.data_root(), split, progress)
    result = evaluate(classifier, dataset, batch_size, split=name)
    result.update(checkpoint=which, epoch=classifier.epoch)
    if data is None and name == "test":
        run.write_evaluation(result)
    return result
