"""The Streamlit app through streamlit.testing.v1.AppTest: every page, its menu, the main controls.

Each test runs app.py (the home page) and switches pages as a user would,
by the titles of app_ui.MENU, so a page added there is tested here too. The
environment is isolated by conftest.py (CINIC_CACHE, CINIC_RUNS, CINIC_DATA in
tmp); the demo data set location is redirected to tmp here, so no test writes
into the project.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui import app_ui
from cinic import paths
from cinic.augment.saved import saved_pipeline
from cinic.data import choice as datasets
from cinic.errors import CinicError
from cinic.model.lenet import PRESETS, summarize
from cinic.runs.folder import RunFolder
from cinic.runs.process import this_process

PROJECT = Path(__file__).resolve().parents[1]
APP = PROJECT / "app.py"
TITLES = [entry.title for entry in app_ui.MENU]  # Home first
TIMEOUT = 30


@pytest.fixture
def demo_dir(tmp_path, monkeypatch, isolated_dirs) -> Path:
    """Where the app makes the demo set: tmp, never <project>/data/demo."""
    target = tmp_path / "demo"
    monkeypatch.setattr(paths, "demo_root", lambda: target)
    return target


@pytest.fixture
def with_demo(demo_dir, tiny_data) -> Path:
    """The tiny demo set (conftest) chosen as the app's data set."""
    datasets.remember_data_root(tiny_data)
    return tiny_data


@pytest.fixture(scope="module")
def finished_runs_root(train_finished, tiny_data) -> Path:
    """A runs root holding one finished 1-epoch run on the tiny demo set (trained once per module)."""
    return train_finished(tiny_data, "finished-base").path.parent


@pytest.fixture
def with_finished_run(with_demo, finished_runs_root, monkeypatch) -> RunFolder:
    monkeypatch.setenv("CINIC_RUNS", str(finished_runs_root))
    return RunFolder.open("finished-base", root=finished_runs_root)


def open_app(title: str = "Home") -> AppTest:
    """A fresh session on app.py, switched to the page of that menu title."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if title != "Home":
        go_to(at, title)
    assert_clean(at)
    return at


def go_to(at: AppTest, title: str) -> AppTest:
    return at.switch_page(app_ui.menu_entry(title).file).run()


def assert_clean(at: AppTest) -> None:
    """No traceback and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def charts_on(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def png_bytes(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


# --- without any data set ----------------------------------------------------------------------
def test_every_page_opens_without_a_data_set(demo_dir):
    at = open_app()
    assert "CINIC-10 Explorer" in at.title[0].value
    assert any("No data set yet" in i.value for i in at.info)
    for title in TITLES[1:]:
        go_to(at, title)
        assert_clean(at)
    assert not demo_dir.exists(), "opening pages must not make the demo set unasked"


def test_the_demo_offer_makes_and_selects_the_demo_set(demo_dir, monkeypatch):
    import cinic.data.demo

    real = cinic.data.demo.ensure_demo_dataset
    monkeypatch.setattr(cinic.data.demo, "ensure_demo_dataset",
                        lambda out, progress=None: real(out, per_class=(3, 2, 2), progress=progress))
    at = open_app("Train")
    button(at, "Use the demo data set").click().run()
    assert_clean(at)
    assert datasets.chosen_data_root() == demo_dir.resolve()
    assert (demo_dir / "train" / "cat").is_dir()
    assert button(at, "Start training")  # the page now offers the training controls


# --- with the demo set ------------------------------------------------------------------------
def test_every_page_opens_with_the_demo_set_and_the_whole_menu(with_demo):
    at = open_app()
    for entry in app_ui.MENU:
        go_to(at, entry.title)
        assert_clean(at)
        assert at.title[0].value == ("CINIC-10 Explorer" if entry.title == "Home" else entry.title)
        menu = [(link.value, link.proto.icon, link.proto.page) for link in at.sidebar.get("page_link")]
        # Labels and icons from the one list; the URL Streamlit gives each file (home: "", pages/train.py: train).
        assert menu == [(e.title, e.icon, Path(e.file).stem if e.file.startswith("pages/") else "")
                        for e in app_ui.MENU]
        assert [c.value.split(":")[0] for c in at.sidebar.caption] == ["Data", "Device"]
    go_to(at, "Home")
    next_steps = [link.value for link in at.main.get("page_link")]
    # Every page with a purpose line; Reproduce has none: Home opens with a card of its own for it.
    assert next_steps == [f"{e.title}: {e.purpose}" for e in app_ui.MENU[1:] if e.purpose]


# --- the layout: Streamlit's pages/ folder, one menu, page_start and page_body on every page------------------------
def test_pages_holds_exactly_the_pages_of_the_menu():
    """Streamlit makes every file of pages/ a page: no helper may live there, no page may miss the menu."""
    in_folder = sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "pages").iterdir()
                       if p.name != "__pycache__")
    assert in_folder == sorted(entry.file for entry in app_ui.MENU[1:])
    assert app_ui.MENU[0].file == "app.py" and TITLES[0] == "Home"
    assert len(set(TITLES)) == len(TITLES)


