"""What the app draws: Altair charts and the small tables beside them.

Every function takes plain data (run metrics, an evaluation dict, counts) and
returns an `alt.Chart` or a pandas DataFrame, so the pages stay one call per
figure and the figures are tested without a browser. No Streamlit in here.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

import altair as alt
import pandas as pd

# The confusion matrix's point selection: a click yields {"true_class", "predicted"}.
CONFUSION_SELECTION = "cell"
SPLIT_COLORS = alt.Scale(domain=["train", "valid"], range=["#2f6fb0", "#e07b24"])
# Fill the container's width but keep each chart's own height for the plot. Left
# to itself, Streamlit fits the whole chart (title, axes) into `height`, which
# squashed a 160 px line chart to a sliver and a two-bar chart to nothing.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
ROW_PX = 24  # height per bar of a horizontal bar chart
# One colour per run, ten clearly different ones (Tableau 10), in the order the runs were picked,
# so a run keeps its colour from chart to chart.
RUN_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
# Human names of the per-epoch metrics in metrics.jsonl, for axes, legends and pickers.
CURVE_TITLES = {"valid_acc": "validation accuracy %", "train_acc": "training accuracy %",
                "valid_loss": "validation loss", "train_loss": "training loss", "lr": "learning rate"}


def fit_width(chart):
    return chart.properties(autosize=FIT_WIDTH)


def class_axis() -> alt.Axis:
    """An x axis of class names: slanted, and every label drawn.

    Vega's default drops labels that would overlap ("automobile" hid "bird"),
    which leaves half the columns of a 10-class chart unnamed.
    """
    return alt.Axis(labelAngle=-45, labelOverlap=False)


# --- figures in words ------------------------------------------------------------
def rounded(value: float, digits: int = 2) -> Decimal:
    """`value` rounded half up to `digits`, from its value at 3 decimals: metrics.jsonl keeps 3 decimals
    and status.json the whole value, so one accuracy read from either reads the same (42.085 was 42.08
    on one page and 42.09 on another)."""
    return Decimal(f"{value:.3f}").quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def percent(value: float, digits: int = 2) -> str:
    """An accuracy as every page shows it: "42.09%"."""
    return f"{rounded(value, digits)}%"


def points(a: float, b: float, digits: int = 2) -> str:
    """b - a as the difference of the figures shown ("34.91%" and "33.43%" differ by "+1.48 points")."""
    return f"{rounded(b, digits) - rounded(a, digits):+} points"


# --- training curves -----------------------------------------------------------
def epoch_axis(first: int, last: int) -> alt.Axis:
    """An axis of whole epochs (one epoch read "1.000000"), each labelled up to 20 of them. Asked by
    tick count: the same axis given its values as a list of whole numbers labelled 3 epochs "1" and
    "3" only in the browser."""
    return alt.Axis(tickMinStep=1, format="d", tickCount=min(max(last - first, 1), 20))


def lr_schedule_chart(points: Sequence[tuple[float, float]]) -> alt.Chart:
    """The learning rate through the training: (epochs trained, rate) pairs, several per epoch
    (cinic.runs.config.lr_curve), so the warm-up and the decay within an epoch show."""
    frame = pd.DataFrame(list(points), columns=["epochs", "lr"])
    last = int(math.ceil(frame["epochs"].max())) if len(frame) else 0
    return fit_width(alt.Chart(frame, height=140, title="Learning rate through the training").mark_line().encode(
        x=alt.X("epochs:Q", title="epochs trained", axis=epoch_axis(0, last)),
        y=alt.Y("lr:Q", title="learning rate", axis=alt.Axis(format=".1e")),
        tooltip=[alt.Tooltip("epochs:Q", title="epochs trained", format=".2f"),
                 alt.Tooltip("lr:Q", format=".2e")],
    ))


def batch_loss_chart(batches: Sequence[Mapping]) -> alt.Chart:
    """Training loss every 10 batches, against the global step."""
    frame = pd.DataFrame(
        [{"step": b["step"], "loss": b["loss"], "epoch": b.get("epoch")} for b in batches],
        columns=["step", "loss", "epoch"])
    return fit_width(alt.Chart(frame, height=220, title="Training loss (every 10 batches)").mark_line().encode(
        # Whole batches, and a loss to 3 decimals: one point alone read "0.000000" and "2.312750".
        x=alt.X("step:Q", title="batch", axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~f")),
        tooltip=["epoch:Q", "step:Q", alt.Tooltip("loss:Q", format=".3f")],
    ))


def epoch_frame(epochs: Sequence[Mapping], metric: str) -> pd.DataFrame:
    """Long table of train and valid `metric` ("acc" or "loss") per epoch."""
    rows = [{"epoch": e["epoch"], "split": split, "value": e[f"{split}_{metric}"]}
            for e in epochs for split in ("train", "valid") if e.get(f"{split}_{metric}") is not None]
    return pd.DataFrame(rows, columns=["epoch", "split", "value"])


def epoch_metric_chart(epochs: Sequence[Mapping], metric: str) -> alt.Chart:
    """Train and validation accuracy (%) or loss per epoch, one line each."""
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', not {metric!r}")
    title = "Accuracy (%) per epoch" if metric == "acc" else "Loss per epoch"
    axis_title = "accuracy %" if metric == "acc" else "loss"
    return fit_width(alt.Chart(epoch_frame(epochs, metric), height=220, title=title).mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=epoch_axis(1, max([int(e["epoch"]) for e in epochs], default=1))),
        y=alt.Y("value:Q", title=axis_title, scale=alt.Scale(zero=False)),
        color=alt.Color("split:N", scale=SPLIT_COLORS),
        tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".3f")],
    ))


def run_color(runs: Sequence[str]) -> alt.Color:
    """Each run its own colour of RUN_PALETTE (after ten they repeat)."""
    runs = list(runs)
    scale = alt.Scale(domain=runs, range=[RUN_PALETTE[i % len(RUN_PALETTE)] for i in range(len(runs))])
    return alt.Color("run:N", scale=scale, sort=runs, legend=alt.Legend(orient="bottom", columns=1, labelLimit=400))


def overlay_frame(epochs_by_run: Mapping[str, Sequence[Mapping]], key: str) -> pd.DataFrame:
    rows = [{"run": run, "epoch": e["epoch"], key: e[key]}
            for run, epochs in epochs_by_run.items() for e in epochs if e.get(key) is not None]
    return pd.DataFrame(rows, columns=["run", "epoch", key])


def overlay_chart(epochs_by_run: Mapping[str, Sequence[Mapping]], key: str = "valid_acc") -> alt.Chart:
    """One per-epoch metric (e.g. "valid_acc", "train_loss") of several runs on one chart."""
    name = CURVE_TITLES.get(key, key)
    return fit_width(alt.Chart(overlay_frame(epochs_by_run, key), height=260,
                               title=f"{name[0].upper()}{name[1:]} per epoch").mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=epoch_axis(1, max([int(e["epoch"]) for es in epochs_by_run.values() for e in es],
                                                  default=1))),
        y=alt.Y(f"{key}:Q", title=name, scale=alt.Scale(zero=False)),
        color=run_color(epochs_by_run),
        tooltip=["run:N", "epoch:Q", alt.Tooltip(f"{key}:Q", title=name, format=".3f")],
    ))


def training_progress(status: Mapping, epochs: Sequence[Mapping], batches: Sequence[Mapping] = (),
                      now: float | None = None) -> dict:
    """Fraction done, a one-line text and the estimated seconds left of a run.

    Within an epoch the fraction follows the batch records (the training writes
    its steps per epoch into status.json). Time left is the median seconds per
    finished epoch (the first one carries the warm-up) times the epochs to go,
    less the time already spent in this epoch, so it counts down between the
    page's polls; unknown (None) until one epoch has finished, and only a
    running run has any: a cancelled or failed one is not going to finish.
    """
    total = int(status.get("epochs") or 0)
    done = max([int(e["epoch"]) for e in epochs] + [int(status.get("epoch") or 0)])
    done = min(done, total) if total else done
    running = status.get("state") == "running"
    steps = int(status.get("steps_per_epoch") or 0)
    current = [b for b in batches if b.get("epoch") == done + 1]
    batch = min(int(current[-1]["step"]) - done * steps + 1, steps) if running and steps and current else 0
    seconds = [e["seconds"] for e in epochs if e.get("seconds")]
    left = None
    if running and seconds and total and done < total:
        since = status.get("updated")  # written as the last epoch ended
        elapsed = max(0.0, (now or time.time()) - since) if since else 0.0
        per_epoch = statistics.median(seconds)
        left = max(per_epoch * (total - done) - elapsed, per_epoch * (total - done - 1))  # overran: the rest
    text = f"epoch {done} of {total}" if total else f"epoch {done}"
    if running and not done and not current and status.get("phase"):
        text = f"{status['phase']}…"  # a launch before its first batch: what it is doing
    if batch:
        text = f"epoch {done + 1} of {total}, batch {batch} of {steps}"
    if left is not None:
        text += f", about {format_duration(left)} left" if left >= 1 else ", almost done"
    elif status.get("state") in ("cancelled", "failed", "interrupted") and total and done < total:
        text += f": {status['state']}"
    fraction = (done + (batch / steps if batch else 0.0)) / total if total else 0.0
    return {"fraction": min(fraction, 1.0), "text": text, "seconds_left": left}


def live_state(state: str | None, name: str, summaries: Sequence[Mapping]) -> tuple[str, list[str]]:
    """(the word for a run's state, the names of the runs training ahead of it).

    A launched run is "queued" until its process holds the training lock. With
    no other run training nobody holds it: the process is only starting up
    (importing torch, reading the data), and "queued" would wrongly say it waits.
    """
    if state != "queued":
        return state or "unknown", []
    ahead = [s["name"] for s in summaries if s.get("state") == "running" and s["name"] != name]
    return ("queued" if ahead else "starting…"), ahead


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# --- evaluation ------------------------------------------------------------------
def confusion_frame(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> pd.DataFrame:
    """One row per (true, predicted) cell with its count and its share of the true class (%)."""
    rows = []
    for i, true_class in enumerate(classes):
        total = sum(confusion[i])
        for j, predicted in enumerate(classes):
            count = int(confusion[i][j])
            rows.append({"true_class": true_class, "predicted": predicted, "count": count,
                         "row_pct": round(100.0 * count / total, 2) if total else 0.0})
    return pd.DataFrame(rows, columns=["true_class", "predicted", "count", "row_pct"])


def confusion_chart(confusion: Sequence[Sequence[int]], classes: Sequence[str],
                    normalize: bool = False, selected: tuple[str, str] | None = None,
                    title: str = "Confusion matrix (rows: true class)") -> alt.LayerChart:
    """Heat map, rows = true class, columns = predicted; click a cell to select it. `selected`
    (true class, predicted) is the cell shown selected at first.

    With `normalize` the colour and labels are each row's percentages, which
    compares classes of different sizes; the tooltip always shows both.
    """
    value = "row_pct" if normalize else "count"
    frame = confusion_frame(confusion, classes)
    selection = alt.selection_point(name=CONFUSION_SELECTION, fields=["true_class", "predicted"],
                                    on="click", clear="dblclick",
                                    **({"value": [{"true_class": selected[0], "predicted": selected[1]}]}
                                       if selected else {}))
    order = list(classes)
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=class_axis()),
        y=alt.Y("true_class:N", sort=order, title="true class"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues"),
                        title="% of row" if normalize else "count"),
        opacity=alt.condition(selection, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("true_class:N", title="true class"), "predicted:N", "count:Q",
                 alt.Tooltip("row_pct:Q", title="% of row")],
    ).add_params(selection)
    top = frame[value].max() if len(frame) else 0
    labels = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=".1f" if normalize else "d"),
        color=alt.condition(alt.datum[value] > top / 2, alt.value("white"), alt.value("black")),
    )
    return fit_width(alt.layer(cells, labels).properties(width=420, height=420))


def selected_cell(selection_state: Mapping | None) -> tuple[str, str] | None:
    """(true class, predicted) from `st.altair_chart(..., on_select="rerun")`'s state, if a cell is picked."""
    if not selection_state:
        return None
    picked = (selection_state.get("selection") or {}).get(CONFUSION_SELECTION) or []
    if not picked:
        return None
    first = picked[0]
    if "true_class" not in first or "predicted" not in first:
        return None
    return first["true_class"], first["predicted"]


def per_class_chart(per_class: Mapping[str, float], title: str = "Accuracy per class (%)") -> alt.Chart:
    frame = pd.DataFrame({"class": list(per_class), "accuracy": list(per_class.values())})
    return fit_width(alt.Chart(frame, title=title, height=ROW_PX * max(len(frame), 1)).mark_bar().encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 100]), title="accuracy %"),
        y=alt.Y("class:N", sort=list(per_class), title=None),
        color=alt.Color("accuracy:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[0, 100]),
                        legend=None),
        tooltip=["class:N", alt.Tooltip("accuracy:Q", format=".1f")],
    ))


