"""CINIC-10 Explorer: `streamlit run app.py`.

This file is the router and the home page. The pages are listed with
st.navigation rather than discovered by file name, because:
- their order, titles and icons are stated here in one place, not encoded in
  file names like `3_🧪_Train.py`;
- the home page is this file's own content (`home()` below), so the landing
  page needs no separate file and app.py stays the one entry point;
- app_pages/ui.py (shared helpers) sits beside the pages without becoming one.
The folder is app_pages/, not pages/: while a `pages/` folder exists, a fresh
server treats a first visit to a page URL (a bookmark, a reload of /train) as
a legacy multipage app, runs that page file without this router and lists
every file in pages/ (ui.py included) in the sidebar.
Each page is thin: widgets and layout, one call into `cinic/` per action.
"""

from __future__ import annotations

import streamlit as st

from cinic import datasets, paths
from cinic.runs import list_runs
from app_pages import ui


def home() -> None:
    st.title("CINIC-10 Explorer")
    st.markdown(
        "Train and compare **LeNet-5 variants** on **CINIC-10** (32x32 colour images, 10 classes, "
        "CIFAR-10 plus downsampled ImageNet), the classic course experiment done carefully: "
        "exact normalisation, augmentation that never writes into your data, trainings that "
        "survive a closed tab, and evaluations you can click through.")

    data_col, device_col = st.columns(2)
    with data_col:
        st.subheader("Data set")
        root = datasets.data_in_use()
        if root is None:
            ui.data_root_or_offer_demo("home")
        else:
            st.write(datasets.describe_data_root(root))
            if root.resolve() == paths.demo_root().resolve():
                st.caption("A small drawn stand-in so everything works at once; accuracy on it says "
                           "nothing about CINIC-10. Get the real data on the Data page.")
    with device_col:
        st.subheader("Device")
        st.write(device_text())

    st.subheader("Runs so far")
    show_runs_table(list_runs())

    st.subheader("Where to go next")
    # The st.Page objects, not their paths: a link then shows the page's icon from the sidebar.
    for page in PAGES:
        if page.title in NEXT_STEPS:
            st.page_link(page, label=f"{page.title}: {NEXT_STEPS[page.title]}")


NEXT_STEPS = {
    "Data": "choose CINIC-10 or the demo set, check it, see samples and statistics",
    "Augmentation": "compose an Augmentor pipeline and preview it",
    "Train": "pick or build a LeNet variant and train it in the background",
    "Results": "curves, confusion matrix, misclassified images of a run",
    "Compare": "several runs side by side, like the report's table",
    "Classify": "run a trained model on your own images",
}


@st.cache_data(show_spinner=False)
def device_text() -> str:
    """The device a training with device "auto" would use (asked once per server)."""
    from cinic.device import choose_device, describe_device

    return describe_device(choose_device("auto"))


def show_runs_table(summaries: list[dict]) -> None:
    if not summaries:
        st.caption("No runs yet: start one on the Train page (the demo data set trains in seconds).")
        return
    rows = [{"run": s["name"], "state": s.get("state"), "model": s.get("preset"),
             "epoch": f"{s.get('epoch', 0)}/{s.get('epochs') or '?'}",
             "valid %": s.get("best_valid_acc"), "test %": s.get("test_acc"),
             "started": ui.age(s.get("created"))} for s in summaries]
    st.dataframe(rows, hide_index=True, column_config={
        "valid %": st.column_config.NumberColumn(format="%.2f"),
        "test %": st.column_config.NumberColumn(format="%.2f")})


PAGES = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/dataset:"),
    st.Page("app_pages/augmentation.py", title="Augmentation", icon=":material/auto_fix_high:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/results.py", title="Results", icon=":material/analytics:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("app_pages/classify.py", title="Classify", icon=":material/image_search:"),
]

st.set_page_config(page_title="CINIC-10 Explorer", page_icon=":material/grid_view:", layout="wide")
page = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"Data: {datasets.describe_data_root(datasets.data_in_use())}")
    st.caption(f"Device: {device_text()}")
# A library error a page did not expect still shows as a box saying what to do, not a traceback.
with ui.errors_as_boxes():
    page.run()
