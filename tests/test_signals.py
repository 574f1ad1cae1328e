"""Signals and vanishing folders end a training honestly: the exit status a signalled process gives,
the state on disk, and a log that never suggests what cannot work (cinic/training/loop.py, cinic/runs/folder.py)."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from cinic import cli

from cinic.training import loop as train
from cinic.runs.folder import RunFolder


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(tiny_data, capsys, *extra) -> tuple[int, RunFolder, str]:
    code = cli.main(["train", "--data", str(tiny_data), "--epochs", "2", "--batch-size", "64", "--device", "cpu",
                     "--recipe", "report", "--name", "r", "--no-progress", *extra])
    out = capsys.readouterr()
    return code, RunFolder.open("r"), out.out + out.err


def _signal_at_epoch(monkeypatch, epoch: int, number: int) -> None:
    real = train.train_epoch

    def train_epoch(t, e, run, progress=False):
        if e == epoch:
            os.kill(os.getpid(), number)
        return real(t, e, run, progress)

    monkeypatch.setattr(train, "train_epoch", train_epoch)


@pytest.mark.parametrize("number, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_training_ends_cancelled_on_disk_with_the_signal_exit_status(
        tiny_data, capsys, monkeypatch, number, code):
    _signal_at_epoch(monkeypatch, 2, number)
    exit_code, run, said = _train(tiny_data, capsys)
    assert exit_code == code
    status = run.status()
    assert status["state"] == "cancelled" and status["epoch"] == 1 and not run.stop_requested()
    assert "resuming continues from the last completed epoch" in said


def test_a_signal_before_the_first_epoch_suggests_no_resume(tiny_data, capsys, monkeypatch):
    _signal_at_epoch(monkeypatch, 1, signal.SIGTERM)
    exit_code, run, said = _train(tiny_data, capsys)
    assert exit_code == 143 and run.status()["state"] == "cancelled"
    assert "--resume" not in said and "nothing to resume" in said


def test_sigterm_during_the_final_evaluation_cancels_and_a_resume_finishes(tiny_data, capsys, monkeypatch):
    real = train.evaluate_run

    def evaluate_run(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate_run", evaluate_run)
    exit_code, run, _ = _train(tiny_data, capsys)
    assert exit_code == 143 and run.status()["state"] == "cancelled" and not run.stop_requested()
    monkeypatch.setattr(train, "evaluate_run", real)
    assert cli.main(["train", "--resume", "r", "--no-progress"]) == 0
    assert run.status()["state"] == "finished" and run.evaluation() is not None


def test_a_run_folder_deleted_during_training_is_said_not_taken_for_a_full_disk(tiny_data, capsys, monkeypatch):
    real = train.train_epoch

    def train_epoch(t, e, run, progress=False):
        if e == 2:
            shutil.rmtree(run.path)
        return real(t, e, run, progress)

    monkeypatch.setattr(train, "train_epoch", train_epoch)
    code = cli.main(["train", "--data", str(tiny_data), "--epochs", "2", "--device", "cpu", "--name", "r",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "deleted or moved while in use" in err and "Free some disk space" not in err
    assert err.count("\n") == 1
