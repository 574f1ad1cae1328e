"""What every page shares: its setup (page config, the sidebar menu), the data set in use, caches.

Not a page: Streamlit lists every file of pages/ as a page, so the helpers live
here, beside app.py. Everything here is about showing things; the work itself is
in `cinic/`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from pathlib import Path
from typing import NamedTuple

import streamlit as st

from cinic import paths

from cinic.data import choice as datasets
from cinic.errors import CinicError

APP_TITLE = "CINIC-10 Explorer"

# What markdown (with GitHub's and Streamlit's additions) reads as markup in a line of text: links and
# images ([ ] and a bare URL's "scheme:" or "www."), HTML and autolinks (< >), code, emphasis, tables,
# headings, math, entities, e-mail autolinks, :icon: and :emoji: codes. Prose punctuation (". , : ( ) - '")
# is left alone: an underscore inside a word, or a colon before a space, is no markup.
_MARKUP = re.compile(r"""[\\`*\[\]<>{}#|~$&@]
                       | (?<![A-Za-z0-9])_ | _(?![A-Za-z0-9])
                       | :(?=\S)
                       | (?<=www)\.""", re.VERBOSE | re.IGNORECASE)


def as_text(value) -> str:
    """`value` shown as the text it is inside Streamlit markdown (st.markdown, captions, boxes, labels,
    image captions, toasts, progress texts): what markdown would read as markup is escaped, so a run
    name, file or folder name, class name, spec field or error message is never a link, an image the
    browser fetches, emphasis, an :icon: or $math$. Only the page's own wording is markdown."""
    return _MARKUP.sub(lambda match: "\\" + match.group(), str(value))


# --- the menu and the setup of every page ------------------------------------------------
class MenuEntry(NamedTuple):
    file: str          # relative to app.py; Streamlit's own pages/ layout makes the URL /<file name>
    title: str         # in the menu, the browser tab and the page's setup call
    icon: str          # a Material icon for the menu (Streamlit's bundled font), not an emoji a browser may lack
    purpose: str = ""  # the home page's "Where to go next" line


# The one list of the app's pages, in menu order. A new page is a file in pages/ and a line here.
MENU = [
    MenuEntry("app.py", "Home", ":material/home:"),
    # No purpose line: Home opens with a card of its own for it.
    MenuEntry("pages/reproduce.py", "Reproduce the report", ":material/science:"),
    MenuEntry("pages/data.py", "Data", ":material/dataset:",
              "choose CINIC-10 or the demo set, check it, see samples and statistics"),
    MenuEntry("pages/augmentation.py", "Augmentation", ":material/auto_fix_high:",
              "compose an Augmentor pipeline and preview it"),
    MenuEntry("pages/train.py", "Train", ":material/model_training:",
              "pick or build a LeNet variant and train it in the background"),
    MenuEntry("pages/results.py", "Results", ":material/analytics:",
              "curves, confusion matrix, misclassified images of a run"),
    MenuEntry("pages/compare.py", "Compare", ":material/compare:",
              "several runs side by side, like the report's table"),
    MenuEntry("pages/classify.py", "Classify", ":material/image_search:",
              "run a trained model on your own images"),
    MenuEntry("pages/sweeps.py", "Sweeps", ":material/grid_view:",
              "many variants and seeds at once on Ray, with error bars"),
]


def menu_entry(title: str) -> MenuEntry:
    by_title = {entry.title: entry for entry in MENU}
    if title not in by_title:
        raise ValueError(f"no page titled {title!r} in app_ui.MENU; known: {', '.join(by_title)}")
    return by_title[title]


def page_start(title: str) -> None:
    """The first call of every page, above its imports of the library: the page config (wide layout,
    the tab's title and icon) and the sidebar menu. On a fresh server the library's first import
    (torch) takes seconds; drawn before it, the menu shows at once instead of a blank page."""
    entry = menu_entry(title)
    tab_title = APP_TITLE if entry == MENU[0] else f"{entry.title} · {APP_TITLE}"
    st.set_page_config(page_title=tab_title, page_icon=favicon(), layout="wide")
    with st.sidebar:
        for item in MENU:
            link_to(item.title)
        st.divider()
        st.caption(f"Data: {as_text(datasets.describe_data_root(datasets.data_in_use()))}")


@functools.cache
@st.cache_resource(show_spinner=False)
def favicon():
    """The browser tab's icon, drawn here (four tiles, a grid of images). A Material icon as the page
    icon made the browser fetch it from fonts.gstatic.com: the app fetches nothing from outside."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(((47, 111, 176), (242, 142, 43), (89, 161, 79), (225, 87, 89))):
        x, y = 34 * (i % 2), 34 * (i // 2)
        draw.rounded_rectangle((x, y, x + 29, y + 29), radius=6, fill=colour)
    return image


@contextlib.contextmanager
def page_body():
    """`with app_ui.page_body():` around a page's content (after `page_start`): the device in use
    under the menu, and a library error the page did not expect shown as a box saying what to do,
    not a traceback."""
    with st.sidebar:
        st.caption(f"Device: {as_text(device_text())}")
    with errors_as_boxes():
        yield


def link_to(title: str, label: str | None = None) -> None:
    """A link to the page of that title, with its icon (Streamlit highlights the page showing)."""
    entry = menu_entry(title)
    st.page_link(entry.file, label=label or entry.title, icon=entry.icon)


@st.cache_data(show_spinner=False)
def device_text() -> str:
    """The device a training with device "auto" would use (asked once per server)."""
    from cinic.model.device import choose_device, describe_device

    return describe_device(choose_device("auto"))


@contextlib.contextmanager
def errors_as_boxes(what: str = ""):
    """Show a library error as an st.error box (its message says what to do), never a traceback.

    Only the library's own errors are caught: anything else is a bug and
    should be seen as one.
    """
    try:
        yield
    except CinicError as e:
        prefix = f"{as_text(what)}: " if what else ""
        st.error(f"{prefix}{as_text(e)}", icon=":material/error:")


# --- the data set in use ---------------------------------------------------------
def data_root_or_offer_demo(key: str) -> Path | None:
    """The data set the pages work on; when there is none yet, offer to make the demo set.

    Returns None (after showing the offer) when there is nothing to work on.
    """
    root = datasets.data_in_use()
    if root is not None:
        return root
    st.info("No data set yet. Make the small embedded demo data set (a few seconds) "
            "or choose a CINIC-10 folder on the **Data** page.", icon=":material/info:")
    if st.button("Use the demo data set", key=f"{key}-make-demo", type="primary"):
        use_demo_data_set()
    return None


def use_demo_data_set() -> None:
    """Make the demo set (with a progress bar) if needed, select it and rerun."""
    from cinic.data.demo import ensure_demo_dataset

    bar = st.progress(0.0, text="Drawing the demo data set...")

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            bar.progress(done / total, text=f"Drawing the demo data set: {done:,} of {total:,} images")

    with errors_as_boxes("Making the demo data set failed"):
        root = ensure_demo_dataset(paths.demo_root(), progress=progress)
        datasets.remember_data_root(root)
        st.rerun()


def folder_fingerprint(root: Path) -> float:
    """Newest mtime of a data root, its splits and class folders: changes when files come or go."""
    root = Path(root)
    stamps = [root.stat().st_mtime] if root.exists() else [0.0]
    for split in ("train", "valid", "test"):
        folder = root / split
        if folder.is_dir():
            stamps.append(folder.stat().st_mtime)
            stamps += [c.stat().st_mtime for c in folder.iterdir() if c.is_dir()]
    return max(stamps)


MAX_SPLITS_IN_MEMORY = 3  # the full CINIC-10 train split alone is 276 MB as uint8


@st.cache_resource(show_spinner=False)
def _split_store() -> dict:
    """Decoded splits kept in memory for every session of this server."""
    return {}


def load_split_cached(root: Path, split: str):
    """A decoded split, kept in memory across reruns; the first decode shows a progress bar.

    cinic.data.dataset also caches the decoded tensor on disk, so only the very first
    look at a folder decodes PNGs; the key includes the folder's mtimes so a
    changed folder is read again.
    """
    from cinic.data.dataset import load_split

    store = _split_store()
    key = (str(root), split, folder_fingerprint(root))
    if key not in store:
        bar = st.progress(0.0, text=f"Reading the {split} split...")

        def progress(done: int, total: int) -> None:
            bar.progress(min(done / max(total, 1), 1.0),
                         text=f"Decoding the {split} split: {done:,} of {total:,} images")

        dataset = load_split(root, split, progress=progress)
        bar.empty()
        while len(store) >= MAX_SPLITS_IN_MEMORY:
            store.pop(next(iter(store)))
        store[key] = dataset
    return store[key]


# --- runs --------------------------------------------------------------------------
# Material icons (drawn by Streamlit's own font), not emoji a browser may lack.
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/play_circle:",
               "finished": ":material/check_circle:", "failed": ":material/error:",
               "cancelled": ":material/stop_circle:", "interrupted": ":material/warning:",
               "damaged": ":material/help:"}


def run_label(summary: dict) -> str:
    """"20250101-120000-base · base · report recipe (finished, test 61.2%)" for pickers (plain text: no
    icons in options): the name, what it trained, how it stands."""
    state = summary.get("state") or "?"
    extra = f", test {summary['test_acc']:.1f}%" if summary.get("test_acc") is not None else ""
    return f"{chart_name(summary)} ({state}{extra})"


def chart_name(summary: dict) -> str:
    """"20250101-120000-base · base · report recipe": a run in a chart's legend or a caption."""
    return f"{summary['name']} · {summary['label']}" if summary.get("label") else summary["name"]


def pick_run(summaries: list[dict], key: str, label: str = "Run") -> dict | None:
    """A selectbox over run summaries (newest first). It opens on the run this tab follows (the one it
    last picked or started), else on the newest finished run; the pick is followed from then on."""
    if not summaries:
        return None
    by_name = {s["name"]: s for s in summaries}
    names = list(by_name)
    wanted = followed_run(names) or next((s["name"] for s in summaries if s.get("state") == "finished"), names[0])
    # Names, not summaries, as options: a run's label changes while it trains, its name does not.
    picked = st.selectbox(label, names, index=names.index(wanted), format_func=lambda name: run_label(by_name[name]),
                          key=key)
    follow_run(picked)
    return by_name[picked]


FOLLOWED = "followed-run"  # session state: the run this tab follows across pages


def follow_run(name: str | None) -> None:
    """Make `name` the run this tab follows: in its URL (a reload or a bookmark keeps it) and in its
    session (the menu's links carry no URL parameters). Each tab is its own session, so two tabs
    follow their own runs. None forgets it (a deleted run)."""
    if name is None:
        st.query_params.pop("run", None)
        st.session_state.pop(FOLLOWED, None)
        return
    st.query_params["run"] = name
    st.session_state[FOLLOWED] = name


def followed_run(names: list[str]) -> str | None:
    """The run this tab follows, if it is among `names`: the URL's first, else the session's."""
    for wanted in (st.query_params.get("run"), st.session_state.get(FOLLOWED)):
        if wanted in names:
            return wanted
    return None


def age(unix_time: float | None) -> str:
    if not unix_time:
        return ""
    seconds = time.time() - unix_time
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def show_curves(run, epochs: list[dict]) -> None:
    """Training loss per 10 batches, then accuracy and loss per epoch (train and valid), the best epoch marked."""
    from ui import charts

    batches = run.batches()
    if not batches and not epochs:
        st.caption("Curves appear after the first batches.")
        return
    if batches:
        st.altair_chart(charts.batch_loss_chart(batches))
    if epochs:
        left, right = st.columns(2)
        # The best epoch marked: its checkpoint is best.pt, which the test figures come from.
        left.altair_chart(charts.mark_best_epoch(charts.epoch_metric_chart(epochs, "acc"), epochs))
        right.altair_chart(charts.mark_best_epoch(charts.epoch_metric_chart(epochs, "loss"), epochs))


def pictures(images, indices, zoom: int = 1) -> list:
    """HxWx3 uint8 arrays for st.image from a DataSet's N x 3 x 32 x 32 tensor.

    `zoom` repeats each pixel: the browser's own upscaling blurs a 32x32 image.
    """
    return [images[i].permute(1, 2, 0).numpy().repeat(zoom, axis=0).repeat(zoom, axis=1) for i in indices]


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_best(run_path: str, mtime: float):
    from cinic.runs.checkpoints import load_model
    from cinic.runs.folder import RunFolder

    return load_model(RunFolder(run_path), "best", "cpu")


def load_best(run_path: str, mtime: float | None = None):
    """The Classifier of a run's best checkpoint, on the CPU, cached per file version and shared by
    every session: no call changes it (cinic.model.classifier)."""
    from cinic.runs.folder import RunFolder

    if mtime is None:
        mtime = RunFolder(run_path).checkpoint_path("best").stat().st_mtime
    return _load_best(str(run_path), mtime)
