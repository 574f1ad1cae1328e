"""Bad and hostile input through the surfaces a user touches: the exact message they see.

Data folders and archives go through `python -m cinic check`, image files
through `predict` and the Classify page's uploader, model files through
`predict`, `evaluate`, `export` and `train --resume`, settings through `train`.
Each case states the whole message (Pillow's own wording is matched loosely
only where it is quoted inside ours). Also here: the server's settings, the
weights-only rule for every `torch.load`, and the safetensors export.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import re
import resource
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinic import cli

from cinic.data import images
from cinic.model.lenet import PRESETS, ModelSpec, build_model
from cinic.runs import checkpoints
from cinic.runs.checkpoints import load_model
from cinic.runs.folder import RunFolder
from made_images import header_only_png, image_bytes

PROJECT = Path(__file__).resolve().parents[1]
PAGES = "pages"  # Streamlit's own multipage folder: every file in it is a page
CLASS_LIST = "airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck"
ACCEPTED = "choose a PNG, JPEG, BMP, GIF, WEBP or TIFF file."
PREDICTION = r"(\w+ \d+\.\d%, ){2}\w+ \d+\.\d%"  # "cat 41.2%, dog 20.1%, frog 9.9%"


pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m cinic ARGV`, run in this process."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_text(err: str) -> str:
    """The error the CLI printed, without the progress bars drawn before it on stderr."""
    assert "error: " in err, err
    return err[err.index("error: "):]


# --- bad files, made to order ---------------------------------------------------------------------
def bomb_png() -> bytes:
    return header_only_png(20_000, 20_000)


def animated_gif(frames: int = 3) -> bytes:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    pictures = [Image.new("RGB", (40, 40), colours[i % 4]) for i in range(frames)]
    return image_bytes(pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=100)


def sixteen_bit_png() -> bytes:
    return image_bytes(Image.fromarray(np.full((32, 32), 40_000, dtype=np.uint16)))


def cmyk_jpeg() -> bytes:
    return image_bytes(Image.new("CMYK", (50, 50), (0, 200, 200, 0)), "JPEG")


def palette_png() -> bytes:
    return image_bytes(Image.new("RGB", (32, 32), (10, 200, 30)).convert("P"))


def truncated_png() -> bytes:
    """A 32x32 PNG whose header is intact and whose pixel data is cut short."""
    rng = np.random.default_rng(0)
    whole = image_bytes(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    return whole[:len(whole) - 200]


# --- data folders: `check DATA` ---------------------------------------------------------------------
@pytest.fixture
def data_copy(tiny_data, tmp_path) -> Path:
    """A private copy of the tiny data set, free to damage."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def first_image(folder: Path) -> Path:
    return sorted(folder.iterdir())[0]


def not_usable(root: Path, problem: str) -> str:
    return f"error: {root} is not a usable CINIC-10 folder: 1 problem found:\n  - {problem}\n"


def _missing_split(root):
    shutil.rmtree(root / "valid")
    return (f"error: {root} is not a CINIC-10 folder: it lacks valid/; give a CINIC-10 folder "
            "(holding train/, valid/ and test/) or its .tar.gz archive.\n")


def _missing_class(root):
    shutil.rmtree(root / "train" / "cat")
    return not_usable(root, f"missing class folder 'cat' in {root / 'train'}: CINIC-10 has one folder per "
                            f"class ({CLASS_LIST}); add it.")


def _extra_class(root):
    (root / "train" / "output").mkdir()
    shutil.copy(first_image(root / "train" / "cat"), root / "train" / "output" / "aug.png")
    return not_usable(root, f"extra folder 'output' in {root / 'train'} (holding 1 file) is not a CINIC-10 "
                            "class, so a trainer would read it as one more class: move it out of the data "
                            "folder. Augmentor writes its samples into output/ inside the folder it reads; "
                            "this project keeps them in its cache instead. The classes are "
                            f"{CLASS_LIST}.")


def _empty_class(root):
    for png in (root / "test" / "dog").iterdir():
        png.unlink()
    return not_usable(root, f"empty class folder {root / 'test' / 'dog'}: it holds no images; add its "
                            "images or remove the folder.")


