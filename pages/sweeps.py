"""Sweeps: many variants and seeds at once on Ray, watched live, summarised with error bars.

A sweep runs as its own process (`python -m cinic sweep`, started by
cinic.sweeps.runner.launch_sweep) and writes ordinary run folders plus its sweep
folder; this page only reads them, in a fragment that reruns every few seconds.
"""

from __future__ import annotations

import time

import streamlit as st

from ui import app_ui
app_ui.page_start("Sweeps")  # first: the menu shows while the library (torch) loads

from ui import charts, sweep_view

from cinic.data import choice as datasets
from cinic.runs.config import RECIPES
from cinic.model.lenet import PRESETS
from cinic.sweeps.runner import launch_sweep, list_sweeps, stop_sweep, summarize_sweep, sweep_folder
from cinic.sweeps.spec import SweepSpecError

POLL_SECONDS = 2.0
LIVE = ("queued", "running")


# --- a new sweep -----------------------------------------------------------------------------
def choose_spec(data_root: str) -> dict:
    """The spec of a new sweep: the settings every trial shares, and the axes."""
    left, middle, right = st.columns(3)
    name = left.text_input("Sweep name", time.strftime("sweep-%Y%m%d-%H%M%S"), key="sweep-name",
                           help="Its folder, and the start of its trials' run names; the same name "
                                "again resumes it.")
    epochs = int(middle.number_input("Epochs", 1, 1000, 10, key="sweep-epochs"))
    batch_size = int(right.number_input("Batch size", 1, 65536, 64, key="sweep-batch"))
    left, right = st.columns([2, 1])
    presets = left.multiselect("Presets", list(PRESETS), ["base", "stepping"], key="sweep-presets")
    augment_n = int(right.number_input(
        "Augmentor images", 0, 1_000_000, 0, 1000, key="sweep-augment-n",
        help="Extra training images sampled with the report's Augmentor pipeline, drawn per trial's seed and "
             "kept in the cache folder. The report added one third of its training split (30,000 to 90,000); "
             "0 adds none."))
    left, middle, right = st.columns(3)
    recipes = left.multiselect("Recipes", RECIPES, ["project"], key="sweep-recipes",
                               help="project: ours; report: the course report's (Adam 0.001, dropped late).")
    rates = middle.text_input("Learning rates (comma separated)", "", key="sweep-lrs",
                              placeholder="the recipe's own", help="e.g. 0.002, 0.004")
    seeds = int(right.number_input("Seeds per variant", 1, 50, 3, key="sweep-seeds",
                                   help="Each variant is trained with seeds 0, 1, ...; the spread over seeds "
                                        "is the error bar."))
    grid = {"preset": presets, "recipe": recipes}
    lrs = parse_rates(rates)
    if lrs:
        grid["lr"] = lrs
    grid["seed"] = list(range(seeds))
    return {"name": name.strip(), "data": data_root, "epochs": epochs, "batch_size": batch_size,
            **report_augmentation(augment_n), "grid": grid}


def report_augmentation(n: int) -> dict:
    """The settings that add `n` Augmentor images made with the report's pipeline (none for 0)."""
    if not n:
        return {}
    from cinic.augment.ops import SEED_PIPELINE, validate_pipeline

    # Named "report" as the reproduce study names it: "seed" is for random seeds only.
    return {"augment": validate_pipeline(SEED_PIPELINE), "augment_name": "report", "augment_n": n}


def parse_rates(text: str) -> list[float]:
    rates = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            rates.append(float(part))
        except ValueError:
            raise SweepSpecError(f"learning rate {part!r} is not a number; write e.g. 0.002, 0.004") from None
    return rates


def launch(spec: dict) -> None:
    with app_ui.errors_as_boxes("The sweep could not be started"):
        folder = launch_sweep(spec)
        st.query_params["sweep"] = folder.name
        st.toast(f"Started sweep {app_ui.as_text(folder.name)}")
        st.rerun()


