"""A training process kept warm (cinic/runs/warm.py): it takes the next launch and is that training
in every way the run folder contract asks (its own pid and start time in status.json, the stop file,
SIGTERM -> cancelled, output in the run's log), it is replaced after a launch, and a waiting one never
outlives the process that keeps it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cinic.runs import warm
from cinic.runs.folder import LIVE_STATES, RunFolder
from cinic.runs.launch import launch_training
from cinic.runs.process import is_training_process
from cinic.runs.config import make_config

pytestmark = pytest.mark.slow  # each test starts Python with torch in its own process
TIMEOUT_S = 120


@pytest.fixture
def kept_warm(monkeypatch):
    """A warm process for this test's launches (replaced at once after each), gone afterwards."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(warm, "REPLACE_AFTER_S", 0.0)
    # One an earlier test left waiting (an AppTest of the Train page keeps one warm) was started under
    # other settings (no OMP_NUM_THREADS=1): a launch would rightly pass it by for a fresh process.
    warm.shutdown()
    warm.keep_warm()
    assert warm.wait_ready(TIMEOUT_S), "the warm process never finished its imports"
    yield
    warm.shutdown()


def waiting_pid() -> int:
    return warm._state["waiting"].process.pid


def until(condition, what: str):
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def launch(tiny_data, epochs: int) -> RunFolder:
    return launch_training(make_config(str(tiny_data), preset="base", recipe="report", epochs=epochs, batch_size=8,
                                       device="cpu").to_dict())


def test_a_launch_becomes_the_warm_process_and_sigterm_cancels_it(tiny_data, kept_warm, monkeypatch, tmp_path):
    pid = waiting_pid()
    monkeypatch.setenv("CINIC_RUNS", str(tmp_path / "runs"))  # read when used: the warm process takes it
    run = launch(tiny_data, epochs=50)
    until(run.batches, "the first batch")
    assert run.path.parent == tmp_path / "runs"
    status = run.status()
    assert status["pid"] == pid and is_training_process(status)  # the run's own process, provably
    os.kill(pid, signal.SIGTERM)  # our own child, identified by the run's status just now
    until(lambda: run.status()["state"] not in LIVE_STATES, "the run to end")
    assert run.status()["state"] == "cancelled"
    until(lambda: not running(pid), "the process to exit")
    assert not is_training_process(run.status())
    log = run.log_path.read_text()
    assert f"run folder: {run.path}" in log and "stopped on request" in log  # its output is the run's log


def test_the_stop_file_stops_a_run_taken_by_a_warm_process_and_a_fresh_one_takes_the_next(tiny_data, kept_warm):
    first = waiting_pid()
    run = launch(tiny_data, epochs=50)
    until(run.batches, "the first batch")
    run.request_stop()
    until(lambda: run.status()["state"] not in LIVE_STATES, "the run to end")
    assert run.status()["state"] == "cancelled" and run.status()["pid"] == first
    until(lambda: warm._state["waiting"] is not None, "a replacement")
    second = waiting_pid()
    assert second != first and warm.wait_ready(TIMEOUT_S)
    run = launch(tiny_data, epochs=1)
    until(lambda: run.status()["state"] not in LIVE_STATES, "the second run to end")
    assert run.status()["state"] == "finished" and run.status()["pid"] == second


def test_a_launch_under_other_settings_starts_afresh_and_the_warm_one_exits(tiny_data, kept_warm, monkeypatch):
    waiting = warm._state["waiting"].process
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # torch read it as the warm process imported it
    run = launch(tiny_data, epochs=1)
    until(lambda: run.status()["state"] not in LIVE_STATES, "the run to end")
    assert run.status()["state"] == "finished" and run.status()["pid"] != waiting.pid
    assert waiting.wait(TIMEOUT_S) == 0  # its pipe closed: it exited by itself


def test_a_waiting_process_exits_when_the_app_that_keeps_it_dies(tmp_path):
    app = textwrap.dedent("""
        import sys, time
        from cinic.runs import warm
        warm.keep_warm()
        assert warm.wait_ready(120)
        print(warm._state["waiting"].process.pid, flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", app], stdout=subprocess.PIPE, env=env,
                              cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        pid = int(parent.stdout.readline())
        assert running(pid)
    finally:
        parent.kill()  # the app dies at once, no clean-up of its own; our own child
        parent.wait()
    until(lambda: not running(pid), "the orphaned warm process to exit")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whoever adopts it, maybe later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