def per_class_compare_chart(per_class_by_run: Mapping[str, Mapping[str, float]]) -> alt.Chart:
    """Per-class accuracy of several runs side by side (one bar per run within each class)."""
    rows = [{"run": run, "class": c, "accuracy": acc}
            for run, per_class in per_class_by_run.items() for c, acc in per_class.items()]
    frame = pd.DataFrame(rows, columns=["run", "class", "accuracy"])
    order = list(dict.fromkeys(frame["class"]))
    return fit_width(alt.Chart(frame, title="Accuracy per class (%)", height=320).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None, axis=class_axis()),
        xOffset=alt.XOffset("run:N", sort=list(per_class_by_run)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 100]), title="accuracy %"),
        color=run_color(per_class_by_run),
        tooltip=["run:N", "class:N", alt.Tooltip("accuracy:Q", format=".1f")],
    ))


def origin_chart(per_origin: Mapping[str, Mapping]) -> alt.Chart:
    """Accuracy by where the test images came from (CIFAR-10 or ImageNet)."""
    frame = pd.DataFrame([{"origin": o, "accuracy": v["accuracy"], "n": v["n"]} for o, v in per_origin.items()],
                         columns=["origin", "accuracy", "n"])
    height = ROW_PX * max(len(frame), 1)
    return fit_width(alt.Chart(frame, title="Accuracy per image origin (%)", height=height).mark_bar().encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 100]), title="accuracy %"),
        y=alt.Y("origin:N", title=None),
        tooltip=["origin:N", "n:Q", alt.Tooltip("accuracy:Q", format=".1f")],
    ))


