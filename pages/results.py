"""Results: one run's config, curves and test evaluation, down to the images it got wrong.

The evaluation is the run's eval.json (written when the training ends); the
images come from the decoded test split. Images of any confusion-matrix cell
(correct ones included) come from fresh predictions of the best checkpoint,
computed once per checkpoint and kept in memory.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import app_ui
app_ui.page_start("Results")  # first: the menu shows while the library (torch) loads

from ui import explain_view
from ui import charts
from cinic.data.dataset import display_name
from cinic.runs.admin import delete_run, known_tags, locate, rename_run, set_tags
from cinic.runs.folder import LIVE_STATES, RunError, RunFolder, list_runs, run_label

GALLERY_SIZE = 24
CELL_IMAGES = 30


@st.cache_data(show_spinner=False, max_entries=4)
def predictions(run_path: str, mtime: float, data_root: str, fingerprint: float, _test) -> tuple:
    """(predicted labels, probability of the prediction) for every test image, as numpy arrays."""
    from cinic.analysis.evaluate import predict_probs

    probs = predict_probs(app_ui.load_best(run_path, mtime), _test.images)
    top, predicted = probs.max(dim=1)
    return predicted.numpy(), top.numpy()


def evaluate_now(run: RunFolder) -> None:
    """Evaluate the best checkpoint on the run's test split into eval.json (for runs stopped before the end)."""
    from cinic.analysis.evaluate import evaluate_run

    with st.spinner("Evaluating on the test split..."):
        evaluate_run(run, "best", "cpu")
    st.rerun()


def headline(summary: dict, evaluation: dict | None) -> None:
    cols = st.columns(4)
    cols[0].metric("Test accuracy", charts.percent(evaluation["accuracy"]) if evaluation else "n/a")
    cols[1].metric("Best validation accuracy",
                   charts.percent(summary["best_valid_acc"]) if summary.get("best_valid_acc") is not None else "n/a")
    cols[2].metric("Epochs", f"{summary.get('epoch', 0)} of {summary.get('epochs') or '?'}")
    cols[3].metric("Parameters", f"{summary['params']:,}" if summary.get("params") else "n/a")


def confusion_section(run: RunFolder, evaluation: dict, data_root: str) -> list[tuple[str, int]]:
    """The matrix and the images of its picked cell; returns (caption, test index) of those images."""
    classes = evaluation["classes"]
    pairs = evaluation.get("most_confused", [])
    cell = picked_cell(pairs)
    normalize = st.toggle("Row-normalised (% of each true class)", key="confusion-normalize")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.altair_chart(charts.confusion_chart(evaluation["confusion"], classes, normalize, selected=cell),
                        on_select="rerun", key="confusion", selection_mode=charts.CONFUSION_SELECTION)
    with right:
        st.markdown("**Most confused pairs** (true → predicted); click a row to see its images")
        st.dataframe(pairs, hide_index=True, height="content", on_select="rerun", selection_mode="single-row",
                     key="most-confused")
    if cell is not None:
        return cell_images(run, evaluation, data_root, *cell)
    return []


def picked_cell(pairs: list[dict]) -> tuple[str, str] | None:
    """The confusion cell to show: the one last picked, by a click on the matrix or on a row of
    the most confused pairs (whichever changed since the previous run), else the most confused."""
    rows = ((st.session_state.get("most-confused") or {}).get("selection") or {}).get("rows") or []
    from_row = (pairs[rows[0]]["true"], pairs[rows[0]]["pred"]) if rows and rows[0] < len(pairs) else None
    from_matrix = charts.selected_cell(st.session_state.get("confusion"))
    before = st.session_state.get("confusion-picks", (None, None))
    st.session_state["confusion-picks"] = (from_matrix, from_row)
    if from_row is not None and from_row != before[1]:
        st.session_state["confusion-cell"] = from_row
    elif from_matrix != before[0]:
        st.session_state["confusion-cell"] = from_matrix
    cell = st.session_state.get("confusion-cell")
    if cell is None and pairs:
        cell = (pairs[0]["true"], pairs[0]["pred"])
    return cell