def _text_file(root):
    (root / "train" / "cat" / "notes.txt").write_text("my notes")
    return not_usable(root, f"not an image file: {root / 'train' / 'cat' / 'notes.txt'}: a class folder "
                            "holds only images (.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff); move "
                            "or delete it.")


def _text_named_png(root):
    path = root / "train" / "cat" / "fake.png"
    path.write_text("not a picture")
    return not_usable(root, f"{path} is not an image file (or not one Pillow can read): {ACCEPTED}")


def _zero_bytes(root):
    path = first_image(root / "valid" / "deer")
    path.write_bytes(b"")
    return not_usable(root, f"{path} is empty (0 bytes), so it holds no image: {ACCEPTED}")


def _wrong_size(root):
    path = first_image(root / "train" / "frog")
    Image.new("RGB", (64, 48)).save(path)
    return not_usable(root, f"image {path} is 64x48, not 32x32: CINIC-10 images are 32x32; resize it "
                            "or remove it.")


def _bomb(root):
    path = first_image(root / "train" / "ship")
    path.write_bytes(bomb_png())
    return not_usable(root, f"{path} is too large a picture (400.0 megapixels); at most 16.8 megapixels "
                            "(4096x4096) are accepted: shrink it, then try again.")


DATA_CASES = {
    "missing split": _missing_split,
    "missing class folder": _missing_class,
    "extra class folder": _extra_class,
    "empty class folder": _empty_class,
    "non-image file": _text_file,
    "text named .png": _text_named_png,
    "zero-byte image": _zero_bytes,
    "wrong size": _wrong_size,
    "20000x20000 bomb": _bomb,
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_a_bad_data_folder_is_refused_with_its_message(case, data_copy, capsys):
    expected = DATA_CASES[case](data_copy)
    started = time.perf_counter()
    code, out, err = run_cli(capsys, "check", data_copy)
    assert (code, out) == (2, "")
    assert error_text(err) == expected
    assert time.perf_counter() - started < 20  # the bomb is refused from its header, not decoded


def test_a_truncated_png_in_any_split_is_found_by_check(data_copy, capsys):
    # Its header is fine, so only decoding finds it: `check` must decode every split, not
    # only train, or training would fail on it later.
    path = first_image(data_copy / "test" / "horse")
    path.write_bytes(truncated_png())
    code, out, err = run_cli(capsys, "check", data_copy)
    assert (code, out) == (2, "")
    assert re.fullmatch(
        re.escape(f"error: {data_copy} is not a usable CINIC-10 folder: 1 problem found:\n"
                  f"  - {path} is truncated or corrupt and cannot be decoded (") + r"[^\n]+"
        + re.escape("): re-download or re-export it.\n"), error_text(err)), err


def test_check_lists_unreadable_headers_and_undecodable_images_in_one_pass(data_copy, capsys):
    # A user with a damaged copy of 270,000 files fixes every problem in one round, not one kind per run.
    not_an_image = first_image(data_copy / "train" / "cat")
    not_an_image.write_text("not a picture")
    truncated = first_image(data_copy / "valid" / "dog")
    truncated.write_bytes(truncated_png())
    code, _, err = run_cli(capsys, "check", data_copy)
    text = error_text(err)
    assert code == 2 and "2 problems found" in text
    assert str(not_an_image) in text and f"{truncated} is truncated or corrupt" in text


def test_check_caps_the_listed_problems_and_counts_the_rest(data_copy, capsys):
    damaged = [*sorted((data_copy / "train" / "cat").iterdir()), *sorted((data_copy / "train" / "dog").iterdir())][:25]
    for path in damaged:
        path.write_bytes(truncated_png())
    code, _, err = run_cli(capsys, "check", data_copy)
    text = error_text(err)
    assert code == 2 and "25 problems found" in text and "... and 5 more problems" in text
    assert sum(str(path) in text for path in damaged) == 20


def test_images_of_other_modes_are_accepted_as_rgb(data_copy, capsys):
    cat = data_copy / "train" / "cat"
    modes = {"gray.png": image_bytes(Image.new("L", (32, 32), 90)), "sixteen.png": sixteen_bit_png(),
             "palette.png": palette_png(), "cmyk.jpg": image_bytes(Image.new("CMYK", (32, 32), (0, 9, 9, 0)),
                                                                    "JPEG")}
    for name, data in modes.items():
        (cat / name).write_bytes(data)
    code, out, err = run_cli(capsys, "check", data_copy, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["non_rgb"] == 4 and report["counts"]["train"]["cat"] == 16 + 4
    code, out, _ = run_cli(capsys, "check", data_copy)
    assert code == 0 and out.startswith(f"{data_copy}: a valid CINIC-10 layout\n")


@pytest.mark.slow
def test_devices_and_pipes_posing_as_images_are_refused_not_read(data_copy, tmp_path):
    """A link to /dev/zero would be read forever; a fifo would block forever."""
    zero = data_copy / "train" / "cat" / "zero.png"
    zero.symlink_to("/dev/zero")
    pipe = data_copy / "train" / "dog" / "pipe.png"
    os.mkfifo(pipe)

    def limit_memory():  # were the bug back, fail on memory instead of eating the machine's
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "cinic", "check", str(data_copy)], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit_memory)
    assert done.returncode == 2, done.stderr
    assert error_text(done.stderr) == (
        f"error: {data_copy} is not a usable CINIC-10 folder: 2 problems found:\n"
        f"  - {zero} is not a regular file (a device, pipe or socket): give an image file.\n"
        f"  - {pipe} is not a regular file (a device, pipe or socket): give an image file.\n")


