"""cinic/analysis/image_sets.py and `predict RUN FOLDER_OR_ZIP`: many images at once, zips treated as hostile."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from cinic import cli
from cinic.analysis.image_sets import BatchError, classify_batch, from_members, load_batch, predictions_csv
from cinic.runs.folder import RunFolder
from made_images import header_only_png, image_bytes


@pytest.fixture(scope="module")
def trained(train_finished, tiny_data) -> RunFolder:
    return train_finished(tiny_data, "r")


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _test_images(tiny_data: Path, classes=("cat", "dog"), per_class=3) -> dict[str, bytes]:
    """Real images of the tiny set's test split, by "class/file" name."""
    return {f"{c}/{p.name}": p.read_bytes()
            for c in classes for p in sorted((tiny_data / "test" / c).iterdir())[:per_class]}


def _predict(capsys, *argv):
    code = cli.main(["predict", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- unlabelled -------------------------------------------------------------------------------------
def test_a_zip_of_loose_images_gets_top_k_for_each_and_says_what_it_left_out(trained, tiny_data, tmp_path, capsys):
    from cinic.runs.checkpoints import load_model
    from cinic.analysis.evaluate import classify_pictures
    from cinic.data.images import open_image, to_model_input

    images = _test_images(tiny_data)
    entries = {f"holiday/{name.replace('/', '-')}": data for name, data in images.items()}
    entries["holiday/more/big.png"] = image_bytes(Image.new("RGB", (300, 200), (200, 30, 30)))
    entries["holiday/notes.txt"] = b"not an image"
    entries["holiday/broken.png"] = b"\x89PNG\r\n\x1a\n broken"
    entries["__MACOSX/holiday/._x.png"] = b"resource fork"
    archive = _zip(tmp_path / "holiday.zip", entries)
    code, out, err = _predict(capsys, str(trained.path), str(archive), "--json", "--top-k", "2")
    result = json.loads(out)
    assert code == 1  # one image could not be read: said, and the rest classified
    assert not result["labelled"] and result["evaluation"] is None
    files = [p["file"] for p in result["predictions"]]
    assert files == sorted(n.removeprefix("holiday/") for n in entries if n.startswith("holiday/")
                           and n.endswith(".png") and "broken" not in n)  # the common folder dropped
    assert result["skipped"] == ["holiday/notes.txt"]
    assert len(result["errors"]) == 1 and "broken.png" in result["errors"][0]
    classifier = load_model(trained)
    for p in result["predictions"]:
        picture, _ = to_model_input(open_image(entries["holiday/" + p["file"]]))
        [expected] = classify_pictures(classifier, [picture], 2)
        assert [t["class"] for t in p["top"]] == [t["class"] for t in expected]
    assert any("resized from 300x200" in n for p in result["predictions"] for n in p["notes"])
    rows = predictions_csv(result).splitlines()
    assert rows[0] == "file,class 1,p 1,class 2,p 2" and len(rows) == len(files) + 1


def test_a_folder_of_loose_images_is_the_same_as_its_zip(trained, tiny_data, tmp_path, capsys):
    folder = tmp_path / "loose"
    for name, data in _test_images(tiny_data).items():
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        (folder / "sub" / name.replace("/", "-")).write_bytes(data)
    archive = _zip(tmp_path / "loose.zip", {f"loose/sub/{p.name}": p.read_bytes() for p in (folder / "sub").iterdir()})
    from_folder = json.loads(_predict(capsys, str(trained.path), str(folder), "--json")[1])
    from_zip = json.loads(_predict(capsys, str(trained.path), str(archive), "--json")[1])
    assert [p["file"] for p in from_folder["predictions"]][0].startswith("sub/")  # relative to the folder given
    assert [p["file"] for p in from_zip["predictions"]][0].count("/") == 0  # the zip's common folders dropped
    for p in from_folder["predictions"] + from_zip["predictions"]:
        p["file"] = p["file"].split("/")[-1]
    assert from_folder["predictions"] == from_zip["predictions"] and len(from_zip["predictions"]) == 6


# --- labelled ------------------------------------------------------------------------------------------
def test_class_folders_are_evaluated_as_evaluate_data_does(trained, tiny_data, tmp_path, capsys):
    folder = tmp_path / "mine"
    for name, data in _test_images(tiny_data, ("cat", "dog", "ship"), 4).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    archive = _zip(tmp_path / "mine.zip", {f"mine/{p.relative_to(folder).as_posix()}": p.read_bytes()
                                           for p in sorted(folder.rglob("*.png"))})
    assert cli.main(["evaluate", str(trained.path), "--data", str(folder), "--json"]) == 0
    reference = json.loads(capsys.readouterr().out)
    for source in (folder, archive):
        code, out, err = _predict(capsys, str(trained.path), str(source), "--json")
        assert code == 0, err
        result = json.loads(out)
        evaluation = result["evaluation"]
        assert result["labelled"] and evaluation["n"] == 12 == reference["n"]
        for key in ("accuracy", "confusion", "per_class", "most_confused"):
            assert evaluation[key] == reference[key], (source, key)
        assert {p["true"] for p in result["predictions"]} == {"cat", "dog", "ship"}
    code, out, _ = _predict(capsys, str(trained.path), str(archive))
    assert f"{reference['accuracy']:.2f}% of 12 images right" in out
    assert "airplane" not in out  # a class with no images here has no accuracy line


def test_a_zip_with_some_images_outside_class_folders_is_explained(tiny_data):
    entries = _test_images(tiny_data)
    entries["loose.png"] = next(iter(entries.values()))
    with pytest.raises(BatchError, match="loose.png is not directly in a class folder"):
        from_members(entries.items(), "mixed.zip")


# --- hostile and broken zips ------------------------------------------------------------------------------
def _link_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("cat/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return path


def _encrypted_zip(path: Path) -> Path:
    """A zip whose entry says it is encrypted (zipfile cannot write one: the flag bits are set by hand)."""
    data = bytearray(_zip(path, {"cat/secret.png": b"x" * 10}).read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        data[data.index(signature) + flag_at] |= 0x1
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _zip(p, {"../outside.png": b"x"}), "points outside the zip"),
    (lambda p: _zip(p, {"cat/../../outside.png": b"x"}), "points outside the zip"),
    (lambda p: _zip(p, {"/etc/cron.d/x.png": b"x"}), "absolute path"),
    (lambda p: _zip(p, {"C:\\Windows\\x.png": b"x"}), "absolute path"),
    (_link_zip, "is a link"),
    (_encrypted_zip, "is encrypted"),
    (lambda p: (p.write_bytes(b"PK\x03\x04 not really a zip"), p)[1], "not a readable zip"),
])
def test_a_hostile_or_broken_zip_is_refused_whole(tmp_path, make, message):
    archive = make(tmp_path / "bad.zip")
    with pytest.raises(BatchError, match=message):
        load_batch(archive)
    with pytest.raises(BatchError, match=message):
        load_batch(archive.read_bytes(), name="upload.zip")
    assert sorted(os.listdir(tmp_path)) == ["bad.zip"]  # nothing extracted anywhere near it


def test_a_zip_past_the_limits_is_refused(tiny_data, tmp_path, monkeypatch):
    from cinic.analysis import image_sets as batch

    images = _test_images(tiny_data, ("cat",), 4)
    archive = _zip(tmp_path / "many.zip", images)
    monkeypatch.setattr(batch, "MAX_IMAGES", 3)
    with pytest.raises(BatchError, match="more than 3 images"):
        load_batch(archive)
    monkeypatch.setattr(batch, "MAX_IMAGES", 100)
    monkeypatch.setattr(batch, "MAX_ENTRIES", 3)
    with pytest.raises(BatchError, match="4 entries, more than the 3"):
        load_batch(archive)
    monkeypatch.setattr(batch, "MAX_ENTRIES", 100)
    monkeypatch.setattr(batch, "MAX_TOTAL_BYTES", sum(map(len, images.values())) - 1)
    with pytest.raises(BatchError, match="would unpack to"):
        load_batch(archive)


def test_a_bomb_inside_a_zip_is_left_out_with_the_images_message(tmp_path):
    entries = {"a.png": image_bytes(Image.new("RGB", (40, 40), (10, 200, 10))),
               "bomb.png": header_only_png(30000, 30000)}
    batch = load_batch(_zip(tmp_path / "b.zip", entries))
    assert batch.files == ["a.png"] and len(batch.errors) == 1
    assert batch.errors[0].startswith("bomb.png")  # refused by open_image before any pixel is decoded


def test_an_image_over_the_size_limit_is_read_no_further(tmp_path, monkeypatch):
    from cinic.analysis import image_sets as batch
    from cinic.data import images

    big = image_bytes(Image.effect_noise((200, 200), 64).convert("RGB"))
    monkeypatch.setattr(images, "MAX_BYTES", len(big) - 1)
    monkeypatch.setattr(batch, "MAX_BYTES", len(big) - 1)
    read = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: read.append(n) or original(self, n))
    result = load_batch(_zip(tmp_path / "b.zip", {"big.png": big, "small.png": image_bytes(Image.new("RGB", (8, 8)))}))
    assert result.files == ["small.png"] and "big.png" in result.errors[0] and "allowed" in result.errors[0]
    assert read and all(0 < n <= len(big) for n in read)  # never an unbounded read


