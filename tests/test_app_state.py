"""cinic/app_state.py: remembered choices, background jobs, sample picks."""

from __future__ import annotations

import threading

import pytest

from cinic import app_state

from cinic.augment.saved import save_pipeline, saved_pipeline

from cinic.data import samples
from cinic.augment.ops import SEED_PIPELINE, load_pipeline


def test_a_damaged_state_file_means_nothing_chosen():
    app_state.state_path().parent.mkdir(parents=True)
    app_state.state_path().write_text("{not json")
    assert app_state.load_state() == {}
    assert app_state.update_state(x=1) == {"x": 1}


def test_saved_pipeline_round_trips_and_is_a_valid_pipeline_file():
    assert saved_pipeline() is None
    steps = load_pipeline("seed")
    path = save_pipeline(steps, 300)
    assert saved_pipeline() == (steps, 300)
    assert load_pipeline(path) == load_pipeline(list(SEED_PIPELINE))  # usable as `--augment FILE`


def test_background_job_reports_progress_and_result():
    gate = threading.Event()

    def work(progress):
        progress(5, 10, "download")
        gate.wait(5)
        return "done"

    job = app_state.BackgroundJob(work, "test").start()
    for _ in range(100):
        if job.done == 5:
            break
        threading.Event().wait(0.01)
    assert (job.done, job.total, job.stage, job.fraction, job.finished) == (5, 10, "download", 0.5, False)
    gate.set()
    assert job.wait(5) and job.result == "done" and job.error is None


def test_background_job_keeps_the_error():
    def work(progress):
        raise ValueError("no such folder: /x; give a CINIC-10 folder")

    job = app_state.BackgroundJob(work).start()
    assert job.wait(5)
    assert isinstance(job.error, ValueError) and "no such folder" in str(job.error)


def test_sample_files_picks_reproducibly_per_class(tiny_data):
    first = samples.sample_files(tiny_data, "train", per_class=4, seed=3)
    assert len(first) == 10 and all(len(files) == 4 for files in first.values())
    assert all(f.parent.name == name for name, files in first.items() for f in files)
    assert samples.sample_files(tiny_data, "train", per_class=4, seed=3) == first
    assert samples.sample_files(tiny_data, "train", per_class=4, seed=4) != first
    assert all(len(f) == 6 for f in samples.sample_files(tiny_data, "test", per_class=50).values())


@pytest.mark.parametrize("split", ["nope"])
def test_sample_files_of_a_missing_split_is_empty(tiny_data, split):
    assert samples.sample_files(tiny_data, split) == {}
