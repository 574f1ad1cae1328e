"""cinic/sweeps/runner.py and `python -m cinic sweep`: real trainings on Ray, each trial an ordinary run folder.

The sweeps here are real (an embedded local Ray, real LeNets on the shared
sample, 1 epoch); each Ray start costs seconds on 2 cores, so they are marked
slow and share what they can.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cinic import cli
from cinic.runs.folder import RunFolder, list_runs
from cinic.sweeps.runner import SweepError, list_sweeps, prepare, stop_sweep, summarize_sweep, sweep_state
from cinic.sweeps.spec import parse_spec

PROJECT = Path(__file__).resolve().parents[1]


def write_spec(path: Path, data, **fields) -> Path:
    path.write_text(json.dumps({"data": str(data), "epochs": 1, "batch_size": 64, **fields}))
    return path


@pytest.fixture(scope="module")
def sweep_2x2(sample_root, tmp_path_factory):
    """A finished 2 presets x 2 seeds x 1 epoch sweep on the shared sample, through the CLI."""
    base = tmp_path_factory.mktemp("sweep")
    spec = write_spec(base / "presets.json", sample_root, grid={"preset": ["base", "stepping"], "seed": [0, 1]})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CINIC_CACHE", str(base / "cache"))
        capture = subprocess.run([sys.executable, "-m", "cinic", "sweep", str(spec), "--json", "--runs-root",
                                  str(base / "runs")], cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert capture.returncode == 0, capture.stderr
    return base, spec, json.loads(capture.stdout)


@pytest.mark.slow
def test_a_2x2_sweep_gives_four_run_folders_and_the_summary(sweep_2x2):
    base, _, result = sweep_2x2
    runs = {r["name"]: r for r in list_runs(base / "runs")}
    assert sorted(runs) == ["presets_preset-base_seed-0", "presets_preset-base_seed-1",
                            "presets_preset-stepping_seed-0", "presets_preset-stepping_seed-1"]
    assert all(r["state"] == "finished" and r["test_acc"] > 10 for r in runs.values())
    assert [t["name"] for t in result["trials"]] == sorted(runs)
    assert all(set(t) >= {"path", "settings", "state", "test_acc", "valid_acc"} for t in result["trials"])
    for variant in result["variants"]:
        members = [t for t in result["trials"] if t["settings"]["preset"] == variant["settings"]["preset"]]
        test = np.array([t["test_acc"] for t in members])
        assert variant["n"] == 2 and variant["settings"] == {"preset": members[0]["settings"]["preset"]}
        assert variant["test_mean"] == pytest.approx(test.mean())
        assert variant["test_std"] == pytest.approx(test.std(ddof=1))
        assert variant["valid_mean"] == pytest.approx(np.mean([t["valid_acc"] for t in members]))
        low, high = variant["test_ci95"]
        assert low < variant["test_mean"] < high
    folder = base / "runs" / "sweeps" / "presets"
    assert json.loads((folder / "summary.json").read_text())["variants"] == result["variants"]
    assert [s["name"] for s in list_sweeps(base / "runs")] == ["presets"]
    assert sweep_state(folder)["state"] == "finished"


@pytest.mark.slow
def test_a_rerun_skips_finished_trials(sweep_2x2, capsys):
    base, spec, result = sweep_2x2
    checkpoints = {t["name"]: Path(t["path"], "last.pt").stat().st_mtime_ns for t in result["trials"]}
    code = cli.main(["sweep", str(spec), "--runs-root", str(base / "runs")])
    out = capsys.readouterr().out
    assert code == 0 and "4 trials, 4 finished already" in out and "on Ray" not in out
    assert {t["name"]: Path(t["path"], "last.pt").stat().st_mtime_ns for t in result["trials"]} == checkpoints


def test_the_same_name_with_other_settings_is_refused(tiny_data, tmp_path):
    spec = {"name": "s", "data": str(tiny_data), "epochs": 1, "grid": {"seed": [0, 1]}}
    prepare(parse_spec(spec), tmp_path)
    assert [r["state"] for r in list_runs(tmp_path)] == ["queued", "queued"]
    with pytest.raises(SweepError, match="already exists .* with other settings"):
        prepare(parse_spec({**spec, "epochs": 2}), tmp_path)
    assert summarize_sweep(tmp_path / "sweeps" / "s")["variants"][0]["n"] == 0


@pytest.mark.slow
def test_a_failing_trial_is_reported_and_the_others_finish(tiny_data, tmp_path, capsys):
    # A device that only fails at train time (on a cluster the device is the worker's, so the
    # spec cannot refuse it up front).
    spec = write_spec(tmp_path / "devices.json", tiny_data, batch_size=32, grid={"device": ["cuda:99", "cpu"]})
    code = cli.main(["sweep", str(spec), "--json", "--runs-root", str(tmp_path / "runs")])
    result = json.loads(capsys.readouterr().out)
    bad, good = result["trials"]
    assert code == 1
    assert bad["state"] == "failed" and "CUDA" in bad["error"]
    assert good["state"] == "finished" and good["test_acc"] is not None
    assert [v["n"] for v in result["variants"]] == [0, 1]


def _run_sweep_process(spec: Path, runs: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cinic", "sweep", str(spec), "--runs-root", str(runs)],
                            cwd=PROJECT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_epoch(run: RunFolder, epoch: int, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run.status()
        if status["state"] == "running" and (status.get("epoch") or 0) >= epoch:
            return status
        time.sleep(0.2)
    raise AssertionError(f"{run.name} never reached epoch {epoch}: {run.status()}")


def _wait_for_state(run: RunFolder, state: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while run.status()["state"] != state:
        assert time.time() < deadline, f"{run.name} never became {state}: {run.status()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_sweep_resumes_its_trial_from_the_last_checkpoint(sample_root, tmp_path):
    spec = write_spec(tmp_path / "k.json", sample_root, epochs=4, grid={"seed": [0]})
    runs, env = tmp_path / "runs", dict(os.environ, CINIC_CACHE=str(tmp_path / "cache"))
    first = _run_sweep_process(spec, runs, env)
    run = RunFolder(runs / "k_seed-0")
    _wait_for_epoch(run, 1)
    first.send_signal(signal.SIGKILL)  # the sweep dies at once; Ray's processes die with it
    first.wait(timeout=30)
    _wait_for_state(run, "interrupted")  # once Ray's trial process is gone too
    saved = len(run.epochs())

    again = subprocess.run([sys.executable, "-m", "cinic", "sweep", str(spec), "--runs-root", str(runs)],
                           cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert run.status()["state"] == "finished"
    assert f"resuming at epoch {saved + 1}" in run.log_path.read_text()
    assert [e["epoch"] for e in run.epochs()] == [1, 2, 3, 4]  # none lost, none twice


@pytest.mark.slow
def test_a_stop_request_makes_every_trial_save_and_stop(sample_root, tmp_path):
    spec = write_spec(tmp_path / "st.json", sample_root, epochs=6, grid={"seed": [0, 1]})
    runs, env = tmp_path / "runs", dict(os.environ, CINIC_CACHE=str(tmp_path / "cache"))
    process = _run_sweep_process(spec, runs, env)
    trials = [RunFolder(runs / f"st_seed-{s}") for s in (0, 1)]
    _wait_for_epoch(trials[0], 1)
    stop_sweep(runs / "sweeps" / "st")
    assert process.wait(timeout=300) == 1
    assert sweep_state(runs / "sweeps" / "st")["state"] == "stopped"
    assert {t.status()["state"] for t in trials} <= {"cancelled", "finished"}
    assert any(t.status()["state"] == "cancelled" for t in trials)
    assert trials[0].has_checkpoint("last")


@pytest.mark.parametrize("damaged", [{"state": "running", "updated": "yesterday"}, {"state": "running", "pid": "x"},
                                     ["not", "an", "object"], {"state": 3},
                                     {"state": "finished", "created": "monday"}])
def test_a_damaged_sweep_state_reads_as_a_state_not_a_traceback(tmp_path, damaged):
    """sweep.json edited by hand or cut short: the Sweeps page and `sweep` read a state, never raise."""
    folder = tmp_path / "sweeps" / "s"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(damaged))
    assert sweep_state(folder)["state"] in ("interrupted", "never started", "finished")
    (tmp_path / "sweeps" / "other").mkdir()
    for name, created in (("s", None), ("other", 5.0)):
        (tmp_path / "sweeps" / name / "trials.json").write_text("[]")
    (tmp_path / "sweeps" / "other" / "sweep.json").write_text(json.dumps({"state": "finished", "created": 5.0}))
    assert sorted(s["name"] for s in list_sweeps(tmp_path)) == ["other", "s"]  # sorted by time, never raising


@pytest.mark.parametrize("trials", [{"not": "a list"}, ["a-run"], [{"name": "../../etc", "settings": {}}],
                                    [{"name": "ok-run", "settings": "seed=0"}]])
def test_a_damaged_trials_file_hides_no_other_sweep(tmp_path, trials):
    """Compare reads every sweep to group the runs it shows: one hand-edited trials.json lists no trial of
    its own (and never a path outside the runs root), and the other sweeps are read as before."""
    from cinic.sweeps.runner import sweeps_of_runs

    root = tmp_path / "runs"
    for name, content in (("bad", trials), ("good", [{"name": "g-1", "settings": {"seed": 0}}])):
        (root / "sweeps" / name).mkdir(parents=True)
        (root / "sweeps" / name / "trials.json").write_text(json.dumps(content))
    RunFolder.create({"preset": "base", "epochs": 1}, root=root, name="g-1").write_status("finished", test_acc=50.0)
    assert {s["name"]: s["trials"] for s in list_sweeps(root)} == {"bad": 0, "good": 1}
    assert list(sweeps_of_runs(["g-1", "ok-run", "a-run"], root)) == ["good"]


def test_a_refused_sweep_writes_nothing(tiny_data, tmp_path):
    """Issue 20, item 9: a sweep refused for a trial name already taken by another run leaves no
    spec.json or trials.json that would show that run's result under its settings."""
    RunFolder.create({"epochs": 5, "data": str(tiny_data)}, root=tmp_path, name="taken_seed-0")
    spec = {"name": "taken", "data": str(tiny_data), "epochs": 1, "grid": {"seed": [0, 1]}}
    with pytest.raises(SweepError, match="exists but is not the trial"):
        prepare(parse_spec(spec), tmp_path)
    assert not (tmp_path / "sweeps").exists() and list_sweeps(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken_seed-0"]
