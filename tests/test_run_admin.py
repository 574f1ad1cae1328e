"""cinic/runs/admin.py and its commands: naming, renaming, notes and tags, deleting, filtering, sorting."""

from __future__ import annotations

import json
import os

import pytest

from cinic import cli, paths
from cinic.model.lenet import PRESETS
from cinic.runs.admin import (annotate, delete_run, filter_runs, known_tags, locate, never_started, rename_run,
                             set_tags, sort_runs)
from cinic.runs.folder import RunError, RunFolder, list_runs
from cinic.runs.process import this_process


def _run(name, preset="base", state="finished", root=None, **status):
    run = RunFolder.create({"data": "/nowhere", "preset": preset, "model": PRESETS[preset].to_dict(),
                            "epochs": 3}, root=root, name=name)
    run.write_status(state, **status)
    return run


def _cli(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["my run", "../escape", "a/b", ".hidden", "", "-dash", "x" * 101, "ünï"])
def test_a_name_that_cannot_be_a_folder_is_refused_with_a_suggestion(bad):
    with pytest.raises(RunError, match="cannot name a run folder"):
        RunFolder.create({"epochs": 1}, name=bad)
    assert not any(paths.runs_root().iterdir())


def test_the_suggestion_is_a_name_that_works(capsys):
    code, _, err = _cli(capsys, "train", "--name", "my best run", "--epochs", "1")
    assert code == 2 and "e.g. 'my-best-run'" in err
    RunFolder.create({"epochs": 1}, name="my-best-run")


# --- renaming -------------------------------------------------------------------------------------
def test_rename_moves_the_folder_and_the_run_answers_to_its_new_name():
    run = _run("old", test_acc=50.0)
    annotate(run, "kept", ["t"])
    renamed = rename_run(locate("old"), "new-name")
    assert renamed.name == "new-name" and not run.path.exists()
    assert RunFolder.open("new-name").notes() == {"notes": "kept", "tags": ["t"]}
    assert [r["name"] for r in list_runs()] == ["new-name"]


@pytest.mark.parametrize("state", ["running", "queued"])
def test_a_training_run_is_neither_renamed_nor_deleted(state):
    run = _run("live", state=state, **this_process())
    assert run.status()["state"] == state
    with pytest.raises(RunError, match=f"is {state}: stop it first"):
        rename_run(run, "other")
    with pytest.raises(RunError, match=f"is {state}: stop it first"):
        delete_run(locate("live"))
    assert run.path.is_dir() and (run.path / "config.json").is_file()


def test_rename_onto_an_existing_name_touches_neither():
    a, b = _run("a", test_acc=1.0), _run("b", test_acc=2.0)
    (paths.runs_root() / "empty").mkdir()  # even an empty folder is not replaced
    for taken in ("b", "empty"):
        with pytest.raises(RunError, match="already exists"):
            rename_run(a, taken)
    assert a.status()["test_acc"] == 1.0 and b.status()["test_acc"] == 2.0
    assert rename_run(a, "a") == a  # the same name: nothing to do


def test_evaluate_finds_a_renamed_run_by_its_new_name(tiny_data, capsys):
    code, _, err = _cli(capsys, "train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "32",
                        "--device", "cpu", "--name", "first", "--no-progress")
    assert code == 0, err
    assert _cli(capsys, "rename", "first", "second")[0] == 0
    code, out, err = _cli(capsys, "evaluate", "second", "--json", "--device", "cpu")
    assert code == 0, err
    assert json.loads(out)["n"] == 60
    assert RunFolder.open("second").status()["test_acc"] == json.loads(out)["accuracy"]


# --- deleting --------------------------------------------------------------------------------------
def test_delete_removes_exactly_that_run(tmp_path):
    keep, gone = _run("keep"), _run("gone")
    (gone.path / "best.pt").write_bytes(b"weights")
    (gone.path / "sub").mkdir()
    (gone.path / "sub" / "x").write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine")
    os.symlink(outside, gone.path / "link-out")  # a link inside is removed, what it points to is not
    (paths.runs_root() / "stray.txt").write_text("not a run")
    assert delete_run(locate("gone")) == gone.path
    assert sorted(p.name for p in paths.runs_root().iterdir()) == ["keep", "stray.txt"]
    assert outside.read_text() == "mine" and keep.status()["state"] == "finished"


