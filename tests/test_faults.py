"""Faults during training, each with real processes where the fault belongs to a process.

SIGKILL in the middle of an epoch and in the middle of writing a checkpoint; a
disk that fills while a checkpoint, the metrics, the decoded cache or the
augmented images are written (a real tmpfs where this machine lets us mount
one, a patched write always);
no CUDA and no memory; the app's page reloaded, its tab closed and its server
restarted while a training goes on; two launches at once. After each fault:
nothing finished before it is lost, the run never reads "running" forever, and
resuming gives every epoch exactly once.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cinic import cli

from cinic.data import dataset as data
from cinic.runs.folder import LIVE_STATES, RunError, RunFolder, list_runs
from cinic.runs.launch import launch_training
from cinic.runs import checkpoints
from cinic.runs.process import process_start
from cinic.runs.config import make_config

PROJECT = Path(__file__).resolve().parents[1]
PAGES = "pages"  # Streamlit's own multipage folder: every file in it is a page
FULL = "No space left on device. Free some disk space"


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models on a shared CPU train fastest on one thread; child processes inherit it too."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # "cpu" runs alike on a machine with a GPU
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pid_alive(pid: int) -> bool:
    return process_start(pid) is not None


@pytest.fixture
def children():
    """Processes this test starts (Popen objects or run folders); any still alive at the end is killed."""
    started: list = []
    yield started
    for child in started:
        pid = child.pid if isinstance(child, subprocess.Popen) else child.status().get("pid")
        if isinstance(pid, int) and pid > 0 and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        if isinstance(child, subprocess.Popen):
            child.wait(timeout=30)


# --- helpers --------------------------------------------------------------------------------------
def new_run(tiny_data, root=None, name=None, **settings) -> RunFolder:
    """A run of the base LeNet with the report's recipe on the tiny set (160 training images)."""
    settings = {"epochs": 4, "batch_size": 4, "device": "cpu", "seed": 1, **settings}
    config = make_config(str(tiny_data), preset="base", recipe="report", **settings)
    return RunFolder.create(config.to_dict(), root=root, name=name)


def start(run: RunFolder, argv: list[str]) -> subprocess.Popen:
    log = open(run.log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, *argv], cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def epoch_lines(run: RunFolder) -> list[int]:
    """Every epoch record in metrics.jsonl as written, duplicates included."""
    return [r["epoch"] for r in run.metrics() if r.get("kind") == "epoch"]


def batch_steps(run: RunFolder) -> list[int]:
    return [r["step"] for r in run.metrics() if r.get("kind") == "batch"]


