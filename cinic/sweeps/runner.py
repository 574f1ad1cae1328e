"""Sweeps: a grid of trainings run on Ray, each trial an ordinary run folder, summarised over seeds.

The folders, under the runs root:

    <root>/<trial name>/            one ordinary run folder per trial (listed by `runs`, Results, Compare)
    <root>/sweeps/<sweep name>/
        spec.json                   the checked spec (data resolved): a rerun must match it
        trials.json                 [{"name", "settings"}]: which run folders are this sweep's trials
        sweep.json                  the sweep's state: queued | running | finished | stopped | failed, pid
        summary.json                trials and variants (mean, std, 95% CI over seeds), written at the end
        stop                        dropped by `stop_sweep` (the app's Stop button); the sweep stops its trials

Trials live at the top of the runs root, like any run, so nothing that lists
runs needs to know about sweeps; `trials.json` groups them.

A sweep holds the runs root's training lock for its whole length, as one
training would, so a training started alone from the Train page queues behind
it; its own trials run side by side without queuing (`train.train_claimed`).
Ray schedules them: each asks for its CPUs and, where the cluster has GPUs, a
fraction of one, so several LeNets share a GPU. A rerun of the same spec skips
finished trials and resumes the others from their last checkpoint; a trial
that fails is recorded with its error and the others go on; Ctrl-C or a stop
request stops every trial after it saves.

`import ray` happens only inside the functions that run trials: the app and the
other commands start without it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from cinic import paths

from cinic.analysis import stats
from cinic.errors import CinicError
from cinic.runs.folder import LIVE_STATES, SWEEPS, TRAINING_LOCK, RunError, RunFolder, check_run_name, write_atomically
from cinic.runs.process import is_training_process, this_process
from cinic.sweeps.spec import SweepSpec, check_resources_fit, parse_spec, variant_of
from cinic.workers import usable_cores

SPEC, TRIALS, STATE, SUMMARY, LOG, STOP = (
    "spec.json", "trials.json", "sweep.json", "summary.json", "sweep.log", "stop")
SWEEP_STATES = ("queued", "running", "finished", "stopped", "failed")
POLL_S = 1.0            # how often the sweep looks for a finished trial or a stop request
STOP_GRACE_S = 300.0    # how long a stopped sweep waits for its trials to save before cancelling them


class SweepError(CinicError):
    """A sweep that cannot start or be found: its message says why and what to do."""


# --- where sweeps live ------------------------------------------------------------------
def sweeps_root(root=None) -> Path:
    return Path(root or paths.runs_root()) / SWEEPS


def sweep_folder(name: str, root=None) -> Path:
    return sweeps_root(root) / name


def list_sweeps(root=None) -> list[dict]:
    """Every sweep under the runs root, newest first: name, path, state, trials (how many), runs (their
    names), created."""
    found = []
    base = sweeps_root(root)
    if not base.is_dir():
        return []
    for folder in base.iterdir():
        if (folder / TRIALS).is_file():
            state, trials = sweep_state(folder), trial_rows(folder, root)
            found.append({"name": folder.name, "path": str(folder), "state": shown_state(state["state"], trials),
                          "trials": len(trials), "runs": [t["name"] for t in trials],
                          "created": _number_or(state.get("created"), folder.stat().st_mtime)})
    return sorted(found, key=lambda s: s["created"], reverse=True)


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return default


def _number_or(value, default: float) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _trials_of(folder: Path) -> list[dict]:
    """trials.json's entries that can name a trial ({"name": a run name, "settings": {...}}); a damaged
    file or entry is left out, so one hand-edited sweep hides nothing else (Compare reads every sweep)."""
    entries = _read_json(folder / TRIALS, [])
    good = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            if isinstance(entry, dict) and isinstance(entry.get("settings"), dict):
                check_run_name(entry.get("name"))  # never a path out of the runs root
                good.append(entry)
        except RunError:
            continue
    return good


def _write_json(path: Path, value) -> None:
    write_atomically(path, json.dumps(value, indent=2).encode())


# --- the sweep's own state -----------------------------------------------------------------
def sweep_state(folder: Path) -> dict:
    """sweep.json; a live state whose process is gone reads as "interrupted" (rerun the sweep)."""
    state = _read_json(Path(folder) / STATE, {})
    if not isinstance(state, dict) or state.get("state") not in SWEEP_STATES:
        return {"state": "never started", "error": None}
    updated = state.get("updated")
    recent = isinstance(updated, (int, float)) and time.time() - updated < 60  # a hand-edited file: not recent
    launching = state.get("pid") is None and recent
    if state["state"] in ("queued", "running") and not launching and not is_training_process(state):
        state.update(state="interrupted", error=state.get("error") or "the sweep's process ended (killed?)")
    return state


def shown_state(state: str, trials: list[dict]) -> str:
    """The sweep's state as every view shows it. Its process outlives its last trial by seconds (Ray
    shuts down, the summary is written): once no trial is queued or running, the trials say how it
    ended, so no view says "running" (nor offers Stop) beside 6 of 6 finished trials."""
    if state in ("queued", "running") and trials and not any(t["state"] in LIVE_STATES for t in trials):
        return "finished" if all(t["state"] == "finished" for t in trials) else "stopped"
    return state


def _write_state(folder: Path, state: str, **fields) -> None:
    current = _read_json(folder / STATE, {})
    current = current if isinstance(current, dict) else {}
    current.update(fields, state=state, updated=time.time())
    current.setdefault("created", time.time())
    current.setdefault("error", None)
    _write_json(folder / STATE, current)


def stop_sweep(folder) -> None:
    """Ask a running sweep to stop: each trial saves and ends as cancelled; a rerun resumes them."""
    folder = Path(folder)
    if sweep_state(folder)["state"] not in ("queued", "running"):
        raise SweepError(f"sweep {folder.name} is not running: there is nothing to stop")
    (folder / STOP).touch()


# --- preparing: the sweep folder and one run folder per trial ----------------------------------------
def prepare(spec: SweepSpec, root=None) -> Path:
    """The sweep folder and every trial's run folder (made once, found again on a rerun). Every
    check comes first: a refused sweep writes nothing (no trials.json naming another's runs)."""
    root = Path(root or paths.runs_root())
    folder = sweep_folder(spec.name, root)
    stored = _read_json(folder / SPEC, None)
    if stored is not None and _identity(stored) != _identity(spec.to_dict()):
        raise SweepError(f"a sweep named {spec.name} already exists ({folder}) with other settings; give this one "
                         "another \"name\" in its spec, or delete that folder to start it over")
    for trial in spec.trials:
        path = root / trial.name
        if (path / "config.json").is_file() and _identity(RunFolder(path).config()) != _identity(trial.config):
            raise SweepError(f"the run folder {path} exists but is not the trial {trial.name} of this sweep "
                             "(other settings); rename or delete it, or rename the sweep")
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / SPEC, spec.to_dict())
    _write_json(folder / TRIALS, [{"name": t.name, "settings": t.settings} for t in spec.trials])
    for trial in spec.trials:
        if not (root / trial.name / "config.json").is_file():
            RunFolder.create(trial.config, root, trial.name)
    return folder


