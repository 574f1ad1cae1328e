"""Compare: several runs side by side, in the report's table, on one chart, class by class."""

from __future__ import annotations

import streamlit as st

from ui import app_ui
app_ui.page_start("Compare")  # first: the menu shows while the library (torch) loads

from ui import explain_view
from ui import charts
from cinic.model.lenet import PRESET_NOTES, REPORT_RESULTS
from cinic.runs.folder import RunFolder, list_runs

GALLERY_IMAGES = 40  # per gallery of A vs B; the rest are counted


# --- A vs B, image by image ----------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=4)
def run_pair(path_a: str, mtime_a: float, path_b: str, mtime_b: float, data: str | None, fingerprint: float):
    """Both runs' predictions on the same test images (cinic.analysis.diff), once per pair of checkpoints."""
    from cinic.analysis.diff import compare_runs

    return compare_runs(RunFolder(path_a), RunFolder(path_b), data=data, device="cpu")


def pick_a_and_b(trained: list[dict]) -> tuple[dict, dict]:
    """Two run pickers; by default A is the run with the lower test accuracy, B the higher."""
    by_name = {s["name"]: s for s in trained}
    ranked = sorted(trained, key=lambda s: s.get("test_acc") if s.get("test_acc") is not None else -1)
    names = list(by_name)
    left, right = st.columns(2)
    a = left.selectbox("Run A (the reference)", names, index=names.index(ranked[0]["name"]),
                       format_func=lambda n: app_ui.run_label(by_name[n]), key="ab-a")
    b = right.selectbox("Run B (the challenger)", names, index=names.index(ranked[-1]["name"]),
                        format_func=lambda n: app_ui.run_label(by_name[n]), key="ab-b")
    return by_name[a], by_name[b]


def pair_or_offer(a: dict, b: dict):
    """The RunPair of A and B, or None after saying why they cannot be compared and offering to
    compare both on A's test images."""
    from cinic.analysis.diff import DiffError

    chosen = st.session_state.get("ab-data") or {}
    data = chosen.get("data") if chosen.get("pair") == (a["name"], b["name"]) else None
    a_run, b_run = RunFolder(a["path"]), RunFolder(b["path"])
    mtimes = [run.checkpoint_path("best").stat().st_mtime for run in (a_run, b_run)]
    try:
        with st.spinner("Predicting the test images with both runs..."):
            pair = run_pair(a["path"], mtimes[0], b["path"], mtimes[1], data,
                            app_ui.folder_fingerprint(data or a_run.config().get("data", "")))
    except DiffError as e:
        st.error(app_ui.as_text(e), icon=":material/error:")
        a_data = a_run.config().get("data", "")
        if st.button(f"Compare both on {app_ui.as_text(a['name'])}'s test images", key="ab-use-a-data"):
            st.session_state["ab-data"] = {"pair": (a["name"], b["name"]), "data": a_data}
            st.rerun()
        return None
    if data:
        st.caption(f"Both evaluated on {app_ui.as_text(a['name'])}'s test images "
                   f"({app_ui.as_text(pair.dataset.source)}).")
    return pair


def ab_headline(result: dict) -> None:
    cols = st.columns(7)
    cols[0].metric("Accuracy A", charts.percent(result["accuracy_a"]))
    cols[1].metric("Accuracy B", charts.percent(result["accuracy_b"]),
                   delta=charts.points(result["accuracy_a"], result["accuracy_b"]))
    cols[2].metric("B fixed", result["fixed"], help="A wrong, B right")
    cols[3].metric("B broke", result["broken"], help="A right, B wrong")
    cols[4].metric("Both right", result["both_right"])
    cols[5].metric("Both wrong", result["both_wrong"])
    cols[6].metric("Agreement", f"{result['agreement']:.1f}%", help="the same class predicted, right or wrong")
    decided = result["fixed"] + result["broken"]
    words = (f"**{result['verdict']}.** Exact McNemar test on the {decided:,} of {result['n']:,} images that "
             f"exactly one of them gets right (p = {result['p_value']:.3g}); the others say nothing about "
             "which is better.")
    if result["p_value"] >= 0.05:
        st.info(words, icon=":material/balance:")
    elif result["fixed"] > result["broken"]:
        st.success(words, icon=":material/trending_up:")
    else:
        st.warning(words, icon=":material/trending_down:")


def gallery(pair, rows: list[dict], empty: str) -> None:
    if not rows:
        st.caption(empty)
        return
    shown = rows[:GALLERY_IMAGES]
    st.image(app_ui.pictures(pair.dataset.images, [r["index"] for r in shown], zoom=3), width=96,
             caption=[app_ui.as_text(charts.diff_caption(r)) for r in shown])
    if len(rows) > len(shown):
        st.caption(f"{len(shown)} of {len(rows)} shown, B's surest first.")