# --- watching one sweep --------------------------------------------------------------------------
def watch(folder: str) -> None:
    """Its trials and variants, re-read from the run folders on every fragment rerun."""
    summary = summarize_sweep(folder)
    trials, state = summary["trials"], summary["state"]
    st.text(f"Sweep {summary['sweep']}: {state}")  # a name as text, never as markdown
    sweep_view.show_progress(trials)
    actions(folder, state, trials)
    sweep_view.show_trials(trials, key="sweep-trials")
    st.subheader("Variants")
    if not any(v["n"] for v in summary["variants"]):
        st.caption("The variants' means and error bars appear as trials finish.")
    else:
        number = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(charts.sweep_variant_table(summary["variants"]), hide_index=True, column_config={
            "test %": number, "± std": number, "valid %": number, "valid ± std": number})
        st.altair_chart(charts.sweep_chart(trials, summary["variants"]))
        st.caption("Each dot is one seed's test accuracy; the tick is the variant's mean and the bar its 95% "
                   "confidence interval (Student t over the seeds: wide with few seeds, as it should be).")
    if state != st.session_state.get("sweep-drawn-state"):
        st.rerun(scope="app")  # the picker above shows the old state: redraw it (an ended sweep stops polling)


def actions(folder: str, state: str, trials: list[dict]) -> None:
    if state in LIVE:
        if st.button("Stop the sweep", key="sweep-stop", icon=":material/stop:"):
            with app_ui.errors_as_boxes("The sweep could not be stopped"):
                stop_sweep(folder)
                st.toast("Asked every trial to stop after saving; Resume continues them.")
    elif any(t["state"] != "finished" for t in trials):
        if st.button("Resume the sweep", key="sweep-resume", icon=":material/play_arrow:",
                     help="Skips finished trials, resumes the others from their last checkpoint."):
            from cinic.sweeps.runner import spec_dict

            launch(spec_dict(folder))


# --- the page -----------------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Sweeps")
    st.caption("A grid of trainings (presets x recipes x learning rates x seeds), run side by side on Ray; "
               "each trial is an ordinary run (Results and Compare show it), and each variant gets its mean "
               "over seeds with an error bar. Sweeps of listed variants (a study of the Reproduce page, or a "
               "spec file with variants of their own epochs) show here too.")
    data_root = app_ui.data_root_or_offer_demo("sweeps")
    sweeps = list_sweeps()
    if data_root is not None:
        with st.expander("New sweep", expanded=not sweeps, icon=":material/add:"):
            st.text(f"Data: {datasets.describe_data_root(data_root)}")  # a path as text: it may hold * or _
            with app_ui.errors_as_boxes("These settings cannot be used"):
                spec = choose_spec(str(data_root))
                grid = spec["grid"]
                n = len(grid["preset"]) * len(grid["recipe"]) * len(grid.get("lr", [0])) * len(grid["seed"])
                st.caption(f"{n} trials; the other settings are each recipe's own.")
                if st.button("Launch the sweep", type="primary", disabled=n == 0, icon=":material/rocket_launch:"):
                    launch(spec)

    st.subheader("Trials")
    sweeps = list_sweeps()
    if not sweeps:
        st.caption("No sweeps yet.")
        st.stop()
    sweep = sweep_view.pick(sweeps, "Sweep", "sweep-picked", "sweep",
                            lambda s: f"{s['name']} ({s['state']}, {s['trials']} trials)")
    picked = sweep["name"]
    # The state the picker shows: the fragment below redraws the page when the sweep's state moves on.
    st.session_state["sweep-drawn-state"] = sweep["state"]
    live = st.session_state["sweep-drawn-state"] in LIVE
    # Poll only while the sweep can still change; an ended one is drawn once.
    st.fragment(watch, run_every=POLL_SECONDS if live else None)(str(sweep_folder(picked)))
