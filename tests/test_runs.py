"""cinic/runs/folder.py: the run folder format, status truth, checkpoints that refuse to be unsafe."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest
import torch

from cinic.model.lenet import PRESETS, build_model
from cinic.runs import checkpoints
from cinic.runs.checkpoints import CheckpointError, load_model
from cinic.runs.folder import RunError, RunFolder, list_runs, write_atomically
from cinic.runs.process import this_process


def _config(preset="base", **extra):
    return dict({"data": "/nowhere", "preset": preset, "model": PRESETS[preset].to_dict(), "epochs": 3}, **extra)


def _epoch(epoch, **figures):
    return {"kind": "epoch", "epoch": epoch, "train_loss": 1.0, "train_acc": 50.0, "valid_loss": 1.0,
            "valid_acc": 50.0, **figures}


def _state(preset="base"):
    spec = PRESETS[preset]
    return {"model": build_model(spec).state_dict(), "spec": spec.to_dict(), "epoch": 1,
            "mean": [0.5] * 3, "std": [0.25] * 3, "classes": ["c"] * 10, "best_valid_acc": 10.0}


def test_create_writes_config_and_queued_status():
    run = RunFolder.create(_config(), name="r1")
    assert run.config()["preset"] == "base"
    assert run.status()["state"] == "queued"  # just made: not yet taken for dead
    with pytest.raises(RunError, match="already exists"):
        RunFolder.create(_config(), name="r1")
    assert RunFolder.open("r1").path == run.path


def test_open_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="is not a run folder"):
        RunFolder.open(tmp_path)


def test_running_with_a_dead_pid_reads_as_interrupted():
    run = RunFolder.create(_config())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.write_status("running", pid=dead.pid, epoch=1)
    status = run.status()
    assert status["state"] == "interrupted" and "ended without saying why" in status["error"]
    run.write_status("running", **this_process())
    assert run.status()["state"] == "running"


def test_metrics_survive_a_torn_last_line_and_epochs_deduplicate():
    run = RunFolder.create(_config())
    run.append_metrics(_epoch(1, valid_acc=10))
    run.append_metrics(_epoch(2, valid_acc=20))
    run.append_metrics(_epoch(2, valid_acc=25))
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "epoch", "epo')  # a kill in mid-write
    assert [e["valid_acc"] for e in run.epochs()] == [10, 25]
    run.truncate_metrics_after(1)
    assert [e["epoch"] for e in run.epochs()] == [1]


def test_checkpoint_round_trip_and_model_rebuild():
    run = RunFolder.create(_config("best"))
    checkpoints.save(run, _state("best"), "best")
    classifier = load_model(run)
    assert classifier.epoch == 1 and classifier.spec == PRESETS["best"] and classifier.run_path == run.path
    assert not classifier.network.training
    assert sum(p.numel() for p in classifier.network.parameters()) == sum(
        p.numel() for p in build_model(PRESETS["best"]).parameters())


def test_a_checkpoint_without_class_names_is_damaged():
    run = RunFolder.create(_config("base"))
    state = _state("base")
    state["classes"] = None
    checkpoints.save(run, state, "best")
    with pytest.raises(CheckpointError, match="damaged: its class names should be a list of names, not None"):
        load_model(run)


def test_a_checkpoint_of_another_model_is_explained():
    run = RunFolder.create(_config("base"))
    state = _state("best")
    with pytest.raises(CheckpointError, match=r"holds another model \(conv 3→32"):
        checkpoints.load_weights(build_model(PRESETS["base"]), state, run.checkpoint_path("last"))
    state["spec"] = PRESETS["base"].to_dict()  # weights of `best` under a `base` label
    checkpoints.save(run, state, "best")
    with pytest.raises(CheckpointError, match="does not match the model it describes"):
        load_model(run)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    run = RunFolder.create(_config())
    checkpoints.save(run, _state(), "last")
    data = run.checkpoint_path("last").read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or not a PyTorch checkpoint"):
        checkpoints.load_file(bad)


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = _RunsCode()
    evil.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"model": evil, "spec": {}}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="could run code, which is refused"):
        checkpoints.load_file(path)
    assert not marker.exists()


def test_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RunError, match="No space left on device. Free some disk space"):
        write_atomically(target, b"new checkpoint")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_list_runs_summarises_newest_first():
    a = RunFolder.create(_config(), name="20260101-a")
    b = RunFolder.create(_config("best"), name="20260102-b")
    a.append_metrics(_epoch(1, valid_acc=30.0, seconds=2.0))
    a.write_status("finished", epoch=1, best_valid_acc=30.0, s_per_epoch=2.0)  # as training writes them
    a.write_evaluation({"accuracy": 31.5, "confusion": []})
    (a.path.parent / "not-a-run").mkdir()
    runs = list_runs()
    assert [r["name"] for r in runs] == [b.name, a.name]
    assert runs[1]["best_valid_acc"] == 30.0 and runs[1]["test_acc"] == 31.5 and runs[1]["s_per_epoch"] == 2.0
    assert runs[0]["model"].startswith("conv 3→32")


def test_created_is_when_the_run_was_made_not_its_folders_mtime(tmp_path):
    import os
    import time

    before = time.time()
    run = RunFolder.create({"epochs": 1}, root=tmp_path, name="made-now")
    os.utime(run.path, (0, 0))  # a copied or touched folder says nothing about when the run was made
    [summary] = list_runs(tmp_path)
    assert summary["created"] >= before


# --- only our own process is ever signalled --------------------------------------------------------
@pytest.fixture
def bystander():
    """A real process that is not ours to stop: it must survive every test here."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    alive = process.poll() is None
    process.kill()
    process.wait()
    assert alive, "the bystander process was signalled"


