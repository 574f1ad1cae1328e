"""Data: choose the data set, check it, count it, measure it and look at it.

Downloads and archive extractions run in a background thread (cinic.app_state.
BackgroundJob) polled by a fragment, so clicking around never interrupts them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import app_ui
app_ui.page_start("Data")  # first: the menu shows while the library (torch) loads

from cinic import app_state, paths

from cinic.data import samples

from ui import charts

from cinic.data import choice as datasets
from cinic.errors import CinicError

AUTO_STATS_MAX_IMAGES = 20_000  # decode the train split without asking below this many images
SAMPLES_PER_CLASS = 8
# One short word under each sample (a file name wrapped over four lines); names are in a table below.
ORIGIN_WORDS = {"cifar10": "CIFAR-10", "imagenet": "ImageNet", "unknown": "other"}


# --- choosing -----------------------------------------------------------------------------
def choose_data() -> None:
    demo_tab, path_tab, download_tab = st.tabs(["Demo data set", "A folder or .tar.gz here", "Download CINIC-10"])
    with demo_tab:
        st.write("3,000 drawn 32x32 images in CINIC-10's layout (200/50/50 per class in train/valid/test). "
                 "Everything works on it in seconds; its accuracies say nothing about CINIC-10.")
        if st.button("Use the demo data set", key="data-demo"):
            app_ui.use_demo_data_set()
    with path_tab:
        given = st.text_input("CINIC-10 folder or archive", placeholder="/data/CINIC-10 or ~/CINIC-10.tar.gz",
                              key="data-given", on_change=forget_error, help="A folder holding train/, valid/ and test/ with one folder per class, "
                                   "or the .tar.gz it came in (extracted once into the cache folder, "
                                   "never next to your files).")
        if st.button("Use this data", key="data-path"):
            if given.strip():
                start_job("Reading " + given.strip(), lambda progress: resolve(given.strip(), progress))
            else:
                st.warning("Type the path of a CINIC-10 folder or .tar.gz first.")
    with download_tab:
        from cinic.data.fetch import CINIC10_URL

        to = st.text_input("Download into", str(paths.cinic_root().parent), key="data-to", on_change=forget_error,
                           help="CINIC-10 is about 690 MB to download and 1.7 GB extracted.")
        st.caption(f"From {CINIC10_URL}")
        if st.button("Download CINIC-10", key="data-download"):
            start_job("Downloading CINIC-10", lambda progress: fetch_into(to, progress))


def forget_error() -> None:
    """A new path: the last job's error no longer applies."""
    st.session_state.pop("data-error", None)


def show_error() -> None:
    """The last data job's error, kept until the path changes or another job starts: a background
    check ends between polls, and an error drawn once would vanish a second later."""
    if st.session_state.get("data-error"):
        st.error(app_ui.as_text(st.session_state["data-error"]), icon=":material/error:")


def resolve(given: str, progress) -> Path:
    from cinic.data.dataset import resolve_data

    return resolve_data(given, progress=progress)


def fetch_into(to: str, progress) -> Path:
    from cinic.data.fetch import fetch

    # fetch reports (stage, done, total): "download" in bytes, then "extract" in files
    return fetch(Path(to).expanduser(), progress=lambda stage, done, total: progress(done, total, stage))


@st.cache_resource(show_spinner=False)
def jobs() -> dict:
    """Background jobs of this server, by name (one data job at a time)."""
    return {}


def start_job(label: str, work) -> None:
    running = jobs().get("data")
    if running is not None and not running.finished:
        st.warning(f"{app_ui.as_text(running.label)} is still running; wait for it to finish.")
        return
    forget_error()
    jobs()["data"] = app_state.BackgroundJob(work, label).start()
    st.rerun()


def show_job() -> None:
    """Progress of the running data job; when it ends, select its data set or show its error."""
    job = jobs().get("data")
    if job is None:
        return
    if not job.finished:
        stage = f" ({job.stage})" if job.stage else ""
        st.progress(job.fraction, text=app_ui.as_text(f"{job.label}{stage}: {job.done:,} of {job.total:,}"
                                                      if job.total else job.label + stage))
        return
    del jobs()["data"]
    if job.error is not None:
        st.session_state["data-error"] = (
            f"{job.label} failed: {job.error}" if isinstance(job.error, CinicError)
            else f"{job.label} failed unexpectedly ({type(job.error).__name__}: {job.error}). "
                 "Check the path and the disk space, then try again.")
    else:
        datasets.remember_data_root(job.result)
    st.rerun()  # the whole page shows the new data set or the error, and the polling stops