def top_k_chart(predictions: Sequence[Mapping]) -> alt.Chart:
    """Bars of `cinic.analysis.evaluate.top_k`'s [{"class", "prob"}], most likely first."""
    frame = pd.DataFrame([{"class": p["class"], "probability": float(p["prob"])} for p in predictions],
                         columns=["class", "probability"])
    return fit_width(alt.Chart(frame, height=ROW_PX * max(len(frame), 1)).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("class:N", sort=list(frame["class"]), title=None),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".1%")],
    ))


# Mistakes are ranked by loss, which is the true class's probability, lowest first: the figure shown.
MISTAKES_RANKED = ("worst first: the lowest probability given to the true class (the highest loss). "
                   "Under each: true class → predicted class, and that probability.")


def mistake_caption(mistake: Mapping) -> str:
    """A short caption under a misclassified image: "cat → dog, p(cat) 2.1%" (true → predicted, and the
    true class's probability, which the list is ranked by)."""
    return f"{mistake['true']} → {mistake['pred']}, p({mistake['true']}) {mistake['p_true']:.1%}"


def mistakes_table(mistakes: Sequence[Mapping]) -> pd.DataFrame:
    """The details the short captions leave out, one row per image in gallery order."""
    rows = [{"#": i, "true": m["true"], "predicted": m["pred"], "p(predicted) %": 100.0 * m["p_pred"],
             "p(true) %": 100.0 * m["p_true"], "loss": m.get("loss"), "file": m["file"]}
            for i, m in enumerate(mistakes, start=1)]
    return pd.DataFrame(rows, columns=["#", "true", "predicted", "p(predicted) %", "p(true) %", "loss", "file"])