def _identity(config: dict) -> dict:
    """What must match for a rerun to be the same sweep or trial: not the resources asked of Ray,
    nor the mean and std a training fills in."""
    return {k: v for k, v in config.items() if k not in ("resources", "mean", "std")}


# --- reading a sweep's trials and summary --------------------------------------------------------
def trial_rows(folder, root=None) -> list[dict]:
    """Each trial of the sweep in `folder`: path, name, settings, state, test_acc, valid_acc, epoch, error."""
    folder = Path(folder)
    root = Path(root) if root else folder.parent.parent
    rows = []
    for trial in _trials_of(folder):
        run = RunFolder(root / trial["name"])
        status = run.status() if (run.path / "config.json").is_file() else {"state": "missing"}
        rows.append({"path": str(run.path), "name": trial["name"], "settings": trial["settings"],
                     "state": status["state"], "test_acc": status.get("test_acc"),
                     "valid_acc": status.get("best_valid_acc"), "epoch": status.get("epoch"),
                     "epochs": status.get("epochs"), "error": status.get("error")})
    return rows


def variants(trials: list[dict]) -> list[dict]:
    """One entry per setting of the axes other than seed, over its finished trials: n, and the
    mean, sample std and 95% confidence interval of test and best validation accuracy."""
    groups: dict[str, list[dict]] = {}
    for trial in trials:
        groups.setdefault(json.dumps(variant_of(trial["settings"]), sort_keys=True), []).append(trial)
    result = []
    for members in groups.values():
        done = [t for t in members if t["state"] == "finished"]
        test = stats.summarize(t["test_acc"] for t in done)
        valid = stats.summarize(t["valid_acc"] for t in done)
        result.append({"settings": variant_of(members[0]["settings"]), "n": len(done), "trials": len(members),
                       "test_mean": test["mean"], "test_std": test["std"], "test_ci95": test["ci95"],
                       "valid_mean": valid["mean"], "valid_std": valid["std"], "valid_ci95": valid["ci95"]})
    return result


