"""The Reproduce page: reached from the menu and from Home's first card; after a real (tiny) study, its table,
its data line and its claims.

The tests that need the study library (cinic/study, built on its own branch) skip until it is present.
"""

from __future__ import annotations

import functools
import re
import time

import pytest

from ui import app_ui
from test_app import assert_clean, button, charts_on, demo_dir, go_to, open_app, with_demo  # noqa: F401

TITLE = "Reproduce the report"


def test_the_page_comes_right_after_home_in_the_menu(with_demo):
    assert [e.title for e in app_ui.MENU[:2]] == ["Home", TITLE]
    assert app_ui.menu_entry(TITLE).file == "pages/reproduce.py"
    at = open_app(TITLE)
    assert at.title[0].value == TITLE
    assert [link.value for link in at.sidebar.get("page_link")][:2] == ["Home", TITLE]


def test_homes_first_card_takes_the_user_to_the_page(with_demo):
    at = open_app()
    assert at.subheader[0].value == TITLE  # the card comes before the data set, the device and the runs
    button(at, TITLE).click().run()
    assert_clean(at)
    assert at.title[0].value == TITLE


def test_the_card_names_the_latest_study_as_text(with_demo):
    from cinic import paths
    from cinic.sweeps.runner import prepare
    from cinic.sweeps.spec import parse_spec

    prepare(parse_spec({"name": "reproduce-demo", "data": str(with_demo), "epochs": 1,
                        "grid": {"preset": ["base"], "seed": [0, 1]}}), paths.runs_root())
    at = open_app()
    assert [t.value for t in at.text] == ["Latest study: reproduce-demo (never started, 2 trials)"]


def test_without_a_data_set_the_page_offers_the_demo_set(demo_dir):
    at = open_app(TITLE)
    assert any("No data set yet" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Start the study"]


# --- with a study ------------------------------------------------------------------------------------------------
def test_before_it_starts_the_page_says_how_many_trainings_and_how_long(with_demo):
    at = open_app(TITLE)
    at.number_input(key="reproduce-seeds").set_value(2).run()
    assert_clean(at)
    plan = next(m.value for m in at.markdown if "trainings" in m.value)
    from cinic.study.reproduce import plan as plan_of, study_spec

    expected = plan_of(study_spec(str(with_demo), seeds=2, name="reproduce-x"))
    assert f"**{expected['trainings']} trainings**" in plan
    assert button(at, "Start the study")


def test_a_study_made_before_shows_on_a_fresh_visit_and_its_settings_point_to_it(with_demo):
    """A closed tab, another tab, the CLI: the study is found again from its folder, not from this session."""
    from cinic.study import reproduce
    from cinic import paths
    from cinic.sweeps.runner import prepare
    from cinic.sweeps.spec import parse_spec

    name = f"reproduce-{with_demo.name}"  # the page's name for the default settings on this data
    spec = parse_spec(reproduce.study_spec(str(with_demo), name=name))
    prepare(spec, paths.runs_root())
    at = open_app(TITLE)
    assert at.selectbox(key="reproduce-picked").value == name
    assert f"Study {name}: never started" in [t.value for t in at.text]
    assert f"These settings on this data are the study {name}: pick it below." in [t.value for t in at.text]
    assert [b.key for b in at.button if b.label == "Start the study"] == ["reproduce-resume"]  # its own, once
    assert at.query_params["study"] in (name, [name])


@pytest.mark.slow
def test_one_click_runs_a_tiny_study_to_its_table_data_line_and_claims(with_demo, monkeypatch):
    """A real study, 2 seeds, on the tiny demo set (160 training images), its schedules shrunk by the library's
    own epochs_scale to keep the test short: Start, wait, then the page shows what study_result read."""
    from cinic.study import reproduce
    from cinic.sweeps.runner import list_sweeps, sweep_folder, sweep_state

    monkeypatch.setattr(reproduce, "study_spec", functools.partial(reproduce.study_spec, epochs_scale=0.2))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    at = open_app(TITLE)
    at.number_input(key="reproduce-seeds").set_value(2).run()
    button(at, "Start the study").click().run()
    assert_clean(at)
    [study] = list_sweeps()
    folder = sweep_folder(study["name"])
    deadline = time.time() + 900
    while sweep_state(folder)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(2)
    assert sweep_state(folder)["state"] == "finished", (folder / "sweep.log").read_text()[-3000:]
    at.run()
    assert_clean(at)
    result = reproduce.study_result(study["name"])
    table = frame_with(at, "report test %")
    assert list(table["variant"]) == [v["label"] for v in result["variants"]]
    assert list(table["n"]) == [2] * len(result["variants"])
    assert list(table["test %"]) == pytest.approx([v["test_mean"] for v in result["variants"]], abs=0.006)
    assert any("is not the report's: compare the ranking and the gaps" in w.value for w in at.warning)
    titles = [m.value for m in at.markdown if re.match(r"\*\*\d\. ", m.value)]
    assert titles == [f"**{c['id']}. {c['claim']}**" for c in result["claims"]] and len(titles) == 6
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert [b.split("[")[1].rstrip("]") for b in badges] == [c["verdict"] for c in result["claims"]]
    assert charts_on(at), "the curves and the confusion matrices"
    assert {b.proto.label for b in at.get("download_button")} == {
        "The write-up (HTML)", "The table (Markdown)", "The table (CSV)"}
    assert not [b for b in at.button if b.label in ("Start the study", "Resume the study")]


def frame_with(at, column: str):
    """The table on the page that has that column."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with a column {column!r}"
    return frames[0]