def cell_images(run: RunFolder, evaluation: dict, data_root: str, true_class: str,
                predicted: str) -> list[tuple[str, int]]:
    classes = evaluation["classes"]
    st.markdown(f"**Images of class {app_ui.as_text(true_class)} predicted as {app_ui.as_text(predicted)}** "
                "(click a cell of the matrix to pick another pair; double-click clears)")
    if not run.has_checkpoint("best"):  # deleted by hand, or a copy without weights: eval.json alone stays readable
        st.caption("The images of a cell come from the run's best checkpoint (best.pt), which is missing.")
        return []
    test = app_ui.load_split_cached(data_root, "test")
    mtime = run.checkpoint_path("best").stat().st_mtime
    with st.spinner("Predicting the test split..."):
        predicted_labels, confidence = predictions(str(run.path), mtime, data_root,
                                                   app_ui.folder_fingerprint(data_root), test)
    t, p = classes.index(true_class), classes.index(predicted)
    in_cell = np.flatnonzero((test.labels.numpy() == t) & (predicted_labels == p))
    if len(in_cell) == 0:
        st.caption("No test image falls in this cell.")
        return []
    indices = in_cell[np.argsort(-confidence[in_cell], kind="stable")][:CELL_IMAGES].tolist()
    st.caption(f"{len(in_cell)} images; the {len(indices)} most confident predictions shown")
    st.image(app_ui.pictures(test.images, indices), width=64,
             caption=[f"p={confidence[i]:.2f}" for i in indices])
    return [(f"cell {true_class} → {predicted}: {display_name(test.files[i])} (p={confidence[i]:.2f})", i)
            for i in indices]


def misclassified_gallery(evaluation: dict, data_root: str) -> list[tuple[str, int]]:
    """The worst mistakes; returns (caption, test index) of the images shown."""
    wrong = evaluation.get("misclassified", [])[:GALLERY_SIZE]
    if not wrong:
        st.caption("No misclassified images.")
        return []
    test = app_ui.load_split_cached(data_root, "test")
    usable = [m for m in wrong
              if m["index"] < len(test.files) and display_name(test.files[m["index"]]) == m["file"]]
    if len(usable) < len(wrong):
        st.warning(f"{len(wrong) - len(usable)} of these images are no longer where the evaluation saw them "
                   "(the test folder changed); evaluate the run again to refresh.")
    # Short captions ("cat → dog 71%", two lines at most at this width); the rest is in the table below.
    st.image(app_ui.pictures(test.images, [m["index"] for m in usable], zoom=4), width=128,
             caption=[app_ui.as_text(charts.mistake_caption(m)) for m in usable])
    with st.expander("Details: probability of the true class, loss, file"):
        st.dataframe(charts.mistakes_table(usable), hide_index=True, column_config={
            "p(predicted) %": st.column_config.NumberColumn(format="%.1f"),
            "p(true) %": st.column_config.NumberColumn(format="%.1f"),
            "loss": st.column_config.NumberColumn(format="%.3f")})
    return [(f"mistake #{n}: {charts.mistake_caption(m)} ({m['file']})", m["index"])
            for n, m in enumerate(usable, start=1)]


def explain_section(summary: dict, data_root: str, candidates: list[tuple[str, int]]) -> None:
    """What the model looks at in a misclassified image or one of the picked confusion cell."""
    st.subheader("What the model looks at")
    if not candidates:
        st.caption("No image to explain: pick a confusion-matrix cell that holds images.")
        return
    st.caption("Pick one of the misclassified images or of the confusion cell's images above.")
    picked = st.selectbox("Image", range(len(candidates)), format_func=lambda i: candidates[i][0],
                          key="results-explain-image")
    test = app_ui.load_split_cached(data_root, "test")
    picture = app_ui.pictures(test.images, [candidates[picked][1]])[0]
    st.caption(f"True class: **{app_ui.as_text(test.classes[int(test.labels[candidates[picked][1]])])}**")
    model = explain_view.model_of(summary["name"], summary["path"])
    explain_view.explain_picture(model, picture, key="results-explain")


# --- downloads ------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def model_file(run_path: str, fmt: str, mtime: float) -> bytes:
    """The best checkpoint exported (once per checkpoint version: ONNX takes seconds)."""
    from cinic.runs.export import export_bytes

    return export_bytes(RunFolder(run_path), fmt)


@st.cache_data(show_spinner=False, max_entries=4)
def report_file(run_path: str, versions: tuple) -> str:
    from cinic.analysis.report import html_report

    return html_report(RunFolder(run_path))


def file_versions(run: RunFolder) -> tuple:
    """When each file a download is made from last changed: a new version makes a new download."""
    return tuple(p.stat().st_mtime if p.exists() else 0.0 for p in
                 (run.path / name for name in ("config.json", "status.json", "metrics.jsonl", "eval.json",
                                               "notes.json", "best.pt")))