# --- data set ------------------------------------------------------------------
def class_counts_frame(counts: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """Counts per split (rows: classes, columns: splits, plus a total row)."""
    frame = pd.DataFrame({split: dict(per_class) for split, per_class in counts.items()}).fillna(0).astype(int)
    frame.index.name = "class"
    frame.loc["total"] = frame.sum()
    return frame


def class_counts_chart(counts: Mapping[str, Mapping[str, int]]) -> alt.Chart:
    rows = [{"split": split, "class": c, "images": n} for split, per_class in counts.items()
            for c, n in per_class.items()]
    frame = pd.DataFrame(rows, columns=["split", "class", "images"])
    order = list(dict.fromkeys(frame["class"]))
    return fit_width(alt.Chart(frame, title="Images per class and split", height=260).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None, axis=class_axis()),
        xOffset=alt.XOffset("split:N", sort=["train", "valid", "test"]),
        y=alt.Y("images:Q"),
        color=alt.Color("split:N", sort=["train", "valid", "test"]),
        tooltip=["split:N", "class:N", "images:Q"],
    ))


# --- comparing runs ---------------------------------------------------------------
COMPARE_COLUMNS = ["run", "variant", "what changed", "test %", "valid %", "epochs", "parameters",
                   "s / epoch", "augmentation", "state"]