# --- archives: `check DATA.tar.gz` -------------------------------------------------------------------
def cinic_archive(path: Path, root: Path, extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if root is not None:
            tar.add(root, arcname="CINIC-10")
        for member in extra:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    return path


def member(name: str, kind=tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


ARCHIVE_CASES = {
    "dotdot": (member("CINIC-10/train/../../evil.txt"), "it has a '..' component"),
    "absolute": (member("/tmp/cinic-evil.txt"), "it has an absolute path"),
    "symlink": (member("CINIC-10/train/cat/link.png", tarfile.SYMTYPE, "/etc/passwd"),
                "it is a link (to '/etc/passwd')"),
    "hardlink": (member("CINIC-10/train/cat/hard.png", tarfile.LNKTYPE, "/etc/passwd"),
                 "it is a link (to '/etc/passwd')"),
}


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_a_hostile_archive_is_refused_and_nothing_is_written(case, tiny_data, tmp_path, isolated_dirs, capsys):
    evil, why = ARCHIVE_CASES[case]
    archive = cinic_archive(tmp_path / "cinic.tar.gz", tiny_data, [evil])
    code, out, err = run_cli(capsys, "check", archive)
    assert (code, out) == (2, "")
    assert error_text(err) == (f"error: {archive}: refusing to extract member {evil.name!r}: {why}. "
                               "The archive is damaged or not CINIC-10; download it again.\n")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/cinic-evil.txt").exists()
    extracted = isolated_dirs / "cache" / "extracted"
    assert [p.name for p in extracted.iterdir() if not p.name.endswith(".lock")] == []  # no half folder


def test_an_empty_archive_is_refused(tmp_path, capsys):
    archive = cinic_archive(tmp_path / "empty.tar.gz", None)
    code, out, err = run_cli(capsys, "check", archive)
    assert (code, out) == (2, "")
    assert error_text(err) == f"error: {archive} is an empty archive; download it again.\n"


# --- image files: `predict RUN FILE` and the Classify page's uploader ---------------------------------
def refused_files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, what the user is told, after the file's name)."""
    return {
        "notes.png": (b"these are my notes\n", f" is not an image file (or not one Pillow can read): {ACCEPTED}"),
        "zero.png": (b"", f" is empty (0 bytes), so it holds no image: {ACCEPTED}"),
        "huge.png": (b"\x89PNG" + b"\0" * (images.MAX_BYTES + 1),
                     " is 20.0 MB, more than the 20.0 MB allowed for one image: use a smaller file."),
        "bomb.png": (bomb_png(), " is too large a picture (400.0 megapixels); at most 16.8 megapixels "
                                 "(4096x4096) are accepted: shrink it, then try again."),
        "cut.png": (truncated_png(), " is truncated or corrupt and cannot be decoded ("),
    }


ACCEPTED_FILES = {
    "anim.gif": (animated_gif, "used the first of 3 frames; converted from palette (P) to RGB; "
                               "resized from 40x40 to 32x32"),
    "sixteen.png": (sixteen_bit_png, "converted from 16-bit grayscale (I;16) to 8-bit RGB"),
    "cmyk.jpg": (cmyk_jpeg, "converted from CMYK to RGB; resized from 50x50 to 32x32"),
    "palette.png": (palette_png, "converted from palette (P) to RGB"),
}


@pytest.mark.parametrize("name", ["notes.png", "zero.png", "huge.png", "bomb.png", "cut.png"])
def test_predict_refuses_a_bad_image_with_its_message(name, trained, tmp_path, capsys):
    content, told = refused_files()[name]
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "predict", trained.path, path, "--device", "cpu")
    assert (code, out) == (1, "")
    if name == "cut.png":  # Pillow's reason sits inside the parentheses
        assert re.fullmatch(re.escape(f"{path}{told}") + r"[^\n]+\): re-download or re-export it\.\n", err), err
    else:
        assert err == f"{path}{told}\n"


@pytest.mark.parametrize("name", ACCEPTED_FILES)
def test_predict_accepts_odd_images_and_says_what_it_changed(name, trained, tmp_path, capsys):
    make, notes = ACCEPTED_FILES[name]
    path = tmp_path / name
    path.write_bytes(make())
    code, out, err = run_cli(capsys, "predict", trained.path, path, "--device", "cpu")
    assert (code, err) == (0, "")
    assert re.fullmatch(re.escape(f"{path} ({notes}): ") + PREDICTION + "\n", out), out


def test_predict_goes_on_past_a_bad_file_and_exits_1(trained, tmp_path, capsys):
    good, bad = tmp_path / "palette.png", tmp_path / "zero.png"
    good.write_bytes(palette_png())
    bad.write_bytes(b"")
    code, out, err = run_cli(capsys, "predict", trained.path, bad, good, "--device", "cpu", "--json")
    results = json.loads(out)
    assert code == 1 and err == ""
    assert results[0] == {"file": str(bad), "error": f"{bad} is empty (0 bytes), so it holds no image: {ACCEPTED}"}
    assert results[1]["notes"] == ["converted from palette (P) to RGB"] and len(results[1]["top"]) == 3


def test_the_classify_page_explains_each_bad_upload(trained, tiny_data, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from cinic import app_state, paths

    from cinic.data import choice as datasets

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    monkeypatch.setenv("CINIC_RUNS", str(trained.path.parent))
    datasets.remember_data_root(tiny_data)
    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=60).run()
    at.switch_page(f"{PAGES}/classify.py").run()
    refused = refused_files()
    uploads = [(name, content, "image/png") for name, (content, _) in refused.items()]
    uploads += [(name, make(), "image/png") for name, (make, _) in ACCEPTED_FILES.items()]
    at.file_uploader(key="classify-upload").set_value(uploads).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for e in at.error]
    assert len(shown) == len(refused)
    for (name, (_, told)), message in zip(refused.items(), shown):
        if name == "huge.png":  # an upload is bytes in memory: told without its own size
            told = " is more than the 20.0 MB allowed for one image: use a smaller file."
        assert message.startswith(f"{name}{told}"), (name, message)
    captions = [c.value for c in at.caption]
    for name, (_, notes) in ACCEPTED_FILES.items():
        for note in notes.split("; "):
            assert note in captions, (name, note, captions)
    assert len(at.get("vega_lite_chart")) == len(ACCEPTED_FILES)  # one prediction each