def summarize_sweep(folder, root=None) -> dict:
    """{"sweep", "path", "state", "trials", "variants"}: what `sweep --json` prints and summary.json holds."""
    folder = Path(folder)
    trials = trial_rows(folder, root)
    return {"sweep": folder.name, "path": str(folder), "state": shown_state(sweep_state(folder)["state"], trials),
            "trials": trials, "variants": variants(trials)}


def sweeps_of_runs(names, root=None) -> dict[str, dict]:
    """The sweeps that the runs named in `names` belong to: {sweep: {"trials", "variants"}} over those
    runs only (Compare groups the runs it shows by variant)."""
    names, found = set(names), {}
    for sweep in list_sweeps(root):
        trials = [t for t in trial_rows(sweep["path"], root) if t["name"] in names]
        if trials:
            found[sweep["name"]] = {"trials": trials, "variants": variants(trials)}
    return found


# --- running ---------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, root=None, address: str | None = None, max_concurrent: int | None = None,
              log=print) -> dict:
    """Run every unfinished trial of `spec` on Ray and return the summary (also in summary.json)."""
    from filelock import FileLock, Timeout

    root = Path(root or paths.runs_root()).resolve()
    if address:
        check_reachable(address)  # before any folder is made: Ray itself retries for minutes
    else:  # a cluster is measured once connected (_run_on_ray)
        check_resources_fit(spec, usable_cores(), _local_gpus(), "this machine")
    folder = prepare(spec, root)
    current = sweep_state(folder)
    if current["state"] in ("queued", "running") and current.get("pid") not in (None, os.getpid()):
        raise SweepError(f"sweep {spec.name} is already running (pid {current['pid']}); stop it first, or wait")
    (folder / STOP).unlink(missing_ok=True)
    todo = [RunFolder(root / t.name) for t in spec.trials if RunFolder(root / t.name).status()["state"] != "finished"]
    for run in todo:
        _refuse_if_training(run)
        run.clear_stop()
        run.write_status("queued", **this_process(), error=None)  # ours until a Ray worker takes it
    _write_state(folder, "queued", **this_process(), address=address, error=None)
    log(f"sweep {spec.name}: {len(spec.trials)} trials, {len(spec.trials) - len(todo)} finished already")
    lock = FileLock(str(root / TRAINING_LOCK))
    state, error = "stopped", None
    try:
        if not _wait_for_lock(lock, folder, Timeout):
            _cancel(todo, "the sweep was stopped while it waited for another training")
        else:
            try:
                _write_state(folder, "running", **this_process())
                stopped = _run_on_ray(spec, todo, address, max_concurrent, folder, log) if todo else False
                state = "stopped" if stopped else "finished"
            except BaseException as e:
                state, error = ("stopped", None) if isinstance(e, KeyboardInterrupt) else ("failed", str(e))
                raise
            finally:
                lock.release()
    finally:
        (folder / STOP).unlink(missing_ok=True)
        _write_state(folder, state, error=error)
        summary = summarize_sweep(folder, root)
        _write_json(folder / SUMMARY, summary)
    return summary


def _wait_for_lock(lock, folder: Path, Timeout) -> bool:
    """Wait while another training (or sweep) holds the device; False when stopped meanwhile."""
    try:
        while True:
            try:
                lock.acquire(timeout=POLL_S)
                return True
            except Timeout:
                if (folder / STOP).exists():
                    return False
    except KeyboardInterrupt:
        return False


