"""A sweep's trials as the pages show them: counts per state, a progress bar, one table row per trial.

Shared by the Sweeps page and the Reproduce page (a study is a sweep). Not a
page: Streamlit makes every file of pages/ a page. Names and settings go into
metrics, the progress text and table cells, all plain text: a name is never read
as markdown.
"""

from __future__ import annotations

import streamlit as st

STATES = ("queued", "running", "finished", "failed")


def show_progress(trials: list[dict]) -> None:
    """How many trials are queued, running, finished, failed or neither, and a bar of the finished."""
    counts = {s: sum(t["state"] == s for t in trials) for s in STATES}
    others = len(trials) - sum(counts.values())
    for column, (word, n) in zip(st.columns(5), [*counts.items(), ("stopped or interrupted", others)]):
        column.metric(word, n)
    st.progress(counts["finished"] / max(len(trials), 1),
                text=f"{counts['finished']} of {len(trials)} trials finished")


def show_trials(trials: list[dict], key: str) -> None:
    """One row per trial: its run name, what it varies, its state, its epoch of its own epochs, its figures."""
    from cinic.sweeps.spec import variant_labels

    labels = variant_labels([t["settings"] for t in trials])
    number = st.column_config.NumberColumn(format="%.2f")
    st.dataframe([{"trial": t["name"], "settings": label, "state": t["state"],
                   "epoch": f"{t['epoch'] or 0}/{t['epochs'] or '?'}", "test %": t["test_acc"],
                   "valid %": t["valid_acc"], "error": t["error"] or ""} for t, label in zip(trials, labels)],
                 hide_index=True, key=key, column_config={"test %": number, "valid %": number})


def pick(sweeps: list[dict], label: str, key: str, query: str, describe) -> dict:
    """The sweep (or study) picked in a select box, the URL's `?<query>=` first, remembered there;
    `describe(sweep)` is its line in the box. Returns the picked sweep's summary."""
    names = [s["name"] for s in sweeps]
    wanted = st.query_params.get(query)
    by_name = {s["name"]: s for s in sweeps}
    picked = st.selectbox(label, names, names.index(wanted) if wanted in names else 0, key=key,
                          format_func=lambda name: describe(by_name[name]))
    st.query_params[query] = picked
    return by_name[picked]
