"""cinic.data.demo: layout, determinism, atomic building, the lock, and a set learnable but not trivially."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinic.data import demo
from cinic.data.dataset import CLASSES, SPLITS, origin_of, validate_root
from cinic.data.demo import DemoError, ensure_demo_dataset, make_demo_dataset

PROJECT = Path(__file__).resolve().parents[1]
CONFUSABLE = (("cat", "dog"), ("automobile", "truck"), ("deer", "horse"))


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    """The default demo set (200/50/50 per class), made once, with the seconds it took."""
    started = time.perf_counter()
    root = make_demo_dataset(tmp_path_factory.mktemp("default") / "demo")
    return root, time.perf_counter() - started


def png_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def load_pixels(root: Path, split: str):
    """Pixels pooled to 16x16 (flattened, in [0, 1]), labels and origins of a split."""
    rows, labels, origins = [], [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((root / split / name).iterdir()):
            pixels = np.asarray(Image.open(path), np.float32) / 255
            rows.append(pixels.reshape(16, 2, 16, 2, 3).mean(axis=(1, 3)).ravel())
            labels.append(label)
            origins.append(origin_of(path.name))
    return np.stack(rows), np.array(labels), np.array(origins)


def test_layout_counts_and_readme(default_demo):
    root, _ = default_demo
    for split, n in zip(SPLITS, demo.DEFAULT_PER_CLASS):
        assert sorted(p.name for p in (root / split).iterdir()) == list(CLASSES)
        for name in CLASSES:
            assert len(list((root / split / name).glob("*.png"))) == n, (split, name)
    assert "synthetic" in (root / "DEMO.txt").read_text().lower()
    assert json.loads((root / "demo.json").read_text())["per_class"] == [200, 50, 50]
    assert [p.name for p in root.parent.iterdir()] == ["demo"]      # no temp folders left


def test_images_are_32x32_rgb_png(default_demo):
    root, _ = default_demo
    for path in root.rglob("*.png"):
        with Image.open(path) as img:
            assert (img.format, img.mode, img.size) == ("PNG", "RGB", (32, 32)), path


def test_half_of_each_class_is_named_like_each_origin(default_demo):
    root, _ = default_demo
    for split in SPLITS:
        for name in CLASSES:
            origins = [origin_of(p.name) for p in (root / split / name).iterdir()]
            assert origins.count("cifar10") == origins.count("imagenet") == len(origins) // 2
    assert {p.name.split("-")[1] for p in (root / "test").rglob("cifar10-*")} == {"test"}
    assert (root / "train" / "cat" / "n02121808_00600.png").is_file()


def test_the_default_set_is_a_small_folder_the_library_takes_as_cinic10(default_demo):
    """What the demo set is for: a data set every page and command accepts before CINIC-10 is downloaded,
    small enough to draw on the spot. (The seconds it took are printed, not asserted: a shared machine
    varies more than any bound would say.)"""
    root, seconds = default_demo
    print(f"default demo set (3,000 images) made in {seconds:.2f} s")
    report = validate_root(root)
    assert report["total"] == 3000 and report["non_rgb"] == 0
    assert report["counts"]["train"] == dict.fromkeys(CLASSES, 200)
    assert sum(p.stat().st_size for p in root.rglob("*.png")) < 10_000_000  # about 7 MB: CINIC-10 is 690


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    a = png_files(make_demo_dataset(tmp_path / "a", per_class=(6, 2, 2), seed=3))
    b = png_files(make_demo_dataset(tmp_path / "b", per_class=(6, 2, 2), seed=3))
    c = png_files(make_demo_dataset(tmp_path / "c", per_class=(6, 2, 2), seed=4))
    assert len(a) == 100 and a == b
    assert a.keys() == c.keys()
    assert sum(a[k] != c[k] for k in a) == len(a)


def test_progress_counts_every_image(tmp_path):
    seen = []
    make_demo_dataset(tmp_path / "d", per_class=(2, 1, 1),
                      progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 40) for i in range(1, 41)]


def test_interrupted_build_leaves_nothing_behind(tmp_path):
    def stop_halfway(done, total):
        if done == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_demo_dataset(tmp_path / "d", per_class=(4, 1, 1), progress=stop_halfway)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("per_class", [(0, 1, 1), (1, 1), "many", (5, -1, 2)])
def test_bad_counts_are_refused(tmp_path, per_class):
    with pytest.raises(DemoError, match="per_class"):
        make_demo_dataset(tmp_path / "d", per_class=per_class)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_a_demo_set_is_never_replaced(tmp_path):
    mine = tmp_path / "d"
    (mine / "train").mkdir(parents=True)
    (mine / "notes.txt").write_text("my own work")
    with pytest.raises(DemoError, match="not a demo data set"):
        make_demo_dataset(mine, per_class=(1, 1, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert (mine / "notes.txt").read_text() == "my own work"


def test_ensure_makes_reuses_and_repairs(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    assert ensure_demo_dataset(out, per_class=(2, 1, 1)) == out.absolute()
    first = png_files(out)
    # Complete: returned as is, nothing drawn.
    monkeypatch.setattr(demo, "make_demo_dataset", lambda *a, **k: pytest.fail("rebuilt a complete set"))
    assert ensure_demo_dataset(out, per_class=(2, 1, 1)) == out.absolute()
    monkeypatch.undo()
    # A lost file, or other parameters asked for: made again.
    next(out.rglob("*.png")).unlink()
    ensure_demo_dataset(out, per_class=(2, 1, 1))
    assert png_files(out) == first
    ensure_demo_dataset(out, per_class=(3, 1, 1))
    assert len(png_files(out)) == 50
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["demo"]


@pytest.mark.slow
def test_two_processes_ensuring_at_once_build_it_once(tmp_path):
    code = (
        "import sys; from cinic.data.demo import ensure_demo_dataset\n"
        "drawn = []\n"
        "ensure_demo_dataset(sys.argv[1], per_class=(20, 5, 5), progress=lambda d, t: drawn.append(d))\n"
        "print(len(drawn))\n"
    )
    out = tmp_path / "demo"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=PROJECT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    drawn = sorted(int(p.communicate(timeout=120)[0]) for p in procs)
    assert drawn == [0, 300]                       # one drew all 300 images, the other waited
    assert demo.is_complete(out, (20, 5, 5))


def test_learnable_but_not_trivial_and_confusable_pairs_confuse(default_demo):
    """A linear classifier on 16x16 pixels: well above chance, far from perfect, with structure."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import confusion_matrix

    root, _ = default_demo
    train_x, train_y, _ = load_pixels(root, "train")
    test_x, test_y, origins = load_pixels(root, "test")
    predicted = RidgeClassifier(alpha=10).fit(train_x, train_y).predict(test_x)
    accuracy = (predicted == test_y).mean()
    assert 0.30 < accuracy < 0.95, accuracy         # chance is 0.10
    # The "ImageNet" half is drawn busier, so it is harder, as on the real data.
    right = predicted == test_y
    assert right[origins == "cifar10"].mean() > right[origins == "imagenet"].mean()

    confusion = confusion_matrix(test_y, predicted, labels=range(len(CLASSES)))
    both_ways = confusion + confusion.T
    pairs = {(a, b): both_ways[i, j] for i, a in enumerate(CLASSES) for j, b in enumerate(CLASSES) if i < j}
    typical = np.median(list(pairs.values()))
    for pair in CONFUSABLE:
        assert pairs[pair] >= 2.5 * typical, (pair, pairs[pair], typical)
    assert max(pairs, key=pairs.get) in CONFUSABLE