def test_delete_refuses_links_and_folders_outside_the_runs_root(tmp_path):
    elsewhere = _run("elsewhere", root=tmp_path / "other-root")
    paths.runs_root().mkdir()
    os.symlink(elsewhere.path, paths.runs_root() / "alias")
    inside = _run("inside")
    os.symlink(inside.path, paths.runs_root() / "inside-link")
    for name, reason in [("alias", "is a link"), ("inside-link", "is a link"), (str(elsewhere.path), "not a run"),
                         ("..", "does not name a run"), (".", "not a run folder directly inside"),
                         ("missing", "no run named")]:
        with pytest.raises(RunError, match=reason):
            delete_run(locate(name))
    assert (elsewhere.path / "config.json").is_file() and (inside.path / "config.json").is_file()


def test_a_damaged_run_can_be_deleted():
    run = _run("broken")
    (run.path / "status.json").write_bytes(b"\xff")
    assert list_runs()[0]["state"] == "damaged"
    delete_run(locate("broken"))
    assert list_runs() == []


def test_delete_command_asks_unless_told_yes(capsys, monkeypatch):
    _run("r")
    code, _, err = _cli(capsys, "delete", "r")  # no terminal to ask on: refused, nothing deleted
    assert code == 2 and "add --yes" in err and RunFolder.open("r")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert _cli(capsys, "delete", "r")[1] == "nothing deleted\n" and RunFolder.open("r")
    monkeypatch.setattr("builtins.input", lambda question: "yes")
    assert _cli(capsys, "delete", "r")[0] == 0
    assert not (paths.runs_root() / "r").exists()


# --- notes and tags ---------------------------------------------------------------------------------
def test_notes_and_tags_are_kept_and_listed(capsys):
    run = _run("r")
    assert _cli(capsys, "note", "r", "--text", "lr too high?", "--tag", "baseline", "--tag", "lr-0.004")[0] == 0
    assert _cli(capsys, "note", "r", "--untag", "baseline", "--tag", "lr-0.004")[0] == 0  # no duplicate
    assert json.loads((run.path / "notes.json").read_text()) == {"notes": "lr too high?", "tags": ["lr-0.004"]}
    code, out, _ = _cli(capsys, "runs", "--json")
    assert (json.loads(out)[0]["notes"], json.loads(out)[0]["tags"]) == ("lr too high?", ["lr-0.004"])
    assert set_tags(run, ["b", "a"])["tags"] == ["b", "a"]
    assert annotate(run, "")["notes"] == "" and run.notes()["tags"] == ["b", "a"]


@pytest.mark.parametrize("tag", ["two words", "", "a/b", "x" * 41])
def test_a_bad_tag_is_refused_and_nothing_written(tag):
    run = _run("r")
    with pytest.raises(RunError, match="a tag is one word"):
        annotate(run, "text", [tag])
    assert not (run.path / "notes.json").exists()


def test_a_damaged_notes_file_hides_no_result():
    run = _run("r", test_acc=40.0)
    (run.path / "notes.json").write_text('{"notes": 5}')
    [summary] = list_runs()
    assert summary["state"] == "finished" and summary["test_acc"] == 40.0
    assert "notes.json is damaged" in summary["notes_error"] and summary["tags"] == []
    with pytest.raises(RunError, match="notes.json is damaged"):
        annotate(run, "new")


def test_listing_reads_only_the_small_files(monkeypatch):
    """config.json, status.json and notes.json: never metrics, evaluations, logs or checkpoints."""
    from pathlib import Path

    run = _run("r", test_acc=40.0)
    annotate(run, "n", ["t"])
    for name in ("metrics.jsonl", "eval.json", "train.log", "best.pt", "last.pt"):
        (run.path / name).write_text("{}")
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or original(self))
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail(f"listing opened {a[0]}"))
    [summary] = list_runs()
    assert summary["tags"] == ["t"]
    assert set(read) == {"config.json", "status.json", "notes.json"}


