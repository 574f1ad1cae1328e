"""The reproduce study drawn for the Reproduce page (Altair and pandas, no Streamlit): the data line,
the table beside the report's, the curves with the report's points, per-class rates and the claims,
all from `cinic.study.reproduce.study_result`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from ui.charts import RUN_PALETTE, epoch_axis, fit_width, round_or_none

STUDY_COLUMNS = ["variant", "what it changes", "report test %", "report valid %", "report epochs", "test %",
                 "± std", "n", "test 95% CI", "valid %", "valid ± std", "difference", "verdict"]
STUDY_POINTS = "the report"  # the legend's name for the report's own per-epoch figures


STUDY_COLUMNS = ["variant", "what it changes", "report test %", "report valid %", "report epochs", "test %",
                 "± std", "n", "test 95% CI", "valid %", "valid ± std", "difference", "verdict"]
STUDY_POINTS = "the report"  # the legend's name for the report's own per-epoch figures


def study_data_line(data: Mapping) -> str:
    """One line above the study's table: whether its figures can be read against the report's."""
    images = data.get("train_images")
    size = f"{images:,} training images" if isinstance(images, int) else "training images not counted"
    if data.get("comparable_to_report"):
        return f"CINIC-10 at full size ({size}): the figures compare with the report's."
    return (f"This data set ({size}) is not the report's: compare the ranking and the gaps, "
            "not the figures.")


def study_table(variants: Sequence[Mapping]) -> pd.DataFrame:
    """The report's table beside this study's, one row per variant (and recipe)."""
    def interval(ci):
        return f"{ci[0]:.2f} .. {ci[1]:.2f}" if ci and None not in ci else "-"

    rows = [{"variant": v["label"], "what it changes": v.get("changes") or "",
             "report test %": (v.get("report") or {}).get("test"),
             "report valid %": (v.get("report") or {}).get("valid"),
             "report epochs": (v.get("report") or {}).get("epochs"), "test %": round_or_none(v.get("test_mean")),
             "± std": round_or_none(v.get("test_std")), "n": v.get("n"), "test 95% CI": interval(v.get("test_ci95")),
             "valid %": round_or_none(v.get("valid_mean")), "valid ± std": round_or_none(v.get("valid_std")),
             "difference": round_or_none(v.get("diff_to_report")), "verdict": v.get("verdict") or ""}
            for v in variants]
    return pd.DataFrame(rows, columns=STUDY_COLUMNS)


def study_curves_chart(curves: Sequence[Mapping]) -> alt.LayerChart:
    """Mean validation accuracy by epoch per variant, a band of ± one std over the seeds, and the
    report's own per-epoch figures as diamonds in the variant's colour."""
    labels = [c["label"] for c in curves]
    rows = []
    for c in curves:
        for epoch, mean, std in zip(c["epochs"], c["valid_mean"], c.get("valid_std") or [None] * len(c["epochs"])):
            if mean is not None:
                spread = std or 0.0  # one seed: no spread to draw
                rows.append({"variant": c["label"], "epoch": epoch, "valid %": mean, "std": std,
                             "low": mean - spread, "high": mean + spread})
    means = pd.DataFrame(rows, columns=["variant", "epoch", "valid %", "std", "low", "high"])
    # One set of report points per variant: "and ours" repeats them on its project-recipe curves.
    shown, points = set(), []
    for c in curves:
        if c["variant"] not in shown:
            shown.add(c["variant"])
            points += [{"variant": c["label"], "epoch": e, "valid %": v, "source": STUDY_POINTS}
                       for e, v in c.get("report_points") or []]
    report = pd.DataFrame(points, columns=["variant", "epoch", "valid %", "source"])
    last = max([int(e) for e in means["epoch"]] + [int(e) for e in report["epoch"]] + [1])
    x = alt.X("epoch:Q", axis=epoch_axis(1, last), scale=alt.Scale(domain=[1, last]))
    y_scale = alt.Scale(zero=False)
    palette = [RUN_PALETTE[i % len(RUN_PALETTE)] for i in range(len(labels))]
    color = alt.Color("variant:N", sort=labels, scale=alt.Scale(domain=labels, range=palette),
                      legend=alt.Legend(orient="bottom", columns=1, labelLimit=400, symbolOpacity=1))
    band = alt.Chart(means).mark_area(opacity=0.18).encode(
        x=x, y=alt.Y("low:Q", scale=y_scale, title="validation accuracy %"), y2="high:Q", color=color)
    lines = alt.Chart(means).mark_line(point=True).encode(
        x=x, y=alt.Y("valid %:Q", scale=y_scale), color=color,
        tooltip=["variant:N", "epoch:Q", alt.Tooltip("valid %:Q", title="mean valid %", format=".2f"),
                 alt.Tooltip("std:Q", title="± std over seeds", format=".2f")])
    marks = alt.Chart(report).mark_point(shape="diamond", size=110, filled=True, stroke="black",
                                         strokeWidth=1).encode(
        x=x, y=alt.Y("valid %:Q", scale=y_scale), color=color,
        # The shape by a field (for its legend entry) needs its own one-shape scale, or Vega draws circles.
        shape=alt.Shape("source:N", title=None, scale=alt.Scale(range=["diamond"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["variant:N", "epoch:Q", alt.Tooltip("valid %:Q", title="the report's valid %", format=".2f")])
    return fit_width(alt.layer(band, lines, marks, title="Validation accuracy by epoch: mean over seeds "
                                                          "(band: ± one std), the report's figures as diamonds",
                               height=320))


def class_rates_table(confusion: Mapping) -> pd.DataFrame:
    """Recall and precision per class, this study's beside the report's (study_result's "confusion")."""
    rows = [{"class": c, "recall % (study)": round_or_none(confusion["study_recall"].get(c)),
             "recall % (report)": round_or_none(confusion["report_recall"].get(c)),
             "precision % (study)": round_or_none(confusion["study_precision"].get(c)),
             "precision % (report)": round_or_none(confusion["report_precision"].get(c))}
            for c in confusion["classes"]]
    return pd.DataFrame(rows, columns=["class", "recall % (study)", "recall % (report)",
                                       "precision % (study)", "precision % (report)"])


def format_p(p) -> str:
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def evidence_text(evidence: Mapping) -> str:
    """"diff: 1.11; ci95: -3.01 .. 5.23; epochs: base 7, best 2": a claim's evidence on one line."""
    def value(v) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        if isinstance(v, Mapping):
            return ", ".join(f"{k.replace('_', ' ')} {value(x)}" for k, x in v.items())
        if isinstance(v, (list, tuple)):
            if v and all(isinstance(x, str) for x in v):
                return "/".join(v)  # a pair of classes: cat/dog
            if len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
                return f"{value(v[0])} .. {value(v[1])}"  # an interval
            return ", ".join(f"({value(x)})" if isinstance(x, Mapping) else value(x) for x in v)
        return str(v)

    return "; ".join(f"{k.replace('_', ' ')}: {format_p(v) if k == 'p_value' else value(v)}"
                     for k, v in (evidence or {}).items())


def claim_summary(claim: Mapping) -> dict:
    """What the page writes for one of the report's conclusions: its title, verdict, test line and evidence."""
    detail = claim.get("test") or ""
    if claim.get("p_value") is not None:
        detail += f" · p = {format_p(claim['p_value'])}".replace("p = <", "p <")
    if claim.get("n_to_settle"):
        detail += f" · about {claim['n_to_settle']} seeds per variant would settle it"
    return {"title": f"{claim['id']}. {claim['claim']}", "verdict": claim["verdict"], "detail": detail,
            "evidence": evidence_text(claim.get("evidence") or {})}