def test_every_page_draws_its_menu_before_it_imports_the_library():
    """A fresh server spends seconds on the library's first import (torch): the menu must come first,
    or a bookmark of /train shows a blank page meanwhile (issue 11, item 4)."""
    import ast

    for entry in app_ui.MENU:
        body = ast.parse((PROJECT / entry.file).read_text()).body
        start = next(i for i, node in enumerate(body) if isinstance(node, ast.Expr)
                     and ast.unparse(node.value) == f"app_ui.page_start({entry.title!r})")
        library = [i for i, node in enumerate(body) if isinstance(node, (ast.Import, ast.ImportFrom))
                   and ("cinic" in ast.unparse(node) or "explain_view" in ast.unparse(node))]
        assert library and min(library) > start, entry.file


def test_a_library_error_shows_as_a_box_on_every_page(with_demo, monkeypatch):
    """page_body catches what a page did not: here the first thing each page draws fails."""
    import streamlit as st

    def refuse(*args, **kwargs):
        raise CinicError("The disk refused: free some space and reload the page.")

    monkeypatch.setattr(st, "title", refuse)  # every page starts with st.title, inside page_body
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for title in TITLES:
        go_to(at, title)
        assert not at.exception, (title, [e.value for e in at.exception])
        assert [e.value for e in at.error] == ["The disk refused: free some space and reload the page."], title
        assert len(at.sidebar.get("page_link")) == len(TITLES), title  # the menu is still there


def test_data_page_checks_counts_measures_and_shows_samples(with_demo):
    at = open_app("Data")
    assert any("valid CINIC-10 layout" in s.value for s in at.success)
    counts = at.dataframe[0].value
    assert counts.loc["cat", "train"] == 16 and counts.loc["total", "test"] == 60
    stats = at.dataframe[1].value
    assert list(stats[""]) == ["mean", "std"] and 0 < stats.loc[0, "red"] < 1
    assert len(at.get("image")) == 10  # a row of samples per class


def test_data_page_explains_a_folder_that_is_not_cinic10(with_demo, tmp_path):
    not_cinic = tmp_path / "photos"
    (not_cinic / "train").mkdir(parents=True)
    at = open_app("Data")
    at.text_input[0].set_value(str(not_cinic))
    button(at, "Use this data").click().run()
    for _ in range(50):  # the check runs in a background thread; the page polls it
        if at.error:
            break
        time.sleep(0.1)
        at.run()
    assert at.error and "valid/" in at.error[0].value and str(not_cinic) in at.error[0].value
    assert datasets.chosen_data_root() == with_demo  # the bad folder was not selected


def test_train_page_shows_the_preset_summary_and_a_composed_variant(with_demo):
    at = open_app("Train")
    at.selectbox(key="preset").set_value("best").run()
    best_params = sum(r["params"] for r in summarize(PRESETS["best"]))
    assert at.metric[0].value == f"{best_params:,}"

    at.radio(key="model-mode").set_value("Compose a variant").run()
    assert_clean(at)
    at.number_input(key="best-conv0-maps").set_value(16).run()
    assert at.metric[0].value != f"{best_params:,}"
    at.selectbox(key="best-norm").set_value("contrast").run()
    at.checkbox(key="best-tta").check().run()
    assert any(c.value.startswith("contrast-normalised input") and c.value.endswith("flip TTA") for c in at.caption)
    at.number_input(key="best-conv0-k").set_value(11).run()
    assert_clean(at)  # 32 -> 22 -> pool 11: still fits
    at.number_input(key="best-conv1-k").set_value(11).run()  # 11 -> 1: too small to pool
    assert at.error and "conv layer 2" in at.error[0].value
    assert button(at, "Start training").disabled


