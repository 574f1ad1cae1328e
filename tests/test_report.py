"""cinic/analysis/report.py: CSV tables that read back to the run's own figures, and a one-file HTML report
that needs no network."""

from __future__ import annotations

import csv
import io
import json
import shutil
from html.parser import HTMLParser

import pytest

from cinic import cli
from cinic.analysis.report import confusion_csv, html_report, metrics_csv, per_class_csv
from cinic.runs.admin import annotate
from cinic.runs.folder import RunFolder


@pytest.fixture(scope="module")
def finished(train_finished, tiny_data) -> RunFolder:
    """A 2-epoch run on the tiny demo set, evaluated (eval.json) as training leaves it."""
    return train_finished(tiny_data, "r", epochs=2)


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_csv_tables_read_back_to_the_runs_figures(finished):
    evaluation, epochs = finished.evaluation(), finished.epochs()
    metrics = _rows(metrics_csv(epochs))
    assert metrics[0][:5] == ["epoch", "train_loss", "train_acc", "valid_loss", "valid_acc"]
    assert [float(r[4]) for r in metrics[1:]] == [e["valid_acc"] for e in epochs]
    confusion = _rows(confusion_csv(evaluation))
    assert confusion[0][1:] == evaluation["classes"]
    assert [[int(x) for x in r[1:]] for r in confusion[1:]] == evaluation["confusion"]
    per_class = _rows(per_class_csv(evaluation))
    assert per_class[0] == ["class", "images", "correct", "accuracy %", "precision %"]
    assert sum(int(r[1]) for r in per_class[1:]) == evaluation["n"]
    assert sum(int(r[2]) for r in per_class[1:]) == evaluation["correct"]
    assert {r[0]: float(r[3]) for r in per_class[1:]} == evaluation["per_class"]


class _Fetches(HTMLParser):
    """Every tag and every attribute that would make a browser fetch something."""

    def __init__(self):
        super().__init__()
        self.tags, self.fetches, self.images = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.images += tag == "img"
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data", "poster") and not (value or "").startswith(
                    ("data:", "#")):
                self.fetches.append((tag, name, value))


def test_the_report_is_one_file_with_nothing_to_fetch(finished, tmp_path, capsys):
    annotate(finished, "tried <script>alert(1)</script> & more", ["baseline"])
    out = tmp_path / "run.html"
    assert cli.main(["report", str(finished.path), "--out", str(out)]) == 0
    text = out.read_text()
    parsed = _Fetches()
    parsed.feed(text)
    assert parsed.fetches == []
    assert not {"script", "link", "iframe", "object", "embed"} & set(parsed.tags)
    assert parsed.tags.count("svg") == 3  # curves, confusion matrix, per class
    expected = min(24, len(finished.evaluation()["misclassified"]))
    assert parsed.images == expected > 0
    assert f"{finished.evaluation()['accuracy']:.2f}%" in text and "baseline" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text  # a person's text, escaped
    assert json.dumps(finished.config()["seed"]) in text


def test_without_its_test_images_the_report_says_so(finished, tmp_path):
    copy = RunFolder(shutil.copytree(finished.path, tmp_path / "moved"))
    (copy.path / "notes.json").unlink(missing_ok=True)
    copy.update_config(data=str(tmp_path / "gone"))
    text = html_report(copy)
    assert "<img" not in text and "cannot be shown" in text
    assert text.count("<svg") == 3


def test_a_run_not_evaluated_yet_still_reports(tmp_path):
    run = RunFolder.create({"epochs": 3, "preset": "base"}, root=tmp_path, name="young")
    text = html_report(run)
    assert "Not evaluated yet" in text and "No completed epoch" in text


def test_the_report_refuses_the_run_folder(finished, capsys):
    assert cli.main(["report", str(finished.path), "--out", str(finished.path / "r.html")]) == 2
    assert "inside the run folder" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.browser
def test_the_report_opens_in_chromium_with_the_network_off(finished, tmp_path):
    from test_e2e import CHROMIUM_ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium at /usr/bin/chromium or on PATH")
    sync_api = pytest.importorskip("playwright.sync_api")
    out = tmp_path / "run.html"
    out.write_text(html_report(finished))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True)
        requests = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        svgs = page.evaluate("() => [...document.querySelectorAll('svg')].map(s => s.getBBox().width > 0)")
        browser.close()
    assert requests == [out.as_uri()]
    assert images and all(images) and svgs == [True, True, True]


HOSTILE = ["=1+2+x.png", "+SUM(1;2).png", "-2+3.png", "@SUM(1).png", "\t=1.png", "\r=1.png"]


def _no_formula(text: str) -> None:
    for row in _rows(text):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _is_number(cell), (cell, row)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_no_csv_cell_is_a_formula_a_spreadsheet_would_run():
    """Issue 20, item 11: a text cell that starts with = + - @ (or a tab, a CR) gets a leading
    apostrophe in every CSV the app and CLI write; numbers, negative ones too, stay numbers."""
    from cinic.analysis.image_sets import predictions_csv

    result = {"labelled": True, "predictions": [
        {"file": name, "true": "=cmd|' /C calc'!A0", "top": [{"class": "-cat", "prob": 0.5}]} for name in HOSTILE]}
    text = predictions_csv(result)
    _no_formula(text)
    assert [r[0] for r in _rows(text)[1:]] == ["'" + name for name in HOSTILE]
    assert _rows(text)[1][3] == "0.5"
    evaluation = {"classes": ["@cat", "dog"], "confusion": [[1, 0], [0, 1]], "per_class": {"@cat": 100.0, "dog": 100.0},
                  "precision": {"@cat": 100.0, "dog": 100.0}}
    for text in (confusion_csv(evaluation), per_class_csv(evaluation),
                 metrics_csv([{"epoch": 1, "train_loss": -0.25, "lr": "=HYPERLINK(\"http://127.0.0.1/\")"}])):
        _no_formula(text)
    assert _rows(metrics_csv([{"epoch": 1, "train_loss": -0.25}]))[1][1] == "-0.25"
    split = predictions_csv({"labelled": False, "predictions": [{"file": "x.png\r=1+2\n@SUM(1)", "top": []}]})
    assert _rows(split) == [["file"], ["x.png\r=1+2\n@SUM(1)"]]  # one quoted cell, not rows of their own
