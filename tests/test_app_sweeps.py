"""The Sweeps page: launching a real sweep from the page, watching its trials, its variants with error bars."""

from __future__ import annotations

import json
import time

import pytest

from cinic import paths
from cinic.runs.folder import RunFolder
from cinic.sweeps.runner import prepare, sweep_folder, sweep_state
from cinic.sweeps.spec import parse_spec
from test_app import assert_clean, button, charts_on, demo_dir, open_app, with_demo  # noqa: F401


def test_the_page_lists_a_sweeps_trials_and_its_variants(with_demo):
    spec = parse_spec({"name": "grid", "data": str(with_demo), "epochs": 1,
                       "grid": {"preset": ["base", "stepping"], "seed": [0, 1]}})
    prepare(spec, paths.runs_root())
    for name, acc in [("grid_preset-base_seed-0", 40.0), ("grid_preset-base_seed-1", 44.0)]:
        RunFolder(paths.runs_root() / name).write_status("finished", epoch=1, test_acc=acc, best_valid_acc=acc - 1)
    at = open_app("Sweeps")
    assert "Sweep grid: never started" in [t.value for t in at.text]  # its name as text, not markdown
    trials = at.dataframe[0].value
    assert list(trials["trial"]) == [t.name for t in spec.trials]
    assert list(trials["state"]) == ["finished", "finished", "queued", "queued"]
    variants = at.dataframe[1].value
    assert list(variants["variant"]) == ["preset=base", "preset=stepping"]
    assert list(variants["seeds"]) == [2, 0] and variants["test %"][0] == pytest.approx(42.0)
    assert charts_on(at), "the chart of test accuracy per variant"


@pytest.mark.slow
def test_a_sweep_launched_from_the_page_runs_to_its_error_bars(with_demo):
    at = open_app("Sweeps")
    at.text_input(key="sweep-name").set_value("from-app")
    at.number_input(key="sweep-epochs").set_value(1)
    at.number_input(key="sweep-batch").set_value(32)
    at.multiselect(key="sweep-presets").set_value(["base"])
    at.number_input(key="sweep-seeds").set_value(2).run()
    button(at, "Launch the sweep").click().run()
    assert_clean(at)
    folder = sweep_folder("from-app")
    deadline = time.time() + 300
    while sweep_state(folder)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert sweep_state(folder)["state"] == "finished", (folder / "sweep.log").read_text()
    at.run()
    assert_clean(at)
    assert list(at.dataframe[0].value["state"]) == ["finished", "finished"]
    assert list(at.dataframe[1].value["seeds"]) == [2]
    assert charts_on(at)


def test_compare_groups_the_runs_of_a_sweep_by_variant(with_demo):
    spec = parse_spec({"name": "cmp", "data": str(with_demo), "epochs": 1,
                       "grid": {"preset": ["base", "stepping"], "seed": [0, 1]}})
    prepare(spec, paths.runs_root())
    for i, trial in enumerate(spec.trials):
        RunFolder(paths.runs_root() / trial.name).write_status("finished", epoch=1, test_acc=40.0 + i,
                                                               best_valid_acc=39.0 + i)
    at = open_app("Compare")
    at.multiselect(key="compare-runs").set_value([t.name for t in spec.trials]).run()
    assert_clean(at)
    assert any("Sweep cmp" in m.value for m in at.markdown)
    grouped = next(d.value for d in at.dataframe if "seeds" in d.value.columns)
    assert list(grouped["variant"]) == ["preset=base", "preset=stepping"]
    assert list(grouped["test %"]) == pytest.approx([40.5, 42.5])


def test_a_sweep_of_listed_variants_shows_each_trials_own_epochs(with_demo):
    """A study's trials (listed variants with settings of their own, crossed with seeds) on the Sweeps page:
    each trial counts its own epochs, each variant gets its row."""
    from cinic.runs.config import make_config

    root = paths.runs_root()
    folder = sweep_folder("listed", root)
    folder.mkdir(parents=True)
    variants = [{"preset": "base", "epochs": 3, "lr_drops": [[2, 0.0001]]}, {"preset": "best", "epochs": 2}]
    trials = []
    for variant in variants:
        for seed in (0, 1):
            name = f"listed_{variant['preset']}_seed-{seed}"
            RunFolder.create(make_config(str(with_demo), **variant, seed=seed).to_dict(), root, name)
            trials.append({"name": name, "settings": {**variant, "seed": seed}})
    (folder / "trials.json").write_text(json.dumps(trials))
    RunFolder(root / "listed_best_seed-0").write_status("finished", epoch=2, test_acc=50.0, best_valid_acc=49.0)
    at = open_app("Sweeps")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["epoch"]) == ["0/3", "0/3", "2/2", "0/2"]
    assert "base" in table["settings"][0] and "best" in table["settings"][2] and "seed=1" in table["settings"][3]
    assert list(at.dataframe[1].value["seeds"]) == [0, 1]


def test_the_form_adds_augmentor_images_made_with_the_reports_pipeline(with_demo, monkeypatch):
    import cinic.sweeps.runner
    from cinic.augment.ops import SEED_PIPELINE, validate_pipeline

    launched = []
    monkeypatch.setattr(cinic.sweeps.runner, "launch_sweep", lambda spec: launched.append(spec) or sweep_folder("x"))
    at = open_app("Sweeps")
    at.text_input(key="sweep-name").set_value("augmented")
    at.number_input(key="sweep-augment-n").set_value(50).run()
    button(at, "Launch the sweep").click().run()
    [spec] = launched
    assert (spec["augment_n"], spec["augment"]) == (50, validate_pipeline(SEED_PIPELINE))
    configs = [t.config for t in parse_spec(spec).trials]
    assert {(c["augment_n"], c["augment_name"]) for c in configs} == {(50, "report")}
    at.number_input(key="sweep-augment-n").set_value(0).run()
    button(at, "Launch the sweep").click().run()
    assert "augment_n" not in launched[1]  # 0: none added, each recipe's own


def test_a_data_folder_named_like_markdown_reads_as_it_is(demo_dir, tiny_data, tmp_path):
    import shutil

    from cinic.data import choice as datasets

    odd = tmp_path / "my_*starred*_data"
    shutil.copytree(tiny_data, odd)
    datasets.remember_data_root(odd)
    at = open_app("Sweeps")
    assert f"Data: {odd.resolve()}" in [t.value for t in at.text]
