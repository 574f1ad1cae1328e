"""cinic/data/corrupt.py: a reproducible corrupted copy of a split, in a layout every command reads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cinic.data import corrupt
from cinic.data.corrupt import CORRUPTIONS, CorruptError, corrupt_image, corrupt_split
from cinic.data.dataset import check_root, load_split


def digest(folder: Path) -> str:
    """One hash over every file's name and bytes under `folder`."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def copies(sample_root, tmp_path_factory):
    """The shared sample's test split corrupted twice with seed 0 (two folders) and once with seed 1."""
    base = tmp_path_factory.mktemp("corrupt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CINIC_CACHE", str(base / "cache"))
        for name, seed in (("a", 0), ("b", 0), ("c", 1)):
            corrupt_split(sample_root, base / name, seed=seed)
    return base


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_ones(copies):
    assert digest(copies / "a" / "test") == digest(copies / "b" / "test")
    assert digest(copies / "a" / "test") != digest(copies / "c" / "test")
    assert (copies / "a" / "corruption.json").read_bytes() == (copies / "b" / "corruption.json").read_bytes()


def test_the_copy_is_a_valid_root_with_the_other_splits_unchanged(copies, sample_root):
    report = check_root(copies / "a")
    assert report["counts"] == check_root(sample_root)["counts"]
    assert digest(copies / "a" / "train") == digest(sample_root / "train")
    assert digest(copies / "a" / "valid") == digest(sample_root / "valid")
    record = json.loads((copies / "a" / "corruption.json").read_text())
    assert len(record["files"]) == 1017 and set(record["counts"]) == set(CORRUPTIONS)
    assert all(n > 150 for n in record["counts"].values())  # about a fifth each


def test_every_image_is_changed_but_stays_recognisably_itself(copies, sample_root):
    clean = load_split(sample_root, "test").images.float()
    corrupted = load_split(copies / "a", "test").images.float()
    record = json.loads((copies / "a" / "corruption.json").read_text())
    kinds = np.array([record["files"][f] for f in load_split(copies / "a", "test").files])
    change = (corrupted - clean).abs().mean(dim=(1, 2, 3)).numpy()
    for kind in CORRUPTIONS:
        of_kind = change[kinds == kind]
        # Moderate: every image moved, none by more than a quarter of the range on average
        # (the most: a contrast cut to 0.4 of a high-contrast photo's).
        assert of_kind.min() > 0.3 and of_kind.max() < 64, (kind, of_kind.min(), of_kind.max())


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_each_corruption_changes_pixels_by_a_bounded_amount(kind):
    rng = np.random.default_rng(0)
    picture = rng.integers(40, 216, size=(32, 32, 3)).astype(np.uint8)
    out = corrupt_image(picture, kind, 3, np.random.default_rng(1))
    assert out.shape == picture.shape and out.dtype == np.uint8
    change = np.abs(out.astype(int) - picture.astype(int))
    assert change.mean() > 2, f"{kind} barely changed the picture"
    assert change.mean() < 80, f"{kind} destroyed the picture"
    stronger = corrupt_image(picture, kind, 5, np.random.default_rng(1))
    assert np.abs(stronger.astype(int) - picture.astype(int)).mean() >= change.mean() - 1e-9


def test_a_second_call_reuses_the_copy_and_other_settings_rebuild_it(sample_root, tmp_path, monkeypatch):
    built = []
    original = corrupt._write_copy
    monkeypatch.setattr(corrupt, "_write_copy", lambda *a: built.append(1) or original(*a))
    corrupt_split(sample_root, tmp_path / "c", seed=3)
    corrupt_split(sample_root, tmp_path / "c", seed=3)
    assert len(built) == 1
    next(iter((tmp_path / "c" / "test").rglob("*.png"))).unlink()  # damaged: rebuilt, not used
    corrupt_split(sample_root, tmp_path / "c", seed=3)
    corrupt_split(sample_root, tmp_path / "c", seed=3, severity=2)
    assert len(built) == 3 and json.loads((tmp_path / "c" / "corruption.json").read_text())["severity"] == 2


def test_a_foreign_folder_is_never_overwritten(tiny_data, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(CorruptError, match="not a corrupted copy"):
        corrupt_split(tiny_data, tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"
    with pytest.raises(CorruptError, match="overlaps the data folder"):
        corrupt_split(tiny_data, tiny_data / "copy")


@pytest.mark.parametrize("setting, message", [(dict(severity=6), "severity must be one of"),
                                              (dict(split="training"), "unknown split"),
                                              (dict(seed=-1), "seed must be")])
def test_bad_settings_are_refused_by_name(tiny_data, tmp_path, setting, message):
    with pytest.raises(CorruptError, match=message):
        corrupt_split(tiny_data, tmp_path / "out", **setting)
    assert not (tmp_path / "out").exists()


def test_a_link_to_the_data_folder_hides_no_overlap(tiny_data, tmp_path, capsys):
    """Issue 20, item 10: the overlap check compares resolved paths, whatever spelling the data has."""
    import shutil

    from cinic import cli

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    link = tmp_path / "link"
    link.symlink_to(data)
    for given, out in ((link, data / "newc"), (data, link / "newc"), (data / ".." / "link", data / "c2")):
        with pytest.raises(CorruptError, match="overlaps the data folder"):
            corrupt_split(given, out)
        assert cli.main(["corrupt", str(given), "--out", str(out)]) == 2
        assert "overlaps the data folder" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == sorted(p.name for p in tiny_data.iterdir())