def test_train_page_recipe_controls_and_schedule_plot(with_demo):
    at = open_app("Train")
    assert charts_on(at), "the learning-rate plot is missing"
    trained = [m.value for m in at.markdown if m.value.startswith("Trains **base · project recipe**: ")]
    assert trained and "contrast-normalised input" in trained[0] and "xavier init" in trained[0], trained
    at.selectbox(key="schedule-project").set_value("step").run()
    at.text_input(key="lr_drops-project").set_value("3:0.0001, 99:0.1").run()
    assert at.error and "learning-rate drop" in at.error[0].value
    assert button(at, "Start training").disabled
    at.text_input(key="lr_drops-project").set_value("3:0.0001").run()
    assert_clean(at)
    at.radio(key="recipe").set_value("report").run()
    assert at.selectbox(key="schedule-report").value == "step"
    # the report's recipe keeps the preset as it is
    assert any(m.value == f"Trains **base · report recipe**: {PRESETS['base'].describe()}" for m in at.markdown)


@pytest.mark.slow
def test_a_launch_while_another_trains_is_queued_behind_it_and_can_be_cancelled(with_demo, isolated_dirs):
    from filelock import FileLock

    runs = paths.runs_root()
    busy = RunFolder.create({"preset": "base", "epochs": 5}, root=runs, name="busy-run")
    busy.write_status("running", **this_process(), epoch=1, epochs=5)
    lock = FileLock(str(runs / ".training.lock"))
    lock.acquire()  # the "busy" training holds the device
    try:
        at = open_app("Train")
        at.number_input(key="epochs").set_value(1).run()
        button(at, "Start training").click().run()
        assert_clean(at)
        launched = [p for p in runs.iterdir() if p.is_dir() and p.name != "busy-run"]
        assert len(launched) == 1
        run = RunFolder(launched[0])
        assert any(f"Queued behind {busy.name}" in i.value for i in at.info)
        button(at, "Cancel").click().run()
        deadline = time.time() + 60
        while run.status()["state"] in ("queued", "running") and time.time() < deadline:
            time.sleep(0.2)
        assert run.status()["state"] == "cancelled"
        assert run.epochs() == []
    finally:
        lock.release()


def test_a_queued_run_with_nothing_training_ahead_says_starting(with_demo, isolated_dirs):
    """Just launched, its process not yet holding the lock: it is starting, not waiting for anyone."""
    RunFolder.create({"preset": "base", "epochs": 1}, root=paths.runs_root(), name="fresh-run")
    at = open_app("Train")
    assert any("fresh-run" in m.value and "starting…" in m.value for m in at.markdown)
    assert not [i for i in at.info if "Queued" in i.value]


# --- with a finished run -------------------------------------------------------------------------
def test_results_page_shows_the_evaluation_and_images(with_finished_run):
    evaluation = with_finished_run.evaluation()
    at = open_app("Results")
    assert at.metric[0].value == f"{evaluation['accuracy']:.2f}%"
    assert len(charts_on(at)) >= 5  # curves, confusion matrix, per class, per origin
    assert at.get("image"), "no test images shown"
    at.toggle(key="confusion-normalize").set_value(True).run()
    assert_clean(at)


def test_compare_page_tabulates_the_run(with_finished_run):
    at = open_app("Compare")
    table = at.dataframe[0].value
    assert list(table["run"]) == ["finished-base", "report: base", "report: stepping", "report: best"]
    assert table.loc[0, "test %"] == pytest.approx(with_finished_run.evaluation()["accuracy"], abs=0.01)
    assert len(charts_on(at)) == 2


def test_classify_page_predicts_uploads_and_explains_bad_files(with_finished_run):
    at = open_app("Classify")
    at.file_uploader(key="classify-upload").set_value([
        ("red.png", png_bytes(640, 480), "image/png"),
        ("broken.png", b"not a png at all", "image/png"),
    ]).run()
    assert not at.exception
    assert len(at.error) == 1 and "broken.png" in at.error[0].value
    assert any("resized from 640x480" in c.value for c in at.caption)
    assert len(charts_on(at)) == 1
    button(at, "Pick a random test image").click().run()
    assert not at.exception and len(at.error) == 1  # the uploads stay; only the broken one errs
    assert len(charts_on(at)) == 2
    assert any("true:" in m.value or ":material/check_circle:" in m.value for m in at.markdown)