def every_batch_step(run: RunFolder) -> list[int]:
    """The steps an uninterrupted run logs: every 10th batch of every epoch."""
    config = run.config()
    per_epoch = -(-160 // config["batch_size"])  # 16 training images per class in tiny_data
    return [(e - 1) * per_epoch + s for e in range(1, config["epochs"] + 1) for s in range(0, per_epoch, 10)]


def error_text(err: str) -> str:
    """The error the CLI printed, without the progress bars drawn before it on stderr."""
    assert "error: " in err, err
    return err[err.index("error: "):]


def wait_for(condition, what: str, timeout: float = 180, run: RunFolder | None = None) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            tail = run.log_tail() if run is not None else ""
            raise AssertionError(f"gave up waiting for {what} after {timeout} s\n{tail}")
        time.sleep(0.02)


def wait_until_ended(run: RunFolder, timeout: float = 180) -> dict:
    wait_for(lambda: run.status()["state"] not in LIVE_STATES, f"{run.name} to end", timeout, run)
    return run.status()


def freeze_mid_epoch(proc: subprocess.Popen, run: RunFolder, timeout: float = 180) -> int:
    """SIGSTOP the training inside an epoch after the first; return that epoch.

    A batch record of epoch e with no epoch record for e means epoch e has
    begun, so last.pt (saved before it began) holds epoch e - 1. Checked again
    once the process is frozen, as it may have moved on while we looked.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the training ended early:\n{run.log_tail()}"
        records = run.metrics()
        started = {r["epoch"] for r in records if r.get("kind") == "batch"}
        if any(e >= 2 for e in started):
            os.kill(proc.pid, signal.SIGSTOP)
            records = run.metrics()
            done = {r["epoch"] for r in records if r.get("kind") == "epoch"}
            epoch = max(r["epoch"] for r in records if r.get("kind") == "batch")
            if epoch not in done and epoch - 1 in done:
                return epoch
            os.kill(proc.pid, signal.SIGCONT)  # between epochs: let it run into the next one
        time.sleep(0.01)
    raise AssertionError(f"never caught the training in the middle of an epoch\n{run.log_tail()}")


def assert_resumed_exactly(run: RunFolder) -> None:
    """Finished, each epoch recorded once, every batch record once and in order, evaluated."""
    status = run.status()
    assert status["state"] == "finished", (status, run.log_tail())
    assert epoch_lines(run) == list(range(1, run.config()["epochs"] + 1))
    assert batch_steps(run) == every_batch_step(run)
    assert checkpoints.load(run, "last")["epoch"] == run.config()["epochs"]
    assert run.evaluation()["n"] == 60
    assert not list(run.path.glob(".*.tmp")), "a half-written file was left behind"


# --- SIGKILL --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_in_the_middle_of_an_epoch_then_resume_from_the_app(tiny_data, children):
    run = new_run(tiny_data, epochs=4, batch_size=2)
    proc = start(run, ["-m", "cinic", "train", "--run", str(run.path), "--no-progress"])
    children.append(proc)
    epoch = freeze_mid_epoch(proc, run)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    status = run.status()
    assert status["state"] == "interrupted"
    assert status["error"] == "the training process ended without saying why (killed?)"
    assert checkpoints.load(run, "last")["epoch"] == epoch - 1  # the last good checkpoint loads
    assert epoch_lines(run) == list(range(1, epoch))
    assert [s["state"] for s in list_runs(run.path.parent)] == ["interrupted"]

    children.append(launch_training(resume_run=run))  # what the Train page's Resume button does
    wait_until_ended(run)
    assert f"resuming at epoch {epoch} " in run.log_path.read_text()
    assert_resumed_exactly(run)


# A child that dies by SIGKILL as it renames epoch 2's last.pt into place, its
# temp file cut in half: what a kill in the middle of writing leaves on disk.
KILLED_WHILE_SAVING = """
import os, signal, sys
real_replace, seen = os.replace, []

def dying_replace(src, dst, *args, **kwargs):
    if os.path.basename(str(dst)) == "last.pt":
        seen.append(dst)
        if len(seen) == 2:
            os.truncate(src, os.path.getsize(src) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)

os.replace = dying_replace
from cinic.cli import main
sys.exit(main(["train", "--run", sys.argv[1], "--no-progress"]))
"""


@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tiny_data, children, capsys):
    run = new_run(tiny_data, epochs=3)
    proc = start(run, ["-c", KILLED_WHILE_SAVING, str(run.path)])
    children.append(proc)
    assert proc.wait(timeout=180) == -signal.SIGKILL, run.log_tail()

    assert run.status()["state"] == "interrupted"
    (half,) = run.path.glob(".last.pt.*.tmp")  # the interrupted write, under a name no reader opens
    assert half.stat().st_size < run.checkpoint_path("last").stat().st_size
    assert checkpoints.load(run, "last")["epoch"] == 1
    assert checkpoints.load(run, "best")["epoch"] in (1, 2)  # written before last.pt, whole either way
    assert epoch_lines(run) == [1, 2]  # epoch 2 was recorded, but its checkpoint never landed

    assert cli.main(["train", "--resume", str(run.path), "--no-progress"]) == 0
    assert "resuming at epoch 2 " in capsys.readouterr().out  # epoch 2 is done again, recorded once
    assert_resumed_exactly(run)


# --- a full disk ------------------------------------------------------------------------------------
def fsync_fails_for(predicate):
    """os.fsync raising ENOSPC for files whose path satisfies `predicate`: a disk full on that write."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file an fsync is for")
    real = os.fsync

    def fsync(fd):
        if predicate(Path(os.readlink(f"/proc/self/fd/{fd}"))):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    return fsync


def writes_fail_for(name: str, when):
    """`open` for cinic.runs.folder whose appends to files called `name` raise ENOSPC once `when()` holds."""
    class FullFile(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, mode="r", *args, **kwargs):
        if Path(path).name == name and "a" in mode and when():
            return FullFile()
        return open(path, mode, *args, **kwargs)

    return fake_open


