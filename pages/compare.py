"""Compare: several runs side by side, in the report's table, on one chart, class by class."""

from __future__ import annotations

import streamlit as st

import app_ui
from cinic import charts
from cinic.models import PRESET_NOTES
from cinic.runs import RunFolder, list_runs

with app_ui.page_setup("Compare"):
    st.title("Compare")
    summaries = [s for s in list_runs() if s.get("state") != "damaged"]
    if not summaries:
        st.info("No runs yet: train a few variants on the Train page, then compare them here.",
                icon=":material/info:")
        app_ui.link_to("Train", label="Go to Train")
        st.stop()

    by_name = {s["name"]: s for s in summaries}
    finished = [s["name"] for s in summaries if s.get("test_acc") is not None]
    picked = st.multiselect("Runs", list(by_name), default=finished[:4] or list(by_name)[:2],
                            format_func=lambda name: app_ui.run_label(by_name[name]), key="compare-runs")
    if not picked:
        st.caption("Pick at least one run.")
        st.stop()

    chosen = [by_name[name] for name in picked]
    percent = st.column_config.NumberColumn(format="%.2f")
    # "what changed" gets a medium column so the table's last columns fit beside it without scrolling.
    st.dataframe(charts.compare_table(chosen, PRESET_NOTES), hide_index=True, width="stretch", column_config={
        "test %": percent, "valid %": percent, "s / epoch": st.column_config.NumberColumn(format="%.2f"),
        "parameters": st.column_config.NumberColumn(format="localized"),
        "what changed": st.column_config.TextColumn(width="medium")})

    key = st.selectbox("Curve", list(charts.CURVE_TITLES), format_func=charts.CURVE_TITLES.get,
                       key="compare-curve")
    epochs = {name: RunFolder(by_name[name]["path"]).epochs() for name in picked}
    st.altair_chart(charts.overlay_chart(epochs, key))

    per_class = {}
    for name in picked:
        with app_ui.errors_as_boxes(f"Run {name}"):  # a damaged eval.json spoils one run, not the page
            evaluation = RunFolder(by_name[name]["path"]).evaluation()
            if evaluation and evaluation.get("per_class"):
                per_class[name] = evaluation["per_class"]
    if per_class:
        st.altair_chart(charts.per_class_compare_chart(per_class))
        missing = [name for name in picked if name not in per_class]
        if missing:
            st.caption(f"Not evaluated yet (no per-class accuracy): {', '.join(missing)}")
    else:
        st.caption("Per-class accuracy appears once a picked run has finished (and been evaluated).")
