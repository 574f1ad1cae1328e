"""The course report's own figures, as data: what the reproduce study puts its results beside.

Everything here is copied from the report (../shared/DESIGN.md holds the
transcription): its three variants with their test and validation accuracy,
epochs and learning-rate drops (its Tables 1-3), its per-epoch validation
figures, its confusion matrix of `best` as printed, and its six conclusions.
Nothing is computed from the report's figures except the transpose of its
matrix (`report_confusion`).
"""

from __future__ import annotations

from cinic.data.dataset import CLASSES

CINIC_TRAIN_IMAGES = 90_000   # CINIC-10's training split: the report trained on it (plus 30,000 Augmentor images)
REPORT_LR = 0.001             # Adam's starting rate in every variant
REPORT_BATCH = 64

# Per variant, in the report's words: what it changes, its figures, and how it was trained.
VARIANTS: dict[str, dict] = {
    "base": {
        "name": "base (LeNet-5)",
        "changes": "LeNet-5 as published: conv 3→6 k5, pool, conv 6→16 k5, pool, fc 400→120→84→10",
        "test": 50.73, "valid": 51.22, "epochs": 16,
        "lr_drops": [[8, 0.0001], [16, 0.00001]],    # 0.001, then 0.0001 from epoch 8, 0.00001 at epoch 16
    },
    "stepping": {
        "name": "stepping stone",
        "changes": "smaller filters: conv 3→6 k3, pool, conv 6→16 k4, pool, fc 576→120→84→10",
        "test": 52.25, "valid": 54.51, "epochs": 10,
        "lr_drops": [[10, 0.0001]],                  # 0.001 for epochs 1-9, 0.0001 at epoch 10
    },
    "best": {
        "name": "best",
        "changes": "more feature maps and BatchNorm: conv 3→32 k3, pool, BN, conv 32→64 k4, pool, BN, "
                   "fc 2304→600→200→10",
        "test": 64.38, "valid": 64.66, "epochs": 5,
        "lr_drops": [[5, 0.0001]],                   # 0.001 for epochs 1-4, 0.0001 at epoch 5
    },
}

# Validation accuracy (%) by epoch, as the report's tables give them (not every epoch is given).
REPORT_CURVES: dict[str, list[list[float]]] = {
    "base": [[1, 39.36], [8, 50.50], [16, 51.22]],
    "stepping": [[1, 41.06], [6, 51.15], [9, 52.16], [10, 54.51]],
    "best": [[1, 59.15], [2, 62.62], [3, 62.79], [4, 63.07], [5, 64.66]],
}

# best on CINIC-10's 90,000 test images, as printed. It was made with confusion_matrix(predicted, real),
# so each ROW is a predicted class and each column a true class (every column sums to 9,000).
REPORT_CONFUSION_AS_PRINTED: list[list[int]] = [
    [6724, 238, 392, 114, 154, 112, 52, 142, 758, 260],      # predicted airplane
    [260, 6525, 77, 130, 70, 125, 53, 125, 445, 1646],       # predicted automobile
    [442, 94, 5479, 707, 651, 648, 585, 267, 356, 98],       # predicted bird
    [105, 88, 603, 4299, 803, 1651, 595, 374, 166, 107],     # predicted cat
    [143, 60, 593, 699, 5036, 915, 211, 748, 149, 99],       # predicted deer
    [111, 122, 602, 1653, 935, 4274, 310, 742, 157, 131],    # predicted dog
    [67, 45, 679, 744, 335, 333, 7005, 55, 108, 42],         # predicted frog
    [154, 109, 226, 282, 715, 595, 60, 6252, 142, 169],      # predicted horse
    [741, 379, 280, 239, 210, 221, 93, 141, 6332, 441],      # predicted ship
    [253, 1340, 69, 133, 91, 126, 36, 154, 387, 6007],       # predicted truck
]

# Its "per class accuracy": row diagonal / row sum of the matrix above, so per-class PRECISION.
REPORT_PER_CLASS_AS_PRINTED: dict[str, float] = {
    "airplane": 75.16, "automobile": 69.00, "bird": 58.74, "cat": 48.90, "deer": 58.20,
    "dog": 47.29, "frog": 74.42, "horse": 71.83, "ship": 69.75, "truck": 69.88}

# Its conclusions, in our words; the study tests each (cinic.study.claims).
CONCLUSIONS: dict[int, str] = {
    1: "Smaller filters raise accuracy (stepping stone beats base).",
    2: "BatchNorm and more feature maps add about ten points (best beats stepping stone by about 10).",
    3: "Most mistakes fall between classes that share features (cat/dog, automobile/truck).",
    4: "Lowering the learning rate in the last epochs helps (best with its late drop beats best without).",
    5: "Xavier-uniform initialisation did not help (base with Xavier weights is no better than base).",
    6: "The model with more weights reaches its accuracy in fewer epochs.",
}


def report_confusion() -> list[list[int]]:
    """The report's matrix with rows = true class (as every matrix in this project): the transpose of
    the printed one."""
    return [list(column) for column in zip(*REPORT_CONFUSION_AS_PRINTED)]


def classes() -> list[str]:
    return list(CLASSES)
