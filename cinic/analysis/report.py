"""A run's results to take away: its metrics, confusion matrix and per-class table as CSV, and a
one-file HTML report that opens offline.

The report holds everything inline: its charts are static SVG drawn by
matplotlib (no JavaScript, no CDN), its images PNG data URIs, so it opens from
a mail attachment or a USB stick with no network, and shows the same thing in
ten years. Every text that came from a file or a person is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from cinic.errors import CinicError
from cinic.data.dataset import display_name
from cinic.runs.folder import RunError, RunFolder, summarize_run
from cinic.spreadsheet import csv_text as _csv

EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds", "images_per_s")
REPORT_MISTAKES = 24  # misclassified images shown, worst first
IMAGE_ZOOM = 3        # each 32x32 image drawn 96x96, pixel for pixel


# --- CSV tables -------------------------------------------------------------------------------
def metrics_csv(epochs: Sequence[Mapping]) -> str:
    """One row per epoch (RunFolder.epochs()): losses, accuracies (%), learning rate, time."""
    return _csv([EPOCH_COLUMNS] + [[e.get(c, "") for c in EPOCH_COLUMNS] for e in epochs])


def confusion_csv(evaluation: Mapping) -> str:
    """The confusion matrix: a row per true class, a column per predicted class (counts)."""
    classes = evaluation["classes"]
    return _csv([["true \\ predicted", *classes]] +
                [[name, *row] for name, row in zip(classes, evaluation["confusion"])])


def per_class_rows(evaluation: Mapping) -> list[dict]:
    """Per class: test images, correct ones, accuracy (recall) and precision, in %."""
    rows = []
    for i, name in enumerate(evaluation["classes"]):
        row = evaluation["confusion"][i]
        rows.append({"class": name, "images": int(sum(row)), "correct": int(row[i]),
                     "accuracy %": evaluation["per_class"].get(name), "precision %": evaluation["precision"].get(name)})
    return rows


def per_class_csv(evaluation: Mapping) -> str:
    rows = per_class_rows(evaluation)
    return _csv([list(rows[0])] + [list(r.values()) for r in rows]) if rows else ""


# --- charts as static SVG ------------------------------------------------------------------------
def _svg(figure) -> str:
    """The figure as an inline <svg> element (text kept as text, no date, no XML prologue)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cinic"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight",
                       metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def curves_svg(epochs: Sequence[Mapping]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2))
    loss, accuracy = figure.subplots(1, 2)
    x = [e["epoch"] for e in epochs]
    for split, colour in (("train", "#2f6fb0"), ("valid", "#e07b24")):
        loss.plot(x, [e[f"{split}_loss"] for e in epochs], marker="o", color=colour, label=split)
        accuracy.plot(x, [e[f"{split}_acc"] for e in epochs], marker="o", color=colour, label=split)
    for axes, title in ((loss, "loss per epoch"), (accuracy, "accuracy per epoch (%)")):
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    return _svg(figure)


def confusion_svg(evaluation: Mapping) -> str:
    from matplotlib.figure import Figure

    classes, matrix = evaluation["classes"], np.array(evaluation["confusion"])
    figure = Figure(figsize=(6.4, 5.6))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true class")
    axes.set_title("Confusion matrix (rows: true class)")
    top = matrix.max() if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(count), ha="center", va="center", fontsize=8,
                  color="white" if count > top / 2 else "black")
    return _svg(figure)


def per_class_svg(evaluation: Mapping) -> str:
    from matplotlib.figure import Figure

    names = list(evaluation["per_class"])
    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    axes.barh(names[::-1], [evaluation["per_class"][n] for n in names[::-1]], color="#2f6fb0")
    axes.set_xlim(0, 100)
    axes.set_xlabel("accuracy %")
    axes.set_title("Accuracy per class (%)")
    axes.grid(axis="x", alpha=0.3)
    return _svg(figure)


# --- images ----------------------------------------------------------------------------------------
def png_data_uri(image_chw) -> str:
    """A 3 x 32 x 32 uint8 image as a PNG data URI, enlarged pixel for pixel."""
    from PIL import Image

    pixels = np.asarray(image_chw).transpose(1, 2, 0).repeat(IMAGE_ZOOM, 0).repeat(IMAGE_ZOOM, 1)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def mistakes_html(evaluation: Mapping, test) -> str:
    """The worst misclassified test images, or why they cannot be shown."""
    wrong = evaluation.get("misclassified", [])[:REPORT_MISTAKES]
    if not wrong:
        return "<p>No misclassified images.</p>"
    if test is None:
        return f"<p class='note'>The test images are not at {html.escape(str(evaluation.get('source')))} any more, " \
               "so the misclassified ones cannot be shown.</p>"
    usable = [m for m in wrong
              if m["index"] < len(test.files) and display_name(test.files[m["index"]]) == m["file"]]
    figures = "".join(
        f"<figure><img src='{png_data_uri(test.images[m['index']])}' alt='{html.escape(m['file'])}' "
        f"width='{32 * IMAGE_ZOOM}' height='{32 * IMAGE_ZOOM}'><figcaption>{html.escape(m['true'])} → "
        f"{html.escape(m['pred'])}, p({html.escape(m['true'])}) {m['p_true']:.1%}</figcaption></figure>" for m in usable)
    gone = len(wrong) - len(usable)
    note = f"<p class='note'>{gone} of them are no longer where the evaluation saw them.</p>" if gone else ""
    return f"<div class='gallery'>{figures}</div>{note}"


