"""Everyday use, round three (issue 21): runs in the order people expect, labels that say what was
trained, each tab following its own run, one state per sweep, a first start that just works."""

from __future__ import annotations

import shutil

import pytest

from cinic import cli, paths
from cinic.runs.folder import RunFolder, list_runs
from cinic.runs.config import RECIPES
from test_app import (assert_clean, demo_dir, finished_runs_root, go_to, open_app,  # noqa: F401
                      with_demo, with_finished_run)


def _fake(name, preset="base", state="finished", test_acc=None, created=0.0):
    run = RunFolder.create({"preset": preset, "epochs": 1}, root=paths.runs_root(), name=name)
    run.write_status(state, test_acc=test_acc, created=created, device="cpu")
    return run


@pytest.fixture
def three_runs(with_finished_run, tmp_path, monkeypatch) -> list[str]:
    """Copies of the module's finished run named against their age ("a-newest" is the newest finished),
    and a queued run newer still: names sort one way, creation times the other."""
    runs = tmp_path / "runs"
    for name, created in (("z-oldest", 1000.0), ("a-newest", 3000.0), ("m-middle", 2000.0)):
        shutil.copytree(with_finished_run.path, runs / name)
        RunFolder(runs / name).write_status("finished", created=created)
    monkeypatch.setenv("CINIC_RUNS", str(runs))
    _fake("0-queued", state="queued", created=4000.0)
    return ["0-queued", "a-newest", "m-middle", "z-oldest"]


# --- 1. newest first by creation time, everywhere ------------------------------------------------------
def test_runs_are_listed_newest_first_by_creation_time_not_by_name(with_demo, capsys):
    _fake("zz-old", created=1.0)
    _fake("tab2-base", created=2.0)
    _fake("20260101-120000-base", created=3.0)
    newest_first = ["20260101-120000-base", "tab2-base", "zz-old"]
    assert [s["name"] for s in list_runs()] == newest_first
    assert cli.main(["runs"]) == 0
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert printed == newest_first


def test_results_and_classify_open_the_newest_finished_run_then_the_one_picked(three_runs):
    at = open_app("Results")
    assert [o.split(" · ")[0] for o in at.selectbox(key="results-run").options] == three_runs
    assert at.selectbox(key="results-run").value == "a-newest"
    go_to(at, "Classify")
    assert at.selectbox(key="classify-run").value == "a-newest"
    at.selectbox(key="classify-run").set_value("m-middle").run()
    go_to(at, "Results")  # the menu's link carries no URL: the tab remembers its pick
    assert at.selectbox(key="results-run").value == "m-middle"
    assert_clean(at)


# --- 5. each tab follows its own run -----------------------------------------------------------------
def test_each_tab_follows_the_run_its_url_names_not_the_newest_training(with_demo):
    from streamlit.testing.v1 import AppTest

    from cinic.runs.process import this_process
    from test_app import APP, TIMEOUT

    _fake("tab1-run", state="finished", test_acc=30.0, created=1.0)   # tab 1 started it; it has ended
    other = _fake("tab2-run", state="running", created=2.0)           # tab 2's, training now
    other.write_status("running", **this_process())
    tab1 = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    tab1.query_params["run"] = "tab1-run"
    tab1.run()
    go_to(tab1, "Train")
    assert any(m.value.startswith("**tab1-run**") for m in tab1.markdown)
    assert not any(m.value.startswith("**tab2-run**") for m in tab1.markdown)
    tab2 = open_app("Train")  # a tab that follows no run yet watches the one training
    assert any(m.value.startswith("**tab2-run**") for m in tab2.markdown)


# --- 3. the recipe named beside the preset and in every run label ------------------------------------
def test_the_recipe_is_named_beside_the_preset_and_the_reports_optimiser_is_adam(with_demo):
    at = open_app("Train")
    assert at.selectbox(key="preset").format_func("base").startswith("base · project recipe")
    assert any(m.value.startswith("Trains **base · project recipe**") for m in at.markdown)
    report = RECIPES[1]  # "report"; its old name "seed" reads "report recipe" too (below)
    at.radio(key="recipe").set_value(report).run()
    assert_clean(at)
    assert at.radio(key="recipe").format_func(report) == "report recipe"
    assert at.selectbox(key="preset").format_func("base").startswith("base · report recipe")
    assert any(m.value.startswith("Trains **base · report recipe**") for m in at.markdown)
    assert at.selectbox(key=f"optimizer-{report}").format_func("adam") == "Adam"  # no weight decay: the report's Adam