def compare_table(summaries: Sequence[Mapping], notes: Mapping[str, str] | None = None,
                  reference: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """The report's table for the picked runs, from `cinic.runs.folder.list_runs` entries.

    `notes` maps a preset name to what it changes (cinic.model.lenet.PRESET_NOTES);
    a custom model shows its own description instead. `reference` (preset ->
    the report's figures, cinic.model.lenet.REPORT_RESULTS) adds the report's own rows
    below the runs, named "report: PRESET", to read the runs against.
    """
    notes = notes or {}
    rows = []
    for s in summaries:
        preset = s.get("preset") or "custom"
        rows.append({
            "run": s["name"], "variant": s.get("label") or preset,
            "what changed": notes.get(preset) or s.get("model") or "",
            "test %": round_or_none(s.get("test_acc")), "valid %": round_or_none(s.get("best_valid_acc")),
            "epochs": s.get("epoch"), "parameters": s.get("params"),
            "s / epoch": round_or_none(s.get("s_per_epoch")), "augmentation": augmentation_label(s.get("augment_name"), s.get("augment_n")),
            "state": s.get("state"),
        })
    for preset, figures in (reference or {}).items():
        rows.append({"run": f"report: {preset}", "variant": f"{preset} · report recipe", "what changed": notes.get(preset, ""),
                     "test %": figures["test_acc"], "valid %": figures["best_valid_acc"],
                     "epochs": figures["epoch"], "augmentation": "report's ×30,000", "state": "reference"})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def augmentation_label(name: str | None, n: int | None) -> str:
    """"none" or "seed ×30,000": what a run added with Augmentor (a config's augment_name and
    augment_n); no pipeline or no images reads "none", not "none ×0"."""
    if not name or name == "none" or not n:
        return "none"
    return f"{name} ×{n:,}"


def round_or_none(x, digits: int = 2):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), digits)


# --- the best epoch, marked on epoch curves -----------------------------------------------------------
BEST_EPOCH_NOTE = "its weights are best.pt, and the test figures come from them"


def best_epoch(epochs: Sequence[Mapping]) -> int | None:
    """The epoch whose checkpoint is best.pt: the first with the highest validation accuracy
    (cinic.training.loop keeps a new best only when validation accuracy rises strictly)."""
    scored = [e for e in epochs if e.get("valid_acc") is not None]
    if not scored:
        return None
    return max(scored, key=lambda e: (e["valid_acc"], -e["epoch"]))["epoch"]


def _with_layer(chart: alt.Chart, *layers: alt.Chart) -> alt.LayerChart:
    """`chart` with more layers on top; its title, height and autosize move to the layer
    (Vega-Lite allows autosize only at the top)."""
    inner = chart.copy()
    title, height = inner.title, inner.height
    inner.title = inner.height = inner.autosize = alt.Undefined
    return fit_width(alt.layer(inner, *layers, title=title, height=height))


