"""ui/charts.py: every builder gives a valid Vega-Lite spec over the right data."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from ui import charts, study_charts

CLASSES = ["cat", "dog", "ship"]
CONFUSION = [[8, 2, 0], [3, 6, 1], [0, 0, 0]]  # ship has no test images: its row is all zero
EPOCHS = [
    {"kind": "epoch", "epoch": 1, "train_loss": 2.0, "train_acc": 20.0, "valid_loss": 1.9, "valid_acc": 25.0,
     "lr": 0.001, "seconds": 10.0},
    {"kind": "epoch", "epoch": 2, "train_loss": 1.5, "train_acc": 40.0, "valid_loss": 1.6, "valid_acc": 38.0,
     "lr": 0.0005, "seconds": 14.0},
]


def spec_of(chart) -> dict:
    """The Vega-Lite dict; altair validates it against the schema on the way."""
    return chart.to_dict(validate=True)


def test_lr_schedule_chart_shows_the_rate_within_each_epoch():
    from cinic.runs.config import lr_curve, make_config

    config = make_config("/data", preset="base", epochs=3)  # project recipe: a warm-up in epoch 1
    chart = charts.lr_schedule_chart(lr_curve(config))
    spec = spec_of(chart)
    assert len(chart.data) > 3 * 10 and chart.data["epochs"].iloc[-1] == 3
    first_epoch = chart.data[chart.data["epochs"] <= 1]["lr"]
    assert first_epoch.iloc[0] < 0.01 * config.lr and first_epoch.max() > 0.5 * config.lr  # climbs within it
    assert spec["encoding"]["x"]["axis"]["tickCount"] == 3  # a tick per epoch


def test_epoch_axes_show_whole_epochs_only():
    one = [EPOCHS[0]]
    for chart in (charts.epoch_metric_chart(one, "acc"), charts.overlay_chart({"a": one})):
        axis = spec_of(chart)["encoding"]["x"]["axis"]
        assert axis["format"] == "d" and axis["tickCount"] == 1


def test_batch_loss_chart_takes_the_batch_records():
    batches = [{"kind": "batch", "epoch": 1, "step": 0, "loss": 2.3}, {"kind": "batch", "epoch": 1, "step": 10,
                                                                          "loss": 2.1}]
    chart = charts.batch_loss_chart(batches)
    spec_of(chart)
    assert list(chart.data["step"]) == [0, 10] and list(chart.data["loss"]) == [2.3, 2.1]
    spec_of(charts.batch_loss_chart([]))  # before the first record: an empty but valid chart


def test_epoch_metric_chart_has_train_and_valid_lines():
    chart = charts.epoch_metric_chart(EPOCHS, "acc")
    spec = spec_of(chart)
    assert spec["encoding"]["color"]["field"] == "split"
    rows = chart.data.to_dict("records")
    assert {"epoch": 2, "split": "valid", "value": 38.0} in rows and len(rows) == 4
    loss = charts.epoch_metric_chart(EPOCHS, "loss").data
    assert list(loss[loss.split == "train"]["value"]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="'acc' or 'loss'"):
        charts.epoch_metric_chart(EPOCHS, "accuracy")


def test_overlay_chart_has_one_line_per_run():
    chart = charts.overlay_chart({"a": EPOCHS, "b": EPOCHS[:1]}, "valid_acc")
    spec_of(chart)
    assert list(chart.data["run"]) == ["a", "a", "b"]
    assert list(chart.data["valid_acc"]) == [25.0, 38.0, 25.0]
    # People read "validation accuracy %", not the metrics.jsonl field name.
    assert spec_of(chart)["encoding"]["y"]["title"] == "validation accuracy %"
    assert spec_of(chart)["title"] == "Validation accuracy % per epoch"
    assert set(charts.CURVE_TITLES) == {"valid_acc", "train_acc", "valid_loss", "train_loss", "lr"}


def test_confusion_chart_counts_normalised_rows_and_a_cell_selection():
    frame = charts.confusion_frame(CONFUSION, CLASSES)
    assert len(frame) == 9
    cat_dog = frame[(frame.true_class == "cat") & (frame.predicted == "dog")].iloc[0]
    assert cat_dog["count"] == 2 and cat_dog["row_pct"] == 20.0
    assert frame[frame.true_class == "ship"]["row_pct"].tolist() == [0.0, 0.0, 0.0]  # no division by zero
    for normalize, field in ((False, "count"), (True, "row_pct")):
        spec = spec_of(charts.confusion_chart(CONFUSION, CLASSES, normalize))
        cells = spec["layer"][0]
        assert cells["mark"]["type"] == "rect" and cells["encoding"]["color"]["field"] == field
        assert spec["layer"][1]["encoding"]["text"]["field"] == field
        assert spec["layer"][0]["encoding"]["y"]["sort"] == CLASSES  # rows in class order
    params = spec_of(charts.confusion_chart(CONFUSION, CLASSES))["params"]
    assert params[0]["name"] == charts.CONFUSION_SELECTION
    assert params[0]["select"]["fields"] == ["true_class", "predicted"]


def test_selected_cell_reads_the_streamlit_selection_state():
    state = {"selection": {charts.CONFUSION_SELECTION: [{"true_class": "cat", "predicted": "dog"}]}}
    assert charts.selected_cell(state) == ("cat", "dog")
    assert charts.selected_cell({"selection": {charts.CONFUSION_SELECTION: []}}) is None
    assert charts.selected_cell(None) is None
    assert charts.selected_cell({"selection": {charts.CONFUSION_SELECTION: [{"x": 1}]}}) is None


def test_per_class_and_comparison_bars():
    chart = charts.per_class_chart({"cat": 48.9, "dog": 47.3})
    spec_of(chart)
    assert list(chart.data["accuracy"]) == [48.9, 47.3]
    compare = charts.per_class_compare_chart({"a": {"cat": 50.0, "dog": 40.0}, "b": {"cat": 60.0, "dog": 45.0}})
    spec = spec_of(compare)
    assert spec["encoding"]["xOffset"]["field"] == "run"
    assert len(compare.data) == 4


def test_origin_and_top_k_charts():
    origin = charts.origin_chart({"cifar10": {"n": 10, "accuracy": 70.0}, "imagenet": {"n": 5, "accuracy": 40.0}})
    spec_of(origin)
    assert list(origin.data["origin"]) == ["cifar10", "imagenet"]
    top = charts.top_k_chart([{"class": "cat", "prob": 0.7}, {"class": "dog", "prob": 0.2}])
    spec = spec_of(top)
    assert spec["encoding"]["y"]["sort"] == ["cat", "dog"]  # most likely first, not alphabetical
    assert list(top.data["probability"]) == [0.7, 0.2]


def test_class_counts_table_and_chart():
    counts = {"train": {"cat": 3, "dog": 4}, "test": {"cat": 1, "dog": 2}}
    table = charts.class_counts_frame(counts)
    assert table.loc["total", "train"] == 7 and table.loc["dog", "test"] == 2
    chart = charts.class_counts_chart(counts)
    spec_of(chart)
    assert len(chart.data) == 4


def test_training_progress_estimates_time_left():
    running = {"state": "running", "epochs": 5, "epoch": 2}
    progress = charts.training_progress(running, EPOCHS)
    assert progress["fraction"] == 0.4
    assert progress["seconds_left"] == pytest.approx(12.0 * 3)
    assert progress["text"] == "epoch 2 of 5, about 36 s left"
    start = charts.training_progress({**running, "epoch": 0}, [])
    assert start == {"fraction": 0.0, "text": "epoch 0 of 5", "seconds_left": None}
    assert charts.training_progress({**running, "epochs": 2}, EPOCHS)["text"] == "epoch 2 of 2"


def test_the_time_left_counts_down_within_an_epoch_and_follows_the_batches():
    status = {"state": "running", "epochs": 5, "epoch": 2, "updated": 1000.0, "steps_per_epoch": 40}
    batches = [{"kind": "batch", "epoch": 3, "step": 80, "loss": 1.0}, {"kind": "batch", "epoch": 3, "step": 90,
                                                                         "loss": 1.0}]
    first = charts.training_progress(status, EPOCHS, batches, now=1002.0)
    later = charts.training_progress(status, EPOCHS, batches, now=1006.0)
    assert first["seconds_left"] == pytest.approx(36 - 2) and later["seconds_left"] == pytest.approx(36 - 6)
    assert later["text"] == "epoch 3 of 5, batch 11 of 40, about 30 s left"
    assert later["fraction"] == pytest.approx((2 + 11 / 40) / 5)
    slow = [*EPOCHS, {**EPOCHS[0], "epoch": 3, "seconds": 100.0}]  # the median, not the mean (52 s)
    assert charts.training_progress({**status, "epoch": 3}, slow, now=1000.0)["seconds_left"] == 14.0 * 2


@pytest.mark.parametrize("state", ["cancelled", "failed", "interrupted"])
def test_a_run_that_stopped_has_no_time_left(state):
    progress = charts.training_progress({"state": state, "epochs": 5, "epoch": 2, "steps_per_epoch": 40},
                                        EPOCHS, [{"kind": "batch", "epoch": 3, "step": 90, "loss": 1.0}])
    assert progress["seconds_left"] is None
    assert progress["text"] == f"epoch 2 of 5: {state}" and "left" not in progress["text"]


def test_format_duration():
    assert charts.format_duration(42.4) == "42 s"
    assert charts.format_duration(125) == "2 min 05 s"
    assert charts.format_duration(3 * 3600 + 7 * 60) == "3 h 07 min"


def test_compare_table_follows_the_report():
    summaries = [
        {"name": "r1", "preset": "best", "model": "conv ...", "test_acc": 64.381, "best_valid_acc": 64.66,
         "epoch": 5, "params": 1234, "s_per_epoch": 7.654, "augment_name": "seed", "augment_n": 30000, "state": "finished"},
        {"name": "r2", "preset": "custom", "model": "conv 3→8 k3, fc 1800→10", "test_acc": None,
         "best_valid_acc": None, "epoch": 0, "params": None, "s_per_epoch": None, "state": "running"},
    ]
    table = charts.compare_table(summaries, {"best": "the report's best"})
    assert list(table.columns) == charts.COMPARE_COLUMNS
    first, second = table.to_dict("records")
    assert first["what changed"] == "the report's best" and first["test %"] == 64.38
    assert second["what changed"] == "conv 3→8 k3, fc 1800→10" and pd.isna(second["test %"])
    assert first["augmentation"] == "seed ×30,000" and second["augmentation"] == "none"


def test_class_name_axes_are_slanted_and_keep_every_label():
    """Ten class names side by side overlap; Vega would drop every other one unless told not to."""
    built = [charts.confusion_chart(CONFUSION, CLASSES), charts.per_class_compare_chart({"a": {"cat": 1.0}}),
             charts.class_counts_chart({"train": {"cat": 1}})]
    for chart in built:
        spec = spec_of(chart)
        axis = (spec.get("encoding") or spec["layer"][0]["encoding"])["x"]["axis"]
        assert axis["labelAngle"] == -45 and axis["labelOverlap"] is False


def test_augmentation_label_says_none_rather_than_none_x0():
    assert charts.augmentation_label("none", 0) == "none"
    assert charts.augmentation_label(None, None) == "none"
    assert charts.augmentation_label("seed", 1000) == "seed ×1,000"
    assert charts.augmentation_label("my x pipe.json", 30000) == "my x pipe.json ×30,000"
    assert charts.augmentation_label("seed", 0) == "none"


def test_mistakes_get_a_short_caption_and_a_detail_table():
    mistakes = [{"index": 3, "file": "cat/n0212_1.png", "true": "cat", "pred": "dog", "p_pred": 0.7123,
                 "p_true": 0.1, "loss": 2.3}]
    assert charts.mistake_caption(mistakes[0]) == "cat → dog, p(cat) 10.0%"
    row = charts.mistakes_table(mistakes).to_dict("records")[0]
    assert row == {"#": 1, "true": "cat", "predicted": "dog", "p(predicted) %": pytest.approx(71.23),
                   "p(true) %": pytest.approx(10.0), "loss": 2.3, "file": "cat/n0212_1.png"}
    assert list(charts.mistakes_table([]).columns)[:3] == ["#", "true", "predicted"]


def test_live_state_says_starting_when_nothing_trains_ahead():
    others = [{"name": "me", "state": "queued"}, {"name": "old", "state": "finished"}]
    assert charts.live_state("queued", "me", others) == ("starting…", [])
    busy = others + [{"name": "busy", "state": "running"}]
    assert charts.live_state("queued", "me", busy) == ("queued", ["busy"])
    assert charts.live_state("running", "me", busy) == ("running", [])  # only a queued run waits
    assert charts.live_state(None, "me", []) == ("unknown", [])


def test_every_chart_fills_the_width_but_keeps_its_height():
    built = [
        charts.lr_schedule_chart([(0.0, 0.1), (1.0, 0.1)]), charts.batch_loss_chart([]), charts.epoch_metric_chart(EPOCHS, "acc"),
        charts.overlay_chart({"a": EPOCHS}), charts.confusion_chart(CONFUSION, CLASSES),
        charts.per_class_chart({"cat": 1.0}), charts.per_class_compare_chart({"a": {"cat": 1.0}}),
        charts.origin_chart({"cifar10": {"n": 1, "accuracy": 1.0}}), charts.top_k_chart([{"class": "cat", "prob": 1}]),
        charts.class_counts_chart({"train": {"cat": 1}}),
    ]
    for chart in built:
        spec = spec_of(chart)
        # Without it Streamlit squeezes title and axes into `height`, leaving no room for the plot.
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
        assert spec["height"] >= charts.ROW_PX
    assert isinstance(built[4], alt.LayerChart)


# --- the best epoch, marked ----------------------------------------------------------------------------
def test_the_best_epoch_is_the_first_with_the_highest_validation_accuracy():
    tied = EPOCHS + [{**EPOCHS[1], "epoch": 3}]  # epoch 3 only equals epoch 2: training keeps epoch 2
    assert charts.best_epoch(EPOCHS) == 2 and charts.best_epoch(tied) == 2
    assert charts.best_epoch([]) is None


def test_epoch_curves_mark_the_best_epoch_with_why():
    for metric in ("acc", "loss"):
        marked = charts.mark_best_epoch(charts.epoch_metric_chart(EPOCHS, metric), EPOCHS)
        spec = spec_of(marked)
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"} and spec["height"] == 220
        assert spec["title"] == charts.epoch_metric_chart(EPOCHS, metric).title
        rule = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
        rows = spec["datasets"][rule["data"]["name"]]
        assert [r["epoch"] for r in rows] == [2]
        assert "best.pt" in rows[0]["why"] and "test figures" in rows[0]["why"] and "38.00%" in rows[0]["why"]
        assert rule["encoding"]["tooltip"][0]["field"] == "why"
    unmarked = charts.epoch_metric_chart([], "acc")
    assert charts.mark_best_epoch(unmarked, []) is unmarked


def test_overlaid_runs_each_get_their_best_epoch():
    later = [{**e, "valid_acc": 50.0 - e["epoch"]} for e in EPOCHS]  # best at epoch 1
    by_run = {"a": EPOCHS, "b": later}
    spec = spec_of(charts.mark_best_epochs(charts.overlay_chart(by_run, "valid_loss"), by_run))
    rule = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    assert [(r["run"], r["epoch"]) for r in spec["datasets"][rule["data"]["name"]]] == [("a", 2), ("b", 1)]
    assert rule["encoding"]["color"]["field"] == "run"


# --- run A against run B ----------------------------------------------------------------------------------
def test_confusion_delta_chart_is_diverging_around_zero_and_selectable():
    delta = [[2, -2, 0], [-1, 0, 1], [0, 0, 0]]
    chart = charts.confusion_delta_chart(delta, CLASSES)
    spec = spec_of(chart)
    cells = spec["layer"][0]
    assert cells["encoding"]["color"]["scale"]["domain"] == [-2, 2]
    assert spec["params"][0]["name"] == charts.CONFUSION_SELECTION  # altair lifts it to the top
    frame = charts.confusion_delta_frame(delta, CLASSES)
    row = frame[(frame.true_class == "dog") & (frame.predicted == "ship")].iloc[0]
    assert row["change"] == 1 and row["label"] == "+1"
    assert frame[(frame.true_class == "ship") & (frame.predicted == "ship")].iloc[0]["label"] == ""
    state = {"selection": {charts.CONFUSION_SELECTION: [{"true_class": "dog", "predicted": "ship"}]}}
    assert charts.selected_cell(state) == ("dog", "ship")


def test_diff_tables_and_captions():
    rows = [{"class": "cat", "accuracy_a": 40.0, "accuracy_b": 55.0, "delta": 15.0, "fixed": 4, "broken": 1}]
    table = charts.diff_class_table(rows)
    assert list(table.columns) == charts.DIFF_CLASS_COLUMNS and table.iloc[0]["B − A"] == 15.0
    caption = charts.diff_caption({"pred_a": "dog", "p_a": 0.61, "pred_b": "cat", "p_b": 0.8})
    assert caption == "A dog 61% → B cat 80%"


def test_ten_runs_get_ten_different_colours_the_same_on_every_chart():
    runs = {f"run-{i}": EPOCHS for i in range(10)}
    for chart in (charts.overlay_chart(runs), charts.per_class_compare_chart({r: {"cat": 50.0} for r in runs})):
        scale = spec_of(chart)["encoding"]["color"]["scale"]
        assert scale["domain"] == list(runs) and len(set(scale["range"])) == 10


def test_the_compare_table_can_carry_the_reports_rows():
    from cinic.model.lenet import REPORT_RESULTS

    table = charts.compare_table([{"name": "mine", "preset": "base", "test_acc": 51.0}], {},
                                 REPORT_RESULTS)
    assert list(table["run"]) == ["mine", "report: base", "report: stepping", "report: best"]
    assert list(table["test %"])[1:] == [50.73, 52.25, 64.38]
    assert list(table["state"])[1:] == ["reference"] * 3


def test_every_bar_says_its_value_on_hover():
    bars = {"accuracy": charts.per_class_chart({"cat": 1.0}), "probability": charts.top_k_chart(
        [{"class": "cat", "prob": 1}]), "images": charts.class_counts_chart({"train": {"cat": 1}}),
        "accuracy ": charts.per_class_compare_chart({"a": {"cat": 1.0}}),
        "accuracy  ": charts.origin_chart({"cifar10": {"n": 1, "accuracy": 1.0}})}
    for value, chart in bars.items():
        tooltip = spec_of(chart)["encoding"]["tooltip"]
        assert value.strip() in [t["field"] for t in tooltip], (value, tooltip)


def test_a_sweep_charts_dots_sit_on_their_variants_row_while_other_models_still_run():
    from cinic.model.lenet import PRESETS
    from cinic.sweeps.runner import variants

    base, xavier = PRESETS["base"].to_dict(), {**PRESETS["base"].to_dict(), "init": "xavier"}
    trials = [{"name": f"t{i}", "settings": {"model": model, "seed": seed}, "state": state,
               "test_acc": acc, "valid_acc": acc}
              for i, (model, seed, state, acc) in enumerate([(base, 0, "finished", 50.0), (base, 1, "finished", 52.0),
                                                             (xavier, 0, "running", None)])]
    chart = charts.sweep_chart(trials, variants(trials))
    means, dots = chart.layer[0].data, chart.layer[2].data
    assert set(dots["variant"]) == {"model: init default"} <= set(means["variant"])


# --- the reproduce study ---------------------------------------------------------------------------------
# Shaped as cinic.study.reproduce.study_result returns it (STUDY_CONTRACT.md): the input of the builders.
STUDY_CURVES = [
    {"variant": "base", "recipe": "report", "label": "base · report recipe", "epochs": [1, 2, 3],
     "valid_mean": [30.0, 35.0, 38.0], "valid_std": [1.0, 2.0, None], "report_points": [[1, 39.36], [3, 50.5]]},
    {"variant": "best", "recipe": "report", "label": "best · report recipe", "epochs": [1, 2],
     "valid_mean": [50.0, None], "valid_std": [0.5, None], "report_points": [[1, 59.15], [2, 62.62]]},
    {"variant": "best", "recipe": "project", "label": "best · project recipe", "epochs": [1, 2],
     "valid_mean": [52.0, 55.0], "valid_std": [0.0, 1.5], "report_points": [[1, 59.15], [2, 62.62]]},
]
STUDY_VARIANTS = [
    {"variant": "base", "recipe": "report", "label": "base · report recipe", "changes": "LeNet-5 as published",
     "report": {"test": 50.73, "valid": 51.22, "epochs": 16}, "n": 3, "test_mean": 40.123, "test_std": 1.5,
     "test_ci95": [36.4, 43.85], "valid_mean": 41.0, "valid_std": 1.2, "diff_to_report": -10.607,
     "verdict": "the report's 50.73 lies above your interval", "trials": ["a", "b", "c"]},
    {"variant": "best", "recipe": "report", "label": "best · report recipe", "changes": "BatchNorm, more maps",
     "report": {"test": 64.38, "valid": 64.66, "epochs": 5}, "n": 0, "test_mean": None, "test_std": None,
     "test_ci95": None, "valid_mean": None, "valid_std": None, "diff_to_report": None, "verdict": None,
     "trials": []},
]


def test_the_study_data_line_says_whether_the_figures_compare_with_the_report():
    assert study_charts.study_data_line({"root": "/d", "train_images": 90000, "comparable_to_report": True}) == \
        "CINIC-10 at full size (90,000 training images): the figures compare with the report's."
    line = study_charts.study_data_line({"root": "/d", "train_images": 4068, "comparable_to_report": False})
    assert line.startswith("This data set (4,068 training images) is not the report's")
    assert "compare the ranking and the gaps, not the figures" in line


def test_the_study_table_puts_the_reports_figures_beside_the_studys():
    table = study_charts.study_table(STUDY_VARIANTS)
    assert list(table.columns) == study_charts.STUDY_COLUMNS
    base, best = table.to_dict("records")
    assert (base["variant"], base["report test %"], base["report epochs"]) == ("base · report recipe", 50.73, 16)
    assert (base["test %"], base["± std"], base["n"], base["difference"]) == (40.12, 1.5, 3, -10.61)
    assert base["test 95% CI"] == "36.40 .. 43.85" and base["verdict"].endswith("above your interval")
    # No finished seed yet: no figure at all, not a zero.
    assert pd.isna(best["test %"]) and best["test 95% CI"] == "-" and best["n"] == 0 and best["verdict"] == ""


def test_the_study_curves_show_the_mean_its_spread_and_the_reports_points():
    chart = study_charts.study_curves_chart(STUDY_CURVES)
    spec = spec_of(chart)
    band, lines, marks = chart.layer
    means = lines.data
    assert list(means["variant"]) == ["base · report recipe"] * 3 + ["best · report recipe"] + \
        ["best · project recipe"] * 2  # best's unfinished epoch 2 is left out, not drawn as 0
    row = means[(means.variant == "base · report recipe") & (means.epoch == 2)].iloc[0]
    assert (row["low"], row["valid %"], row["high"]) == (33.0, 35.0, 37.0)
    one_seed = means[(means.variant == "base · report recipe") & (means.epoch == 3)].iloc[0]
    assert one_seed["low"] == one_seed["high"] == 38.0
    assert band.mark.type == "area" and spec["layer"][0]["encoding"]["y2"]["field"] == "high"
    report = marks.data  # once per variant: "and ours" does not draw best's points twice
    assert list(zip(report["variant"], report["epoch"], report["valid %"])) == [
        ("base · report recipe", 1, 39.36), ("base · report recipe", 3, 50.5),
        ("best · report recipe", 1, 59.15), ("best · report recipe", 2, 62.62)]
    shape = spec["layer"][2]["encoding"]["shape"]
    assert shape["field"] == "source" and shape["scale"]["range"] == ["diamond"]  # without it: circles
    assert set(report["source"]) == {"the report"}
    color = spec["layer"][1]["encoding"]["color"]["scale"]
    assert color == {"domain": [c["label"] for c in STUDY_CURVES], "range": charts.RUN_PALETTE[:3]}
    # The legend's swatches at full strength, not the band's faint fill; the same in every layer (no conflict).
    legends = [layer["encoding"]["color"]["legend"] for layer in spec["layer"]]
    assert legends[0]["symbolOpacity"] == 1 and legends.count(legends[0]) == 3
    assert spec["layer"][1]["encoding"]["x"]["axis"]["tickCount"] == 2  # whole epochs 1..3 (charts.epoch_axis)
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"} and spec["height"] == 320


def test_the_confusion_chart_takes_a_title_and_the_class_rates_table_pairs_study_and_report():
    spec = spec_of(charts.confusion_chart(CONFUSION, CLASSES, True, title="The report's (transposed)"))
    assert spec["layer"][0]["title"] == "The report's (transposed)"
    confusion = {"classes": CLASSES, "study": CONFUSION, "report": CONFUSION,
                 "study_recall": {"cat": 80.0, "dog": 60.0, "ship": None},
                 "study_precision": {"cat": 72.727, "dog": 75.0, "ship": None},
                 "report_recall": {"cat": 48.9, "dog": 47.29, "ship": 69.75},
                 "report_precision": {"cat": 47.77, "dog": 47.49, "ship": 70.36}}
    table = study_charts.class_rates_table(confusion)
    assert list(table["class"]) == CLASSES
    cat = table.iloc[0]
    assert (cat["recall % (study)"], cat["recall % (report)"], cat["precision % (study)"],
            cat["precision % (report)"]) == (80.0, 48.9, 72.73, 47.77)
    assert pd.isna(table.iloc[2]["recall % (study)"])


def test_each_claim_reads_as_a_title_a_verdict_its_test_and_its_evidence_on_one_line():
    supported = study_charts.claim_summary({
        "id": 1, "claim": "Smaller filters raise accuracy.", "verdict": "supported", "p_value": 0.0004,
        "test": "Welch's t test over seeds",
        "evidence": {"mean_a": 34.443, "ci95": [-3.0084, 5.2284], "n_a": 3, "p_value": 0.0004},
        "n_to_settle": None})
    assert supported == {"title": "1. Smaller filters raise accuracy.", "verdict": "supported",
                         "detail": "Welch's t test over seeds · p < 0.001",
                         "evidence": "mean a: 34.44; ci95: -3.01 .. 5.23; n a: 3; p value: < 0.001"}
    pairs = study_charts.claim_summary({
        "id": 3, "claim": "Most mistakes fall between similar classes.", "verdict": "inconclusive", "p_value": 0.31,
        "test": "top pairs", "n_to_settle": 12,
        "evidence": {"study_top": [{"pair": ["deer", "horse"], "count": 12, "share": 12.2449}],
                     "shared": [["automobile", "truck"]], "epochs": {"base": 7, "best": 2}}})
    assert pairs["detail"] == "top pairs · p = 0.310 · about 12 seeds per variant would settle it"
    assert pairs["evidence"] == ("study top: (pair deer/horse, count 12, share 12.24); shared: automobile/truck; "
                                 "epochs: base 7, best 2")
    assert study_charts.claim_summary({"id": 6, "claim": "c", "verdict": "not supported", "p_value": None,
                                 "test": "", "evidence": {}})["detail"] == ""