# --- understanding the model: best epoch, A vs B, what it looks at -----------------------------------
@pytest.fixture(scope="module")
def two_runs_root(tmp_path_factory, train_finished, finished_runs_root, tiny_data) -> Path:
    """finished-base and a 1-epoch stepping run on the tiny demo set, in one runs root."""
    import shutil

    root = tmp_path_factory.mktemp("two-runs")
    shutil.copytree(finished_runs_root / "finished-base", root / "finished-base")
    train_finished(tiny_data, "finished-stepping", root, preset="stepping", batch_size=16)
    return root


@pytest.fixture
def with_two_runs(with_demo, two_runs_root, monkeypatch) -> Path:
    monkeypatch.setenv("CINIC_RUNS", str(two_runs_root))
    return two_runs_root


def chart_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in charts_on(at)]


def marked_best(at: AppTest) -> int:
    """Charts carrying the best-epoch mark (its tooltip's title; the text is checked in test_charts)."""
    return sum('"best epoch"' in spec for spec in chart_specs(at))


def test_every_epoch_curve_marks_the_best_epoch(with_two_runs):
    at = open_app("Results")
    assert marked_best(at) == 2  # accuracy and loss per epoch
    go_to(at, "Compare")
    assert marked_best(at) == 1  # the overlaid curves
    go_to(at, "Train")
    assert marked_best(at) == 2  # the watched run's curves


def test_compare_a_vs_b_image_by_image(with_two_runs):
    from cinic.analysis.diff import compare_runs

    expected = compare_runs(RunFolder(with_two_runs / "finished-base"),
                            RunFolder(with_two_runs / "finished-stepping")).summary()
    at = open_app("Compare")
    at.selectbox(key="ab-a").set_value("finished-base").run()
    at.selectbox(key="ab-b").set_value("finished-stepping").run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy A"] == f"{expected['accuracy_a']:.2f}%"
    assert metrics["Accuracy B"] == f"{expected['accuracy_b']:.2f}%"
    assert (metrics["B fixed"], metrics["B broke"]) == (str(expected["fixed"]), str(expected["broken"]))
    verdicts = [box.value for box in [*at.info, *at.success, *at.warning] if "McNemar" in box.value]
    assert len(verdicts) == 1 and expected["verdict"] in verdicts[0]
    assert any("B minus A" in spec for spec in chart_specs(at))
    table = next(d.value for d in at.dataframe if "B − A" in d.value.columns)
    assert list(table["class"]) == [r["class"] for r in expected["per_class"]]
    assert [t.label for t in at.tabs] == [f"B fixed ({expected['fixed']})", f"B broke ({expected['broken']})"]

    at.selectbox(key="ab-class").set_value("cat").run()
    assert_clean(at)
    cats = [r for r in expected["per_class"] if r["class"] == "cat"][0]
    assert [t.label for t in at.tabs] == [f"B fixed ({cats['fixed']})", f"B broke ({cats['broken']})"]
    explained = at.selectbox(key="ab-explain-image")
    if explained.options:  # the images B fixed or broke among cats, and those of the confusion cell
        at.radio(key="ab-explain-method").set_value("occlusion").run()
        at.selectbox(key="ab-explain-class").set_value("cat").run()
        assert_clean(at)
        panels = [m.value for m in at.markdown if "map for **cat**" in m.value]
        assert len(panels) == 2 and "A = finished-base" in panels[0] and "B = finished-stepping" in panels[1]


def test_compare_refuses_runs_of_other_data_and_offers_a_s_images(with_two_runs, tmp_path, monkeypatch):
    import shutil

    from cinic.data.demo import make_demo_dataset

    root = tmp_path / "runs"
    shutil.copytree(with_two_runs, root)
    RunFolder(root / "finished-stepping").update_config(
        data=str(make_demo_dataset(tmp_path / "other", per_class=(4, 2, 3), seed=9)))
    monkeypatch.setenv("CINIC_RUNS", str(root))
    at = open_app("Home")
    go_to(at, "Compare")
    at.selectbox(key="ab-a").set_value("finished-base").run()
    at.selectbox(key="ab-b").set_value("finished-stepping").run()
    assert not at.exception
    assert len(at.error) == 1 and "different data" in at.error[0].value
    button(at, "Compare both on finished-base's test images").click().run()
    assert_clean(at)
    assert {m.label for m in at.metric} >= {"Accuracy A", "Accuracy B", "B fixed", "B broke"}
    assert any("Both evaluated on finished-base's test images" in c.value for c in at.caption)