def test_nothing_to_classify_is_explained(tmp_path):
    with pytest.raises(BatchError, match="holds no image that can be classified"):
        load_batch(_zip(tmp_path / "e.zip", {"readme.txt": b"hi"}))
    with pytest.raises(BatchError, match="no such folder or zip"):
        load_batch(tmp_path / "missing")


def test_an_uploaded_folder_is_read_like_a_zip(trained, tiny_data):
    """The app's folder upload gives (relative name, bytes) pairs, as a zip's entries are."""
    from cinic.runs.checkpoints import load_model

    members = [(f"my-photos/{name}", data) for name, data in _test_images(tiny_data).items()]
    batch = from_members(members, "the uploaded folder")
    assert batch.labelled and batch.files[0] == "cat/" + members[0][0].split("/")[-1]
    result = classify_batch(load_model(trained), batch)
    assert result["evaluation"]["n"] == 6 and sum(map(sum, result["evaluation"]["confusion"])) == 6
    buffer = io.StringIO(predictions_csv(result))
    assert buffer.readline().strip() == "file,true,class 1,p 1,class 2,p 2,class 3,p 3"


# --- zip bombs of entries that are not images (issue 20, item 3) --------------------------------------
def _opened_entries(monkeypatch) -> list[str]:
    """The names of the zip entries anything opens (to read their bytes) from now on."""
    opened = []
    original = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: opened.append(
        getattr(name, "filename", name)) or original(self, name, *a, **k))
    return opened