def ab_cell(pair, result: dict) -> list[tuple[str, dict]]:
    """The confusion difference beside the images that moved into or out of its picked cell."""
    left, right = st.columns(2, gap="large")
    with left:
        state = st.altair_chart(charts.confusion_delta_chart(result["confusion_delta"], pair.classes),
                                on_select="rerun", key="ab-confusion", selection_mode=charts.CONFUSION_SELECTION)
        st.caption("Each cell: B's count minus A's. On the diagonal, + means B gets more of that class right; "
                   "off it, + means B makes that mistake more often. Click a cell to see the images that moved; "
                   "double-click clears.")
    cell = charts.selected_cell(state)
    if cell is None:  # the cell that changed most off the diagonal
        delta = result["confusion_delta"]
        t, p = max(((t, p) for t in range(len(delta)) for p in range(len(delta)) if t != p),
                   key=lambda tp: abs(delta[tp[0]][tp[1]]))
        cell = (pair.classes[t], pair.classes[p])
    moved = pair.moved(*cell)
    true_class, predicted = cell
    shown_true, shown_predicted = map(app_ui.as_text, cell)
    with right:
        st.markdown(f"**Into** {shown_true} → {shown_predicted} ({len(moved['into'])}): B predicts "
                    f"{shown_predicted}, A did not")
        gallery(pair, moved["into"], "None.")
        st.markdown(f"**Out of** {shown_true} → {shown_predicted} ({len(moved['out_of'])}): A predicted "
                    f"{shown_predicted}, B does not")
        gallery(pair, moved["out_of"], "None.")
    st.markdown("**Per class**, largest gain first")
    st.dataframe(charts.diff_class_table(result["per_class"]), hide_index=True, column_config={
        **{name: st.column_config.NumberColumn(format="%.1f") for name in ("A %", "B %")},
        "B − A": st.column_config.NumberColumn(format="%+.1f", help="percentage points")})
    return ([(f"into {true_class} → {predicted}", r) for r in moved["into"][:GALLERY_IMAGES]]
            + [(f"out of {true_class} → {predicted}", r) for r in moved["out_of"][:GALLERY_IMAGES]])


def ab_galleries(pair) -> list[tuple[str, dict]]:
    """Images B fixed and images B broke, of one class or all; returns the ones shown."""
    only = st.selectbox("Class", [None, *pair.classes], format_func=lambda c: "all classes" if c is None else c,
                        key="ab-class")
    fixed, broken = pair.changed("fixed", only), pair.changed("broken", only)
    st.caption("Under each image: A's prediction and its probability → B's.")
    tab_fixed, tab_broken = st.tabs([f"B fixed ({len(fixed)})", f"B broke ({len(broken)})"])
    with tab_fixed:
        gallery(pair, fixed, "B fixed no image of this class.")
    with tab_broken:
        gallery(pair, broken, "B broke no image of this class.")
    return ([("fixed", r) for r in fixed[:GALLERY_IMAGES]] + [("broke", r) for r in broken[:GALLERY_IMAGES]])


def ab_explain(pair, a: dict, b: dict, candidates: list[tuple[str, dict]]) -> None:
    st.markdown("#### What each model looked at")
    if not candidates:
        st.caption("No image above to explain.")
        return
    picked = st.selectbox("Image", range(len(candidates)), key="ab-explain-image", format_func=lambda i: (
        f"{candidates[i][0]}: {candidates[i][1]['file']} (true {candidates[i][1]['true']}; "
        f"{charts.diff_caption(candidates[i][1])})"))
    picture = app_ui.pictures(pair.dataset.images, [candidates[picked][1]["index"]])[0]
    models = [explain_view.model_of(f"A = {a['name']}", a["path"]), explain_view.model_of(f"B = {b['name']}", b["path"])]
    explain_view.explain_pair(models, picture, key="ab-explain")


def a_vs_b(summaries: list[dict]) -> None:
    """Run A against run B on the same test images: the section under the side-by-side view."""
    st.subheader("A vs B, image by image")
    st.caption("Which test images B gets right that A got wrong (fixed) and the reverse (broke), class by class, "
               "and whether the difference is more than noise.")
    trained = [s for s in summaries if RunFolder(s["path"]).has_checkpoint("best")]
    if len(trained) < 2:
        st.caption("Needs two runs with a best checkpoint.")
        return
    a, b = pick_a_and_b(trained)
    if a["name"] == b["name"]:
        st.info("Pick two different runs as A and B.", icon=":material/info:")
        return
    pair = pair_or_offer(a, b)
    if pair is None:
        return
    result = pair.summary()
    ab_headline(result)
    moved = ab_cell(pair, result)
    changed = ab_galleries(pair)
    ab_explain(pair, a, b, changed + moved)

