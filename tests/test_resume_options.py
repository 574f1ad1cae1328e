"""`train --resume RUN` with options: a moved data folder and more epochs are taken and recorded;
every other option is refused in one line (cinic/runs/launch.py: change_for_resume, cinic/commands/training.py)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from cinic import cli
from cinic.runs.folder import RunFolder


@pytest.fixture
def one_epoch(tiny_data, capsys) -> RunFolder:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert cli.main(["train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "64", "--device", "cpu",
                     "--recipe", "report", "--name", "r", "--no-progress"]) == 0
    capsys.readouterr()
    yield RunFolder.open("r")
    torch.set_num_threads(threads)


def test_a_resume_refuses_options_it_cannot_change(one_epoch, capsys):
    config = one_epoch.config()
    assert cli.main(["train", "--resume", "r", "--lr", "0.1", "--batch-size", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot change --batch-size, --lr" in err and "--data, --epochs" in err
    assert one_epoch.config() == config


def test_a_resume_takes_a_moved_data_folder_and_more_epochs_and_records_them(one_epoch, tiny_data, tmp_path,
                                                                             capsys):
    moved = shutil.copytree(tiny_data, tmp_path / "moved")
    assert cli.main(["train", "--resume", "r", "--data", str(moved), "--epochs", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resume changes epochs 1 -> 2" in out and f"resume changes data {tiny_data} -> {moved}" in out
    config = json.loads((one_epoch.path / "config.json").read_text())
    assert (config["epochs"], config["data"]) == (2, str(moved))
    status = one_epoch.status()
    assert (status["state"], status["epoch"], status["epochs"]) == ("finished", 2, 2)


@pytest.mark.parametrize("option", ["other data", "fewer epochs"])
def test_a_resume_refuses_other_data_and_fewer_epochs(one_epoch, tiny_data, tmp_path, capsys, option):
    from cinic.data.demo import make_demo_dataset

    if option == "other data":
        other = make_demo_dataset(tmp_path / "other", per_class=(16, 6, 6), seed=7)
        argv = ["--data", str(other)]
    else:
        argv = ["--epochs", "0"]
    assert cli.main(["train", "--resume", "r", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert ("holds other images" if option == "other data" else "can only add epochs") in err
    assert one_epoch.config()["data"] == str(tiny_data) and one_epoch.config()["epochs"] == 1


def test_refusing_to_resume_a_run_killed_before_its_first_epoch_keeps_it_interrupted(tiny_data, capsys):
    """Issue 20, item 12: nothing to resume is said before the run's status is touched."""
    from cinic.runs.folder import RunError
    from cinic.runs.launch import launch_training
    from cinic.runs.config import make_config

    config = make_config(str(tiny_data), preset="base", epochs=1, device="cpu")
    run = RunFolder.create(config.to_dict(), name="killed")
    run.write_status("running", pid=2 ** 22 + 12345, start="1")  # a training process long gone
    assert run.status()["state"] == "interrupted"
    before = (run.path / "status.json").read_bytes()
    assert cli.main(["train", "--resume", "killed", "--no-progress"]) == 2
    assert "no completed epoch to resume from" in capsys.readouterr().err
    with pytest.raises(RunError, match="no completed epoch to resume from"):
        launch_training(resume_run=run)
    assert run.status()["state"] == "interrupted" and (run.path / "status.json").read_bytes() == before