@pytest.mark.parametrize("victim", ["last.pt", "metrics.jsonl"])
def test_a_full_disk_fails_the_run_clearly_and_keeps_the_checkpoint(victim, tiny_data, capsys):
    import cinic.runs.records

    run = new_run(tiny_data, epochs=3, batch_size=32)
    with pytest.MonkeyPatch.context() as disk:  # full from epoch 2 on, until the context ends
        if victim == "last.pt":
            disk.setattr(os, "fsync", fsync_fails_for(
                lambda p: p.name.startswith(".last.pt.") and run.has_checkpoint("last")))
        else:
            disk.setattr(cinic.runs.records, "open", writes_fail_for(victim, lambda: epoch_lines(run)), raising=False)
        code = cli.main(["train", "--run", str(run.path), "--no-progress"])
    err = capsys.readouterr().err

    path = run.path / victim
    expected = (f"could not write {path}: {FULL} and try again; the previous file is intact." if victim == "last.pt"
                else f"could not write {path}: {FULL} and resume the run; the last checkpoint is intact.")
    assert code == 2 and err == f"error: {expected}\n"
    status = run.status()
    assert status["state"] == "failed" and status["error"] == expected  # not "running"
    assert checkpoints.load(run, "last")["epoch"] == 1  # the previous checkpoint is intact
    assert not list(run.path.glob(".*.tmp"))
    assert cli.main(["train", "--resume", str(run.path), "--no-progress"]) == 0
    assert_resumed_exactly(run)


@pytest.fixture
def small_disk(tmp_path):
    """mount(kilobytes) -> a folder on a real tmpfs that size (root only; skipped elsewhere)."""
    mounted: list[Path] = []

    def mount(kilobytes: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command here; the patched-write tests cover a full disk")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the patched-write tests cover it")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_a_really_full_disk_mid_training(tiny_data, small_disk, children):
    disk = small_disk(16 * 1024)
    run = new_run(tiny_data, root=disk, epochs=3, batch_size=2)
    proc = subprocess.Popen([sys.executable, "-m", "cinic", "train", "--run", str(run.path), "--no-progress"],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(proc)
    epoch = freeze_mid_epoch(proc, run)
    filler = fill(disk)
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 2, (out, err)
    assert err.startswith(f"error: could not write {run.path}/") and f"{FULL} and" in err
    # Nothing could be written, not even the status: the ended process makes it read "interrupted".
    assert run.status()["state"] in ("failed", "interrupted")
    assert checkpoints.load(run, "last")["epoch"] == epoch - 1
    assert not list(run.path.glob(".*.tmp"))

    filler.unlink()
    children.append(launch_training(resume_run=run))
    wait_until_ended(run)
    assert_resumed_exactly(run)


@pytest.mark.parametrize("how", ["patched", "tmpfs"])
def test_a_full_disk_while_caching_decoded_images(how, tiny_data, small_disk, monkeypatch, caplog):
    if how == "tmpfs":
        cache = small_disk(256)  # the decoded training split needs 480 KB, the valid split 180 KB
        monkeypatch.setenv("CINIC_CACHE", str(cache))
    else:
        cache = Path(os.environ["CINIC_CACHE"])
    decoded = cache / "decoded"
    with pytest.MonkeyPatch.context() as disk:
        if how == "patched":
            disk.setattr(os, "fsync", fsync_fails_for(lambda p: p.parent.name == "decoded"))
        train = data.load_split(tiny_data, "train")
    assert tuple(train.images.shape) == (160, 3, 32, 32)  # the cache only saves time: the load goes on
    warning = next(r.getMessage() for r in caplog.records if "could not write decoded cache" in r.getMessage())
    assert str(decoded) in warning and "No space left on device" in warning and "decodes again" in warning
    assert [p.name for p in decoded.iterdir() if not p.name.endswith(".lock")] == []  # no partial cache file

    split = "valid" if how == "tmpfs" else "train"  # on the tmpfs only the smaller split fits
    first = data.load_split(tiny_data, split)
    (cached,) = decoded.glob("*.pt")
    assert torch.equal(data.load_split(tiny_data, split).images, first.images)
    assert torch.load(cached, weights_only=True)["images"].shape[0] == len(first.labels)  # whole


@pytest.mark.parametrize("how", ["patched", "tmpfs"])
def test_a_full_disk_while_caching_augmented_images(how, tiny_data, small_disk, monkeypatch, capsys):
    cache = small_disk(1024) if how == "tmpfs" else Path(os.environ["CINIC_CACHE"])
    monkeypatch.setenv("CINIC_CACHE", str(cache))
    data.load_split(tiny_data, "train")  # the decoded split is cached while there is room
    if how == "tmpfs":
        fill(cache)
    with pytest.MonkeyPatch.context() as disk:
        if how == "patched":
            disk.setattr(os, "fsync", fsync_fails_for(lambda p: p.parent.name == "augmented"))
        code = cli.main(["augment", "--data", str(tiny_data), "--pipeline", "seed", "--n", "2000"])
    err = capsys.readouterr().err
    message = error_text(err)
    assert code == 2 and message.startswith(f"error: could not write the augmented images to {cache}/augmented/")
    assert message.endswith(": [Errno 28] No space left on device. Free some disk space and try again.\n")
    assert not list((cache / "augmented").glob("*.tmp"))  # no partial file left to take for a sample


# --- no GPU, no memory ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_cuda_asked_for_without_a_gpu(tiny_data, isolated_dirs, monkeypatch, capsys, children):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = cli.main(["train", "--data", str(tiny_data), "--device", "cuda", "--epochs", "1", "--no-progress"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == "error: CUDA was asked for but this machine has no usable CUDA GPU; use --device cpu (or auto)\n"
    runs = isolated_dirs / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()]  # no run folder at all

    # The app launches a training as its own process: there the run ends "failed", saying why.
    config = make_config(str(tiny_data), preset="base", epochs=1, device="cuda")
    run = launch_training(config.to_dict())
    children.append(run)
    status = wait_until_ended(run)
    assert status["state"] == "failed", run.log_tail()
    assert status["error"] == "CUDA was asked for but this machine has no usable CUDA GPU; use --device cpu (or auto)"


