"""cinic/data/choice.py: which data set is in use, one rule for the app, the CLI and the bench."""

from __future__ import annotations

from cinic import app_state, paths

from cinic.data import choice as datasets


def test_nothing_is_chosen_until_a_data_root_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "no-demo")
    assert datasets.chosen_data_root() is None and datasets.data_in_use() is None
    folder = tmp_path / "data"
    folder.mkdir()
    datasets.remember_data_root(folder)
    assert datasets.chosen_data_root() == folder.resolve()
    folder.rmdir()  # a remembered folder that went away counts as not chosen
    assert datasets.chosen_data_root() is None


def test_data_in_use_falls_back_to_cinic10_then_an_existing_demo(tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    monkeypatch.setattr(paths, "demo_root", lambda: demo)
    (demo / "train").mkdir(parents=True)
    assert datasets.data_in_use() == demo
    cinic = tmp_path / "CINIC-10"
    (cinic / "train").mkdir(parents=True)
    monkeypatch.setenv("CINIC_DATA", str(cinic))
    assert datasets.data_in_use() == cinic
    assert "demo" in datasets.describe_data_root(demo) and datasets.describe_data_root(None) == "no data set yet"


def test_a_chosen_data_set_wins_over_cinic10_and_the_demo(tmp_path, monkeypatch):
    cinic, chosen = tmp_path / "CINIC-10", tmp_path / "mine"
    (cinic / "train").mkdir(parents=True)
    (chosen / "train").mkdir(parents=True)
    monkeypatch.setenv("CINIC_DATA", str(cinic))
    datasets.remember_data_root(chosen)
    assert datasets.data_in_use() == chosen.resolve()


def test_make_demo_draws_the_demo_set_only_when_nothing_else_is_there(tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    monkeypatch.setattr(paths, "demo_root", lambda: demo)
    drawn = []
    monkeypatch.setattr("cinic.data.demo.ensure_demo_dataset", lambda out: drawn.append(out) or out)
    assert datasets.data_in_use() is None and not drawn
    assert datasets.data_in_use(make_demo=True) == demo and drawn == [demo]


def test_a_remembered_choice_of_the_wrong_type_counts_as_none():
    app_state.update_state(data_root=["not", "a", "path"])
    assert datasets.chosen_data_root() is None