# --- checking and measuring -------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _reports() -> dict:
    return {}


def validation_report(root: Path) -> dict:
    """cinic.data.dataset.validate_root (reads every image header, with progress), remembered per folder state."""
    from cinic.data.dataset import validate_root

    key = (str(root), app_ui.folder_fingerprint(root))
    if key not in _reports():
        bar = st.progress(0.0, text="Checking every image header...")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Checking image headers: {done:,} of {total:,}")

        _reports()[key] = validate_root(root, progress=progress)
        bar.empty()
    return _reports()[key]


def show_validation(root: Path) -> dict | None:
    from cinic.data.dataset import DataError

    try:
        report = validation_report(root)
    except DataError as e:
        st.error(f"{app_ui.as_text(e)}\n\n" + "\n".join(f"- {app_ui.as_text(p)}" for p in e.problems[:20])
                 + "\n\nFix these files or folders (or choose another data set above), then reload.",
                 icon=":material/error:")
        return None
    st.success(f"A valid CINIC-10 layout: {report['total']:,} images"
               + (f" ({report['non_rgb']} not RGB, converted when decoded)" if report.get("non_rgb") else "")
               + f", checked in {report['seconds']:.1f} s.", icon=":material/check_circle:")
    left, right = st.columns([2, 3])
    left.dataframe(charts.class_counts_frame(report["counts"]), height="content")
    right.altair_chart(charts.class_counts_chart(report["counts"]))
    return report


@st.cache_data(show_spinner=False, max_entries=8)
def stats_of(root: str, fingerprint: float, _images) -> tuple:
    from cinic.data.dataset import channel_stats

    return channel_stats(_images)


def show_stats(root: Path, report: dict) -> None:
    st.markdown("Exact mean and standard deviation per channel over every pixel of the training "
                "split (what training normalises with), in [0, 1].")
    n_train = sum(report["counts"].get("train", {}).values())
    if n_train > AUTO_STATS_MAX_IMAGES and not st.session_state.get(f"stats-{root}"):
        if not st.button(f"Decode the {n_train:,} training images and compute", key="stats"):
            return
        st.session_state[f"stats-{root}"] = True
    train = app_ui.load_split_cached(root, "train")
    mean, std = stats_of(str(root), app_ui.folder_fingerprint(root), train.images)
    st.dataframe([{"": "mean", "red": mean[0], "green": mean[1], "blue": mean[2]},
                  {"": "std", "red": std[0], "green": std[1], "blue": std[2]}],
                 hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                                 for c in ("red", "green", "blue")})


def show_samples(root: Path) -> None:
    from cinic.data.dataset import origin_of
    from cinic.data.images import open_image, to_model_input

    split = st.segmented_control("Split", ["train", "valid", "test"], default="train", key="sample-split")
    seed = st.session_state.setdefault("sample-seed", 0)
    if st.button("Other samples", icon=":material/shuffle:"):
        seed = st.session_state["sample-seed"] = seed + 1
    shown = []
    for name, files in samples.sample_files(root, split or "train", SAMPLES_PER_CLASS, seed).items():
        st.caption(app_ui.as_text(name))
        images, origins = [], []
        for f in files:
            with app_ui.errors_as_boxes(f"Cannot show {f}"):
                images.append(to_model_input(open_image(f))[0])
                origins.append(ORIGIN_WORDS[origin_of(f.name)])
                shown.append({"class": name, "file": f.name, "origin": origins[-1]})
        if images:
            st.image(images, width=72, caption=origins)
    with st.expander("File names of these samples"):
        st.dataframe(shown, hide_index=True)


# --- the page ---------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Data")
    st.subheader("Choose the data")
    current = datasets.data_in_use()
    st.write(f"In use: **{app_ui.as_text(datasets.describe_data_root(current))}**")
    choose_data()
    st.fragment(show_job, run_every=1.0 if jobs().get("data") is not None else None)()
    show_error()

    if current is not None:
        st.subheader("Check")
        report = show_validation(current)
        if report is not None:
            st.subheader("Mean and standard deviation")
            with app_ui.errors_as_boxes("The statistics could not be computed"):
                show_stats(current, report)
            st.subheader("Samples")
            show_samples(current)