# --- choosing and ordering -----------------------------------------------------------------------------
def _summaries():
    return [{"name": "a", "state": "finished", "preset": "base", "tags": ["x"], "test_acc": 40.0,
             "best_valid_acc": 45.0, "created": 1.0},
            {"name": "b", "state": "failed", "preset": "best", "tags": ["x", "y"], "test_acc": None,
             "best_valid_acc": 20.0, "created": 3.0},
            {"name": "c", "state": "finished", "preset": "best", "tags": [], "test_acc": 60.0,
             "best_valid_acc": 55.0, "created": 2.0}]


def test_filters_combine():
    names = lambda runs: [r["name"] for r in runs]  # noqa: E731
    s = _summaries()
    assert names(filter_runs(s)) == ["a", "b", "c"]
    assert names(filter_runs(s, states=["finished"])) == ["a", "c"]
    assert names(filter_runs(s, presets=["best"])) == ["b", "c"]
    assert names(filter_runs(s, tags=["x"])) == ["a", "b"]
    assert names(filter_runs(s, tags=["x", "y"])) == ["b"]  # every tag asked for
    assert names(filter_runs(s, min_test_acc=50)) == ["c"]
    assert names(filter_runs(s, states=["finished"], presets=["base"])) == ["a"]
    assert known_tags(s) == ["x", "y"]


def test_sorts_put_runs_without_the_figure_last():
    names = lambda runs: [r["name"] for r in runs]  # noqa: E731
    s = _summaries()
    assert names(sort_runs(s, "newest")) == ["b", "c", "a"]
    assert names(sort_runs(s, "oldest")) == ["a", "c", "b"]
    assert names(sort_runs(s, "test accuracy")) == ["c", "a", "b"]
    assert names(sort_runs(s, "valid accuracy")) == ["c", "a", "b"]
    assert names(sort_runs(s, "name")) == ["a", "b", "c"]
    with pytest.raises(RunError, match="unknown order"):
        sort_runs(s, "size")


def test_runs_command_filters_and_sorts(capsys):
    _run("r-base", test_acc=30.0)
    _run("r-best", preset="best", test_acc=60.0)
    annotate(RunFolder.open("r-best"), add_tags=["keep"])
    _run("r-failed", state="failed")
    listed = lambda *a: [r["name"] for r in json.loads(_cli(capsys, "runs", "--json", *a)[1])]  # noqa: E731
    assert listed("--sort", "test accuracy") == ["r-best", "r-base", "r-failed"]
    assert listed("--state", "failed") == ["r-failed"]
    assert listed("--preset", "best", "--preset", "custom") == ["r-best"]
    assert listed("--preset", "base", "--sort", "name") == ["r-base", "r-failed"]
    assert listed("--tag", "keep") == ["r-best"]
    assert listed("--min-test", "50") == ["r-best"]
    code, out, _ = _cli(capsys, "runs", "--tag", "nothing")
    assert code == 0 and "none of the 3 runs match" in out


def test_a_run_cancelled_while_queued_never_started():
    assert never_started({"state": "cancelled", "device": None})
    assert not never_started({"state": "cancelled", "device": "cpu"})  # cancelled after it trained a while
    assert not never_started({"state": "queued"})


@pytest.mark.parametrize("name", ["sweeps", "SWEEPS", "Sweeps"])
def test_the_runs_roots_own_names_are_reserved(name, capsys):
    """Issue 20, item 8: a run named `sweeps` would take the sweep records' folder, and deleting it
    would delete every sweep's spec, trials and summary."""
    run = _run("r1")
    with pytest.raises(RunError, match="reserved"):
        rename_run(run, name)
    assert (run.path / "config.json").is_file()
    with pytest.raises(RunError, match="reserved"):
        RunFolder.create({"epochs": 1}, name=name)
    assert _cli(capsys, "rename", "r1", name)[0] == 2


def test_a_sweeps_folder_that_looks_like_a_run_is_never_deleted_as_one(capsys):
    records = paths.runs_root() / "sweeps"
    (records / "grid").mkdir(parents=True)
    (records / "grid" / "trials.json").write_text("[]")
    (records / "config.json").write_text("{}")  # made by a rename before names were reserved
    with pytest.raises(RunError, match="reserved"):
        locate("sweeps")
    code, _, err = _cli(capsys, "delete", "sweeps", "--yes")
    assert code == 2 and "reserved" in err
    assert (records / "grid" / "trials.json").is_file()
