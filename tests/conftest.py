"""Shared fixtures: an isolated cache and runs root for every test, tiny data sets, the real sample."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-sample"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache, runs or data folders."""
    base = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("CINIC_CACHE", str(base / "cache"))
    monkeypatch.setenv("CINIC_RUNS", str(base / "runs"))
    monkeypatch.setenv("CINIC_DATA", str(base / "no-cinic"))
    return base


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny demo data set in CINIC-10 layout (10 classes, 16/6/6 images each)."""
    from cinic.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("tiny") / "demo", per_class=(16, 6, 6), seed=1)


@pytest.fixture(scope="session")
def sample_root() -> Path:
    """The shared real CIFAR-10 sample; tests that need it skip where it is absent."""
    if not (SAMPLE / "train").is_dir():
        pytest.skip(f"the shared real sample is absent ({SAMPLE})")
    return SAMPLE


@pytest.fixture
def one_thread():
    """Tiny models on a shared CPU run fastest on one thread (more threads only contend)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def train_finished(tmp_path_factory):
    """A factory: `train_finished(data, name=..., root=..., cache=..., **settings)` trains a run to its end
    and returns its RunFolder. The settings go to make_config over a tiny default (base, 1 epoch, batch 32,
    cpu); the run goes into `root` (default: a fresh folder), its decoded images into `cache` (default:
    a fresh one, so no test sees another's), on one thread (tiny models on a shared CPU)."""
    import torch

    from cinic.runs.folder import RunFolder
    from cinic.runs.config import make_config
    from cinic.training.loop import train_run

    def train(data, name: str = "run", root: Path | None = None, cache: Path | None = None, **settings):
        settings = {"preset": "base", "epochs": 1, "batch_size": 32, "device": "cpu", **settings}
        threads = torch.get_num_threads()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CINIC_CACHE", str(cache or tmp_path_factory.mktemp("cache")))
            torch.set_num_threads(1)
            try:
                config = make_config(str(data), **settings)
                run = RunFolder.create(config.to_dict(), root=root or tmp_path_factory.mktemp("runs"), name=name)
                assert train_run(run, progress=False, log=lambda m: None)["state"] == "finished"
            finally:
                torch.set_num_threads(threads)
        return run

    return train


@pytest.fixture(scope="module")
def trained(train_finished, tiny_data):
    """A finished one-epoch run of base on the tiny data set (trained once for each module using it;
    a module may define its own `trained`, which then wins)."""
    return train_finished(tiny_data, "base-1", recipe="report")
