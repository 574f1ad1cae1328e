"""Augmentation: compose an Augmentor pipeline, preview it, save it for the Train page.

The pipeline is data (a list of {"op": ..., params}); cinic.augment.ops checks it
and cinic.augment.sample applies the real Augmentor operations in memory. Widgets are drawn
from cinic.augment.ops.OPERATIONS, so each parameter shows its allowed range and help.
"""

from __future__ import annotations

import streamlit as st

from ui import app_ui
app_ui.page_start("Augmentation")  # first: the menu shows while the library (torch) loads

from cinic.augment.saved import save_pipeline, saved_pipeline

from cinic.data import samples
from cinic.data import choice as datasets
from cinic.augment.sample import preview_grid
from cinic.augment.ops import OPERATIONS, SEED_PIPELINE, format_pipeline, report_image_count, validate_pipeline

PIPELINE = "aug-pipeline"   # session key: list of {"uid", "step"}; uids keep widget keys stable on reorder
NEXT_UID = "aug-next-uid"   # in the session, not the module: a page script runs afresh on every rerun


def entries(steps) -> list[dict]:
    first = st.session_state.get(NEXT_UID, 0)
    st.session_state[NEXT_UID] = first + len(steps)
    return [{"uid": first + i, "step": dict(step)} for i, step in enumerate(steps)]


def start_pipeline() -> None:
    if PIPELINE not in st.session_state:
        saved = saved_pipeline()
        st.session_state[PIPELINE] = entries(saved[0] if saved else SEED_PIPELINE)
        st.session_state["aug-n"] = (saved[1] if saved else 0) or 1000


def param_widget(param, value, key: str):
    """One widget per parameter, bounded by its allowed range (exclusive bounds are checked on validation)."""
    label = f"{param.name}"
    help_text = f"{param.help}. Allowed: {param.range_text() if param.type in ('int', 'float') else ''}".rstrip(
        ": ")
    if param.type == "bool":
        return st.checkbox(label, bool(value), key=key, help=param.help)
    if param.type == "choice":
        return st.selectbox(label, param.choices, list(param.choices).index(value), key=key, help=param.help)
    if param.type == "int":
        return int(st.number_input(label, int(param.min), int(param.max), int(value), 1, key=key, help=help_text))
    return float(st.number_input(label, float(param.min), float(param.max), float(value), 0.05,
                                 format="%.3f", key=key, help=help_text))


def op_label(name: str) -> str:
    """An operation in words, with Augmentor's name beside it: "Rotate by a random angle (rotate)"."""
    return f"{OPERATIONS[name].title} ({name})"


def edit_step(index: int, entry: dict, count: int) -> None:
    step, uid = entry["step"], entry["uid"]
    info = OPERATIONS[step["op"]]
    with st.container(border=True):
        title, up, down, remove = st.columns([6, 1, 1, 1])
        title.markdown(f"**{index + 1}. {info.title}** (`{info.name}`): {info.help}")
        if info.size_note:
            title.caption(info.size_note[0].upper() + info.size_note[1:] + ".")
        # Icon-only buttons (Streamlit's icon font, not text glyphs); the help names each one.
        if up.button("", icon=":material/arrow_upward:", key=f"up-{uid}", disabled=index == 0, help="Move up"):
            move(index, -1)
        if down.button("", icon=":material/arrow_downward:", key=f"down-{uid}", disabled=index == count - 1,
                       help="Move down"):
            move(index, +1)
        if remove.button("", icon=":material/close:", key=f"del-{uid}", help="Remove this step"):
            st.session_state[PIPELINE].pop(index)
            st.rerun()
        columns = st.columns(len(info.params))
        for param, column in zip(info.params, columns):
            with column:
                step[param.name] = param_widget(param, step.get(param.name, param.default), f"p-{uid}-{param.name}")


def move(index: int, offset: int) -> None:
    pipeline = st.session_state[PIPELINE]
    pipeline[index], pipeline[index + offset] = pipeline[index + offset], pipeline[index]
    st.rerun()


def add_step() -> None:
    """Add an operation at a chosen place; by default before a final resize, which must stay last."""
    pipeline = st.session_state[PIPELINE]
    places = list(range(len(pipeline) + 1))  # insert before step i + 1; len(pipeline): at the end
    ends_with_resize = bool(pipeline) and pipeline[-1]["step"]["op"] == "resize"
    left, middle, right = st.columns([3, 2, 1], vertical_alignment="bottom")
    op = left.selectbox("Operation to add", list(OPERATIONS), key="aug-add-op", format_func=op_label,
                        help="In words, with Augmentor's own name in brackets.")
    where = middle.selectbox("Where", places, index=len(pipeline) - 1 if ends_with_resize else len(pipeline),
                             key="aug-add-where", format_func=lambda i: "at the end" if i == len(pipeline) else
                             f"before step {i + 1} ({OPERATIONS[pipeline[i]['step']['op']].title})")
    if right.button("Add step", icon=":material/add:"):
        pipeline.insert(where, entries([OPERATIONS[op].example()])[0])
        st.session_state.pop("aug-add-where", None)  # the next one defaults again to before the resize
        st.rerun()


