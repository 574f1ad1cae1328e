"""Run A against run B image by image: which test images B fixed, which it broke, and whether
the difference is more than noise.

Two runs compared by their accuracies alone hide most of the story: B may fix 90 images
and break 60. Both runs predict the SAME test images (float32, `cinic.analysis.evaluate.predict_probs`,
the same answer as everywhere else), and everything here is counted from those two
predictions per image. Whether B is really better is an exact McNemar test: under "A and B
are equally good", each image that one gets right and the other wrong is a fair coin flip
between "fixed" and "broken", so the p-value is a two-sided binomial test on those counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cinic.data.dataset import display_name
from cinic.errors import CinicError

SIGNIFICANCE = 0.05  # the conventional threshold: below it a difference is called more than noise


class DiffError(CinicError):
    """Two runs that cannot be compared image by image; the message says why and what to do."""


@dataclass
class RunPair:
    """Two runs' predictions on the same test images (probabilities N x C, float32)."""

    name_a: str
    name_b: str
    dataset: Any               # cinic.data.dataset.DataSet: images, labels, files, classes, source
    probs_a: torch.Tensor
    probs_b: torch.Tensor

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.labels.numpy()

    @property
    def pred_a(self) -> np.ndarray:
        return self.probs_a.argmax(dim=1).numpy()

    @property
    def pred_b(self) -> np.ndarray:
        return self.probs_b.argmax(dim=1).numpy()

    @property
    def classes(self) -> list[str]:
        return list(self.dataset.classes)

    def summary(self) -> dict[str, Any]:
        """The headline, per-class table and confusion difference (`diff --json`)."""
        return {"run_a": self.name_a, "run_b": self.name_b, "data": str(self.dataset.source),
                **compare_predictions(self.labels, self.pred_a, self.pred_b, self.classes)}

    def changed(self, kind: str, true_class: str | None = None) -> list[dict[str, Any]]:
        """The images B "fixed" (A wrong, B right) or "broken" (A right, B wrong), optionally of
        one true class, the ones B is surest about first."""
        right_a, right_b = self.pred_a == self.labels, self.pred_b == self.labels
        if kind == "fixed":
            mask = ~right_a & right_b
        elif kind == "broken":
            mask = right_a & ~right_b
        else:
            raise DiffError(f"kind must be 'fixed' or 'broken', not {kind!r}")
        if true_class is not None:
            mask &= self.labels == self._class_index(true_class)
        return self._rows(np.flatnonzero(mask))

    def moved(self, true_class: str, predicted: str) -> dict[str, list[dict[str, Any]]]:
        """The images behind one cell of the confusion difference: "into" the cell (B predicts
        `predicted` for them, A did not) and "out_of" it (A did, B does not). Their counts'
        difference is the cell's value in `confusion_delta`."""
        in_row = self.labels == self._class_index(true_class)
        p = self._class_index(predicted)
        into = in_row & (self.pred_b == p) & (self.pred_a != p)
        out_of = in_row & (self.pred_a == p) & (self.pred_b != p)
        return {"into": self._rows(np.flatnonzero(into)), "out_of": self._rows(np.flatnonzero(out_of))}

    def _class_index(self, name: str) -> int:
        if name not in self.classes:
            raise DiffError(f"unknown class {name!r}; choose one of {', '.join(self.classes)}")
        return self.classes.index(name)

    def _rows(self, indices: np.ndarray) -> list[dict[str, Any]]:
        """One row per image with both runs' predictions and probabilities, B's surest first."""
        classes, labels = self.classes, self.labels
        pred_a, pred_b = self.pred_a, self.pred_b
        rows = []
        for i in indices.tolist():
            rows.append({
                "index": i, "file": display_name(self.dataset.files[i]), "true": classes[labels[i]],
                "pred_a": classes[pred_a[i]], "p_a": float(self.probs_a[i, pred_a[i]]),
                "pred_b": classes[pred_b[i]], "p_b": float(self.probs_b[i, pred_b[i]]),
                "p_true_a": float(self.probs_a[i, labels[i]]), "p_true_b": float(self.probs_b[i, labels[i]]),
            })
        rows.sort(key=lambda r: -r["p_b"])
        return rows


# --- the figures -------------------------------------------------------------------------------
def compare_predictions(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                        classes: list[str]) -> dict[str, Any]:
    """Every figure of the comparison from the true labels and the two runs' predicted labels.

    Accuracies are percentages, unrounded, so `accuracy_b - accuracy_a` is exactly
    `100 * (fixed - broken) / n` up to float rounding."""
    labels, pred_a, pred_b = (np.asarray(x, dtype=np.int64) for x in (labels, pred_a, pred_b))
    n = int(labels.shape[0])
    if n == 0:
        raise DiffError("no test images to compare the runs on")
    right_a, right_b = pred_a == labels, pred_b == labels
    fixed, broken = int((~right_a & right_b).sum()), int((right_a & ~right_b).sum())
    p_value = mcnemar_p_value(fixed, broken)
    return {
        "n": n,
        "accuracy_a": 100.0 * right_a.sum() / n,
        "accuracy_b": 100.0 * right_b.sum() / n,
        "fixed": fixed,
        "broken": broken,
        "both_right": int((right_a & right_b).sum()),
        "both_wrong": int((~right_a & ~right_b).sum()),
        "agreement": 100.0 * (pred_a == pred_b).sum() / n,  # the same class predicted, right or wrong
        "p_value": p_value,
        "verdict": verdict(fixed, broken, p_value),
        "per_class": per_class_changes(labels, right_a, right_b, classes),
        "confusion_delta": confusion_delta(labels, pred_a, pred_b, len(classes)),
    }