def mark_best_epoch(chart: alt.Chart, epochs: Sequence[Mapping]) -> alt.Chart | alt.LayerChart:
    """A dashed line and "best" at the best epoch of a per-epoch chart, its tooltip saying why."""
    best = best_epoch(epochs)
    if best is None:
        return chart
    valid = next(e["valid_acc"] for e in epochs if e["epoch"] == best)
    frame = pd.DataFrame([{"epoch": best, "label": "best",
                           "why": f"{best}: highest validation accuracy ({valid:.2f}%); {BEST_EPOCH_NOTE}"}])
    return _with_layer(chart, *_best_marks(alt.Chart(frame), alt.value("#555")))


def mark_best_epochs(chart: alt.Chart, epochs_by_run: Mapping[str, Sequence[Mapping]]) -> alt.Chart | alt.LayerChart:
    """The best epoch of each run on an overlay chart, in the run's colour."""
    rows = []
    for run, epochs in epochs_by_run.items():
        best = best_epoch(epochs)
        if best is not None:
            valid = next(e["valid_acc"] for e in epochs if e["epoch"] == best)
            rows.append({"run": run, "epoch": best, "label": "best",
                         "why": f"{best} ({run}): highest validation accuracy ({valid:.2f}%); "
                                       f"{BEST_EPOCH_NOTE}"})
    if not rows:
        return chart
    frame = pd.DataFrame(rows)
    # The same legend as the curves': a layer without one ("disable") made Vega-Lite warn of a conflict.
    return _with_layer(chart, *_best_marks(alt.Chart(frame), run_color(epochs_by_run)))


def _best_marks(base: alt.Chart, color) -> tuple[alt.Chart, alt.Chart]:
    tooltip = [alt.Tooltip("why:N", title="best epoch")]
    rule = base.mark_rule(strokeDash=[5, 3], strokeWidth=2).encode(x="epoch:Q", color=color, tooltip=tooltip)
    label = base.mark_text(align="left", baseline="top", dx=4, dy=2, fontSize=11).encode(
        x="epoch:Q", y=alt.value(0), text="label:N", color=color, tooltip=tooltip)
    return rule, label


# --- run A against run B (cinic.analysis.diff) ----------------------------------------------------------------
def confusion_delta_frame(delta: Sequence[Sequence[int]], classes: Sequence[str]) -> pd.DataFrame:
    """One row per (true, predicted) cell with B's count minus A's."""
    rows = [{"true_class": t, "predicted": p, "change": int(delta[i][j]),
             "label": f"{int(delta[i][j]):+d}" if delta[i][j] else ""}
            for i, t in enumerate(classes) for j, p in enumerate(classes)]
    return pd.DataFrame(rows, columns=["true_class", "predicted", "change", "label"])


def confusion_delta_chart(delta: Sequence[Sequence[int]], classes: Sequence[str]) -> alt.LayerChart:
    """B's confusion matrix minus A's, rows = true class; blue where B has more images, red where
    fewer. Click a cell to select it (the same selection as `confusion_chart`)."""
    frame = confusion_delta_frame(delta, classes)
    reach = max(1, int(frame["change"].abs().max()) if len(frame) else 1)
    selection = alt.selection_point(name=CONFUSION_SELECTION, fields=["true_class", "predicted"],
                                    on="click", clear="dblclick")
    order = list(classes)
    base = alt.Chart(frame, title="B minus A: confusion matrix (rows: true class)").encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=class_axis()),
        y=alt.Y("true_class:N", sort=order, title="true class"),
    )
    cells = base.mark_rect(stroke="#ddd", strokeWidth=0.5).encode(
        color=alt.Color("change:Q", scale=alt.Scale(scheme="redblue", domain=[-reach, reach]),
                        title="B − A (images)"),
        opacity=alt.condition(selection, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("true_class:N", title="true class"), "predicted:N",
                 alt.Tooltip("change:Q", title="B − A (images)")],
    ).add_params(selection)
    labels = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(f"abs(datum.change) > {reach / 2}", alt.value("white"), alt.value("black")),
    )
    return fit_width(alt.layer(cells, labels).properties(width=420, height=420))