def test_every_run_label_names_the_recipe(with_finished_run):
    from cinic.runs.folder import run_label

    assert run_label({"preset": "base", "recipe": "seed"}) == "base · report recipe"
    assert run_label({"preset": "base", "recipe": "report"}) == "base · report recipe"
    assert run_label({"preset": None, "recipe": "project"}) == "custom · project recipe"
    label = "finished-base · base · project recipe"
    at = open_app("Results")
    assert at.selectbox(key="results-run").format_func("finished-base").startswith(label)
    assert at.caption[0].value.startswith("base · project recipe")
    go_to(at, "Compare")
    assert list(at.dataframe[0].value["variant"])[0] == "base · project recipe"
    assert any(label.encode() in chart.proto.SerializeToString() for chart in at.get("vega_lite_chart"))  # legends
    go_to(at, "Classify")
    assert any(c.value.startswith("base · project recipe") for c in at.caption)
    assert_clean(at)


def test_sweep_labels_name_the_recipe():
    from cinic.sweeps.spec import variant_labels

    assert variant_labels([{"preset": "base", "recipe": "seed", "lr": 0.1}, {"preset": "best", "recipe": "project"}]) \
        == ["base · report recipe, lr=0.1", "best · project recipe"]
    assert variant_labels([{"recipe": "report"}]) == ["report recipe"]


# --- 2. Compare picks a group in one choice --------------------------------------------------------------
def _sweep(name: str, data, presets=("base", "stepping", "best"), seeds=(0, 1)) -> list[str]:
    from cinic.sweeps.runner import prepare
    from cinic.sweeps.spec import parse_spec

    spec = parse_spec({"name": name, "data": str(data), "epochs": 1,
                       "grid": {"preset": list(presets), "seed": list(seeds)}})
    prepare(spec, paths.runs_root())
    for i, trial in enumerate(spec.trials):
        RunFolder(paths.runs_root() / trial.name).write_status("finished", epoch=1, test_acc=30.0 + i,
                                                               best_valid_acc=29.0 + i)
    return [t.name for t in spec.trials]


def test_compare_opens_on_the_newest_sweep_whole_and_picks_another_group_in_one_choice(with_demo):
    import time

    for i in range(3):
        _fake(f"alone-{i}", test_acc=20.0 + i, created=time.time() - 100 + i)
    RunFolder.open("alone-0").update_config(data=str(with_demo))
    trials = _sweep("six", with_demo)  # made now: newer than the runs above
    at = open_app("Compare")
    assert_clean(at)
    assert at.selectbox(key="compare-group").value == "sweep:six"
    assert list(at.dataframe[0].value["run"])[:6] == trials  # all six, not the four finished first
    assert at.dataframe[0].value.shape[0] == 6 + 3  # the six, then the report's three rows
    labels = at.selectbox(key="compare-group").options
    assert labels[0] == "sweep six: its 6 runs"
    assert "the 2 newest runs on an unknown data set (not in a sweep)" in labels  # alone-1, alone-2 name none
    at.selectbox(key="compare-group").set_value("data:None").run()
    assert list(at.dataframe[0].value["run"])[:2] == ["alone-2", "alone-1"]
    assert_clean(at)


# --- 4. "worst first" shows the figure it is ranked by --------------------------------------------------
def test_the_worst_mistakes_show_the_figure_they_are_ranked_by(with_finished_run):
    import re

    at = open_app("Results")
    captions = [c for image in at.get("image") for c in image.captions if " → " in c]
    assert len(captions) >= 5, captions
    figures = [float(re.search(r"([\d.]+)%$", c).group(1)) for c in captions]
    assert figures == sorted(figures), captions  # lowest probability of the true class first: worst first
    assert all(c.startswith(f"{c.split(' → ')[0]} → ") and f"p({c.split(' → ')[0]})" in c for c in captions)
    assert any("lowest probability given to the true class" in c.value for c in at.caption)


# --- 6. one state per sweep -------------------------------------------------------------------------
def test_a_sweep_whose_trials_all_finished_reads_finished_while_its_process_winds_down(with_demo):
    from cinic.runs.process import this_process
    from cinic.sweeps.runner import _write_state, list_sweeps, summarize_sweep, sweep_folder

    _sweep("done", with_demo, presets=("base",), seeds=(0, 1, 2))
    _write_state(sweep_folder("done"), "running", **this_process())  # its process still shuts Ray down
    assert list_sweeps()[0]["state"] == summarize_sweep(sweep_folder("done"))["state"] == "finished"
    at = open_app("Sweeps")
    assert_clean(at)
    assert at.selectbox(key="sweep-picked").options == ["done (finished, 3 trials)"]
    assert "Sweep done: finished" in [t.value for t in at.text]
    assert not [b for b in at.button if b.label == "Stop the sweep"]