def test_results_page_explains_a_misclassified_image_and_shows_the_layers(with_finished_run):
    at = open_app("Results")
    assert at.selectbox(key="results-explain-image").options
    before = len(at.get("image"))
    at.radio(key="results-explain-method").set_value("integrated-gradients").run()
    at.selectbox(key="results-explain-class").set_value("cat").run()
    assert_clean(at)
    assert any("map for **cat**" in m.value for m in at.markdown)
    assert any("After conv block 2" in m.value for m in at.markdown)
    assert any("First layer's 6 filters" in m.value for m in at.markdown)
    assert len(at.get("image")) == before
    at.selectbox(key="results-explain-image").set_value(1).run()
    assert_clean(at)


def test_classify_page_explains_a_random_test_image(with_finished_run):
    at = open_app("Classify")
    assert any("Upload an image or pick a random test image" in c.value for c in at.caption)
    button(at, "Pick a random test image").click().run()
    at.radio(key="classify-explain-method").set_value("occlusion").run()
    assert_clean(at)
    assert any(m.value.startswith("predicts **") for m in at.markdown)
    assert any("Occlusion shows" in c.value for c in at.caption)

# --- augmentation ---------------------------------------------------------------------------------
def test_augmentation_page_composes_previews_and_saves(with_demo):
    at = open_app("Augmentation")
    assert "1. crop_centre" in at.code[0].value
    assert len(at.get("image")) == 1  # the preview grid
    button(at, "Remove all steps").click().run()
    button(at, "Yes, remove them").click().run()  # it asks first (tests/test_app_ux.py)
    assert at.code[0].value == "(no augmentation)"
    at.selectbox(key="aug-add-op").set_value("zoom").run()
    button(at, "Add step").click().run()
    at.selectbox(key="aug-add-op").set_value("greyscale").run()
    button(at, "Add step").click().run()
    assert at.code[0].value.splitlines()[0].startswith("1. zoom")
    ups = [b for b in at.button if (b.key or "").startswith("up-")]
    ups[1].click().run()  # greyscale moves above zoom
    assert at.code[0].value.splitlines()[0].startswith("1. greyscale")
    def min_factor():  # looked up afresh: an element belongs to the run that drew it
        return [n for n in at.number_input if n.label == "min_factor"][0]

    min_factor().set_value(2.0).run()
    assert at.error and "min_factor" in at.error[0].value
    assert not [b for b in at.button if b.label == "Save pipeline"]
    min_factor().set_value(1.2).run()
    at.number_input(key="aug-n").set_value(500).run()
    button(at, "Save pipeline").click().run()
    steps, n = saved_pipeline()
    assert [s["op"] for s in steps] == ["greyscale", "zoom"] and n == 500
    assert steps[1]["min_factor"] == pytest.approx(1.2)

    go_to(at, "Train")
    at.selectbox(key="augment-choice").set_value("saved").run()
    assert_clean(at)
    assert at.number_input(key="augment-n-saved").value == 500


@pytest.mark.slow
def test_a_stopped_run_can_be_evaluated_and_resumed(with_finished_run, tmp_path, monkeypatch):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(with_finished_run.path, runs / "stopped-base")
    monkeypatch.setenv("CINIC_RUNS", str(runs))
    run = RunFolder(runs / "stopped-base")
    (run.path / "eval.json").unlink()
    run.write_status("cancelled", pid=None)

    at = open_app("Results")
    assert any("no evaluation yet" in i.value for i in at.info)
    button(at, "Evaluate the best checkpoint on the test split").click().run()
    assert_clean(at)
    assert run.evaluation()["accuracy"] == with_finished_run.evaluation()["accuracy"]

    go_to(at, "Train")
    button(at, "Resume").click().run()
    assert_clean(at)
    deadline = time.time() + 90
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
    assert run.status()["state"] == "finished", run.log_tail()