DIFF_CLASS_COLUMNS = ["class", "A %", "B %", "B − A", "fixed", "broken"]


def diff_class_table(per_class: Sequence[Mapping]) -> pd.DataFrame:
    """`cinic.analysis.diff`'s per-class rows as a table, in their order (largest gain first)."""
    rows = [{"class": r["class"], "A %": r["accuracy_a"], "B %": r["accuracy_b"], "B − A": r["delta"],
             "fixed": r["fixed"], "broken": r["broken"]} for r in per_class]
    return pd.DataFrame(rows, columns=DIFF_CLASS_COLUMNS)


def diff_caption(row: Mapping) -> str:
    """Under an image of a diff gallery: "A dog 61% → B cat 80%"."""
    return f"A {row['pred_a']} {row['p_a']:.0%} → B {row['pred_b']} {row['p_b']:.0%}"


# --- sweeps: variants over seeds ------------------------------------------------------------------------
def sweep_variant_table(variants: Sequence[Mapping]) -> pd.DataFrame:
    """Mean, sample std and 95% interval of test and best validation accuracy, one row per variant."""
    def interval(ci):
        return f"{ci[0]:.2f} .. {ci[1]:.2f}" if ci else "-"

    from cinic.sweeps.spec import variant_labels  # here, not at the top: it brings in torch, the charts need not

    return pd.DataFrame([{
        "variant": label, "seeds": v["n"], "test %": v["test_mean"], "± std": v["test_std"],
        "test 95% CI": interval(v["test_ci95"]), "valid %": v["valid_mean"], "valid ± std": v["valid_std"],
    } for v, label in zip(variants, variant_labels([v["settings"] for v in variants]))])


def sweep_chart(trials: Sequence[Mapping], variants: Sequence[Mapping]) -> alt.LayerChart:
    """Test accuracy per variant: each seed's dot, the mean as a tick and its 95% interval as a bar."""
    from cinic.sweeps.spec import variant_labels, variant_of

    order = variant_labels([v["settings"] for v in variants])
    # A trial's dot goes on its variant's row: labels made from the finished trials alone could
    # read otherwise (a model axis is labelled by what differs among the specs present).
    label_of = {json.dumps(v["settings"], sort_keys=True): label for v, label in zip(variants, order)}
    means = pd.DataFrame([{"variant": label, "mean": v["test_mean"],
                           "low": v["test_ci95"][0] if v["test_ci95"] else v["test_mean"],
                           "high": v["test_ci95"][1] if v["test_ci95"] else v["test_mean"], "seeds": v["n"]}
                          for v, label in zip(variants, order) if v["test_mean"] is not None])
    dots = pd.DataFrame([{"variant": label_of[json.dumps(variant_of(t["settings"]), sort_keys=True)],
                          "test %": t["test_acc"], "seed": t["settings"].get("seed"), "run": t["name"]}
                         for t in trials if t["test_acc"] is not None and t["state"] == "finished"])
    y = alt.Y("variant:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))  # settings in full
    x_scale = alt.Scale(zero=False)
    bars = alt.Chart(means).mark_rule(strokeWidth=3, opacity=0.5).encode(
        y=y, x=alt.X("low:Q", scale=x_scale, title="test accuracy %"), x2="high:Q",
        tooltip=["variant", alt.Tooltip("mean:Q", format=".2f"), alt.Tooltip("low:Q", format=".2f"),
                 alt.Tooltip("high:Q", format=".2f"), "seeds"])
    ticks = alt.Chart(means).mark_tick(thickness=3, size=ROW_PX).encode(y=y, x="mean:Q")
    seeds = alt.Chart(dots).mark_circle(size=60, opacity=0.8).encode(
        y=y, x=alt.X("test %:Q", scale=x_scale), color=alt.Color("seed:N", title="seed"),
        tooltip=["run", "seed", alt.Tooltip("test %:Q", format=".2f")])
    return fit_width(alt.layer(bars, ticks, seeds).properties(height=max(2, len(order)) * ROW_PX * 2))