def downloads_section(run: RunFolder, evaluation: dict | None) -> None:
    """Files to take away; the report and the models are made when their button is clicked."""
    from cinic.analysis.report import confusion_csv, metrics_csv, per_class_csv

    st.subheader("Downloads")
    versions = file_versions(run)
    trained = run.has_checkpoint("best")
    first, second, third = st.columns(3)
    first.download_button("Report (one HTML file)", lambda: report_file(str(run.path), versions),
                          file_name=f"{run.name}.html", mime="text/html", icon=":material/description:",
                          key="download-report", on_click="ignore",
                          help="Config, curves, confusion matrix, per class and the worst mistakes, "
                               "in one file that opens offline.")
    second.download_button("Model (safetensors)", lambda: model_file(str(run.path), "safetensors", versions[-1]),
                           file_name=f"{run.name}.safetensors", icon=":material/download:", disabled=not trained,
                           key="download-safetensors", on_click="ignore",
                           help="The best checkpoint's weights with the spec, mean, std and classes; no code.")
    third.download_button("Model (ONNX)", lambda: model_file(str(run.path), "onnx", versions[-1]),
                          file_name=f"{run.name}.onnx", icon=":material/download:", disabled=not trained,
                          key="download-onnx", on_click="ignore",
                          help="Input: uint8 RGB images N x 3 x 32 x 32 (0..255), normalised inside; outputs: "
                               "logits and probabilities. Takes a few seconds to build.")
    first.download_button("Metrics per epoch (CSV)", metrics_csv(run.epochs()), file_name=f"{run.name}-metrics.csv",
                          mime="text/csv", icon=":material/table:", key="download-metrics", on_click="ignore")
    if evaluation:
        second.download_button("Confusion matrix (CSV)", confusion_csv(evaluation),
                               file_name=f"{run.name}-confusion.csv", mime="text/csv", icon=":material/table:",
                               key="download-confusion", on_click="ignore")
        third.download_button("Per class (CSV)", per_class_csv(evaluation), file_name=f"{run.name}-per-class.csv",
                              mime="text/csv", icon=":material/table:", key="download-per-class", on_click="ignore")


# --- managing the run -----------------------------------------------------------------------
def manage_section(run: RunFolder, summary: dict, summaries: list[dict]) -> None:
    """Rename, notes and tags, delete (after a confirmation); renaming and deleting wait for a training
    to be stopped, since its process writes into the folder."""
    live = summary.get("state") in LIVE_STATES
    stop_first = "Stop the training on the Train page first." if live else None
    with st.expander("Name, notes and tags · delete", icon=":material/edit_note:"):
        name_col, notes_col = st.columns([1, 2], gap="large")
        with name_col:
            new_name = st.text_input("Name", run.name, key=f"name-{run.name}",
                                     help="The run's folder under the runs root; the command line finds it by "
                                          "this name (`python -m cinic evaluate NAME`).")
            if st.button("Rename", key="rename", disabled=live or new_name.strip() == run.name, help=stop_first):
                with app_ui.errors_as_boxes("The run could not be renamed"):
                    renamed = rename_run(locate(run.name), new_name.strip())
                    show_run(renamed.name, f"Renamed {run.name} to {renamed.name}.")
            if st.button("Delete this run…", key="delete", icon=":material/delete:", disabled=live,
                         help=stop_first):
                st.session_state["confirm-delete"] = run.name
        with notes_col:
            try:
                current = run.notes()
            except RunError as e:  # a hand-edited notes.json: the run's results are still shown
                st.warning(app_ui.as_text(e), icon=":material/warning:")
                current = {"notes": "", "tags": []}
            notes = st.text_area("Notes", current["notes"], key=f"notes-{run.name}", height=100)
            tags = st.multiselect("Tags", sorted(set(known_tags(summaries)) | set(current["tags"])),
                                  current["tags"], key=f"tags-{run.name}", accept_new_options=True,
                                  help="Pick tags other runs carry, or type a new one (one word).")
            if st.button("Save notes and tags", key="save-notes"):
                with app_ui.errors_as_boxes("The notes could not be saved"):
                    set_tags(run, tags, notes)
                    show_run(run.name, "Saved the notes and tags.")
    confirm_delete(run)  # outside the expander: a rerun may fold it, and the question must stay in sight


