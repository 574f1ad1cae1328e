"""cinic/data/dataset.py: validation reports every fault, decoding is cached and exact, stats are exact."""

from __future__ import annotations

import os
import tarfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinic.data import dataset as data

from cinic.data import fetch

from cinic.data import images
from cinic.data.dataset import CLASSES, SPLITS, DataError

@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Each test gets its own cache, so no test sees another's decoded files."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CINIC_CACHE", str(cache))
    monkeypatch.delenv("CINIC_DECODE_WORKERS", raising=False)
    return cache


def write_png(path: Path, seed: int, size=(32, 32), mode="RGB") -> np.ndarray:
    """A random picture saved as PNG; returns its RGB pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path)
    return pixels


def make_root(base: Path, per_class: int = 2, classes=CLASSES, splits=SPLITS) -> Path:
    """A tiny CINIC-10 root; names alternate between CIFAR and ImageNet styles."""
    for split in splits:
        for label, name in enumerate(classes):
            for i in range(per_class):
                file = f"cifar10-{split}-{i}.png" if i % 2 == 0 else f"n0{label}123456_{i}.png"
                write_png(base / split / name / file, seed=zlib.crc32(f"{split}/{name}/{i}".encode()))
    return base


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# --- validate_root -------------------------------------------------------------------------
def test_valid_root_reports_counts(tmp_path):
    root = make_root(tmp_path / "cinic")
    report = data.validate_root(root)
    assert report["counts"]["train"] == {name: 2 for name in CLASSES}
    assert set(report["counts"]) == set(SPLITS)
    assert report["total"] == 60 and report["non_rgb"] == 0 and report["root"] == str(root)


def test_missing_split_has_the_exact_message(tmp_path):
    root = make_root(tmp_path / "cinic", splits=("train", "test"))
    with pytest.raises(DataError) as err:
        data.validate_root(root)
    assert err.value.problems == [f"missing split folder 'valid' in {root}: expected train/, valid/ and test/"]


def test_every_problem_is_reported_at_once(tmp_path):
    root = make_root(tmp_path / "cinic")
    train = root / "train"
    for png in (train / "bird").iterdir():
        png.unlink()                                         # empty class
    for png in (train / "ship").iterdir():
        png.unlink()
    (train / "ship").rmdir()                                 # missing class
    write_png(train / "output" / "aug_1.png", 1)             # Augmentor's output folder
    write_png(train / "output" / "aug_2.png", 2)
    (train / "Cat").mkdir()                                  # a misspelt class
    (train / "cat" / "README.txt").write_text("notes")       # non-image file
    cut = train / "dog" / "cifar10-train-0.png"
    cut.write_bytes(cut.read_bytes()[:20])                   # cut inside its header
    write_png(train / "frog" / "big.png", 3, size=(64, 48))  # wrong size
    (root / "valid" / "deer" / "cifar10-valid-0.png").write_bytes(b"")  # empty file
    (train / ".DS_Store").write_bytes(b"litter")             # ignored: hidden file

    with pytest.raises(DataError) as err:
        data.validate_root(root)
    problems = err.value.problems
    expected_starts = [
        f"class folder 'Cat' in {train} is not a CINIC-10 class name: did you mean 'cat'?",
        f"extra folder 'output' in {train} (holding 2 files) is not a CINIC-10 class",
        f"not an image file: {train / 'cat' / 'README.txt'}",
        f"empty class folder {train / 'bird'}: it holds no images",
        f"missing class folder 'ship' in {train}: CINIC-10 has one folder per class",
        f"{cut} has a damaged header",
        f"image {train / 'frog' / 'big.png'} is 64x48, not 32x32",
        f"{root / 'valid' / 'deer' / 'cifar10-valid-0.png'} is empty (0 bytes)",
    ]
    for start in expected_starts:
        assert sum(p.startswith(start) for p in problems) == 1, (start, problems)
    assert len(problems) == len(expected_starts)
    assert "Augmentor writes its samples into output/" in next(p for p in problems if "'output'" in p)
    assert str(err.value).startswith(f"{root} is not a usable CINIC-10 folder: 8 problems found:\n  - ")


def test_truncated_pixels_are_found_when_decoding_with_the_path(tmp_path):
    root = make_root(tmp_path / "cinic")
    cut = root / "train" / "dog" / "cifar10-train-0.png"
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) - 200])  # header intact, pixel data cut
    data.validate_root(root)  # headers only: cheap, so this is not caught here
    with pytest.raises(DataError) as err:
        data.load_split(root, "train")
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(f"{cut} is truncated or corrupt and cannot be decoded")
    assert not list((Path(os.environ["CINIC_CACHE"]) / "decoded").glob("*.pt"))  # nothing cached


def test_long_problem_lists_are_cut_with_a_count(tmp_path):
    root = make_root(tmp_path / "cinic", per_class=3)
    for png in list((root / "train").rglob("*.png"))[:25]:
        png.write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        data.validate_root(root)
    message = str(err.value)
    assert len(err.value.problems) == 25
    assert message.count("\n  - ") == 20 and message.endswith("\n  ... and 5 more problems")


def test_grayscale_images_are_accepted_and_decoded_as_rgb(tmp_path):
    root = make_root(tmp_path / "cinic")
    gray = root / "train" / "cat" / "cifar10-train-0.png"
    write_png(gray, 7, mode="L")
    assert data.validate_root(root)["non_rgb"] == 1
    train = data.load_split(root, "train")
    picture = train.images[train.files.index("cat/cifar10-train-0.png")]
    assert torch.equal(picture[0], picture[1]) and torch.equal(picture[1], picture[2])
    assert torch.equal(picture[0], torch.from_numpy(np.array(Image.open(gray))))


def test_wrong_roots_are_explained(tmp_path):
    make_root(tmp_path / "data" / "CINIC-10", per_class=1)
    with pytest.raises(DataError, match=r"did you mean .*CINIC-10\?"):
        data.validate_root(tmp_path / "data")
    with pytest.raises(DataError, match=r"^no such folder: .*nowhere: give the path of a CINIC-10 folder"):
        data.validate_root(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match=r"file\.txt is a file, not a folder"):
        data.validate_root(tmp_path / "file.txt")


# --- validate_class_folder -------------------------------------------------------------------
def test_class_folder_may_hold_a_subset_of_any_size(tmp_path):
    folder = tmp_path / "mine"
    write_png(folder / "cat" / "a.png", 1, size=(100, 80))
    write_png(folder / "dog" / "b.png", 2)
    report = data.validate_class_folder(folder)
    assert report["counts"] == {"cat": 1, "dog": 1} and report["other_size"] == 1


def test_class_folder_with_unknown_names_lists_the_known_ones(tmp_path):
    folder = tmp_path / "mine"
    write_png(folder / "kitten" / "a.png", 1)
    with pytest.raises(DataError) as err:
        data.validate_class_folder(folder)
    assert err.value.problems[0].startswith(f"extra folder 'kitten' in {folder} (holding 1 file)")
    assert "The classes are airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck." \
        in err.value.problems[0]
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(DataError, match="empty-dir holds no class folders: expected folders named after classes"):
        data.validate_class_folder(tmp_path / "empty-dir")


# --- load_split / load_folder ----------------------------------------------------------------
def test_load_split_decodes_exact_pixels_labels_and_origins(tmp_path):
    root = make_root(tmp_path / "cinic")
    progress_calls = []
    train = data.load_split(root, "train", progress=lambda done, total: progress_calls.append((done, total)))
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (20, 3, 32, 32)
    assert train.images.is_contiguous() and train.labels.dtype == torch.int64
    assert train.labels.tolist() == [label for label in range(10) for _ in range(2)]
    assert train.files[:2] == ["airplane/cifar10-train-0.png", "airplane/n00123456_1.png"]
    assert train.origins[:2] == ["cifar10", "imagenet"]
    assert train.classes == CLASSES and train.source == str(root / "train")
    expected = np.asarray(Image.open(root / "train" / train.files[7]))
    assert np.array_equal(train.images[7].permute(1, 2, 0).numpy(), expected)
    assert progress_calls[-1] == (20, 20)


def test_load_folder_labels_index_cinic_classes(tmp_path):
    folder = tmp_path / "mine"
    write_png(folder / "truck" / "t.png", 1)
    write_png(folder / "cat" / "c.png", 2, size=(64, 64))  # resized on decoding
    loaded = data.load_folder(folder)
    assert loaded.files == ["cat/c.png", "truck/t.png"]
    assert loaded.labels.tolist() == [CLASSES.index("cat"), CLASSES.index("truck")]
    assert loaded.origins == ["unknown", "unknown"]


def test_second_load_reads_the_cache_without_decoding(tmp_path, monkeypatch, cache_dir):
    root = make_root(tmp_path / "cinic")
    first = data.load_split(root, "valid")
    assert len(list((cache_dir / "decoded").glob("*.pt"))) == 1

    def no_decoding(paths):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "decode_chunk", no_decoding)
    second = data.load_split(root, "valid")
    assert torch.equal(first.images, second.images) and first.files == second.files


def test_cache_is_rebuilt_when_a_file_changes_or_is_added(tmp_path):
    root = make_root(tmp_path / "cinic")
    first = data.load_split(root, "test")
    changed = root / "test" / "cat" / "cifar10-test-0.png"
    new_pixels = write_png(changed, seed=999)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    second = data.load_split(root, "test")
    index = second.files.index("cat/cifar10-test-0.png")
    assert np.array_equal(second.images[index].permute(1, 2, 0).numpy(), new_pixels)
    assert not torch.equal(first.images[index], second.images[index])
    write_png(root / "test" / "cat" / "cifar10-test-77.png", seed=5)
    assert len(data.load_split(root, "test").files) == 21


def test_corrupt_cache_is_rebuilt_not_a_crash(tmp_path, cache_dir):
    root = make_root(tmp_path / "cinic")
    first = data.load_split(root, "train")
    (cache_file,) = (cache_dir / "decoded").glob("*.pt")
    cache_file.write_bytes(b"half a zip file")
    again = data.load_split(root, "train")
    assert torch.equal(first.images, again.images)
    assert torch.load(cache_file, weights_only=True)["images"].shape == (20, 3, 32, 32)  # rewritten whole


def test_concurrent_loads_decode_once(tmp_path, monkeypatch):
    root = make_root(tmp_path / "cinic")
    calls = []
    real_decode = images.decode_chunk

    def counting_decode(paths):
        calls.append(len(paths))
        return real_decode(paths)

    monkeypatch.setattr(images, "decode_chunk", counting_decode)
    results = []
    threads = [threading.Thread(target=lambda: results.append(data.load_split(root, "train")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and calls == [20]  # the lock let one thread build, the others read
    assert all(torch.equal(results[0].images, r.images) for r in results)


def test_users_folder_is_left_untouched(tmp_path):
    root = make_root(tmp_path / "cinic")
    before = snapshot(root)
    data.validate_root(root)
    for split in SPLITS:
        data.load_split(root, split)
        data.load_split(root, split)
    data.load_folder(root / "valid")
    assert snapshot(root) == before


@pytest.mark.slow
def test_worker_processes_give_the_same_result(tmp_path, monkeypatch):
    root = make_root(tmp_path / "cinic")
    serial = data.load_split(root, "valid")
    monkeypatch.setenv("CINIC_CACHE", str(tmp_path / "other-cache"))
    monkeypatch.setenv("CINIC_DECODE_WORKERS", "2")
    monkeypatch.setattr(data, "CHUNK_FILES", 8)  # 3 chunks over 2 spawned workers
    parallel = data.load_split(root, "valid")
    assert torch.equal(serial.images, parallel.images) and serial.files == parallel.files
    assert data.validate_root(root)["total"] == 60


def test_bad_split_names_and_missing_splits(tmp_path):
    root = make_root(tmp_path / "cinic", splits=("train",))
    with pytest.raises(DataError, match=r"^unknown split 'validation': use one of train, valid, test\.$"):
        data.load_split(root, "validation")
    with pytest.raises(DataError, match=r"^missing split folder 'test' in .*: expected train/, valid/ and test/$"):
        data.load_split(root, "test")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match=r"nothing holds no images: expected class folders"):
        data.load_folder(tmp_path / "nothing")


# --- channel_stats ---------------------------------------------------------------------------
def test_channel_stats_are_exact_over_all_pixels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 3, 8, 8), dtype=np.uint8)
    pixels[:5] //= 4  # dark images: their per-image std differs from the set's
    mean, std = data.channel_stats(torch.from_numpy(pixels), chunk=5)
    as_float = pixels.astype(np.float64) / 255
    np.testing.assert_allclose(mean, as_float.mean(axis=(0, 2, 3)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, as_float.std(axis=(0, 2, 3)), rtol=0, atol=1e-12)
    per_image_average = as_float.std(axis=(2, 3)).mean(axis=0)   # the seed's way
    assert np.all(np.abs(np.array(std) - per_image_average) > 0.005)
    assert data.channel_stats(pixels) == (mean, std)  # numpy in, same figures, chunking irrelevant


def test_channel_stats_refuses_wrong_input():
    with pytest.raises(DataError, match="needs uint8 images shaped N x C x H x W"):
        data.channel_stats(torch.zeros(2, 3, 4, 4))
    with pytest.raises(DataError, match="got no images"):
        data.channel_stats(torch.zeros(0, 3, 4, 4, dtype=torch.uint8))


# --- origin_of and resolve_data --------------------------------------------------------------
@pytest.mark.parametrize("name, origin", [
    ("cifar10-train-1234.png", "cifar10"),
    ("cat/cifar10-valid-7.png", "cifar10"),
    ("n02123045_1234.png", "imagenet"),
    ("train/dog/n02085620_10074.png", "imagenet"),
    ("my_cat.jpg", "unknown"),
    ("cifar10-train-x.png", "unknown"),
])
def test_origin_of(name, origin):
    assert data.origin_of(name) == origin


def test_resolve_data_accepts_roots_and_explains_the_rest(tmp_path):
    root = make_root(tmp_path / "cinic", per_class=1)
    assert data.resolve_data(root) == root
    with pytest.raises(DataError, match=r"^no such file or folder: .*missing: give a CINIC-10 folder"):
        data.resolve_data(tmp_path / "missing")
    with pytest.raises(DataError, match=r"cinic/train is not a CINIC-10 folder: it lacks train/, valid/, test/"):
        data.resolve_data(root / "train")
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"data\.zip is neither a folder nor a \.tar\.gz/\.tgz archive"):
        data.resolve_data(tmp_path / "data.zip")


def test_resolve_data_extracts_an_archive_once_into_the_cache(tmp_path, monkeypatch, cache_dir):
    root = make_root(tmp_path / "src" / "CINIC-10", per_class=1)
    archive = tmp_path / "CINIC-10.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="CINIC-10")
    found = data.resolve_data(archive)
    assert found.is_relative_to(cache_dir / "extracted") and found.name == "CINIC-10"
    assert data.validate_root(found)["total"] == 30
    monkeypatch.setattr(fetch, "extract_archive", lambda *a, **k: pytest.fail("extracted twice"))
    assert data.resolve_data(archive) == found


def test_real_sample_loads_with_exact_stats(sample_root):
    report = data.validate_root(sample_root)
    assert {s: sum(c.values()) for s, c in report["counts"].items()} == {"train": 4068, "valid": 1017,
                                                                       "test": 1017}
    train = data.load_split(sample_root, "train")
    assert tuple(train.images.shape) == (4068, 3, 32, 32)
    assert train.labels.bincount().tolist() == [report["counts"]["train"][c] for c in CLASSES]
    assert set(train.origins) == {"cifar10"}
    mean, std = data.channel_stats(train.images)
    # Measured on this sample: CIFAR-10 images only, so near CIFAR-10's own figures.
    np.testing.assert_allclose(mean, (0.49377, 0.48467, 0.44829), atol=1e-4)
    np.testing.assert_allclose(std, (0.24782, 0.24448, 0.26180), atol=1e-4)


def test_common_slips_get_one_clear_message(tmp_path):
    flat = tmp_path / "flat"
    for i in range(30):
        write_png(flat / f"photo{i}.png", i)
    with pytest.raises(DataError) as err:
        data.load_folder(flat)
    assert err.value.problems == [f"{flat} holds 30 images directly, not in class folders: put each image "
                                  "in a folder named after its class (airplane, automobile, bird, cat, deer, "
                                  "dog, frog, horse, ship, truck)."]
    root = make_root(tmp_path / "cinic", per_class=1)
    with pytest.raises(DataError, match=r"is a whole CINIC-10 folder .* give one split of it, e\.g\. .*cinic/test\."):
        data.validate_class_folder(root)


def test_two_files_of_one_size_swapped_with_their_mtimes_put_back_are_decoded_again(tmp_path):
    """The decoded cache is keyed on inode and ctime too: a swap that keeps names, sizes and mtimes is seen."""
    from PIL import Image

    root = make_root(tmp_path / "cinic")
    a, b = root / "test" / "cat" / "cifar10-test-0.png", root / "test" / "cat" / "cifar10-test-1.png"
    Image.new("RGB", (32, 32), (200, 0, 0)).save(a, compress_level=0)  # stored: one size for both
    Image.new("RGB", (32, 32), (0, 200, 0)).save(b, compress_level=0)
    assert a.stat().st_size == b.stat().st_size
    first = data.load_split(root, "test")
    stats = {p: p.stat() for p in (a, b)}
    a.rename(tmp_path / "swap")
    b.rename(a)
    (tmp_path / "swap").rename(b)
    for p in (a, b):  # the names, sizes and mtimes the cache saw, other pixels
        os.utime(p, ns=(stats[p].st_atime_ns, stats[p].st_mtime_ns))
    second = data.load_split(root, "test")
    i, j = second.files.index("cat/cifar10-test-0.png"), second.files.index("cat/cifar10-test-1.png")
    assert torch.equal(second.images[i], first.images[j]) and torch.equal(second.images[j], first.images[i])
