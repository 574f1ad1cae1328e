"""The reproduce study written up: one self-contained HTML file, and its table as Markdown and CSV.

The HTML holds everything inline (static SVG charts drawn by matplotlib, as
the run report draws them: `cinic.analysis.report`), so it opens offline and no
request leaves the machine: the data line, the table beside the report's
figures, the curves with the report's own points, both confusion matrices,
the claims with their evidence, and how the study was made.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from cinic.analysis.report import STYLE, _csv, _svg, _table, confusion_svg
from cinic.atomic import replace_file
from cinic.errors import CinicError

COLUMNS = ("variant", "recipe", "what it changes", "report test %", "report valid %", "report epochs", "n",
           "test mean %", "test std", "95% CI low", "95% CI high", "valid mean %", "valid std",
           "difference to the report", "verdict")


def table_rows(result: dict) -> list[dict]:
    """One row per variant (and extra arm): the report's figures beside this study's."""
    rows = []
    for v in result["variants"] + result.get("extra_arms", []):
        ci = v["test_ci95"] or [None, None]
        values = (v["label"], v["recipe"], v["changes"], v["report"]["test"], v["report"]["valid"],
                  v["report"]["epochs"], v["n"], v["test_mean"], v["test_std"], ci[0], ci[1], v["valid_mean"],
                  v["valid_std"], v["diff_to_report"], v["verdict"])
        rows.append(dict(zip(COLUMNS, values)))
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def table_markdown(result: dict) -> str:
    """The table as Markdown, under the data line."""
    rows = table_rows(result)
    lines = [result["data"]["note"], "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_text(v).replace("|", "\\|") for v in row.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table_csv(result: dict) -> str:
    """The table as CSV (figures unrounded)."""
    return _csv([list(COLUMNS)] + [["" if v is None else v for v in row.values()] for row in table_rows(result)])


# --- charts -------------------------------------------------------------------------------------------
def curves_svg(result: dict) -> str:
    """Mean validation accuracy by epoch per variant, its spread over seeds as a band, and the report's
    own figures as marked points in the same colour."""
    from matplotlib.figure import Figure

    curves = [c for c in result["curves"] + result.get("extra_curves", []) if c["epochs"] or c["report_points"]]
    figure = Figure(figsize=(9, 4))
    axes = figure.subplots()
    colours = {"base": "#2f6fb0", "stepping": "#e07b24", "best": "#2e9d55"}
    for c in curves:
        colour = colours[c["variant"]]
        style = "-" if c["recipe"] == "report" and c["arm"] == "as run" else "--" if c["recipe"] == "project" else ":"
        if c["epochs"]:
            mean = c["valid_mean"]
            axes.plot(c["epochs"], mean, style, color=colour, label=f"{c['label']}, n={c['n']}")
            if all(s is not None for s in c["valid_std"]):
                axes.fill_between(c["epochs"], [m - s for m, s in zip(mean, c["valid_std"])],
                                  [m + s for m, s in zip(mean, c["valid_std"])], color=colour, alpha=0.12)
    for variant in dict.fromkeys(c["variant"] for c in curves):
        points = next(c["report_points"] for c in curves if c["variant"] == variant)
        axes.plot([p[0] for p in points], [p[1] for p in points], "D", color=colours[variant], markersize=6,
                  markeredgecolor="black", label=f"the report: {variant}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy %")
    axes.set_title("Validation accuracy by epoch: mean ± std over seeds; diamonds are the report's figures")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    return _svg(figure)


def _matrix_svg(matrix, classes, title: str) -> str:
    svg = confusion_svg({"classes": classes, "confusion": matrix})
    return svg.replace("Confusion matrix (rows: true class)", html.escape(title))


# --- the page ------------------------------------------------------------------------------------------
def writeup_html(result: dict) -> str:
    """The whole write-up as one HTML document (see the module's doc)."""
    conf = result["confusion"]
    parts = [f"<h1>Reproducing the course report: {html.escape(result['study'])}</h1>",
             f"<p class='sub'>state: {html.escape(str(result['state']))} · made "
             f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
             f"<p class='note'>{html.escape(result['data']['note'])}</p>",
             "<h2>The variants beside the report</h2>",
             _table([{k: v for k, v in row.items() if k != "what it changes"} for row in table_rows(result)]),
             "<p>What each variant changes, in the report's words:</p><ul>"
             + "".join(f"<li><b>{html.escape(v['label'])}</b>: {html.escape(v['changes'])}</li>"
                       for v in result["variants"]) + "</ul>",
             "<h2>Validation accuracy by epoch</h2>", curves_svg(result),
             "<h2>Confusion matrices of best</h2>",
             f"<p>{html.escape(conf['note'])} This study's matrix is summed over {conf['n']} seed(s).</p>"]
    if conf["study"] is not None:
        parts.append(_matrix_svg(conf["study"], conf["classes"], "This study: best, summed over seeds "
                                                                  "(rows: true class)"))
    parts.append(_matrix_svg(conf["report"], conf["classes"], "The report: best, transposed (rows: true class)"))
    parts.append(_table([{"class": name, "study recall %": conf["study_recall"][name],
                          "study precision %": conf["study_precision"][name],
                          "report recall %": conf["report_recall"][name],
                          "report precision %": conf["report_precision"][name]} for name in conf["classes"]]))
    parts.append("<h2>The report's six conclusions, tested</h2>")
    parts.append(_table([{"#": c["id"], "claim": c["claim"], "verdict": c["verdict"],
                          "p-value": f"{c['p_value']:.3g}" if c["p_value"] is not None else "",
                          "test": c["test"], "seeds that would settle it": c["n_to_settle"] or ""}
                         for c in result["claims"]]))
    parts.append("<details><summary>The evidence of each claim</summary><pre>"
                 + html.escape(json.dumps([{"id": c["id"], "evidence": c["evidence"]} for c in result["claims"]],
                                          indent=1)) + "</pre></details>")
    made = result["made"]
    parts.append("<h2>How it was made</h2>" + _table([
        {"what": "command", "value": made["command"]},
        {"what": "data", "value": f"{made['data']} ({_split_text(made['split_images'])})"},
        {"what": "seeds", "value": ", ".join(map(str, made["seeds"] or []))},
        {"what": "device", "value": "; ".join(made["device"]) or "no finished trial yet"},
        {"what": "epochs per variant", "value": ", ".join(f"{k} {v}" for k, v in made["epochs"].items())},
        {"what": "library versions", "value": ", ".join(f"{k} {v}" for k, v in made["versions"].items())},
    ]))
    parts.append("<details><summary>Every trial</summary>" + _table(
        [{"run": t["name"], "state": t["state"], "test %": t["test_acc"], "best valid %": t["valid_acc"]}
         for t in result["trials"]]) + "</details>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(result['study'])} · reproducing the report · CINIC-10 Explorer</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def _split_text(counts) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) if isinstance(counts, dict) else "sizes unknown"


def write_writeup(result: dict, out) -> Path:
    """The write-up written whole into `out` (an .html file); its path."""
    out = Path(out)
    if not out.parent.is_dir():
        raise CinicError(f"cannot write the write-up to {out}: the folder {out.parent} does not exist")
    text = writeup_html(result)
    replace_file(out, lambda handle: handle.write(text.encode("utf-8")))
    return out