def test_out_of_memory_from_the_command_line(tiny_data, monkeypatch, capsys):
    import cinic.training.loop

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(cinic.training.loop, "train_epoch", no_memory)
    run = new_run(tiny_data)
    code = cli.main(["train", "--run", str(run.path), "--no-progress"])
    message = ("the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB); "
               "lower the batch size or use the CPU (--device cpu)")
    assert code == 2 and capsys.readouterr().err == f"error: {message}\n"
    assert run.status()["state"] == "failed" and run.status()["error"] == message


# --- the app: reload, closed tab, server restart ----------------------------------------------------------
def open_page(page: str | None = None, run: RunFolder | None = None):
    """A fresh browser session on a fresh script run: what a reload, a new tab or a restart gives.

    `run` goes in the URL (?run=NAME), as the Train page puts it there after "Start training".
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=60)
    if run is not None:
        at.query_params["run"] = run.name
    at.run()
    if page:
        at.switch_page(f"{PAGES}/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_state(at, run: RunFolder) -> str | None:
    """The state the Train page shows for `run` in its "**name**: icon state" line."""
    for block in at.markdown:
        if block.value.startswith(f"**{run.name}**: "):
            return block.value.split()[2]
    return None


def table_states(at) -> dict[str, str]:
    table = at.dataframe[0].value
    return dict(zip(table["run"], table["state"]))


@pytest.mark.slow
def test_a_training_outlives_its_page_and_the_server(tiny_data, tmp_path, monkeypatch, children):
    from cinic import app_state, paths
    from cinic.data import choice as datasets

    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    datasets.remember_data_root(tiny_data)
    long_run = launch_training(make_config(str(tiny_data), preset="base", recipe="report", epochs=1000,
                                           batch_size=2, device="cpu").to_dict())  # minutes: killed long before
    children.append(long_run)
    wait_for(lambda: long_run.status()["state"] == "running" and long_run.epochs(), "an epoch", run=long_run)

    page = open_page("train")
    assert shown_state(page, long_run) == "running"
    del page  # the tab is closed (or reloaded): the training does not care
    done = len(long_run.epochs())
    wait_for(lambda: len(long_run.epochs()) > done, "another epoch with no page open", run=long_run)

    short_run = launch_training(make_config(str(tiny_data), preset="base", recipe="report", epochs=2,
                                            batch_size=32, device="cpu").to_dict())
    children.append(short_run)
    wait_for(lambda: short_run.status().get("pid") is not None, "the second launch to queue", run=short_run)
    page = open_page("train", short_run)  # a new session finds both as they are
    assert shown_state(page, short_run) == "queued"
    assert any(f"Queued behind {long_run.name}" in i.value for i in page.info)

    os.kill(long_run.status()["pid"], signal.SIGKILL)  # the long one dies; the queued one takes the device
    assert wait_until_ended(short_run)["state"] == "finished", short_run.log_tail()

    home = open_page()  # the server restarted: every run is listed with its true state
    assert table_states(home) == {long_run.name: "interrupted", short_run.name: "finished"}
    page = open_page("train", long_run)
    assert shown_state(page, long_run) == "interrupted"
    assert any("ended without saying why (killed?)" in e.value for e in page.error)
    assert any(b.label == "Resume" for b in page.button)


# --- two launches at once -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_launches_at_once_take_turns_and_decode_once(tiny_data, isolated_dirs, children):
    config = make_config(str(tiny_data), preset="base", recipe="report", epochs=2, batch_size=2, device="cpu")
    runs = [launch_training(config.to_dict()), launch_training(config.to_dict())]
    children.extend(runs)
    assert runs[0].name != runs[1].name

    seen: list[tuple[float, str, str]] = []  # (time, state of run 0, state of run 1)
    first = None
    deadline = time.time() + 240
    while time.time() < deadline:
        states = tuple(r.status()["state"] for r in runs)
        seen.append((time.time(), *states))
        if first is None and "running" in states:
            # Hold the first one still until the second has started and queued behind it, so
            # the test sees the queue whatever the machine's speed.
            first = states.index("running")
            os.kill(runs[first].status()["pid"], signal.SIGSTOP)
            second = runs[1 - first]
            wait_for(lambda: second.status().get("pid") is not None, "the second to queue", run=second)
            seen.append((time.time(), *(r.status()["state"] for r in runs)))
            os.kill(runs[first].status()["pid"], signal.SIGCONT)
        if all(s not in LIVE_STATES for s in states):
            break
        time.sleep(0.02)

    assert [r.status()["state"] for r in runs] == ["finished", "finished"], [r.log_tail() for r in runs]
    assert first is not None, "never saw either run training"
    assert not any(a == b == "running" for _, a, b in seen), "both trained at once"
    assert any(s[1 + first] == "running" and s[2 - first] == "queued" for s in seen)
    first_ran = [t for t, *states in seen if states[first] == "running"]
    second_ran = [t for t, *states in seen if states[1 - first] == "running"]
    assert first_ran and second_ran and max(first_ran) < min(second_ran)  # one after the other
    for run in runs:
        assert epoch_lines(run) == [1, 2] and run.evaluation()["n"] == 60
    decoded = isolated_dirs / "cache" / "decoded"
    caches = sorted(decoded.glob("*.pt"))
    assert len(caches) == 3 and not list(decoded.glob("*.tmp"))  # train, valid, test: built once each
    assert all(c.stat().st_mtime < min(second_ran) for c in caches)  # the second run only read them


def test_two_runs_created_at_once_with_one_name(tiny_data, isolated_dirs):
    config = make_config(str(tiny_data), preset="base", epochs=1, device="cpu").to_dict()
    barrier = threading.Barrier(4)
    made, errors = [], []

    def create():
        barrier.wait()
        try:
            made.append(RunFolder.create(config, name="same"))
        except RunError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(errors) == 3  # one wins the name; the others are told
    assert set(errors) == {f"a run named 'same' already exists in {isolated_dirs / 'runs'}; pick another name"}
    assert made[0].config() == config and made[0].status()["state"] == "queued"


def test_two_launches_in_the_same_second_get_a_folder_each(tiny_data, isolated_dirs, monkeypatch):
    config = make_config(str(tiny_data), preset="base", epochs=1, device="cpu").to_dict()
    root = isolated_dirs / "runs"
    root.mkdir()
    real_mkdir, rival = Path.mkdir, []

    def rival_gets_there_first(self, *args, **kwargs):
        if self.parent == root and not rival:
            rival.append(self.name)
            real_mkdir(self)  # another launch claims this very name a moment before us
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", rival_gets_there_first)
    run = RunFolder.create(config)
    assert rival and run.name == f"{rival[0]}-2"  # not "a run named ... already exists"
    assert run.config() == config