# --- model files ---------------------------------------------------------------------------------------
class RunsShellCode:
    """Unpickling this runs `touch MARKER`: what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def run_with_best(trained: RunFolder, tmp_path: Path, write) -> RunFolder:
    """A copy of the trained run whose best.pt (and last.pt) is replaced by `write(path)`."""
    run = RunFolder(shutil.copytree(trained.path, tmp_path / "copied-run"))
    for which in ("best", "last"):
        write(run.checkpoint_path(which))
    return run


def other_architecture(trained: RunFolder):
    """Weights of the `best` preset under a checkpoint that claims to be `base` (as its run says)."""
    def write(path: Path):
        state = checkpoints.load(trained, "best")
        state["model"] = build_model(PRESETS["best"]).state_dict()
        torch.save(state, path)
    return write


def truncated(trained: RunFolder):
    def write(path: Path):
        data = trained.checkpoint_path("best").read_bytes()
        path.write_bytes(data[:len(data) // 2])
    return write


def evil_pickle(marker: Path):
    def write(path: Path):
        torch.save({"model": RunsShellCode(marker), "spec": {}}, path, pickle_module=pickle)
    return write


def test_a_checkpoint_of_another_architecture_is_explained(trained, tmp_path, capsys):
    run = run_with_best(trained, tmp_path, other_architecture(trained))
    expected = (f"error: {run.checkpoint_path('best')} does not match the model it describes (size mismatch for "
                "features.0.weight: copying a param with shape torch.Size([32, 3, 3, 3]) from checkpoint, the shape "
                "in current model is torch.Size([6, 3, 5, 5])); it is from another model or damaged\n")
    picture = tmp_path / "p.png"
    picture.write_bytes(palette_png())
    for argv in (["predict", run.path, picture], ["evaluate", run.path], ["export", run.path, "--out",
                                                                            tmp_path / "m.safetensors"]):
        code, out, err = run_cli(capsys, *argv, *(["--device", "cpu"] if argv[0] != "export" else []))
        assert (code, out, error_text(err)) == (2, "", expected), argv
    assert not (tmp_path / "m.safetensors").exists()  # export checks the weights fit before writing


def test_resuming_from_a_checkpoint_of_another_model_is_explained(trained, tmp_path, capsys):
    def write(path: Path):  # a self-consistent checkpoint of the `best` preset dropped into a `base` run
        state = checkpoints.load(trained, "last")
        state["model"], state["spec"] = build_model(PRESETS["best"]).state_dict(), PRESETS["best"].to_dict()
        state["optimizer"] = torch.optim.AdamW(build_model(PRESETS["best"]).parameters()).state_dict()
        torch.save(state, path)

    run = run_with_best(trained, tmp_path, write)
    run.write_status("cancelled")
    run.update_config(epochs=2)
    code, out, err = run_cli(capsys, "train", "--resume", run.path, "--no-progress")
    assert code == 2
    assert error_text(err) == (f"error: {run.checkpoint_path('last')} holds another model "
                               f"({PRESETS['best'].describe()}) than the one asked for; open it with the run it "
                               "came from, or start a new run\n")
    assert run.status()["state"] == "failed" and "holds another model" in run.status()["error"]


def test_a_truncated_checkpoint_is_refused(trained, tmp_path, capsys):
    run = run_with_best(trained, tmp_path, truncated(trained))
    picture = tmp_path / "p.png"
    picture.write_bytes(palette_png())
    expected = (f"error: cannot load {run.checkpoint_path('best')}: it is damaged or not a PyTorch checkpoint "
                "(not a zip archive). Use a "
                "checkpoint written by CINIC-10 Explorer, or retrain the run.\n")
    for argv in (["predict", run.path, picture, "--device", "cpu"], ["evaluate", run.path, "--device", "cpu"],
                 ["export", run.path, "--out", tmp_path / "m.safetensors"]):
        code, out, err = run_cli(capsys, *argv)
        assert (code, out, error_text(err)) == (2, "", expected), argv


def test_a_pickle_that_would_run_code_is_never_run(trained, tmp_path, capsys):
    marker = tmp_path / "pwned"
    run = run_with_best(trained, tmp_path, evil_pickle(marker))
    picture = tmp_path / "p.png"
    picture.write_bytes(palette_png())
    for which in ("best", "last"):
        expected = (f"error: cannot load {run.checkpoint_path(which)}: it holds Python objects that could "
                    "run code, which is refused. Use a checkpoint written by CINIC-10 Explorer, or retrain "
                    "the run.\n")
        commands = [["predict", run.path, picture, "--device", "cpu", "--checkpoint", which],
                    ["evaluate", run.path, "--device", "cpu", "--checkpoint", which],
                    ["export", run.path, "--out", tmp_path / "m.safetensors", "--checkpoint", which]]
        for argv in commands:
            code, out, err = run_cli(capsys, *argv)
            assert (code, out, error_text(err)) == (2, "", expected), argv
    run.write_status("cancelled")
    code, _, err = run_cli(capsys, "train", "--resume", run.path, "--no-progress")
    assert code == 2 and "could run code, which is refused" in err
    assert not marker.exists(), "unpickling ran the checkpoint's code"


def test_every_torch_load_is_weights_only():
    """No torch.load anywhere in the product without weights_only=True, and no fallback to False."""
    sources = [*(PROJECT / "cinic").rglob("*.py"), PROJECT / "app.py", *(PROJECT / "ui").glob("*.py"),
               *(PROJECT / PAGES).glob("*.py")]
    loads = 0
    for source in sources:
        text = source.read_text()
        assert "weights_only=False" not in text.replace(" ", ""), source
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                loads += 1
                flags = {k.arg: k.value for k in node.keywords}
                assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True, (
                    f"{source}:{node.lineno}: torch.load without weights_only=True")
    assert loads >= 3  # runs, data and augment caches: the scan did find them


# --- export -----------------------------------------------------------------------------------------------
def test_export_round_trips_and_holds_no_pickle(trained, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file

    out_file = tmp_path / "model.safetensors"
    code, out, err = run_cli(capsys, "export", trained.path, "--out", out_file)
    assert (code, err) == (0, "")
    assert out == f"wrote {out_file} (safetensors: weights and metadata only, no code)\n"

    state = checkpoints.load(trained, "best")
    tensors = load_file(out_file)
    assert tensors.keys() == state["model"].keys()
    assert all(torch.equal(tensors[k], state["model"][k]) for k in tensors)
    with safe_open(str(out_file), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["spec"]) == state["spec"] and json.loads(meta["mean"]) == state["mean"]
    assert json.loads(meta["std"]) == state["std"] and json.loads(meta["classes"]) == state["classes"]

    # The whole file is an 8-byte length, a JSON header and the tensors' raw bytes, back to back:
    # no byte is left over where a pickle could hide.
    raw = out_file.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert 8 + header_len + spans[-1][1] == len(raw)

    # The exported weights rebuild the same model.
    model = build_model(ModelSpec.from_dict(json.loads(meta["spec"])))
    model.load_state_dict(tensors)
    reference = load_model(trained).network
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x), reference(x))


# --- settings out of range: `train` ----------------------------------------------------------------------
def pipeline_file(tmp_path: Path, probability: float) -> Path:
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps([{"op": "zoom", "probability": probability, "min_factor": 1.1,
                                 "max_factor": 1.3}]))
    return path


@pytest.mark.parametrize("options, message", [
    (["--epochs", "0"], "epochs must be 1..1000, got 0"),
    (["--epochs", "5000"], "epochs must be 1..1000, got 5000"),
    (["--lr", "-1"], "learning rate must be in (0, 10], got -1.0"),
    (["--batch-size", "0"], "batch size must be 1..65536, got 0"),
    (["--crop-pad", "20"], "crop padding must be 0..8, got 20"),
    (["--label-smoothing", "1.5"], "label smoothing must be in [0, 1), got 1.5"),
    (["--lr-drop", "99:0.1", "--epochs", "5"], "each learning-rate drop must be [epoch 1..5, lr in (0, 10] like the learning rate], got [99, 0.1]"),
    (["--lr-drop", "1:1e30", "--epochs", "2"], "each learning-rate drop must be [epoch 1..2, lr in (0, 10] like the "
                                               "learning rate], got [1, 1e+30]"),
    (["--augment", "PIPELINE", "--augment-n", "10"], "pipeline file PIPELINE: step 1 (zoom): probability 1.5 is "
                                                     "outside [0, 1]"),
    (["--augment", "PIPELINE"], "--augment needs --augment-n N: how many extra training images to sample"),
])
def test_settings_out_of_range_are_refused_before_any_run_exists(options, message, tiny_data, tmp_path,
                                                                   isolated_dirs, capsys):
    pipeline = str(pipeline_file(tmp_path, 1.5))
    options = [pipeline if o == "PIPELINE" else o for o in options]
    code, out, err = run_cli(capsys, "train", "--data", tiny_data, "--device", "cpu", "--no-progress", *options)
    assert (code, out) == (2, "")
    assert err == f"error: {message.replace('PIPELINE', pipeline)}\n"
    runs = isolated_dirs / "runs"
    assert not runs.exists() or [p.name for p in runs.iterdir() if not p.name.startswith(".")] == []


def open_app_page(page: str, data_root: Path, tmp_path: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from cinic import app_state, paths

    from cinic.data import choice as datasets

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    datasets.remember_data_root(data_root)
    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=60).run()
    at.switch_page(f"{PAGES}/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_app_cannot_send_settings_out_of_range(tiny_data, tmp_path, monkeypatch):
    """Every Train page input is bounded inside what validate_config accepts, and the browser
    cannot push a value past those bounds (Streamlit brings it back within them)."""
    from cinic.runs.config import make_config

    from cinic.runs.config import SETTING, SETTINGS

    at = open_app_page("train", tiny_data, tmp_path, monkeypatch)
    # The Train page's number inputs, keyed by setting (and recipe): every number setting of the table.
    inputs = {n.key.split("-")[0]: n for n in at.number_input if n.key and n.key.split("-")[0] in SETTING}
    assert inputs.keys() == {s.name for s in SETTINGS if s.widget and s.widget.kind == "number"}
    for field, widget in inputs.items():
        for bound in (widget.min, widget.max):
            value = SETTING[field].number_type(bound)
            make_config(str(tiny_data), preset="base", **{field: value})  # raises if the app allowed too much
    for field, bad in [("epochs", 0), ("epochs", 5000), ("batch_size", 0), ("crop_pad", 20)]:
        widget = inputs[field]
        at.number_input(key=widget.key).set_value(bad).run()
        assert not at.exception and widget.min <= at.number_input(key=widget.key).value <= widget.max, (field, bad)

    aug = open_app_page("augmentation", tiny_data, tmp_path, monkeypatch)
    probability = next(n for n in aug.number_input if n.label == "probability")
    assert (probability.min, probability.max) == (0.0, 1.0)
    before = probability.value
    aug.number_input(key=probability.key).set_value(1.5).run()
    assert aug.number_input(key=probability.key).value == before
    assert not aug.exception


def test_training_without_epochs_uses_the_default(tiny_data, monkeypatch, capsys):
    """`train` without --epochs once crashed (the recipe got epochs=None)."""
    import cinic.training.loop as train

    seen = {}
    monkeypatch.setattr(train, "train_run", lambda run, **kw: seen.update(config=run.config()) or
                        {"state": "finished", "error": None})
    code, _, err = run_cli(capsys, "train", "--data", tiny_data, "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert seen["config"]["epochs"] == 10 and seen["config"]["warmup_epochs"] == 1.0


# --- the server -----------------------------------------------------------------------------------------------
def test_server_is_local_protected_and_silent():
    config = tomllib.loads((PROJECT / ".streamlit" / "config.toml").read_text())
    server = config.get("server", {})
    assert server.get("address") == "127.0.0.1"  # loopback only: nobody else on the network reaches it
    assert server.get("enableXsrfProtection") is True
    assert config.get("browser", {}).get("gatherUsageStats") is False
    upload_mb = server.get("maxUploadSize")
    # Set, and no larger than what cinic.data.images accepts, so the server stops a huge upload first.
    assert isinstance(upload_mb, int) and 1 <= upload_mb <= images.MAX_BYTES // (1024 * 1024)
    assert server.get("enableCORS", True) is True  # not switched off (Streamlit's default is on)