# --- the report ----------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
.headline { display: flex; gap: 2.5em; margin: 1.2em 0; } .headline div { font-size: 0.9em; color: #555; }
.headline b { display: block; font-size: 1.8em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.gallery { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure { margin: 0; text-align: center; font-size: 0.75em; } img { image-rendering: pixelated; }
.note { color: #8a5a00; } svg { max-width: 100%; height: auto; }
"""


def _table(rows: Sequence[Mapping]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(_cell(v) for v in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<td class='num'>{value:,.2f}</td>" if isinstance(value, float) else f"<td class='num'>{value:,}</td>"
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _headline(summary: Mapping, evaluation: Mapping | None) -> str:
    figures = {
        "test accuracy": f"{evaluation['accuracy']:.2f}%" if evaluation else "n/a",
        "best validation accuracy": f"{summary['best_valid_acc']:.2f}%" if summary.get("best_valid_acc") is not None
        else "n/a",
        "epochs": f"{summary.get('epoch', 0)} of {summary.get('epochs') or '?'}",
        "parameters": f"{summary['params']:,}" if summary.get("params") else "n/a",
    }
    return "<div class='headline'>" + "".join(
        f"<div><b>{html.escape(v)}</b>{html.escape(k)}</div>" for k, v in figures.items()) + "</div>"


def _load_test(evaluation: Mapping | None, config: Mapping):
    """The test images the evaluation saw, or None where they are gone."""
    from cinic.data.dataset import load_split

    if not evaluation:
        return None
    try:
        return load_split(config.get("data", ""), "test")
    except CinicError:
        return None


def html_report(run: RunFolder, test=None) -> str:
    """The whole report as one HTML document (see the module's doc). `test`: the decoded test split,
    when the caller has it; else it is read from the run's data (and left out where it is gone)."""
    summary = summarize_run(run)
    if summary["state"] == "damaged":
        raise RunError(f"{summary['error']}: no report can be made of this run")
    config, epochs = run.config(), run.epochs()
    evaluation = run.evaluation()
    test = test if test is not None else _load_test(evaluation, config)
    notes = run.notes()
    parts = [f"<h1>{html.escape(run.name)}</h1>",
             f"<p class='sub'>{html.escape(summary.get('model') or '')} · {html.escape(summary['state'])} · "
             f"started {time.strftime('%Y-%m-%d %H:%M', time.localtime(summary.get('created') or 0))}"
             + (f" · tags: {html.escape(', '.join(notes['tags']))}" if notes["tags"] else "") + "</p>",
             _headline(summary, evaluation)]
    if notes["notes"]:
        parts.append(f"<h2>Notes</h2><p>{html.escape(notes['notes']).replace(chr(10), '<br>')}</p>")
    parts.append("<h2>Training curves</h2>" + (curves_svg(epochs) if epochs else "<p>No completed epoch.</p>"))
    if epochs:
        parts.append("<details><summary>Every epoch</summary>" +
                     _table([{c: e.get(c) for c in EPOCH_COLUMNS} for e in epochs]) + "</details>")
    if evaluation:
        parts += [f"<h2>Test evaluation</h2><p>{evaluation['correct']:,} of {evaluation['n']:,} test images "
                  f"right ({evaluation['accuracy']:.2f}%), checkpoint {html.escape(str(evaluation.get('checkpoint', 'best')))}"
                  f" of epoch {html.escape(str(evaluation.get('epoch', '?')))}, data "
                  f"{html.escape(str(evaluation.get('source')))}.</p>",
                  confusion_svg(evaluation), per_class_svg(evaluation),
                  "<h3>Per class</h3>" + _table(per_class_rows(evaluation)),
                  "<h3>Most confused pairs</h3>" + _table(evaluation.get("most_confused", [])),
                  "<h2>Misclassified, worst first</h2><p>Ranked by the probability given to the true class, "
                  "lowest first (the highest loss). Under each: true class → predicted class, and that "
                  "probability.</p>" + mistakes_html(evaluation, test)]
    else:
        parts.append("<h2>Test evaluation</h2><p>Not evaluated yet.</p>")
    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(config, indent=2)) + "</pre>")
    parts.append(f"<p class='sub'>Made by CINIC-10 Explorer on {time.strftime('%Y-%m-%d %H:%M')}.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(run.name)} · CINIC-10 Explorer</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def write_report(run: RunFolder, out) -> Path:
    """The report written whole into `out` (never inside the run folder)."""
    from cinic.runs.export import check_destination
    from cinic.outputs import write_output

    out = check_destination(run, out, (".html", ".htm"), example="report.html")
    text = html_report(run)
    return write_output(out, lambda handle: handle.write(text.encode("utf-8")))
