"""Managing runs in the app: the Home page's runs table (filters, a click opens Results), renaming,
notes and tags, deleting on the Results page, naming a run on the Train page."""

from __future__ import annotations

import shutil

import pytest

from cinic import paths
from cinic.runs.admin import annotate
from cinic.runs.folder import RunFolder, list_runs
from cinic.runs.process import this_process
from test_app import (assert_clean, button, demo_dir, finished_runs_root, go_to, open_app,  # noqa: F401
                      with_demo, with_finished_run)


@pytest.fixture
def own_run(with_finished_run, tmp_path, monkeypatch) -> RunFolder:
    """A copy of the module's finished run in a runs root of this test's own, to rename and delete."""
    runs = tmp_path / "runs"
    shutil.copytree(with_finished_run.path, runs / "mine")
    monkeypatch.setenv("CINIC_RUNS", str(runs))
    return RunFolder(runs / "mine")


def _fake(name, preset="base", state="finished", test_acc=None, created=0.0):
    run = RunFolder.create({"preset": preset, "epochs": 1}, root=paths.runs_root(), name=name)
    run.write_status(state, test_acc=test_acc, created=created, device="cpu")
    return run


# --- the Home page's table -------------------------------------------------------------------------
def test_home_filters_and_sorts_the_runs(with_demo):
    _fake("a-base", test_acc=40.0, created=1.0)
    _fake("b-best", preset="best", test_acc=60.0, created=2.0)
    _fake("c-failed", state="failed", created=3.0)
    annotate(RunFolder.open("a-base"), "first try", ["keep"])
    at = open_app()
    table = lambda: list(at.dataframe[0].value["run"])  # noqa: E731
    assert table() == ["c-failed", "b-best", "a-base"]  # newest first
    at.selectbox(key="home-sort").set_value("test accuracy").run()
    assert table() == ["b-best", "a-base", "c-failed"]
    at.multiselect(key="home-states").set_value(["finished"]).run()
    assert table() == ["b-best", "a-base"]
    at.multiselect(key="home-tags").set_value(["keep"]).run()
    assert table() == ["a-base"]
    assert at.dataframe[0].value["notes"][0] == "first try"
    at.multiselect(key="home-tags").set_value([]).run()
    at.number_input(key="home-min-test").set_value(50.0).run()
    assert table() == ["b-best"]
    at.multiselect(key="home-presets").set_value(["base"]).run()
    assert at.dataframe[0].value.empty
    assert any("0 of 3 runs" in c.value for c in at.caption)
    assert_clean(at)


