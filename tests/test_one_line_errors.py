"""Issue 13, item 8 (and 11): each case that gave a traceback now gives one line and exit 2, before any
run folder exists; the pages that crashed on the same input show a message instead."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cinic import cli
from cinic.runs.folder import RunFolder

PROJECT = Path(__file__).resolve().parents[1]


def looped(tiny_data, tmp_path) -> Path:
    """A copy of the tiny set whose first two cat images are symbolic links to each other."""
    root = tmp_path / "looped"
    shutil.copytree(tiny_data, root)
    cat = root / "train" / "cat"
    first, second = sorted(cat.iterdir())[:2]
    first.unlink(), second.unlink()
    first.symlink_to(second), second.symlink_to(first)
    return root


def broken_link(tiny_data, tmp_path) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_data / "test", folder)
    (folder / "cat" / "zz.png").symlink_to(tmp_path / "nowhere.png")
    return folder


def deep_pipeline(tmp_path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def a_file(tmp_path) -> Path:
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file"


def one_image(tiny_data) -> str:
    return str(sorted((tiny_data / "test" / "cat").iterdir())[0])


TRAIN = ["train", "--epochs", "1", "--device", "cpu", "--no-progress"]
CASES = {  # name -> (argv maker, what the one line says)
    "check: a symlink loop": (lambda d, t, r: ["check", looped(d, t)], "Too many levels of symbolic links"),
    "evaluate --data: a broken link": (lambda d, t, r: ["evaluate", r.path, "--data", broken_link(d, t),
                                                        "--device", "cpu"], "zz.png: No such file"),
    "train: runs root under a file": (lambda d, t, r: [*TRAIN, "--data", d, "--runs-root", a_file(t) / "runs"],
                                      "cannot make a run folder in"),
    "train: --lr-drop abc": (lambda d, t, r: [*TRAIN, "--data", d, "--lr-drop", "abc"], "expected EPOCH:LR"),
    "train: --device meta": (lambda d, t, r: [*TRAIN, "--data", d, "--device", "meta"], "unknown device 'meta'"),
    "train: a seed beyond 64 bits": (lambda d, t, r: [*TRAIN, "--data", d, "--seed", str(2 ** 70)],
                                     "seed must be a whole number 0..2**63-1"),
    "train: a pipeline nested 100,000 deep": (lambda d, t, r: [*TRAIN, "--data", d, "--augment", deep_pipeline(t),
                                                               "--augment-n", "5"], "nests lists or objects too"),
    "train: --augment-n 1,000,000,000": (lambda d, t, r: [*TRAIN, "--data", d, "--augment", "seed",
                                                          "--augment-n", "1000000000"], "more than the 2,000,000"),
    "predict --top-k -1": (lambda d, t, r: ["predict", r.path, one_image(d), "--top-k", "-1", "--device", "cpu"],
                           "top-k must be a whole number of at least 1"),
    "predict --top-k 0": (lambda d, t, r: ["predict", r.path, one_image(d), "--top-k", "0", "--device", "cpu"],
                          "top-k must be a whole number of at least 1"),
    "export --out a folder": (lambda d, t, r: ["export", r.path, "--out", t], "is a folder: give a file name"),
    "export --out in a missing folder": (lambda d, t, r: ["export", r.path, "--out", t / "no" / "m.onnx"],
                                         "create it first"),
    "export --out over another run's file": (lambda d, t, r: ["export", r.path, "--out", other_run(r) / "best.pt"],
                                             "is inside the run folder"),
    "augment-preview --out in a missing folder": (lambda d, t, r: ["augment-preview", "--data", d, "--out",
                                                                   t / "no" / "g.png"], "create it first"),
    "augment-preview --images -1": (lambda d, t, r: ["augment-preview", "--data", d, "--out", t / "g.png",
                                                     "--images", "-1"], "--images must be 1..64"),
}


def a_fifo(tmp_path, name: str) -> Path:
    os.mkfifo(tmp_path / name)
    return tmp_path / name


def a_null_device(tmp_path, name: str) -> Path:
    os.mknod(tmp_path / name, 0o20666, os.makedev(1, 3))  # a character device: a copy of /dev/null
    return tmp_path / name


def own_image(tiny_data, tmp_path) -> Path:
    (tmp_path / "cat.png").write_bytes(Path(one_image(tiny_data)).read_bytes())
    return tmp_path / "cat.png"


def explain(run, image, out) -> list:
    return ["explain", run.path, image, "--device", "cpu", "--out", out]


CASES |= {  # issue 20, items 5 and 6: --out that is not a regular file or a new name
    "report --out a FIFO": (lambda d, t, r: ["report", r.path, "--out", a_fifo(t, "r.html")], "is a FIFO"),
    "export --out a character device": (lambda d, t, r: ["export", r.path, "--out", a_null_device(t, "m.onnx")],
                                        "is a character device"),
    "explain --out its own image": (lambda d, t, r: explain(r, own_image(d, t), own_image(d, t)),
                                    "the command's own input"),
    "explain --out into the run folder": (lambda d, t, r: explain(r, one_image(d), r.path / "overlay.png"),
                                          "is inside the run folder"),
    "explain --out x.pt": (lambda d, t, r: explain(r, one_image(d), t / "x.pt"), "ending in .png or .jpg"),
    "explain --out in a missing folder": (lambda d, t, r: explain(r, one_image(d), t / "no" / "o.png"),
                                          "create it first"),
    "augment-preview --out x.jpeg2": (lambda d, t, r: ["augment-preview", "--data", d, "--out", t / "x.jpeg2"],
                                      "ending in .png or .jpg"),
}


def sweep_spec(tmp_path, text: str) -> Path:
    (tmp_path / "s.json").write_text(text)
    return tmp_path / "s.json"


def resources(data, text: str) -> str:
    return '{"data": "%s", "epochs": 1, "resources": {"cpus": %s}}' % (data, text)


CASES |= {  # issue 20, item 4: sweep spec files
    "sweep: a FIFO as the spec": (lambda d, t, r: ["sweep", a_fifo(t, "s.json")], "is a FIFO"),
    "sweep: a device as the spec": (lambda d, t, r: ["sweep", a_null_device(t, "s.json")], "is a character device"),
    "sweep: 100,000 nested [": (lambda d, t, r: ["sweep", sweep_spec(t, "[" * 100_000 + "]" * 100_000)],
                                "nests lists or objects more than"),
    "sweep: a key given twice": (lambda d, t, r: ["sweep", sweep_spec(t, '{"data": "%s", "data": "x"}' % d)],
                                 "'data' is given twice"),
    "sweep: cpus Infinity": (lambda d, t, r: ["sweep", sweep_spec(t, resources(d, "Infinity"))],
                             "resources.cpus: inf is not a finite number"),
    "sweep: cpus 1e9": (lambda d, t, r: ["sweep", sweep_spec(t, resources(d, "1e9"))],
                        "more than the"),
}


def other_run(run: RunFolder) -> Path:
    other = run.path.parent / "other"
    if not other.exists():
        shutil.copytree(run.path, other)
    return other


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_gives_one_line_and_exit_2_and_no_run_folder(case, trained, tiny_data, tmp_path, capsys):
    make, said = CASES[case]
    before = set(os.listdir(os.environ["CINIC_RUNS"])) if os.path.isdir(os.environ["CINIC_RUNS"]) else set()
    argv = [str(a) for a in make(tiny_data, tmp_path, trained)]
    assert cli.main(argv) == 2, case
    err = capsys.readouterr().err
    assert "error: " in err and said in err and "Traceback" not in err, (case, err)
    after = set(os.listdir(os.environ["CINIC_RUNS"])) if os.path.isdir(os.environ["CINIC_RUNS"]) else set()
    assert after == before, "a refused training left a run folder"
    assert (trained.path / "best.pt").stat().st_size > 0


def test_a_cache_folder_that_cannot_be_written_is_one_line(tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CINIC_CACHE", str(a_file(tmp_path) / "cache"))
    assert cli.main(["check", str(tiny_data)]) == 2
    assert "cannot write the cache folder" in capsys.readouterr().err


# --- the pages that crashed on the same input -------------------------------------------------------------
def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at.switch_page(page).run()


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '[{"op": "explode"}]', "{not json"])
def test_a_damaged_remembered_pipeline_is_ignored_by_the_pages(content, tiny_data, monkeypatch, tmp_path):
    from cinic import app_state, paths
    from cinic.augment.saved import pipeline_path, saved_pipeline
    from cinic.data import choice as datasets

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    datasets.remember_data_root(tiny_data)
    pipeline_path().parent.mkdir(parents=True, exist_ok=True)
    pipeline_path().write_text(content)
    app_state.update_state(pipeline_n="many")
    assert saved_pipeline() is None  # never offered, so never launched
    for page in ("pages/augmentation.py", "pages/train.py"):
        at = open_page(page)
        assert not at.exception, (page, [e.value for e in at.exception])


def test_the_data_page_shows_a_symlink_loop_as_a_problem(tiny_data, tmp_path, monkeypatch):
    from cinic import paths
    from cinic.data import choice as datasets

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    root = looped(tiny_data, tmp_path)
    datasets.remember_data_root(root)
    links = sorted(str(p) for p in (root / "train" / "cat").iterdir() if p.is_symlink())
    for _ in range(2):  # once remembered, every visit
        at = open_page("pages/data.py")
        assert not at.exception, [e.value for e in at.exception]
        [error] = [e.value for e in at.error]  # the loop is said, naming both links and what to do
        assert error.startswith(f"{root} is not a usable CINIC-10 folder: 2 problems found")
        for link in links:
            assert f"cannot read {link}: Too many levels of symbolic links (a broken or looping link?); " \
                   "fix or remove it." in error


def test_file_names_that_are_not_utf8_are_shown(trained, tiny_data, tmp_path, monkeypatch):
    from cinic import paths
    from cinic.data import choice as datasets
    from cinic.analysis.evaluate import evaluate_run

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    test = os.fsencode(data / "test")
    for name in os.listdir(test):
        for file in os.listdir(test + b"/" + name):
            os.rename(test + b"/" + name + b"/" + file, test + b"/" + name + b"/\xff" + file)
    run = RunFolder(shutil.copytree(trained.path, tmp_path / "runs" / "odd-names"))
    run.update_config(data=str(data))
    evaluation = evaluate_run(run, device="cpu")
    assert all("\ufffd" in m["file"] for m in evaluation["misclassified"])
    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    monkeypatch.setenv("CINIC_RUNS", str(run.path.parent))
    datasets.remember_data_root(data)
    at = open_page("pages/results.py", run="odd-names")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning or all("no longer where" not in w.value for w in at.warning)


# --- limits no real use reaches, checked before the run folder exists (item 11) ------------------------------
def test_a_pipeline_of_too_many_steps_or_bytes_is_refused_before_a_run_exists(tiny_data, tmp_path, capsys):
    from cinic.augment.ops import MAX_PIPELINE_BYTES, MAX_STEPS, SEED_PIPELINE

    many = tmp_path / "many.json"
    many.write_text(json.dumps([SEED_PIPELINE[1]] * (MAX_STEPS + 1)))
    padded = tmp_path / "padded.json"
    padded.write_text(json.dumps(SEED_PIPELINE) + " " * MAX_PIPELINE_BYTES)
    for path, said in ((many, f"more than the {MAX_STEPS} allowed"), (padded, "bytes, more than the")):
        assert cli.main([*TRAIN, "--data", str(tiny_data), "--augment", str(path), "--augment-n", "5"]) == 2
        assert said in capsys.readouterr().err
    assert not Path(os.environ["CINIC_RUNS"]).exists() or not os.listdir(os.environ["CINIC_RUNS"])


def test_augment_n_is_checked_against_memory_and_disk(tmp_path, monkeypatch):
    import shutil as shutil_module

    from cinic.augment.ops import AugmentError, check_sample_size

    check_sample_size(1000, tmp_path)
    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1000}[name])
    with pytest.raises(AugmentError, match="GB of memory"):
        check_sample_size(1000, tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(shutil_module, "disk_usage", lambda p: shutil_module._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(AugmentError, match="free: use a smaller N"):
        check_sample_size(1000, tmp_path / "not-yet" / "made")


# --- the Classify page shows whatever the library accepts (item 6) ------------------------------------------------
def test_the_classify_page_shows_a_very_wide_image_and_keeps_the_other_uploads(trained, tiny_data, tmp_path,
                                                                               monkeypatch):
    import io

    from PIL import Image

    from cinic import paths

    from cinic.data import choice as datasets

    def png(width, height, colour):
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
        return buffer.getvalue()

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    monkeypatch.setenv("CINIC_RUNS", str(trained.path.parent))
    datasets.remember_data_root(tiny_data)
    at = open_page("pages/classify.py")
    uploads = [("strip.png", png(70000, 200, (200, 30, 30)), "image/png"),
               ("bad.png", b"not an image", "image/png"),
               ("small.png", png(40, 40, (30, 30, 200)), "image/png")]
    at.file_uploader(key="classify-upload").set_value(uploads).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    assert len(at.error) == 1 and at.error[0].value.startswith("bad.png")
    assert len(at.get("vega_lite_chart")) == 2  # the strip and the small image each get their prediction
