"""Reproduce the report: its three variants as it ran them, over seeds, beside its table, its six conclusions checked.

The study is a sweep of listed variants (cinic.study.reproduce builds its spec,
plans it and starts it as its own process, like a sweep from the Sweeps page);
this page picks the settings of a new one, shows what it will cost and starts it;
below, any study so far (the URL's ?study= names it) with Stop or Resume, and what
`study_result` reads from its trial runs, in a fragment that reruns while it runs. The library is imported inside the functions that use it:
it brings scipy and torch, and the menu must show before them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import streamlit as st

from ui import app_ui
app_ui.page_start("Reproduce the report")  # first: the menu shows while the library (torch) loads

from ui import charts, study_charts, sweep_view

from cinic.sweeps.runner import list_sweeps, stop_sweep, sweep_folder, sweep_state, trial_rows

POLL_SECONDS = 3.0
LIVE = ("queued", "running")
DEFAULT_SEEDS = 3
NUMBER = "%.2f"


# --- before it starts: the settings and what they cost ------------------------------------------------
def choose_settings() -> tuple[int, bool, bool]:
    left, middle, right = st.columns(3)
    seeds = int(left.number_input("Seeds per variant", 1, 20, DEFAULT_SEEDS, key="reproduce-seeds",
                                  help="Each variant is trained with seeds 0, 1, ...: the spread over seeds is "
                                       "what makes a difference to the report's figure mean something."))
    ours = middle.toggle("And ours", False, key="reproduce-ours",
                         help="The same three variants again with the project's recipe, beside the report's: "
                              "what the recipe buys.")
    claims = right.toggle("Check the six conclusions", True, key="reproduce-claims",
                          help="Adds the two extra arms the conclusions need: best without its late learning-rate "
                               "drop (conclusion 4) and base with Xavier weights (conclusion 5).")
    return seeds, ours, claims


def new_study(data_root: Path) -> None:
    """The settings of a study, what it will cost, and Start; settings already run are that study, below."""
    from cinic.study.reproduce import study_spec

    seeds, ours, claims = choose_settings()
    name = study_name(data_root, seeds, ours, claims)
    spec = study_spec(str(data_root), seeds=seeds, name=name, claims=claims, ours=ours)
    show_plan(cached_plan(json.dumps(spec, sort_keys=True)))
    if sweep_folder(name).is_dir():
        st.text(f"These settings on this data are the study {name}: pick it below.")
    elif st.button("Start the study", key="reproduce-start", type="primary", icon=":material/play_arrow:"):
        launch(spec)


def study_name(data_root: Path, seeds: int, ours: bool, claims: bool) -> str:
    """One study per data set and choice of settings: a sweep's name is bound to its spec, so other
    settings get a study of their own, and the same settings again find (and resume) theirs."""
    data = re.sub(r"[^A-Za-z0-9.]+", "-", Path(data_root).name).strip("-.")[:40] or "data"
    extra = ([f"{seeds}seeds"] if seeds != DEFAULT_SEEDS else []) + (["ours"] if ours else []) + \
        ([] if claims else ["noclaims"])
    return "-".join(["reproduce", data, *extra])


@st.cache_data(ttl=30, show_spinner="Timing each preset on this data and device (once)…")
def cached_plan(spec_json: str) -> dict:
    """The plan of a spec; cached briefly: the first one may time the presets, and trials finish meanwhile."""
    from cinic.study.reproduce import plan

    return plan(json.loads(spec_json))


def show_plan(plan: dict) -> None:
    estimate, left = plan.get("estimate_s"), plan["to_run"]
    if not left:
        st.markdown(f"**{plan['trainings']} trainings**: every one has finished.")
        return
    cost = f"about {charts.format_duration(estimate)}" if estimate is not None else "time not yet known"
    if left < plan["trainings"]:
        cost += f" for the {left} still to run"
    st.markdown(f"**{plan['trainings']} trainings**, {plan['concurrent']} at a time: **{cost}**.")
    per_epoch = plan.get("s_per_epoch") or {}
    if per_epoch:
        st.caption("Measured seconds per epoch on this data and device: "
                   + ", ".join(f"{preset} {s:.1f} s" for preset, s in per_epoch.items()))


# --- starting, stopping, resuming --------------------------------------------------------------------
def launch(spec: dict) -> None:
    from cinic.study.reproduce import launch_study

    with app_ui.errors_as_boxes("The study could not be started"):
        folder = launch_study(spec)
        st.query_params["study"] = folder.name
        st.toast(f"Started the study {folder.name}")
        st.rerun()


def actions(folder: Path, state: str, trials: list[dict]) -> None:
    if state in LIVE:
        if st.button("Stop the study", key="reproduce-stop", icon=":material/stop:"):
            with app_ui.errors_as_boxes("The study could not be stopped"):
                stop_sweep(folder)
                st.toast("Asked every trial to stop after saving; Resume continues them.")
    elif any(t["state"] != "finished" for t in trials):
        verb = "Start" if state == "never started" else "Resume"  # made (by the CLI, say) but never run
        if st.button(f"{verb} the study", key="reproduce-resume", type="primary", icon=":material/play_arrow:",
                     help="Skips finished trials, resumes the others from their last checkpoint."):
            from cinic.sweeps.runner import spec_dict

            launch(spec_dict(folder))  # the spec it was started with: a second launch resumes it
    else:
        st.caption("Every trial has finished: starting it again would retrain nothing.")


# --- while and after it runs -------------------------------------------------------------------------
def watch(folder: str) -> None:
    """Progress per trial, then the result as far as the finished trials go; re-read on every rerun."""
    folder = Path(folder)
    state = sweep_state(folder)["state"]
    trials = trial_rows(folder)
    st.text(f"Study {folder.name}: {state}")  # a name as text, never as markdown
    sweep_view.show_progress(trials)
    actions(folder, state, trials)
    with st.expander("Trials", expanded=state in LIVE, icon=":material/list:"):
        sweep_view.show_trials(trials, key="reproduce-trials")
    if any(t["state"] == "finished" for t in trials):
        show_result(folder.name, state in LIVE)
    else:
        st.caption("The table, the curves, the matrices and the claims appear as trials finish.")
    if state not in LIVE and st.session_state.get("reproduce-live"):
        st.session_state["reproduce-live"] = False
        st.rerun()  # the study ended: redraw once, which stops the polling


def show_result(name: str, live: bool) -> None:
    from cinic.study.reproduce import study_result

    result = study_result(name)
    st.subheader("The report's table beside yours")
    data = result["data"]
    shown = st.info if data.get("comparable_to_report") else st.warning
    shown(study_charts.study_data_line(data), icon=":material/dataset:")
    st.text(f"Data: {data.get('root')}")  # a path as text: it may hold * or _
    if live:
        st.caption("So far: n counts the seeds finished; the figures move as the others finish.")
    show_table(result["variants"], key="reproduce-table")
    st.caption("± std: the sample standard deviation over the seeds; the interval is Student's t at 95 % over "
               "them (wide with few seeds, as it should be).")
    if result.get("extra_arms"):
        with st.expander("The extra arms the conclusions need", icon=":material/call_split:"):
            show_table(result["extra_arms"], key="reproduce-extra")
    if result.get("curves"):
        st.altair_chart(study_charts.study_curves_chart(result["curves"]))
    show_confusion(result.get("confusion"))
    show_claims(result.get("claims") or [])
    if not live:
        downloads(result)


# The test figures first, where a screen shows them; the rest scrolls.
TABLE_ORDER = ["variant", "report test %", "test %", "± std", "n", "test 95% CI", "difference", "verdict",
               "report valid %", "valid %", "valid ± std", "report epochs", "what it changes"]


def show_table(variants: list[dict], key: str) -> None:
    st.dataframe(study_charts.study_table(variants), hide_index=True, key=key, column_order=TABLE_ORDER, column_config={
        **{c: st.column_config.NumberColumn(format=NUMBER, width="small") for c in (
            "test %", "± std", "valid %", "valid ± std")},
        **{c: st.column_config.NumberColumn(format=NUMBER) for c in ("report test %", "report valid %")},
        "n": st.column_config.NumberColumn(width="small", help="Seeds finished."),
        "difference": st.column_config.NumberColumn(format="%+.2f", width="small",
                                                    help="Your test mean minus the report's."),
        "verdict": st.column_config.TextColumn(width="large"),
        "what it changes": st.column_config.TextColumn(width="large")})


def show_confusion(confusion: dict | None) -> None:
    if not confusion or not confusion.get("study") or not any(map(any, confusion["study"])):
        return
    st.subheader("Best's confusion matrix beside the report's")
    left, right = st.columns(2)
    classes = confusion["classes"]
    left.altair_chart(charts.confusion_chart(confusion["study"], classes, normalize=True,
                                             title="This study: best, summed over its seeds (% of each row)"))
    right.altair_chart(charts.confusion_chart(confusion["report"], classes, normalize=True,
                                              title="The report: best (% of each row)"))
    st.caption("The report printed its matrix with rows = predicted class (it called confusion_matrix(predicted, "
               "real)); it is transposed here to rows = true class, so its \"per class accuracy\" is the "
               "precision column below.")
    st.dataframe(study_charts.class_rates_table(confusion), hide_index=True, key="reproduce-classes",
                 column_config={c: st.column_config.NumberColumn(format=NUMBER) for c in (
                     "recall % (study)", "recall % (report)", "precision % (study)", "precision % (report)")})


VERDICT_COLORS = {"supported": "green", "not supported": "red", "inconclusive": "gray"}


def show_claims(claims: list[dict]) -> None:
    if not claims:
        return
    st.subheader("The report's six conclusions, checked")
    for claim in claims:
        said = study_charts.claim_summary(claim)
        with st.container(border=True):
            title, verdict = st.columns([5, 1])
            title.markdown(f"**{said['title']}**")
            verdict.badge(said["verdict"], color=VERDICT_COLORS.get(said["verdict"], "gray"))
            if said["detail"]:
                st.caption(said["detail"])
            st.text(said["evidence"])  # class names and figures, as they are
    st.caption("Accuracy differences: Welch's t test over the seeds; one pair of runs: McNemar on the test images. "
               "\"inconclusive\": the seeds so far cannot tell.")


def downloads(result: dict) -> None:
    from cinic.study import writeup

    st.subheader("Take it with you")
    left, middle, right = st.columns(3)
    left.download_button("The write-up (HTML)", writeup.writeup_html(result), f"{result['study']}.html",
                         "text/html", icon=":material/description:", key="reproduce-html",
                         help="One self-contained file: the table, curves, matrices and claims, and how it was made.")
    middle.download_button("The table (Markdown)", writeup.table_markdown(result), f"{result['study']}.md",
                           "text/markdown", icon=":material/table:", key="reproduce-md")
    right.download_button("The table (CSV)", writeup.table_csv(result), f"{result['study']}.csv", "text/csv",
                          icon=":material/table_view:", key="reproduce-csv")


# --- the page ----------------------------------------------------------------------------------------
def list_studies() -> list[dict]:
    """The sweeps that are studies, newest first: this page names them reproduce-..., the CLI reproduce."""
    return [s for s in list_sweeps() if s["name"].startswith("reproduce")]


with app_ui.page_body():
    st.title("Reproduce the report")
    st.caption("The course report's three LeNet-5 variants as it ran them (Adam 0.001 with its late drops: base 16 "
               "epochs, stepping 10, best 5; batch 64; one third of the training split added in Augmentor images "
               "drawn with its pipeline), each over several seeds, as one sweep. Then your mean ± spread beside "
               "its table, its curves and its confusion matrix, and its six conclusions as claims with a verdict.")
    data_root = app_ui.data_root_or_offer_demo("reproduce")
    if data_root is None:
        st.stop()
    with st.expander("New study", expanded=not list_studies(), icon=":material/add:"):
        new_study(data_root)
    st.subheader("Studies")
    studies = list_studies()
    if not studies:
        st.caption("No study yet.")
        st.stop()
    # No state in the box: drawn once, it would go stale while the study runs (shown below).
    study = sweep_view.pick(studies, "Study", "reproduce-picked", "study",
                            lambda s: f"{s['name']} ({s['trials']} trials)")
    picked = study["name"]
    live = study["state"] in LIVE
    st.session_state["reproduce-live"] = live
    # Poll only while the study can still change; an ended one is drawn once.
    st.fragment(watch, run_every=POLL_SECONDS if live else None)(str(sweep_folder(picked)))
