"""CINIC-10 Explorer: `streamlit run app.py`.

This file is the home page. It and pages/ are Streamlit's own multipage
layout: every file in pages/ is a page (so pages/ holds nothing else) and its
URL is its file name (/train for pages/train.py). Streamlit's automatic menu
is switched off (.streamlit/config.toml); `app_ui.page_start` draws the menu
from one list, app_ui.MENU, so order, titles and icons live in one place.
Each page is thin: widgets and layout, one call into `cinic/` per action.
"""

from __future__ import annotations

import streamlit as st

from ui import app_ui
app_ui.page_start("Home")  # first: the menu shows while the library (torch) loads

from cinic import paths

from cinic.data import choice as datasets
from cinic.runs.admin import SORTS, filter_runs, known_tags, sort_runs
from cinic.runs.folder import list_runs
from cinic.sweeps.runner import list_sweeps


def home() -> None:
    st.title("CINIC-10 Explorer")
    st.markdown(
        "Train and compare **LeNet-5 variants** on **CINIC-10** (32x32 colour images, 10 classes, "
        "CIFAR-10 plus downsampled ImageNet), the classic course experiment done carefully: "
        "exact normalisation, augmentation that never writes into your data, trainings that "
        "survive a closed tab, and evaluations you can click through.")

    reproduce_card()

    data_col, device_col = st.columns(2)
    with data_col:
        st.subheader("Data set")
        root = datasets.data_in_use()
        if root is None:
            app_ui.data_root_or_offer_demo("home")
        else:
            st.write(app_ui.as_text(datasets.describe_data_root(root)))
            if root.resolve() == paths.demo_root().resolve():
                st.caption("A small drawn stand-in so everything works at once; accuracy on it says "
                           "nothing about CINIC-10. Get the real data on the Data page.")
    with device_col:
        st.subheader("Device")
        st.write(app_ui.as_text(app_ui.device_text()))

    st.subheader("Runs so far")
    show_runs_table(list_runs())

    st.subheader("Where to go next")
    for entry in app_ui.MENU:
        if entry.purpose:
            app_ui.link_to(entry.title, label=f"{entry.title}: {entry.purpose}")


def reproduce_card() -> None:
    """The app's headline first: the one job a student brings, one link away, one click to start there."""
    with st.container(border=True):
        st.subheader("Reproduce the report")
        st.markdown("Run the course report's three LeNet-5 variants as it ran them, each over several seeds, and "
                    "read your mean ± spread beside its table, its curves and its confusion matrix, with its six "
                    "conclusions checked. The page says how long it will take before you start it.")
        studies = [s for s in list_sweeps() if s["name"].startswith("reproduce")]
        if studies:  # names as text, never markdown
            st.text(f"Latest study: {studies[0]['name']} ({studies[0]['state']}, {studies[0]['trials']} trials)")
        entry = app_ui.menu_entry("Reproduce the report")
        if st.button("Reproduce the report", key="home-reproduce", type="primary", icon=entry.icon):
            st.switch_page(entry.file)


def show_runs_table(summaries: list[dict]) -> None:
    """Every run, filtered and sorted as asked; a click on a row opens its Results."""
    if not summaries:
        st.caption("No runs yet: start one on the Train page (the demo data set trains in seconds).")
        return
    shown = chosen_runs(summaries)
    rows = [{"run": s["name"], "state": s.get("state"), "model": s.get("preset"),
             "epoch": f"{s.get('epoch', 0)}/{s.get('epochs') or '?'}",
             "valid %": s.get("best_valid_acc"), "test %": s.get("test_acc"),
             "tags": s.get("tags") or [], "notes": (s.get("notes") or "").split("\n")[0],
             "started": app_ui.age(s.get("created"))} for s in shown]
    st.caption(f"{len(shown)} of {len(summaries)} runs. Click a row to open its Results "
               "(rename, notes, tags, delete and downloads are there).")
    event = st.dataframe(rows, hide_index=True, key="home-runs", on_select="rerun", selection_mode="single-row",
                         column_config={"valid %": st.column_config.NumberColumn(format="%.2f"),
                                        "test %": st.column_config.NumberColumn(format="%.2f"),
                                        "tags": st.column_config.ListColumn()})
    if event.selection.rows:
        picked = shown[event.selection.rows[0]]["name"]
        st.switch_page(app_ui.menu_entry("Results").file, query_params={"run": picked})


def chosen_runs(summaries: list[dict]) -> list[dict]:
    """The filters and the order above the table (each choice a union within, an intersection across)."""
    state_col, preset_col, tag_col, accuracy_col, sort_col = st.columns(5)
    states = state_col.multiselect("State", sorted({s.get("state") or "?" for s in summaries}), key="home-states")
    presets = preset_col.multiselect("Preset", sorted({s.get("preset") or "?" for s in summaries}),
                                     key="home-presets")
    tags = tag_col.multiselect("Tags (all of them)", known_tags(summaries), key="home-tags")
    least = accuracy_col.number_input("Test % at least", 0.0, 100.0, 0.0, 5.0, key="home-min-test")
    order = sort_col.selectbox("Sort by", list(SORTS), key="home-sort")
    return sort_runs(filter_runs(summaries, states, presets, tags, least or None), order)


with app_ui.page_body():
    home()