# --- 7. the first start comes up ready on the demo set ----------------------------------------------------
def test_run_sh_app_makes_the_demo_set_when_there_is_none_and_says_so(demo_dir, capsys):
    import shlex

    from cinic.data import choice
    from test_app import PROJECT

    assert choice.data_in_use() is None  # no data set chosen, no CINIC-10, no demo set yet
    line = next(x for x in (PROJECT / "run.sh").read_text().splitlines()
                if x.strip().startswith('"$PY" -c') and "cinic.data" in x)
    exec(shlex.split(line.strip())[-1], {})  # what ./run.sh app runs before the server starts
    said = capsys.readouterr().out
    assert (demo_dir / "train").is_dir() and choice.data_in_use() == demo_dir
    assert "making the embedded demo data set" in said and f"the embedded demo data set ({demo_dir.resolve()})" in said
    assert "choose CINIC-10 on the app's Data page" in said
    at = open_app()  # ready: no offer to make a data set, the demo set named
    assert not [b for b in at.button if b.label == "Use the demo data set"]
    assert any("embedded demo data set" in m.value for m in at.markdown)


# --- 8. numbers and words ---------------------------------------------------------------------------
def test_one_formatter_for_accuracies_and_their_differences():
    from ui import charts

    assert charts.percent(42.08506) == charts.percent(42.085) == "42.09%"  # status.json's and metrics.jsonl's
    assert charts.points(33.434, 34.9051) == "+1.48 points"  # the shown 34.91% - 33.43%, not 1.47
    assert charts.points(50.0, 49.5) == "-0.50 points"


def test_the_report_pipeline_asks_first_and_sets_n_to_a_third_of_the_training_split(with_demo):
    from cinic.augment.ops import SEED_PIPELINE
    from test_app import button

    train_images = sum(1 for f in (with_demo / "train").rglob("*.png"))
    at = open_app("Augmentation")
    button(at, "Remove all steps").click().run()
    button(at, "Yes, remove them").click().run()
    button(at, "Start from the report's pipeline").click().run()
    assert at.code[0].value == "(no augmentation)"  # nothing replaced before the answer
    assert any(f"with {train_images // 3:,} (a third of the training split" in w.value for w in at.warning)
    button(at, "Yes, replace them").click().run()
    assert len(at.code[0].value.splitlines()) == len(SEED_PIPELINE)
    assert at.number_input(key="aug-n").value == train_images // 3
    assert_clean(at)


def test_classify_shows_every_probability_with_one_decimal(with_finished_run, tiny_data, tmp_path):
    import json

    folder = tmp_path / "loose"
    folder.mkdir()
    for picture in sorted((tiny_data / "test" / "cat").iterdir())[:3]:
        (folder / picture.name).write_bytes(picture.read_bytes())
    at = open_app("Classify")
    at.radio(key="batch-from").set_value("path").run()
    at.text_input(key="batch-path").set_value(str(folder)).run()
    assert_clean(at)
    table = at.dataframe[-1]
    formats = {name: config.get("type_config", {}).get("format")
               for name, config in json.loads(table.proto.columns).items()}
    assert [c for c in table.value.columns if c.startswith("p ")] == ["p 1 %", "p 2 %", "p 3 %"]
    assert all(formats.get(c) == "%.1f" for c in ("p 1 %", "p 2 %", "p 3 %")), formats


def _three_epochs(best: int = 2) -> list[dict]:
    return [{"epoch": e, "train_loss": 2.0 - e / 10, "train_acc": 30.0 + e, "valid_loss": 2.0 - e / 10,
             "valid_acc": 40.0 if e == best else 30.0 + e} for e in (1, 2, 3)]


def test_epoch_charts_label_every_epoch_and_share_one_legend():
    from ui import charts

    epochs = _three_epochs()
    marked = [charts.mark_best_epoch(charts.epoch_metric_chart(epochs, "acc"), epochs).to_dict(),
              charts.mark_best_epochs(charts.overlay_chart({"a": epochs, "b": epochs}), {"a": epochs, "b": epochs}).to_dict()]
    for chart in marked:  # a tick per epoch: given as a list of values, the browser labelled only 1 and 3
        axis = chart["layer"][0]["encoding"]["x"]["axis"]
        assert axis["tickCount"] == 2 and axis["tickMinStep"] == 1 and "values" not in axis
    legends = [layer["encoding"]["color"].get("legend") for layer in marked[1]["layer"]]
    assert None not in legends and len({str(legend) for legend in legends}) == 1  # no "disable" to conflict with


def test_a_one_point_loss_chart_reads_whole_batches_and_three_decimals():
    from ui import charts

    x = charts.batch_loss_chart([{"step": 0, "loss": 2.31275, "epoch": 1}]).to_dict()["encoding"]
    assert x["x"]["axis"]["format"] == "d" and x["y"]["axis"]["format"] == ".3~f"