def _stop(run, capsys):
    from cinic import cli

    code = cli.main(["stop", str(run.path), "--wait", "1"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("state", ["finished", "failed", "cancelled"])
def test_stop_refuses_a_run_that_is_not_training_and_leaves_no_stop_file(bystander, capsys, state):
    run = RunFolder.create(_config())
    run.write_status(state, pid=bystander.pid)
    code, err = _stop(run, capsys)
    assert code == 2 and f"is {state}, not training: there is nothing to stop" in err
    assert not run.stop_requested()


@pytest.mark.parametrize("pid", ["bystander", -1, 0, "text", True])
def test_a_live_state_with_a_pid_that_is_not_its_training_reads_interrupted_and_signals_nobody(
        bystander, capsys, pid):
    run = RunFolder.create(_config())
    run.write_status("running", pid=bystander.pid if pid == "bystander" else pid, epoch=1)
    assert run.status()["state"] in ("interrupted", "damaged")
    code, err = _stop(run, capsys)
    assert code == 2 and "not training" in err


def test_a_reused_pid_does_not_keep_a_dead_run_running():
    # After a restart the recorded pid may belong to another process: its start time differs.
    run = RunFolder.create(_config())
    run.write_status("running", pid=os.getpid(), pid_start="1", epoch=1)
    assert run.status()["state"] == "interrupted"


def test_resuming_a_run_that_is_training_is_refused(bystander, capsys):
    from cinic import cli
    from cinic.runs.process import process_start

    run = RunFolder.create(_config())
    run.write_status("running", pid=bystander.pid, pid_start=process_start(bystander.pid), epoch=1)
    assert run.status()["state"] == "running"  # provably a live process: taken as the training
    assert cli.main(["train", "--resume", str(run.path)]) == 2
    assert "is already running; stop it first" in capsys.readouterr().err
    assert run.status()["pid"] == bystander.pid  # its status untouched


# --- one damaged run spoils only itself ----------------------------------------------------------------
DAMAGES = {
    "two bytes": b"{}"[:1] + b"x",
    "not utf-8": b'{"state": "\xff\xfe"}',
    "a list": b"[1, 2, 3]",
    "a string state": b'{"state": 5, "epoch": 1}',
    "a text epoch": b'{"state": "finished", "epoch": "ten"}',
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", ["config.json", "status.json", "eval.json", "metrics.jsonl"])
def test_a_damaged_file_in_one_run_leaves_every_other_run_listed(capsys, name, damage):
    from cinic import cli

    good = RunFolder.create(_config(), name="20260101-good")
    good.write_status("finished", epoch=1, best_valid_acc=40.0, test_acc=41.0)
    bad = RunFolder.create(_config(), name="20260102-bad")
    (bad.path / name).write_bytes(DAMAGES[damage])
    assert cli.main(["runs", "--json"]) == 0
    import json

    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[good.name]["state"] == "finished" and listed[good.name]["test_acc"] == 41.0
    unreadable = damage in ("two bytes", "not utf-8", "a list")
    if name == "status.json" or (name == "config.json" and unreadable):
        assert listed[bad.name]["state"] == "damaged" and name in listed[bad.name]["error"]
    assert bad.epochs() == [] and bad.batches() == []
    if name == "eval.json":
        with pytest.raises(RunError, match="eval.json"):
            bad.evaluation()


def test_listing_reads_only_config_and_status(monkeypatch):
    """Listing stays fast with many long runs: metrics.jsonl and eval.json are never read for it."""
    run = RunFolder.create(_config(), name="long")
    run.write_status("finished", epoch=3, best_valid_acc=40.0, test_acc=41.0, s_per_epoch=2.5)

    def not_for_listing(*_args, **_kwargs):
        raise AssertionError("listing read a big file")

    monkeypatch.setattr(RunFolder, "metrics", not_for_listing)
    monkeypatch.setattr(RunFolder, "evaluation", not_for_listing)
    [summary] = list_runs()
    assert (summary["epoch"], summary["best_valid_acc"], summary["test_acc"], summary["s_per_epoch"]) == (
        3, 40.0, 41.0, 2.5)


WRONG_TYPES = {
    "config.json": ({"data": ["/x"]}, "data"),
    "eval.json": ({"per_class": ["cat"]}, "per_class"),
}


@pytest.mark.parametrize("name", list(WRONG_TYPES))
def test_a_field_of_the_wrong_type_reads_as_damage_naming_the_file(capsys, name):
    """A JSON object with one field of the wrong type is damage, said with the file and the field."""
    from cinic import cli

    good = RunFolder.create(_config(), name="20260101-good")
    bad = RunFolder.create(_config(), name="20260102-bad")
    evaluation = {"accuracy": 50.0, "n": 2, "classes": ["a", "b"], "confusion": [[1, 0], [1, 0]],
                  "per_class": {"a": 100.0, "b": 0.0}, "precision": {"a": 50.0, "b": 0.0}}
    for run in (good, bad):
        write_atomically(run.path / "eval.json", __import__("json").dumps(evaluation).encode())
    assert good.evaluation()["accuracy"] == 50.0
    fields, field = WRONG_TYPES[name]
    content = (bad.config() if name == "config.json" else evaluation) | fields
    write_atomically(bad.path / name, __import__("json").dumps(content).encode())
    with pytest.raises(RunError, match=f"{name} is damaged: {field}"):
        bad.config() if name == "config.json" else bad.evaluation()
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert good.name in out and bad.name in out


def test_a_figure_of_the_wrong_type_in_metrics_is_left_out():
    run = RunFolder.create(_config())
    run.append_metrics(_epoch(1, lr="fast", seconds=2.0))
    [epoch] = run.epochs()
    assert "lr" not in epoch and epoch["seconds"] == 2.0


@pytest.mark.parametrize("content", [b"{x", b'{"state": ["finished"]}', b'{"state": "failed", "error": 5}'])
def test_resuming_a_run_with_a_damaged_status_is_refused_naming_the_file(capsys, content):
    from cinic import cli
    from cinic.runs.launch import launch_training

    run = RunFolder.create(_config())
    (run.path / "status.json").write_bytes(content)
    assert cli.main(["train", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "status.json is damaged" in err and "delete" in err
    with pytest.raises(RunError, match="status.json is damaged"):
        launch_training(resume_run=run)


def test_the_app_cannot_resume_a_run_that_is_training(bystander):
    """launch_training (the Train page's Resume) refuses a live run: no second process, status untouched."""
    from cinic.runs.launch import launch_training
    from cinic.runs.process import process_start

    run = RunFolder.create(_config())
    run.write_status("running", pid=bystander.pid, pid_start=process_start(bystander.pid), epoch=1)
    run.request_stop()
    with pytest.raises(RunError, match="is already running; stop it first"):
        launch_training(resume_run=run)
    assert run.stop_requested() and run.status()["pid"] == bystander.pid  # the stop stands


# --- checkpoints that would fill memory or hold numbers that are not numbers ---------------------------
def test_a_checkpoint_that_expands_far_beyond_its_size_is_refused_before_loading(tmp_path, monkeypatch):
    import zipfile

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", b"\0" * 50_000_000)
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load read the bomb"))
    with pytest.raises(CheckpointError, match="expand to 50,000,000 bytes .* decompression bomb"):
        checkpoints.load_file(bomb)


def test_a_model_spec_too_large_is_refused_before_allocating(tmp_path, monkeypatch):
    from cinic.model.lenet import MAX_PARAMETERS, ModelSpec, ModelSpecError

    huge = dict(PRESETS["base"].to_dict(), fc=[20000, 20000])
    state = dict(_state(), spec=huge)
    monkeypatch.setattr(torch.nn.Linear, "__init__", lambda *a, **k: pytest.fail("allocated a layer"))
    with pytest.raises(ModelSpecError, match=f"408,242,882 parameters, more than the {MAX_PARAMETERS:,} allowed"):
        build_model(ModelSpec.from_dict(huge))
    with pytest.raises(CheckpointError, match="describes no buildable model .* allowed"):
        checkpoints.model_from_state(state, tmp_path / "x.pt")


@pytest.mark.parametrize("damage", ["nan mean", "zero std", "nan weight"])
def test_a_checkpoint_with_numbers_that_are_not_finite_is_refused(damage):
    run = RunFolder.create(_config())
    state = _state()
    if damage == "nan mean":
        state["mean"] = [float("nan"), 0.5, 0.5]
    elif damage == "zero std":
        state["std"] = [0.25, 0.0, 0.25]
    else:
        state["model"]["features.0.weight"][0, 0, 0, 0] = float("inf")
    checkpoints.save(run, state, "best")
    with pytest.raises(CheckpointError, match="finite numbers|not above 0"):
        load_model(run)


def test_random_bytes_and_zeros_are_called_damaged_not_code(tmp_path):
    for name, content in (("random.pt", os.urandom(4096)), ("zeros.pt", b"\0" * 4096)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match="it is damaged or not a PyTorch checkpoint"):
            checkpoints.load_file(tmp_path / name)


def test_a_run_created_on_a_full_disk_leaves_nothing_and_claims_no_previous_file(tmp_path, monkeypatch):
    """Issue 20, item 12: no "damaged" run is left, and no "previous file is intact" said of a file
    that never existed."""
    import errno

    from cinic.runs import files

    original = files.replace_file

    def full_disk_for_status(path, write):
        if path.name == "status.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, write)
    monkeypatch.setattr(files, "replace_file", full_disk_for_status)
    with pytest.raises(RunError) as caught:
        RunFolder.create({"epochs": 1}, root=tmp_path, name="full")
    assert "No space left on device" in str(caught.value) and "intact" not in str(caught.value)
    assert list_runs(tmp_path) == [] and not (tmp_path / "full").exists()
    (tmp_path / "d").mkdir()
    with pytest.raises(RunError) as caught:
        write_atomically(tmp_path / "d" / "status.json", b"{}")
    assert "nothing was written" in str(caught.value) and not (tmp_path / "d" / "status.json").exists()
    (tmp_path / "d" / "status.json").write_text("{}")
    with pytest.raises(RunError, match="the previous file is intact"):
        write_atomically(tmp_path / "d" / "status.json", b"{}")
