"""Classify: run a trained model on your own images, or on a random test image.

Uploads are untrusted: cinic.data.images opens them with size and format limits and
says what it changed to make the 32x32 RGB input the model sees.
"""

from __future__ import annotations

import random

import numpy as np
import streamlit as st

from ui import app_ui
app_ui.page_start("Classify")  # first: the menu shows while the library (torch) loads

from ui import explain_view
from ui import charts
from cinic.data.images import ALLOWED_FORMATS, ImageError, display_image, limits_in_words, open_image, to_model_input
from cinic.runs.checkpoints import CheckpointError
from cinic.data.dataset import display_name
from cinic.runs.folder import RunFolder, list_runs

EXTENSIONS = {"JPEG": ["jpg", "jpeg"], "TIFF": ["tif", "tiff"]}  # formats with more than one suffix
UPLOAD_TYPES = [ext for fmt in ALLOWED_FORMATS for ext in EXTENSIONS.get(fmt, [fmt.lower()])]
ZOOM = 4  # the 32x32 input is shown 4x larger, pixel for pixel


def enlarged(image_hwc: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upscaling, so the 32x32 the model sees stays crisp on screen."""
    return np.repeat(np.repeat(image_hwc, ZOOM, axis=0), ZOOM, axis=1)


def classify(classifier, arrays: list[np.ndarray], k: int) -> list[list[dict]]:
    from cinic.analysis.evaluate import classify_pictures

    return classify_pictures(classifier, arrays, k)


def show_prediction(title: str, original, model_input: np.ndarray, notes: list[str], top: list[dict],
                    truth: str | None = None) -> None:
    with st.container(border=True):
        st.markdown(f"**{app_ui.as_text(title)}**")
        left, middle, right = st.columns([1, 1, 2])
        if original is not None:
            left.image(original, caption="uploaded", width=160)
        middle.image(enlarged(model_input), caption="what the model sees (32x32)")
        for note in notes:
            middle.caption(app_ui.as_text(note))
        verdict = f"**{app_ui.as_text(top[0]['class'])}** ({top[0]['prob']:.0%})"
        if truth is not None:
            verdict += (" :material/check_circle:" if top[0]["class"] == truth
                        else f" :material/cancel: (true: {app_ui.as_text(truth)})")
        right.markdown(verdict)
        right.altair_chart(charts.top_k_chart(top))


def uploaded_images(classifier, k: int) -> list[tuple[str, np.ndarray]]:
    """Classify the uploads; returns (name, 32x32 picture) of each, for the explanation below."""
    files = st.file_uploader(f"Images (PNG, JPEG, GIF, BMP, TIFF or WebP; {limits_in_words()})", type=UPLOAD_TYPES,
                             accept_multiple_files=True, key="classify-upload")
    fit = st.radio("A picture that is not square", ["squeeze", "crop"], horizontal=True, key="classify-fit",
                   format_func={"squeeze": "squeeze it whole into the square (as CINIC-10's images were made)",
                                "crop": "keep its centre square, undistorted"}.get)
    opened = []
    for f in files or []:
        try:
            image = open_image(f.getvalue(), name=f.name)
            array, notes = to_model_input(image, fit)
            opened.append((f.name, image, array, notes))
        except ImageError as e:  # says what is wrong with the file and what to do
            st.error(app_ui.as_text(e), icon=":material/error:")
    if opened:
        tops = classify(classifier, [o[2] for o in opened], k)
        for (name, image, array, notes), top in zip(opened, tops):
            show_prediction(name, display_image(image), array, notes, top)
    return [(name, array) for name, _, array, _ in opened]


def random_test_image(run: RunFolder, classifier, k: int) -> list[tuple[str, np.ndarray]]:
    """Classify a random test image on request; returns [(title, picture)] of it, for the explanation."""
    if st.button("Pick a random test image", icon=":material/casino:"):
        st.session_state["classify-random"] = random.randrange(1 << 30)
    if "classify-random" not in st.session_state:
        return []
    data_root = run.config().get("data", "")
    with app_ui.errors_as_boxes("The test split cannot be read"):
        test = app_ui.load_split_cached(data_root, "test")
        index = st.session_state["classify-random"] % len(test.labels)
        array = app_ui.pictures(test.images, [index])[0]
        top = classify(classifier, [array], k)[0]
        show_prediction(f"test image {display_name(test.files[index])}", None, array, [], top,
                        truth=test.classes[int(test.labels[index])])
        return [(f"test image {display_name(test.files[index])}", array)]
    return []


def explain_section(summary: dict, shown: list[tuple[str, np.ndarray]]) -> None:
    """What the model looks at in one of the images above, and what its layers see."""
    st.subheader("What the model looks at")
    if not shown:
        st.caption("Upload an image or pick a random test image to see what the model looks at in it.")
        return
    names = [name for name, _ in shown]
    picked = st.selectbox("Image", range(len(shown)), format_func=names.__getitem__, key="classify-explain-image")
    model = explain_view.model_of(summary["name"], summary["path"])
    explain_view.explain_picture(model, shown[picked][1], key="classify-explain")


# --- many images at once ------------------------------------------------------------------------
BATCH_SOURCES = {"zip": "a zip of images", "folder-upload": "a folder (upload)", "path": "a folder on this computer"}
BATCH_GALLERY = 24


@st.cache_data(show_spinner=False, max_entries=3)
def classified(run_path: str, mtime: float, k: int, kind: str, payload, name: str, version: str = ""):
    """(the result of cinic.analysis.image_sets.classify_batch, the 32x32 images) of one zip, uploaded folder or folder
    path; kept while the same images and checkpoint come back (`version`: what a folder path holds,
    image_sets.source_key)."""
    from cinic.analysis.image_sets import classify_batch, from_members, load_batch

    classifier = app_ui.load_best(run_path, mtime)
    batch = from_members(payload, name) if kind == "folder-upload" else load_batch(payload, name)
    return classify_batch(classifier, batch, k), batch.images


def batch_source() -> tuple | None:
    """(kind, payload, name, version) of the images the person gave, or None while there are none."""
    kind = st.radio("Images from", list(BATCH_SOURCES), format_func=BATCH_SOURCES.get, horizontal=True,
                    key="batch-from")
    if kind == "zip":
        upload = st.file_uploader("A .zip of images (loose, or in class folders)", type=["zip"], key="batch-zip")
        return (kind, upload.getvalue(), upload.name, "") if upload else None
    if kind == "folder-upload":
        files = st.file_uploader("A folder of images (loose, or in class folders)", type=UPLOAD_TYPES,
                                 accept_multiple_files="directory", key="batch-folder")
        return (kind, [(f.name, f.getvalue()) for f in files], "the uploaded folder", "") if files else None
    path = st.text_input("Folder path", key="batch-path", placeholder="/home/me/photos or .../CINIC-10/test",
                         help="Read on the machine that runs this app.").strip()
    if not path:
        return None
    from pathlib import Path

    from cinic.analysis.image_sets import source_key

    folder = Path(path).expanduser()
    return kind, str(folder), str(folder), source_key(folder)


def batch_section(run: RunFolder, k: int) -> None:
    st.subheader("Many images at once")
    st.caption("Drop a zip or a folder, or give a folder's path. Every image gets its top classes; images in "
               "folders named after their class (cat/, dog/, ...) are also scored: accuracy, confusion matrix "
               "and mistakes, as `python -m cinic evaluate RUN --data FOLDER` does. At most 20,000 images at "
               "once; links, encrypted entries and paths leaving the zip are refused.")
    source = batch_source()
    if source is None:
        return
    with app_ui.errors_as_boxes("These images cannot be classified"), st.spinner("Classifying..."):
        mtime = run.checkpoint_path("best").stat().st_mtime
        result, images = classified(str(run.path), mtime, k, *source)
        show_batch(run, result, images)


def show_batch(run: RunFolder, result: dict, images) -> None:
    from cinic.analysis.image_sets import predictions_csv

    if result["errors"]:
        with st.expander(f"{len(result['errors'])} images could not be read and were left out",
                         icon=":material/warning:"):
            st.markdown("\n".join(f"- {app_ui.as_text(message)}" for message in result["errors"]))
    if result["skipped"]:
        st.caption(f"{len(result['skipped'])} files that are not images were left out: "
                   + app_ui.as_text(", ".join(result["skipped"][:5])) + (" ..." if len(result["skipped"]) > 5 else ""))
    if result["labelled"]:
        labelled_summary(result["evaluation"], images)
    else:
        st.markdown(f"**{result['n']:,} images**, most likely classes first")
        shown = range(min(BATCH_GALLERY, result["n"]))
        st.image(app_ui.pictures(images, shown, zoom=3), width=96,
                 caption=[app_ui.as_text(f"{result['predictions'][i]['top'][0]['class']} "
                                         f"{result['predictions'][i]['top'][0]['prob']:.0%}") for i in shown])
    rows = predictions_frame(result)
    # One decimal in every probability column: 69.0 showed as "69" beside 53.6.
    st.dataframe(rows, hide_index=True, key="batch-table", column_config={
        column: st.column_config.NumberColumn(format="%.1f") for column in (rows[0] if rows else {})
        if column.startswith("p ")})
    st.download_button("Predictions (CSV)", predictions_csv(result), file_name=f"{run.name}-predictions.csv",
                       mime="text/csv", icon=":material/table:", key="batch-csv", on_click="ignore")


def labelled_summary(evaluation: dict, images) -> None:
    present = {name: acc for (name, acc), row in zip(evaluation["per_class"].items(), evaluation["confusion"])
               if sum(row)}
    cols = st.columns(3)
    cols[0].metric("Accuracy", charts.percent(evaluation['accuracy']))
    cols[1].metric("Images", f"{evaluation['n']:,}")
    cols[2].metric("Right", f"{evaluation['correct']:,}")
    left, right = st.columns([3, 2], gap="large")
    left.altair_chart(charts.confusion_chart(evaluation["confusion"], evaluation["classes"]))
    right.altair_chart(charts.per_class_chart(present))
    wrong = evaluation.get("misclassified", [])[:BATCH_GALLERY]
    if wrong:
        st.markdown("**Mistakes, worst first**")
        st.caption(f"Ranked {charts.MISTAKES_RANKED}")
        st.image(app_ui.pictures(images, [m["index"] for m in wrong], zoom=3), width=96,
                 caption=[app_ui.as_text(charts.mistake_caption(m)) for m in wrong])


def predictions_frame(result: dict) -> list[dict]:
    rows = []
    for p in result["predictions"]:
        row = {"file": p["file"]} | ({"true": p["true"]} if "true" in p else {})
        for i, t in enumerate(p["top"], start=1):
            row[f"class {i}"], row[f"p {i} %"] = t["class"], round(100 * t["prob"], 1)
        rows.append(row)
    return rows


# --- the page ------------------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Classify")
    trained = [s for s in list_runs() if s.get("state") != "damaged" and RunFolder(s["path"]).has_checkpoint("best")]
    summary = app_ui.pick_run(trained, key="classify-run", label="Model (a run with a best checkpoint)")
    if summary is None:
        st.info("No trained model yet: train one on the Train page (the demo set takes seconds).",
                icon=":material/info:")
        app_ui.link_to("Train", label="Go to Train")
        st.stop()

    run = RunFolder(summary["path"])
    try:
        classifier = app_ui.load_best(str(run.path))
    except CheckpointError as e:  # damaged, unsafe or of another model
        st.error(app_ui.as_text(e), icon=":material/error:")
        st.stop()
    st.caption(f"{app_ui.as_text(summary.get('label', '?'))} · {app_ui.as_text(classifier.spec.describe())} · "
               f"best epoch {app_ui.as_text(classifier.epoch)} · validation {classifier.best_valid_acc or 0:.1f}%")
    k = int(st.number_input("Classes to show", 1, len(classifier.classes), 3, key="classify-k"))
    shown = uploaded_images(classifier, k)
    shown += random_test_image(run, classifier, k)
    explain_section(summary, shown)
    batch_section(run, k)