def ask_first(key: str, label: str, icon: str, question: str, answers: tuple[str, str], action) -> None:
    """A button whose `action` waits for a yes (a misclick lost a whole pipeline); one question at a time."""
    if st.session_state.get("aug-asking") != key:
        if st.button(label, icon=icon, key=f"{key}-ask"):
            st.session_state["aug-asking"] = key
            st.rerun()
        return
    st.warning(f"{question} This cannot be undone (a saved pipeline stays saved).", icon=":material/warning:")
    left, right = st.columns(2)
    agreed, kept = left.button(answers[0], type="primary", key=f"{key}-yes"), right.button(answers[1], key=f"{key}-no")
    if agreed:
        action()
    if agreed or kept:
        st.session_state.pop("aug-asking")
        st.rerun()


def start_from_the_report(root) -> None:
    """The report's steps, and its N: a third of the training split (30,000 beside CINIC-10's 90,000)."""
    n = report_image_count(root) if root is not None else st.session_state["aug-n"]

    def replace() -> None:
        st.session_state[PIPELINE] = entries(SEED_PIPELINE)
        st.session_state["aug-n"] = n

    ask_first("aug-report", "Start from the report's pipeline", ":material/restart_alt:",
              f"Replace the {len(st.session_state[PIPELINE])} steps with the report's {len(SEED_PIPELINE)}, and N "
              f"with {n:,} (a third of the training split, as the report added 30,000 images to 90,000)?",
              ("Yes, replace them", "Keep mine"), replace)


def remove_all() -> None:
    ask_first("aug-clear", "Remove all steps", ":material/delete_sweep:",
              f"Remove all {len(st.session_state[PIPELINE])} steps?", ("Yes, remove them", "Keep them"),
              lambda: st.session_state.__setitem__(PIPELINE, []))


def first_image():
    """One training image of the data set in use (1 x 32 x 32 x 3), for the previews of each step."""
    from cinic.data.images import open_image, to_model_input

    root = datasets.data_in_use()
    files = [f for picked in samples.sample_files(root, "train", 1, 0).values() for f in picked][:1] if root else []
    return to_model_input(open_image(files[0]))[0][None] if files else None


def preview(steps: list[dict], root) -> None:
    from cinic.data.images import open_image, to_model_input

    left, middle, right = st.columns(3)
    rows = int(left.number_input("Images", 1, 10, 5, key="aug-rows"))
    versions = int(middle.number_input("Augmented versions of each", 1, 12, 6, key="aug-versions"))
    seed = int(right.number_input("Seed", 0, 10_000, 0, key="aug-seed"))
    files = [f for picked in samples.sample_files(root, "train", 1, seed).values() for f in picked][:rows]
    if not files:
        st.info("The training split has no images to preview.")
        return
    import numpy as np

    images = np.stack([to_model_input(open_image(f))[0] for f in files])
    with st.spinner("Augmenting..."):
        grid = preview_grid(steps, images, versions=versions, seed=seed, scale=3)
    st.image(grid, caption="left: the original; right: augmented versions (same seed, same picture)")


# --- the page -------------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Augmentation")
    st.markdown("Augmentor makes extra training images before training (the report added 30,000). "
                "Here they are made in memory and cached outside your data folder.")
    start_pipeline()
    reset, clear = st.columns(2)
    with reset:
        start_from_the_report(datasets.data_in_use())
    with clear:
        remove_all()

    pipeline = st.session_state[PIPELINE]
    each = st.toggle("Preview after each step", key="aug-each",
                     help="One training image through the steps up to each one, six times: what each step adds.")
    sample = first_image() if each else None
    for i, entry in enumerate(list(pipeline)):
        edit_step(i, entry, len(pipeline))
        if sample is not None:
            with app_ui.errors_as_boxes(f"Steps 1-{i + 1} cannot be previewed"):
                steps_so_far = validate_pipeline([e["step"] for e in pipeline[:i + 1]])
                st.image(preview_grid(steps_so_far, sample, versions=6, seed=0, scale=2),
                         caption=f"after step {i + 1}: the original, then six draws")
    add_step()

    steps = None
    with app_ui.errors_as_boxes("This pipeline cannot be used"):
        steps = validate_pipeline([e["step"] for e in pipeline])
    if steps is not None:
        st.code(format_pipeline(steps), language=None)
    st.subheader("Save for training")
    # Drawn even while the pipeline is invalid: a widget left out of a run loses its value.
    n = int(st.number_input("How many augmented images to add to the training set (N)", 0, 1_000_000,
                            key="aug-n", step=1000))
    if steps is not None:
        if st.button("Save pipeline", type="primary", icon=":material/save:"):
            path = save_pipeline(steps, n)
            st.success(f"Saved to {app_ui.as_text(path)}. The Train page offers it as 'the pipeline saved on the "
                       f"Augmentation page'; from a terminal use `--augment {path} --augment-n {n}`.")
        st.subheader("Preview")
        root = app_ui.data_root_or_offer_demo("augment")
        if root is not None:
            with app_ui.errors_as_boxes("The preview failed"):
                preview(steps, root)