def confirm_delete(run: RunFolder) -> None:
    """The question before a deletion, and the deletion when the answer is yes."""
    if st.session_state.get("confirm-delete") != run.name:
        return
    size = sum(f.stat().st_size for f in run.path.rglob("*") if f.is_file() and not f.is_symlink())
    st.warning(f"Delete **{app_ui.as_text(run.name)}** and every file in {app_ui.as_text(run.path)} "
               f"({size / 1e6:.1f} MB)? This cannot be undone.", icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", key="delete-yes", type="primary"):
        with app_ui.errors_as_boxes("The run could not be deleted"):
            delete_run(locate(run.name))
            app_ui.follow_run(None)
            show_run(None, f"Deleted {run.name}.")
    if no.button("Keep it", key="delete-no"):
        show_run(run.name)


def show_run(name: str | None, message: str | None = None) -> None:
    """Rerun showing that run (None: the newest), with a message above it."""
    for key in ("results-run", "confirm-delete"):
        st.session_state.pop(key, None)  # the picker forgets the old name; the confirmation is done
    if name is not None:
        app_ui.follow_run(name)
    if message:
        st.session_state["results-message"] = message
    st.rerun()


# --- the page ------------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Results")
    if "results-message" in st.session_state:
        st.success(app_ui.as_text(st.session_state.pop("results-message")), icon=":material/check_circle:")
    summaries = list_runs()
    summary = app_ui.pick_run(summaries, key="results-run")
    if summary is None:
        st.info("No runs yet: train a model on the Train page first.", icon=":material/info:")
        app_ui.link_to("Train", label="Go to Train")
        st.stop()
    if summary.get("state") == "damaged":
        st.error(f"{app_ui.as_text(summary['error'])}. This run folder cannot be read; delete it or restore its "
                 "config.json.")
        if st.button("Delete this run…", key="delete", icon=":material/delete:"):
            st.session_state["confirm-delete"] = summary["name"]
        confirm_delete(RunFolder(summary["path"]))
        st.stop()

    run = RunFolder(summary["path"])
    config = run.config()
    data_root = config.get("data", "")
    try:
        evaluation = run.evaluation()
    except RunError as e:  # a damaged eval.json: say so, and offer to evaluate again below
        st.error(f"{app_ui.as_text(e)}. Evaluate the run again to replace it.", icon=":material/error:")
        evaluation = None
    headline(summary, evaluation)
    augmentation = charts.augmentation_label(config.get("augment_name"), config.get("augment_n"))
    augmentation = "no augmentation" if augmentation == "none" else f"augmentation {augmentation}"
    st.caption(" · ".join(map(app_ui.as_text, (run_label(config), summary.get("model"), augmentation,
                                                f"data {data_root}"))))
    with st.expander("Configuration (config.json)"):
        st.json(config, expanded=False)
    manage_section(run, summary, summaries)
    downloads_section(run, evaluation)

    st.subheader("Curves")
    app_ui.show_curves(run, run.epochs())

    st.subheader("Test evaluation")
    if evaluation is None:
        if run.has_checkpoint("best") and summary.get("state") not in ("queued", "running"):
            st.info("This run has no evaluation yet (it stopped before the end).")
            if st.button("Evaluate the best checkpoint on the test split", type="primary"):
                with app_ui.errors_as_boxes("The evaluation failed"):
                    evaluate_now(run)
        else:
            st.caption("The evaluation appears when the training has finished.")
        st.stop()

    cell = []  # the picked cell's images, to explain below
    with app_ui.errors_as_boxes("The test images cannot be shown"):
        cell = confusion_section(run, evaluation, data_root)
    left, right = st.columns(2, gap="large")
    left.altair_chart(charts.per_class_chart(evaluation["per_class"]))
    if evaluation.get("per_origin"):
        right.altair_chart(charts.origin_chart(evaluation["per_origin"]))
        right.caption("CINIC-10 mixes CIFAR-10 images with downsampled ImageNet ones; "
                      "the file name says which.")
    st.subheader("Misclassified, worst first")
    st.caption(f"Ranked {charts.MISTAKES_RANKED}")
    candidates = cell  # the images to explain: the mistakes first, then the cell's
    with app_ui.errors_as_boxes("The misclassified images cannot be shown"):
        candidates = misclassified_gallery(evaluation, data_root) + cell
    if not run.has_checkpoint("best"):
        st.caption("No best checkpoint (best.pt) in this run: nothing to explain.")
        st.stop()
    with app_ui.errors_as_boxes("The model cannot be explained"):
        explain_section(summary, data_root, candidates)