def _bzip2_zeros_zip(path: Path, entries: int, size: int) -> Path:
    """One small PNG and `entries` bzip2 entries of `size` zero bytes each: tiny packed, huge unpacked."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("a.png", image_bytes(Image.new("RGB", (8, 8), (200, 10, 10))))
        for i in range(entries):
            archive.writestr(f"filler/{i}.bin", b"\0" * size)
    return path


def test_a_zip_that_packs_far_more_than_it_weighs_is_refused_before_any_entry_is_read(tmp_path, monkeypatch):
    archive = _bzip2_zeros_zip(tmp_path / "bomb.zip", 20, 1 << 20)  # 20 MB declared in about 2 kB
    opened = _opened_entries(monkeypatch)
    with pytest.raises(BatchError, match="times its packed size"):
        load_batch(archive)
    with pytest.raises(BatchError, match="times its packed size"):
        load_batch(archive.read_bytes(), name="upload.zip")
    assert opened == []


def test_an_entry_that_is_not_an_image_is_never_read(tmp_path, monkeypatch):
    entries = {"a.png": image_bytes(Image.new("RGB", (8, 8), (200, 10, 10))), "notes.txt": os.urandom(4096),
               "__MACOSX/._a.png": os.urandom(512)}
    archive = _zip(tmp_path / "mixed.zip", entries)
    opened = _opened_entries(monkeypatch)
    batch = load_batch(archive)
    assert batch.files == ["a.png"] and batch.skipped == ["notes.txt"]
    assert opened == ["a.png"]


def test_the_declared_sizes_of_every_entry_count_against_the_limit(tmp_path, monkeypatch):
    from cinic.analysis import image_sets as batch

    png = image_bytes(Image.new("RGB", (8, 8), (200, 10, 10)))
    archive = _zip(tmp_path / "big.zip", {"a.png": png, "video.mp4": os.urandom(64 << 10)})
    monkeypatch.setattr(batch, "MAX_TOTAL_BYTES", 32 << 10)
    with pytest.raises(BatchError, match="would unpack to"):
        load_batch(archive)


def test_reading_a_batch_is_bounded_in_time(tmp_path, monkeypatch):
    from cinic.analysis import image_sets as batch

    pngs = {f"{i}.png": image_bytes(Image.new("RGB", (8, 8), (i, 10, 10))) for i in range(3)}
    monkeypatch.setattr(batch, "MAX_SECONDS", 0)
    with pytest.raises(BatchError, match="took more than 0 s"):
        load_batch(_zip(tmp_path / "slow.zip", pngs))
    folder = tmp_path / "loose"
    folder.mkdir()
    for name, data in pngs.items():
        (folder / name).write_bytes(data)
    with pytest.raises(BatchError, match="took more than 0 s"):
        load_batch(folder)


def test_the_source_key_follows_what_the_folder_holds(tmp_path):
    """Issue 20, item 2: the key the app caches a folder's result on changes with any image deep in it."""
    import os

    from cinic.analysis.image_sets import source_key

    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(image_bytes(Image.new("RGB", (8, 8))))
    first = source_key(tmp_path)
    assert source_key(tmp_path) == first
    top = tmp_path.stat().st_mtime_ns
    (tmp_path / "cat" / "b.png").write_bytes(image_bytes(Image.new("RGB", (8, 8))))
    os.utime(tmp_path, ns=(top, top))
    second = source_key(tmp_path)
    assert second != first
    (tmp_path / "cat" / "b.png").write_bytes(image_bytes(Image.new("RGB", (9, 9))))  # replaced, same name
    assert source_key(tmp_path) != second
