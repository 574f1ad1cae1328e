"""A few image files of each class of a split, for a page to show at once (nothing decoded)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from cinic.data.dataset import CLASSES, IMAGE_SUFFIXES


def sample_files(root: str | Path, split: str = "train", per_class: int = 8, seed: int = 0) -> dict[str, list[Path]]:
    """A few image files of each class folder of a split, picked reproducibly at random.

    Lists the folders but decodes nothing, so a sample grid of the full
    CINIC-10 shows at once instead of after decoding 90,000 images.
    """
    rng = random.Random(seed)
    picked = {}
    for name in CLASSES:
        folder = Path(root) / split / name
        if not folder.is_dir():
            continue
        files = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith(IMAGE_SUFFIXES))
        picked[name] = [folder / f for f in rng.sample(files, min(per_class, len(files)))]
    return picked