def by_variant(picked: list[str]) -> None:
    """Runs of one sweep, grouped by variant: mean over seeds with its interval, each seed a dot."""
    from cinic.sweeps.runner import sweeps_of_runs

    for name, sweep in sweeps_of_runs(picked).items():
        st.markdown(f"**Sweep {app_ui.as_text(name)}**, by variant ({len(sweep['trials'])} of the runs above)")
        number = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(charts.sweep_variant_table(sweep["variants"]), hide_index=True, column_config={
            "test %": number, "± std": number, "valid %": number, "valid ± std": number})
        if any(v["n"] for v in sweep["variants"]):
            st.altair_chart(charts.sweep_chart(sweep["trials"], sweep["variants"]))


def choose_runs(summaries: list[dict]) -> list[str]:
    """A whole group in one choice (a sweep's runs, or the newest runs on one data set; the newest group
    first), then runs added or removed one by one. The table below lists them, one row each."""
    from cinic.runs.admin import comparison_groups
    from cinic.sweeps.runner import list_sweeps

    names = [s["name"] for s in summaries]
    groups = {g["key"]: g for g in comparison_groups(summaries, list_sweeps())}
    st.selectbox("Runs to compare", list(groups), format_func=lambda key: groups[key]["label"], key="compare-group",
                 on_change=take_group, args=(groups,), help="Picks every run of the group; add or remove runs below.")
    picked = st.session_state.get("compare-runs")
    if picked is None:  # the first visit: the newest group
        picked = groups[st.session_state["compare-group"]]["names"]
    st.session_state["compare-runs"] = [name for name in picked if name in names]  # a run deleted since: gone
    chosen = st.session_state["compare-runs"]
    with st.expander(f"{len(chosen)} runs picked: add or remove one by one", icon=":material/checklist:"):
        st.multiselect("Runs", names, key="compare-runs", placeholder="pick runs")
    return st.session_state["compare-runs"]


def take_group(groups: dict) -> None:
    """The group picked above replaces the runs picked (a callback: it runs before the widgets)."""
    st.session_state["compare-runs"] = groups[st.session_state["compare-group"]]["names"]


with app_ui.page_body():
    st.title("Compare")
    summaries = [s for s in list_runs() if s.get("state") != "damaged"]
    if not summaries:
        st.info("No runs yet: train a few variants on the Train page, then compare them here.",
                icon=":material/info:")
        app_ui.link_to("Train", label="Go to Train")
        st.stop()

    by_name = {s["name"]: s for s in summaries}
    picked = choose_runs(summaries)
    if not picked:
        st.caption("Pick at least one run.")
        st.stop()

    chosen = [by_name[name] for name in picked]
    percent = st.column_config.NumberColumn(format="%.2f")
    reference = st.toggle("Show the report's own figures", True, key="compare-reference",
                          help="The course report's test and validation accuracy on CINIC-10 (90,000 + 30,000 "
                               "Augmentor images, Adam with late drops), as rows to read your runs against.")
    table = charts.compare_table(chosen, PRESET_NOTES, REPORT_RESULTS if reference else None)
    # "What changed" is a sentence per variant: cut to a column it was unreadable, and it pushed the
    # state column off the page. It is said once per variant under the table instead.
    st.dataframe(table, hide_index=True, width="stretch", height="content",  # every run in sight, not scrolled
                 column_order=[c for c in table.columns if c != "what changed"], column_config={
        "run": st.column_config.TextColumn(width="large"),  # a sweep trial's name is long
        "test %": percent, "valid %": percent,
        "s / epoch": st.column_config.NumberColumn(format="%.2f", help="the median epoch, warm-up excluded"),
        "parameters": st.column_config.NumberColumn(format="localized")})
    st.markdown("\n".join(f"- **{app_ui.as_text(variant)}**: {app_ui.as_text(changed)}" for variant, changed
                          in dict(zip(table["variant"].str.split(" · ").str[0], table["what changed"])).items()
                          if changed))  # a preset's change is the same under either recipe: said once

    key = st.selectbox("Curve", list(charts.CURVE_TITLES), format_func=charts.CURVE_TITLES.get,
                       key="compare-curve")
    named = {name: app_ui.chart_name(by_name[name]) for name in picked}  # "run · base · report recipe"
    epochs = {named[name]: RunFolder(by_name[name]["path"]).epochs() for name in picked}
    st.altair_chart(charts.mark_best_epochs(charts.overlay_chart(epochs, key), epochs))

    per_class = {}
    for name in picked:
        with app_ui.errors_as_boxes(f"Run {name}"):  # a damaged eval.json spoils one run, not the page
            evaluation = RunFolder(by_name[name]["path"]).evaluation()
            if evaluation and evaluation.get("per_class"):
                per_class[named[name]] = evaluation["per_class"]
    if per_class:
        st.altair_chart(charts.per_class_compare_chart(per_class))
        missing = [name for name in picked if named[name] not in per_class]
        if missing:
            st.caption(f"Not evaluated yet (no per-class accuracy): {app_ui.as_text(', '.join(missing))}")
    else:
        st.caption("Per-class accuracy appears once a picked run has finished (and been evaluated).")

    by_variant(picked)

    with app_ui.errors_as_boxes("A vs B"):
        a_vs_b(summaries)