def test_clicking_a_row_opens_that_runs_results(own_run):
    _fake("older", created=1.0)  # listed below "mine", which is newer
    at = open_app()
    assert list(at.dataframe[0].value["run"]) == ["mine", "older"]
    at.session_state["home-runs"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert at.title[0].value == "Results"
    assert at.query_params["run"] in ("mine", ["mine"])
    assert at.metric[0].value == f"{own_run.evaluation()['accuracy']:.2f}%"


# --- the Results page's management -----------------------------------------------------------------
def test_rename_notes_and_tags_on_the_results_page(own_run):
    at = open_app("Results")
    at.text_input(key="name-mine").set_value("renamed-run").run()
    button(at, "Rename").click().run()
    assert_clean(at)
    assert [r["name"] for r in list_runs()] == ["renamed-run"]
    assert any("Renamed mine to renamed-run" in s.value for s in at.success)
    assert at.selectbox(key="results-run").value == "renamed-run"
    at.text_area(key="notes-renamed-run").set_value("a good one").run()
    at.multiselect(key="tags-renamed-run").set_value(["baseline"]).run()
    button(at, "Save notes and tags").click().run()
    assert_clean(at)
    assert RunFolder.open("renamed-run").notes() == {"notes": "a good one", "tags": ["baseline"]}


def test_a_bad_name_is_explained_and_nothing_renamed(own_run):
    at = open_app("Results")
    at.text_input(key="name-mine").set_value("no spaces please").run()
    button(at, "Rename").click().run()
    assert len(at.error) == 1 and "e.g. 'no-spaces-please'" in at.error[0].value
    assert own_run.path.is_dir()


def test_delete_asks_first_then_deletes_only_that_run(own_run):
    other = _fake("another", created=1.0)  # listed after "mine"
    at = open_app("Results")
    button(at, "Delete this run…").click().run()
    assert any("Delete **mine**" in w.value for w in at.warning)
    button(at, "Keep it").click().run()
    assert own_run.path.is_dir() and not at.warning
    button(at, "Delete this run…").click().run()
    button(at, "Yes, delete it").click().run()
    assert_clean(at)
    assert not own_run.path.exists() and (other.path / "config.json").is_file()
    assert any("Deleted mine" in s.value for s in at.success)
    assert at.selectbox(key="results-run").value == "another"


def test_a_training_run_cannot_be_renamed_or_deleted_in_the_app(own_run):
    own_run.write_status("running", **this_process())
    at = open_app("Results")
    assert button(at, "Rename").disabled and button(at, "Delete this run…").disabled


# --- the Train page -----------------------------------------------------------------------------------
def test_a_bad_run_name_on_the_train_page_starts_nothing(with_demo):
    at = open_app("Train")
    at.text_input(key="run-name").set_value("my run").run()
    button(at, "Start training").click().run()
    assert len(at.error) == 1 and "cannot name a run folder" in at.error[0].value
    assert list_runs() == []


def test_a_run_cancelled_while_queued_is_not_the_watched_default(with_demo):
    _fake("trained", created=1.0)
    cancelled = RunFolder.create({"preset": "base", "epochs": 1}, root=paths.runs_root(), name="zz-never-ran")
    cancelled.write_status("cancelled", error="cancelled while queued", created=2.0)
    assert [s["name"] for s in list_runs()][0] == "zz-never-ran"  # listed first
    at = open_app("Train")
    assert any(m.value.startswith("**trained**") for m in at.markdown)
    assert not any("never-ran" in m.value for m in at.markdown)


@pytest.mark.slow
def test_the_train_page_names_the_run(with_demo):
    import time

    at = open_app("Train")
    at.number_input(key="epochs").set_value(1).run()
    at.text_input(key="run-name").set_value("named-on-the-page").run()
    button(at, "Start training").click().run()
    assert_clean(at)
    run = RunFolder.open("named-on-the-page")
    assert at.text_input(key="run-name").value == ""  # the next run gets its own name
    deadline = time.time() + 90
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
    assert run.status()["state"] == "finished", run.log_tail()


# --- downloads --------------------------------------------------------------------------------------
DOWNLOADS = ["Report (one HTML file)", "Model (safetensors)", "Model (ONNX)", "Metrics per epoch (CSV)",
             "Confusion matrix (CSV)", "Per class (CSV)"]


def test_results_offers_every_download(own_run):
    at = open_app("Results")
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert sorted(buttons) == sorted(DOWNLOADS)
    assert not any(b.disabled for b in buttons.values())
    assert buttons["Model (ONNX)"].HasField("deferred_file_id")  # built when clicked, not on every rerun
    for name in ("best.pt", "eval.json"):  # a run that failed before its first epoch ended
        (own_run.path / name).unlink()
    at = open_app("Results")
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert buttons["Model (ONNX)"].disabled and buttons["Model (safetensors)"].disabled
    assert "Per class (CSV)" not in buttons


def test_results_of_a_run_whose_checkpoint_was_deleted(own_run):
    """eval.json alone still gives the matrix, per-class chart and mistakes; the cell images and the
    explanation, which need the weights, say the checkpoint is missing instead of raising."""
    (own_run.path / "best.pt").unlink()
    at = open_app("Results")
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "best checkpoint (best.pt), which is missing" in captions
    assert "nothing to explain" in captions


# --- the Classify page: many images at once ------------------------------------------------------------
def _zip_bytes(entries: dict) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _class_images(tiny_data, classes=("cat", "dog"), per_class=3) -> dict:
    return {f"{c}/{p.name}": p.read_bytes() for c in classes
            for p in sorted((tiny_data / "test" / c).iterdir())[:per_class]}


def test_classify_a_zip_of_class_folders_scores_it(with_finished_run, tiny_data):
    at = open_app("Classify")
    entries = {f"mine/{name}": data for name, data in _class_images(tiny_data).items()}
    at.file_uploader(key="batch-zip").set_value(("mine.zip", _zip_bytes(entries), "application/zip")).run()
    assert_clean(at)
    accuracy = next(m for m in at.metric if m.label == "Accuracy")
    assert next(m for m in at.metric if m.label == "Images").value == "6"
    table = at.dataframe[-1].value
    right = (table["true"] == table["class 1"]).sum()
    assert accuracy.value == f"{100 * right / 6:.2f}%"
    assert list(table.columns[:3]) == ["file", "true", "class 1"]
    assert [b.proto.label for b in at.get("download_button")] == ["Predictions (CSV)"]


def test_classify_a_folder_path_of_loose_images(with_finished_run, tiny_data, tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    for name, data in _class_images(tiny_data).items():
        (folder / name.replace("/", "-")).write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    at = open_app("Classify")
    at.radio(key="batch-from").set_value("path").run()
    at.text_input(key="batch-path").set_value(str(folder)).run()
    assert_clean(at)
    table = at.dataframe[-1].value
    assert len(table) == 6 and "true" not in table.columns
    assert any("1 files that are not images were left out" in c.value for c in at.caption)
    assert not [m for m in at.metric if m.label == "Accuracy"]


def test_a_hostile_zip_is_explained_in_the_page(with_finished_run):
    at = open_app("Classify")
    at.file_uploader(key="batch-zip").set_value(("evil.zip", _zip_bytes({"../x.png": b"x"}), "application/zip")).run()
    assert not at.exception
    assert len(at.error) == 1 and "points outside the zip" in at.error[0].value


def test_a_folder_path_is_classified_again_when_its_images_change(with_finished_run, tiny_data, tmp_path):
    """Issue 20, item 2: six images copied into cat/ show in the next tab, although the top folder's
    own mtime did not change (the result cache is keyed on what the listing holds)."""
    import os

    folder = tmp_path / "mine"
    cats = sorted((tiny_data / "train" / "cat").iterdir())
    (folder / "cat").mkdir(parents=True)
    for p in cats[:2]:
        shutil.copy(p, folder / "cat" / p.name)

    def images_shown() -> str:
        at = open_app("Classify")
        at.radio(key="batch-from").set_value("path").run()
        at.text_input(key="batch-path").set_value(str(folder)).run()
        assert_clean(at)
        return next(m for m in at.metric if m.label == "Images").value

    assert images_shown() == "2"
    top = folder.stat().st_mtime_ns
    for p in cats[2:8]:
        shutil.copy(p, folder / "cat" / p.name)
    os.utime(folder, ns=(top, top))  # as a copy into cat/ leaves it
    assert images_shown() == "8"