def mcnemar_p_value(fixed: int, broken: int) -> float:
    """Exact McNemar test: two-sided binomial test of `fixed` out of `fixed + broken` at 1/2.
    1.0 when the runs never disagree about an image's correctness."""
    from scipy.stats import binomtest

    if fixed + broken == 0:
        return 1.0
    return float(binomtest(fixed, fixed + broken, 0.5, alternative="two-sided").pvalue)


def verdict(fixed: int, broken: int, p_value: float) -> str:
    """The p-value in plain words: who is better, or "within noise"."""
    if fixed + broken == 0:
        return "within noise: A and B get exactly the same images right"
    chance = f"a difference this large would arise by chance in {_percent_text(p_value)} of cases"
    if p_value < SIGNIFICANCE:
        better = "B" if fixed > broken else "A"
        return f"{better} is better; {chance}"
    return f"within noise: {chance} (B fixed {fixed} images and broke {broken})"


def _percent_text(p: float) -> str:
    percent = 100.0 * p
    if percent < 0.1:
        return "fewer than 0.1%"
    if percent < 10:
        return f"{percent:.1f}%"
    return f"{percent:.0f}%"


def per_class_changes(labels: np.ndarray, right_a: np.ndarray, right_b: np.ndarray,
                      classes: list[str]) -> list[dict[str, Any]]:
    """Per true class: accuracy A and B (%), their delta, images fixed and broken; largest gain
    first (ties in class order)."""
    rows = []
    for c, name in enumerate(classes):
        in_class = labels == c
        count = int(in_class.sum())
        acc_a = 100.0 * right_a[in_class].sum() / count if count else 0.0
        acc_b = 100.0 * right_b[in_class].sum() / count if count else 0.0
        rows.append({"class": name, "accuracy_a": float(acc_a), "accuracy_b": float(acc_b),
                     "delta": float(acc_b - acc_a),
                     "fixed": int((in_class & ~right_a & right_b).sum()),
                     "broken": int((in_class & right_a & ~right_b).sum())})
    return sorted(rows, key=lambda r: -r["delta"])  # sorted() is stable: ties keep class order


def confusion_delta(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int) -> list[list[int]]:
    """B's confusion matrix minus A's (rows true class, columns predicted). Each row sums to 0:
    both runs predict every image of the row once."""
    def confusion(pred):
        matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(matrix, (labels, pred), 1)
        return matrix

    return (confusion(pred_b) - confusion(pred_a)).tolist()


# --- two runs on the same images -----------------------------------------------------------------
def compare_runs(run_a, run_b, data=None, device="cpu", progress=None) -> RunPair:
    """Both runs' best checkpoints on the same test images: their own data's test split when it
    is the same for both, or the test split (or class folders) of `data` for both.

    Refuses, saying why, when the runs were trained on different data and no `data` is given."""
    from cinic.runs import checkpoints
    from cinic.data.dataset import load_evaluation_set
    from cinic.analysis.evaluate import predict_probs

    if data is None:
        dataset = _shared_test_images(run_a, run_b, progress)
    else:
        dataset, _ = load_evaluation_set(data, "test", progress)
    probs = []
    for run in (run_a, run_b):
        classifier = checkpoints.load_model(run, "best", device)
        if list(classifier.classes) != list(dataset.classes):
            raise DiffError(f"run {run.name} was trained on the classes {', '.join(classifier.classes)}, "
                            f"but {dataset.source} holds {', '.join(dataset.classes)}; compare runs of one task")
        probs.append(predict_probs(classifier, dataset.images))
    return RunPair(run_a.name, run_b.name, dataset, probs[0], probs[1])


def _shared_test_images(run_a, run_b, progress=None):
    """The test split both runs were trained beside, or DiffError naming the difference."""
    from cinic.data.dataset import load_evaluation_set

    root_a, root_b = (Path(run.config().get("data", "")) for run in (run_a, run_b))
    test_a, _ = load_evaluation_set(root_a, "test", progress)
    if root_a.resolve() == root_b.resolve():
        return test_a
    test_b, _ = load_evaluation_set(root_b, "test", progress)
    if test_a.files == test_b.files and torch.equal(test_a.images, test_b.images) \
            and torch.equal(test_a.labels, test_b.labels):
        return test_a  # a copy of the same data set in another folder: the same images
    shared = len(set(test_a.files) & set(test_b.files))
    raise DiffError(
        f"{run_a.name} and {run_b.name} were trained on different data ({root_a}: {len(test_a.files):,} test "
        f"images; {root_b}: {len(test_b.files):,}; {shared:,} file names in common{_pixel_note(test_a, test_b)}), "
        f"so their test figures are about different images. Compare them on one data set: "
        f"evaluate both on {run_a.name}'s test images (--data {root_a})")


def _pixel_note(a, b) -> str:
    return ", the same names but other pixels or labels" if a.files == b.files else ""
