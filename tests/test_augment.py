"""cinic.augment.sample: every Augmentor operation applied to real images, preview, cached sampling."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinic.augment import sample as augment
from cinic.augment.ops import OPERATIONS, SEED_PIPELINE, AugmentError, load_pipeline, validate_pipeline
from test_augment_ops import FLIP, ZOOM

SAMPLE_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-sample" / "train"
CLASSES = ("cat", "dog", "ship")


@dataclass
class StandInDataSet:
    """The fields of cinic.data.dataset.DataSet that sampling uses, decoded here with PIL."""

    images: torch.Tensor
    labels: torch.Tensor
    files: list[str]
    origins: list[str]
    classes: tuple[str, ...]
    source: str


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("CINIC_CACHE", str(path))
    return path


def structured_image(rng: np.random.Generator) -> np.ndarray:
    """A 32x32 RGB image with gradients and noise, so no operation leaves it unchanged by chance."""
    ramp = np.linspace(0, 255, 32)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32))], -1)
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def png_folder(tmp_path) -> Path:
    """A split folder in CINIC-10 layout: 3 classes, 4 PNGs each."""
    rng = np.random.default_rng(0)
    root = tmp_path / "train"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(structured_image(rng)).save(root / name / f"cifar10-train-{i}.png")
    return root


def decode_folder(root: Path) -> StandInDataSet:
    files = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.png"))
    arrays = [np.asarray(Image.open(root / f).convert("RGB")) for f in files]
    return StandInDataSet(
        images=torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(),
        labels=torch.tensor([CLASSES.index(f.split("/")[0]) for f in files], dtype=torch.int64),
        files=files, origins=["cifar10"] * len(files), classes=CLASSES, source=str(root))


@pytest.fixture
def dataset(png_folder) -> StandInDataSet:
    return decode_folder(png_folder)


@pytest.fixture(scope="module")
def real_images() -> np.ndarray:
    """Four real CIFAR-10 images from the shared sample, or structured ones where it is absent."""
    files = sorted(SAMPLE_TRAIN.glob("*/*.png"))[:4]
    if files:
        return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    rng = np.random.default_rng(1)
    return np.stack([structured_image(rng) for _ in range(4)])


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


# --- every operation on real images ------------------------------------------------
def extreme_step(info) -> dict:
    """Every numeric parameter at its largest allowed value."""
    step = info.example()
    for param in info.params:
        if param.type in ("float", "int") and param.name != "probability":
            step[param.name] = param.max - 0.01 if param.max_exclusive else param.max
    return {**step, "probability": 1.0}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("variant", ["defaults", "largest", "after greyscale"])
def test_every_operation_runs_and_ends_32x32_rgb(name, variant, real_images):
    info = OPERATIONS[name]
    step = {**info.example(), "probability": 1.0}
    steps = {"defaults": [step], "largest": [extreme_step(info)],
             "after greyscale": [{"op": "greyscale", "probability": 1.0}, step]}[variant]
    out = augment.augment_images(real_images, steps, seed=3)
    assert out.dtype == np.uint8 and out.shape == (len(real_images), 32, 32, 3)
    if variant == "after greyscale":  # nothing brings colour back, and the guard made RGB again
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_probability_zero_leaves_images_untouched(name, real_images):
    out = augment.augment_images(real_images, [{**OPERATIONS[name].example(), "probability": 0.0}])
    assert np.array_equal(out, real_images)


def test_operations_do_what_they_say(real_images):
    def run(op):
        return augment.augment_images(real_images, [{"op": op, "probability": 1.0}])

    assert np.array_equal(run("flip_left_right"), real_images[:, :, ::-1])
    assert np.array_equal(run("flip_top_bottom"), real_images[:, ::-1])
    grey = run("greyscale")
    assert np.array_equal(grey[..., 0], grey[..., 2]) and not np.array_equal(grey, real_images)


def test_resample_filter_antialias_is_read_as_lanczos(real_images):
    steps = validate_pipeline([{"op": "resize", "probability": 1, "width": 40, "height": 20,
                                        "resample_filter": "ANTIALIAS"}])
    assert steps[0]["resample_filter"] == "LANCZOS" and steps[0]["probability"] == 1.0
    assert augment.augment_images(real_images, steps).shape == (4, 32, 32, 3)


def test_augmenting_leaves_the_callers_random_state_alone(real_images):
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    augment.augment_images(real_images, SEED_PIPELINE, seed=9)
    assert (random.random(), np.random.rand()) == expected


# --- bad pipelines fail first, naming the step -------------------------------------
def test_bad_pipeline_fails_before_any_work(dataset, cache_dir, monkeypatch):
    def no_work(task):
        raise AssertionError("augmentation started")

    monkeypatch.setattr(augment, "_augment_chunk", no_work)
    bad = [FLIP, {**ZOOM, "probability": 1.5}]
    with pytest.raises(AugmentError, match=r"step 2 \(zoom\)"):
        augment.sample_augmented(dataset, bad, 10)
    with pytest.raises(AugmentError, match=r"step 2 \(zoom\)"):
        augment.preview_grid(bad, dataset.images[:2])
    assert not list(cache_dir.rglob("*.pt"))


# --- preview -----------------------------------------------------------------------
def test_preview_grid_shape_originals_and_seed(real_images):
    grid = augment.preview_grid(SEED_PIPELINE, real_images[:2], versions=3, seed=0, scale=2)
    gap = augment.PREVIEW_GAP
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (2 * 32 + 3 * gap), 2 * (4 * 32 + 5 * gap + gap), 3)
    first = grid[2 * gap:2 * (gap + 32), 2 * gap:2 * (gap + 32)]
    assert np.array_equal(first, real_images[0].repeat(2, axis=0).repeat(2, axis=1))
    as_tensor = torch.from_numpy(real_images[:2]).permute(0, 3, 1, 2)
    assert np.array_equal(augment.preview_grid(SEED_PIPELINE, as_tensor, versions=3, seed=0, scale=2), grid)
    other = augment.preview_grid(SEED_PIPELINE, real_images[:2], versions=3, seed=1, scale=2)
    assert not np.array_equal(other, grid)
    assert augment.preview_grid([], real_images[:1], versions=0, scale=1).shape == (32 + 2 * gap, 32 + 2 * gap, 3)


# --- sampling ----------------------------------------------------------------------
def test_sampling_leaves_the_source_folder_byte_for_byte_unchanged(png_folder, cache_dir):
    before = tree_hashes(png_folder)
    sample = augment.sample_augmented(decode_folder(png_folder), SEED_PIPELINE, 30, seed=0)
    assert tree_hashes(png_folder) == before  # no output/ folder, no touched file
    assert sample.path.is_file() and cache_dir in sample.path.parents
    assert png_folder not in sample.path.parents


def test_sample_shapes_labels_and_counts(dataset):
    seen = []
    sample = augment.sample_augmented(dataset, SEED_PIPELINE, 25, seed=4,
                                      progress=lambda done, total: seen.append((done, total)))
    assert sample.images.dtype == torch.uint8 and sample.images.shape == (25, 3, 32, 32)
    assert sample.images.is_contiguous() and len(sample) == 25
    assert sample.labels.dtype == torch.int64 and sample.source_index.dtype == torch.int64
    assert torch.equal(sample.labels, dataset.labels[sample.source_index])
    assert list(sample.per_class) == list(CLASSES) and sum(sample.per_class.values()) == 25
    assert sample.per_class == {c: int((sample.labels == i).sum()) for i, c in enumerate(CLASSES)}
    assert seen[0] == (0, 25) and seen[-1] == (25, 25)


def test_sample_is_cached_and_reused(dataset, monkeypatch):
    first = augment.sample_augmented(dataset, SEED_PIPELINE, 12, seed=1)

    def no_work(task):
        raise RuntimeError("regenerated instead of loading the cache")

    monkeypatch.setattr(augment, "_augment_chunk", no_work)
    again = augment.sample_augmented(dataset, load_pipeline("seed"), 12, seed=1)
    assert again.path == first.path
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert torch.equal(again.source_index, first.source_index) and again.per_class == first.per_class
    with pytest.raises(RuntimeError, match="regenerated"):  # another n is another sample
        augment.sample_augmented(dataset, SEED_PIPELINE, 13, seed=1)


@pytest.mark.slow
def test_sample_is_the_same_for_any_number_of_workers(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(augment, "CHUNK_SIZE", 8)  # 20 images: three chunks
    results = {}
    for workers in (1, 2):
        monkeypatch.setenv("CINIC_CACHE", str(tmp_path / f"cache-{workers}"))
        results[workers] = augment.sample_augmented(dataset, SEED_PIPELINE, 20, seed=7, workers=workers)
    assert results[1].path.name == results[2].path.name  # workers are not part of the sample's identity
    assert torch.equal(results[1].images, results[2].images)
    assert torch.equal(results[1].source_index, results[2].source_index)
    other_seed = augment.sample_augmented(dataset, SEED_PIPELINE, 20, seed=8, workers=1)
    assert not torch.equal(other_seed.images, results[1].images)


def test_zero_images_is_an_empty_set(dataset):
    sample = augment.sample_augmented(dataset, SEED_PIPELINE, 0)
    assert sample.images.shape == (0, 3, 32, 32) and sample.labels.shape == (0,)
    assert sample.per_class == {c: 0 for c in CLASSES}


@pytest.mark.parametrize("n, seed, fragment", [(-1, 0, "whole number >= 0"), (2.5, 0, "whole number >= 0"),
                                                (5, -3, "seed must be")])
def test_bad_sample_requests(dataset, n, seed, fragment):
    with pytest.raises(AugmentError, match=fragment):
        augment.sample_augmented(dataset, SEED_PIPELINE, n, seed=seed)


def test_sampling_an_empty_data_set_says_so(dataset):
    empty = StandInDataSet(dataset.images[:0], dataset.labels[:0], [], [], CLASSES, "/nowhere/train")
    with pytest.raises(AugmentError, match="empty data set at /nowhere/train"):
        augment.sample_augmented(empty, SEED_PIPELINE, 3)


# --- the same request gives the same bytes, before and after any refactoring ---------------
# Hashes taken on the code before the operations table was rewritten (commit 2059d2f). A change
# here means users' cached samples and trained runs are no longer reproducible: only accept a new
# hash on purpose (and bump CACHE_FORMAT so old caches are not taken for new ones).
# 2026-12-02 (CACHE_FORMAT 2): rotate crops inward, without RotateRange's black corner bits (issue 11).
EVERY_OPERATION = [{**OPERATIONS[name].example(), "probability": 0.5} for name in (
    "crop_centre", "crop_random", "flip_left_right", "flip_top_bottom", "rotate", "rotate_random_90", "scale",
    "zoom", "zoom_random", "random_brightness", "random_contrast", "random_color", "skew", "shear",
    "random_distortion", "random_erasing", "greyscale", "resize")]


def sha1(array) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_samples_and_previews_are_byte_identical_to_the_pinned_ones(dataset):
    assert sha1(dataset.images.numpy()) == "1b90f2645f67fd15c472a7518b2dd805e8a4e2a0"  # the input itself
    seed = augment.sample_augmented(dataset, SEED_PIPELINE, 64, seed=3)
    assert sha1(seed.images.numpy()) == "83fe5559a5359bf9ec68aab1b5d6541d004bf194"
    assert sha1(seed.source_index.numpy()) == "deeb959fa7ff1b2b2d1252142d4bb2284035ae1f"
    every = augment.sample_augmented(dataset, EVERY_OPERATION, 300, seed=5)  # two chunks
    assert sha1(every.images.numpy()) == "b099a0fd495c1a2b42857cf4e634b0573578da5b"  # 2026-12-02: rotate without black corners
    grid = augment.preview_grid(EVERY_OPERATION, dataset.images[:3], versions=4, seed=2, scale=1)
    assert sha1(grid) == "16e407c24d31707635719b31a5568cc792ff5a09"
