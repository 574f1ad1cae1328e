"""Classify: run a trained model on your own images, or on a random test image.

Uploads are untrusted: cinic.images opens them with size and format limits and
says what it changed to make the 32x32 RGB input the model sees.
"""

from __future__ import annotations

import random

import numpy as np
import streamlit as st

import app_ui
import explain_view
from cinic import charts
from cinic.images import ALLOWED_FORMATS, ImageError, open_image, to_model_input
from cinic.checkpoints import CheckpointError
from cinic.runs import RunFolder, list_runs

EXTENSIONS = {"JPEG": ["jpg", "jpeg"], "TIFF": ["tif", "tiff"]}  # formats with more than one suffix
UPLOAD_TYPES = [ext for fmt in ALLOWED_FORMATS for ext in EXTENSIONS.get(fmt, [fmt.lower()])]
ZOOM = 4  # the 32x32 input is shown 4x larger, pixel for pixel


def enlarged(image_hwc: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upscaling, so the 32x32 the model sees stays crisp on screen."""
    return np.repeat(np.repeat(image_hwc, ZOOM, axis=0), ZOOM, axis=1)


def classify(model, facts: dict, arrays: list[np.ndarray], k: int) -> list[list[dict]]:
    from cinic.evaluate import classify_pictures

    return classify_pictures(model, arrays, facts["mean"], facts["std"], facts["classes"], k)


def show_prediction(title: str, original, model_input: np.ndarray, notes: list[str], top: list[dict],
                    truth: str | None = None) -> None:
    with st.container(border=True):
        st.markdown(f"**{title}**")
        left, middle, right = st.columns([1, 1, 2])
        if original is not None:
            left.image(original, caption="uploaded", width=160)
        middle.image(enlarged(model_input), caption="what the model sees (32x32)")
        for note in notes:
            middle.caption(note)
        verdict = f"**{top[0]['class']}** ({top[0]['prob']:.0%})"
        if truth is not None:
            verdict += (" :material/check_circle:" if top[0]["class"] == truth
                        else f" :material/cancel: (true: {truth})")
        right.markdown(verdict)
        right.altair_chart(charts.top_k_chart(top))


def uploaded_images(model, facts: dict, k: int) -> list[tuple[str, np.ndarray]]:
    """Classify the uploads; returns (name, 32x32 picture) of each, for the explanation below."""
    files = st.file_uploader("Images (PNG, JPEG, ... any size)", type=UPLOAD_TYPES, accept_multiple_files=True,
                             key="classify-upload")
    opened = []
    for f in files or []:
        try:
            image = open_image(f.getvalue(), name=f.name)
            array, notes = to_model_input(image)
            opened.append((f.name, image, array, notes))
        except ImageError as e:  # says what is wrong with the file and what to do
            st.error(str(e), icon=":material/error:")
    if opened:
        tops = classify(model, facts, [o[2] for o in opened], k)
        for (name, image, array, notes), top in zip(opened, tops):
            show_prediction(name, image.convert("RGB") if image.mode not in ("RGB", "L") else image,
                            array, notes, top)
    return [(name, array) for name, _, array, _ in opened]


def random_test_image(run: RunFolder, model, facts: dict, k: int) -> list[tuple[str, np.ndarray]]:
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
        top = classify(model, facts, [array], k)[0]
        show_prediction(f"test image {test.files[index]}", None, array, [], top,
                        truth=test.classes[int(test.labels[index])])
        return [(f"test image {test.files[index]}", array)]
    return []


def explain_section(summary: dict, shown: list[tuple[str, np.ndarray]]) -> None:
    """What the model looks at in one of the images above, and what its layers see."""
    st.subheader("What the model looks at")
    if not shown:
        st.caption("Upload an image or pick a random test image to see what the model looks at in it.")
        return
    names = [name for name, _ in shown]
    picked = st.selectbox("Image", range(len(shown)), format_func=names.__getitem__, key="classify-explain-image")
    who = explain_view.model_of(summary["name"], summary["path"])
    explain_view.explain_picture(who, shown[picked][1], key="classify-explain")


# --- the page ------------------------------------------------------------------------------------
with app_ui.page_setup("Classify"):
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
        model, facts = app_ui.load_best(str(run.path))
    except CheckpointError as e:  # damaged, unsafe or of another model
        st.error(f"{e}", icon=":material/error:")
        st.stop()
    st.caption(f"{facts['spec'].describe()} · best epoch {facts.get('epoch')} · "
               f"validation {facts.get('best_valid_acc') or 0:.1f}%")
    k = int(st.number_input("Classes to show", 1, len(facts["classes"]), 3, key="classify-k"))
    shown = uploaded_images(model, facts, k)
    shown += random_test_image(run, model, facts, k)
    explain_section(summary, shown)