def _refuse_if_training(run: RunFolder) -> None:
    status = run.status()
    if status["state"] in LIVE_STATES and status.get("pid") not in (None, os.getpid()) \
            and is_training_process(status):
        raise SweepError(f"the trial {run.name} is being trained by process {status['pid']}; "
                         f"stop it (`python -m cinic stop {run.name}`) or wait, then rerun the sweep")


def _cancel(runs: list[RunFolder], why: str) -> None:
    for run in runs:
        if run.status()["state"] in LIVE_STATES:
            run.write_status("cancelled", error=why)


def _run_on_ray(spec: SweepSpec, todo: list[RunFolder], address, max_concurrent, folder: Path, log) -> bool:
    """Submit the trials (at most `max_concurrent` at a time), collect them as they end; True when stopped."""
    import ray

    _connect(address)
    try:
        try:
            check_resources_fit(spec, ray.cluster_resources().get("CPU", 0), ray.cluster_resources().get("GPU", 0),
                                f"the Ray cluster at {address}" if address else "this machine's Ray")
        except CinicError as e:
            _cancel(todo, str(e))
            raise
        gpus = spec.resources["gpus"] if ray.cluster_resources().get("GPU", 0) > 0 else 0
        cpus = spec.resources["cpus"]
        # max_retries=1: a worker that dies (killed, out of memory) is retried once, and the retry
        # resumes from the trial's last checkpoint; a trial that raises is not retried.
        task = ray.remote(run_trial).options(num_cpus=cpus, num_gpus=gpus, max_retries=1)
        log(f"on Ray: {ray.cluster_resources().get('CPU', 0):g} CPUs, {ray.cluster_resources().get('GPU', 0):g} GPUs;"
            f" each trial {cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else ""))
        waiting, running = list(todo), {}
        limit = max_concurrent or len(todo)
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    run = waiting.pop(0)
                    running[task.remote(str(run.path), max(1, int(cpus)))] = run
                if (folder / STOP).exists():
                    raise KeyboardInterrupt
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in done:
                    _report(running.pop(ref), ref, log)
        except KeyboardInterrupt:
            log("stopping: every running trial saves its last epoch; rerun the sweep to resume them")
            _cancel(waiting, "the sweep was stopped before this trial started")
            _stop_running(running, log)
            return True
        return False
    finally:
        ray.shutdown()


def _report(run: RunFolder, ref, log) -> None:
    """One ended trial in the log; a trial whose worker died is marked failed with Ray's reason."""
    import ray

    try:
        ray.get(ref)
    except ray.exceptions.RayError as e:
        if run.status()["state"] in LIVE_STATES + ("interrupted",):
            run.write_status("failed", error=f"its Ray worker failed: {str(e).splitlines()[0][:300]}")
    status = run.status()
    figures = f" test {status['test_acc']:.2f}%" if status.get("test_acc") is not None else ""
    log(f"{run.name}: {status['state']}{figures}" + (f" ({status['error']})" if status.get("error") else ""))


def _stop_running(running: dict, log) -> None:
    """Stop files for the running trials, then wait for them to save; a second Ctrl-C cancels them at once."""
    import ray

    for run in running.values():
        run.request_stop()
    deadline = time.time() + STOP_GRACE_S
    try:
        while running and time.time() < deadline:
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in done:
                _report(running.pop(ref), ref, log)
    except KeyboardInterrupt:
        pass
    for ref, run in running.items():  # still not stopped: cancel, their last checkpoint stays
        ray.cancel(ref, force=True)
        _cancel([run], "cancelled by the sweep's stop; resume it by rerunning the sweep")


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """SweepError at once when a cluster's HOST:PORT does not answer ("auto" is Ray's to find)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        if address == "auto":
            return
        raise SweepError(f"--address {address!r}: give the head's HOST:PORT, as `ray start --head` printed it")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise SweepError(f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                         "`ray start --head` and give the address it prints") from None


def _local_gpus() -> int:
    """The GPUs a local Ray finds: the CUDA devices torch sees."""
    import torch

    return torch.cuda.device_count()


def _connect(address: str | None) -> None:
    """An embedded local Ray (the default), or the cluster at `address`; quiet either way.

    Trials import `cinic` from this checkout: locally through PYTHONPATH, on a
    cluster by shipping the package (runtime_env py_modules), so nothing is
    installed on the other machines but the requirements.
    """
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from an offline machine
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR)
    package = Path(__file__).resolve().parents[1]  # the cinic package, above sweeps/
    try:
        if address:
            ray.init(address=address, runtime_env={"py_modules": [str(package)]}, **quiet)
        else:
            path = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
            ray.init(num_cpus=usable_cores(), include_dashboard=False, object_store_memory=100 * 2**20,
                     runtime_env={"env_vars": {"PYTHONPATH": path}}, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise SweepError(f"cannot start or join {where}: {str(e).splitlines()[0][:300]}"
                         + ("; if the cluster uses Ray's token authentication (the default of `ray start` since "
                            "Ray 2.59), run the sweep with RAY_AUTH_MODE=token and the cluster's token on this "
                            "machine" if address else "")) from None


# --- one trial, in a Ray worker ----------------------------------------------------------------------
def run_trial(run_path: str, threads: int = 1) -> dict:
    """Train one trial's run folder: resumed from its last checkpoint when it has one, else afresh.

    Its log goes to the run's train.log as a training alone would write it; the
    result is in the run folder, and returned as {"state", "error"}.
    """
    import socket
    import traceback

    import torch

    from cinic.training.loop import train_claimed

    torch.set_num_threads(threads)  # Ray gave this trial `threads` CPUs; more would fight the others
    run = RunFolder(run_path)
    resume = run.has_checkpoint("last")
    if not resume:
        run.truncate_metrics_after(0)  # a start that never finished an epoch: begin clean
    with open(run.log_path, "a") as log_file:
        def log(message):
            print(message, file=log_file, flush=True)

        log(f"sweep trial on {socket.gethostname()}, pid {os.getpid()}, {threads} thread(s)"
            + (": resuming from its last checkpoint" if resume else ""))
        try:
            train_claimed(run, resume=resume, log=log)
        except KeyboardInterrupt:  # Ctrl-C reached the worker: the last checkpoint is intact
            run.write_status("cancelled", error="stopped by Ctrl-C; rerun the sweep to resume it")
        except Exception as e:  # recorded in status.json by the training; the sweep goes on
            log(str(e) if isinstance(e, CinicError) else traceback.format_exc())
    status = run.status()
    return {"state": status["state"], "error": status.get("error")}


# --- the app's launcher ----------------------------------------------------------------------------
def launch_sweep(spec: dict, root=None, max_concurrent: int | None = None) -> Path:
    """Check `spec`, write it into its sweep folder and start `python -m cinic sweep` on it as its own
    process (the app's Launch button), at most `max_concurrent` trials at once when given; returns the
    sweep folder at once. Output goes to sweep.log."""
    import subprocess
    import sys

    root = Path(root or paths.runs_root()).resolve()
    checked = parse_spec(spec, default_name=spec.get("name") or "sweep")
    folder = sweep_folder(checked.name, root)
    if sweep_state(folder)["state"] in ("queued", "running"):
        raise SweepError(f"sweep {checked.name} is already running; stop it first or give this one another name")
    prepare(checked, root)
    _write_state(folder, "queued", pid=None, pid_start=None, error=None)
    with open(folder / LOG, "ab") as log:
        limit = ["--max-concurrent", str(max_concurrent)] if max_concurrent else []
        subprocess.Popen([sys.executable, "-m", "cinic", "sweep", str(folder / SPEC), "--runs-root", str(root), *limit],
                         cwd=paths.project_root(), stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    return folder


def spec_dict(folder) -> dict:
    """The spec a sweep folder holds (spec.json), to launch it again: it resumes where it stopped."""
    spec = _read_json(Path(folder) / SPEC, None)
    if not isinstance(spec, dict):
        raise SweepError(f"{Path(folder) / SPEC} is missing or damaged; start the sweep again from its spec file")
    return spec
