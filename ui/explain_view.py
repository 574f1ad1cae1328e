"""What a model looks at and what its layers see, drawn for any page (Classify, Results, Compare).

Not a page (pages/ holds only pages): widgets and layout over `cinic.analysis.explain` (saliency
maps from captum) and `cinic.analysis.feature_maps` (forward hooks). A map is computed once per
checkpoint, picture, method and class, and kept in memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from ui import app_ui
from cinic.analysis import explain
from cinic.analysis import feature_maps
from cinic.model.classifier import Classifier, as_images

PANEL_ZOOM = 8  # the 32x32 picture and its map drawn 256 px wide, pixel for pixel


class LabelledModel(NamedTuple):
    """A run's model as a page names it ("A = 20250101-120000-base")."""
    label: str
    classifier: Classifier


def model_of(label: str, run_path: str) -> LabelledModel:
    return LabelledModel(label, app_ui.load_best(run_path))


def _checkpoint_key(run_path) -> str:
    from cinic.runs.folder import RunFolder

    return f"{run_path}@{RunFolder(run_path).checkpoint_path('best').stat().st_mtime}"


@st.cache_data(show_spinner=False, max_entries=128)
def _saliency(checkpoint_key: str, picture_bytes: bytes, shape: tuple, method: str, target: int,
              _classifier: Classifier) -> np.ndarray:
    picture = np.frombuffer(picture_bytes, dtype=np.uint8).reshape(shape)
    return explain.saliency(_classifier, picture, target, method)


def saliency_of(model: LabelledModel, picture: np.ndarray, method: str, target: int) -> np.ndarray:
    classifier = model.classifier
    return _saliency(_checkpoint_key(classifier.run_path), picture.tobytes(), picture.shape, method, target,
                     classifier)


def prediction(model: LabelledModel, picture: np.ndarray) -> tuple[int, np.ndarray]:
    """(predicted class index, probabilities) in float32, as every page predicts."""
    from cinic.analysis.evaluate import predict_probs

    probs = predict_probs(model.classifier, as_images(picture))[0].numpy()
    return int(probs.argmax()), probs


# --- widgets -----------------------------------------------------------------------------------------
OWN_PREDICTION = "__prediction__"


def choose_method_and_class(key: str, classes: list[str], default_label: str) -> tuple[str, str | None]:
    """(method, class name or None for each model's own prediction), from two widgets side by side."""
    left, right = st.columns(2)
    method = left.radio("Method", list(explain.METHODS), format_func=explain.METHODS.get, horizontal=True,
                        key=f"{key}-method")
    target = right.selectbox("Explain the class", [OWN_PREDICTION, *classes], key=f"{key}-class",
                             format_func=lambda c: default_label if c == OWN_PREDICTION else c,
                             help="Pick any class to ask why the model did or did not see it (\"why not cat?\").")
    return method, None if target == OWN_PREDICTION else target


def method_caption(method: str) -> str:
    return (f"{explain.METHODS[method]} shows {explain.METHOD_NOTES[method]}. Only evidence for the class is "
            "drawn, each map scaled so its most important pixel is 1.")


def show_panel(model: LabelledModel, picture: np.ndarray, method: str, target: str | None,
               heading: str = "") -> None:
    """The picture, its map and the map over it (8x, nearest neighbour) with a colour legend."""
    classes = list(model.classifier.classes)
    predicted, probs = prediction(model, picture)
    index = predicted if target is None else classes.index(target)
    saliency_map = saliency_of(model, picture, method, index)
    lead = f"{heading} " if heading else ""
    st.markdown(f"{lead}predicts **{app_ui.as_text(classes[predicted])}** ({probs[predicted]:.0%}); "
                f"map for **{app_ui.as_text(classes[index])}** ({probs[index]:.0%})")
    st.image(explain.panel(picture, saliency_map, f"{explain.METHODS[method]}: {classes[index]}", PANEL_ZOOM))
    if not saliency_map.any():
        st.caption(f"Nothing in this picture speaks for {app_ui.as_text(classes[index])} by this method: the map "
                   "is empty.")


def explain_picture(model: LabelledModel, picture: np.ndarray, key: str) -> None:
    """One model, one picture: the saliency map for its prediction or a chosen class, and the layers."""
    method, target = choose_method_and_class(key, list(model.classifier.classes), "its prediction")
    st.caption(method_caption(method))
    with st.spinner("Computing the map..."):
        show_panel(model, picture, method, target)
    with st.expander("What the layers see: feature maps after each conv block, first-layer filters"):
        show_layers(model.classifier, picture)


def explain_pair(models: list[LabelledModel], picture: np.ndarray, key: str) -> None:
    """Two models on one picture, one under the other, with the same method and class."""
    method, target = choose_method_and_class(key, list(models[0].classifier.classes), "each model's prediction")
    st.caption(method_caption(method))
    with st.spinner("Computing the maps..."):
        for model in models:
            show_panel(model, picture, method, target, heading=f"**{app_ui.as_text(model.label)}**")


def show_layers(classifier: Classifier, picture: np.ndarray) -> None:
    blocks = feature_maps.feature_maps(classifier, picture)
    for block in blocks:
        maps = block["maps"]
        st.markdown(f"**After conv block {block['block']}**: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}, "
                    "strongest first (mean absolute activation); one colour scale per block, dark = low")
        st.image(feature_maps.maps_grid(maps))
    filters = feature_maps.first_layer_filters(classifier)
    if len(filters):
        st.markdown(f"**First layer's {len(filters)} filters** ({filters.shape[1]}x{filters.shape[2]} pixels, "
                    "as colours: grey is 0, one scale for all)")
        st.image(feature_maps.tile(filters, zoom=max(1, 48 // filters.shape[1]), columns=16))
