"""cinic/training/loop.py: schedule, config checks, the loop, resume."""

from __future__ import annotations


import pytest
import torch

from cinic.runs import checkpoints
from cinic.runs.checkpoints import CheckpointError
from cinic.model.lenet import PRESETS, ModelSpecError
from cinic.runs.folder import RunFolder
from cinic.runs.config import ConfigError, TrainConfig, lr_at, lr_at_epoch, make_config
from cinic.training.loop import train_run


def test_step_schedule_drops_at_the_given_epochs():
    c = make_config("x", preset="base", recipe="report", epochs=10, schedule="step",
                    lr_drops=[[5, 0.0005], [9, 0.0001]])
    assert [lr_at_epoch(c, e) for e in (1, 4, 5, 8, 9, 10)] == [0.001, 0.001, 0.0005, 0.0005, 0.0001, 0.0001]


def test_the_report_recipe_old_name_seed_still_loads(tmp_path):
    """Configs and specs written when the report's recipe was called "seed" read as "report"."""
    old = make_config("x", preset="base", recipe="seed", epochs=10)
    assert old.to_dict() == make_config("x", preset="base", recipe="report", epochs=10).to_dict()
    assert TrainConfig.from_dict({**old.to_dict(), "recipe": "seed"}).recipe == "report"
    run = RunFolder.create({**old.to_dict(), "recipe": "seed"}, tmp_path, "old-run")
    assert run.config()["recipe"] == "report"


def test_cosine_and_onecycle_warm_up_then_decay():
    c = make_config("x", preset="base", epochs=10, schedule="cosine", warmup_epochs=1.0, lr=0.01)
    assert lr_at(c, 0.0) < 0.001 and lr_at(c, 0.5) == pytest.approx(0.005, rel=0.01)
    assert lr_at(c, 1.0) == pytest.approx(0.01)
    assert lr_at(c, 10.0) == pytest.approx(0.0001)  # cosine keeps 1% of the peak
    one = make_config("x", preset="base", epochs=10, schedule="onecycle", warmup_epochs=1.0, lr=0.01)
    assert lr_at(one, 10.0) == pytest.approx(0.0, abs=1e-12)
    values = [lr_at(one, t / 10) for t in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_recipes_differ_and_overrides_win():
    report = make_config("x", preset="best", recipe="report", epochs=10)
    project = make_config("x", preset="best", recipe="project", epochs=10, lr=0.003)
    assert report.schedule == "step" and not report.flip and report.lr == 0.001
    assert project.flip and project.lr == 0.003 and project.model["fc"] == [600, 200]
    # The project recipe's model fields go onto a preset's spec; a composed spec is kept as given.
    assert report.model == PRESETS["best"].to_dict()
    assert project.model == {**PRESETS["best"].to_dict(), "input_norm": "contrast", "flip_tta": True}
    # Xavier weights only where no BatchNorm rescales the activations (base and stepping, not best).
    for preset in ("base", "stepping"):
        plain = make_config("x", preset=preset, recipe="project").model
        assert plain == {**PRESETS[preset].to_dict(), "input_norm": "contrast", "flip_tta": True, "init": "xavier"}
    assert make_config("x", preset="base", recipe="report").model["init"] == "default"
    composed = make_config("x", preset=None, recipe="project", model=PRESETS["base"].to_dict())
    assert composed.model == PRESETS["base"].to_dict()


@pytest.mark.parametrize("field, value, words", [
    ("epochs", 0, "epochs must be 1..1000"),
    ("lr", -1.0, "learning rate must be in (0, 10]"),
    ("batch_size", 0, "batch size must be 1..65536"),
    ("optimizer", "rmsprop", "optimizer must be one of adam, sgd"),
    ("schedule", "linear", "schedule must be one of"),
    ("lr_drops", [[99, 0.1]], "each learning-rate drop must be"),
    ("crop_pad", 20, "crop padding must be 0..8"),
])
def test_bad_settings_are_named(field, value, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        make_config("x", preset="base", **{field: value})


def test_unknown_preset_and_unknown_setting():
    with pytest.raises(ModelSpecError, match="unknown model preset 'huge'; choose one of base, stepping"):
        make_config("x", preset="huge")
    assert make_config("x", preset="small-filters", recipe="seed").model == PRESETS["stepping"].to_dict()  # aliases
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig.from_dict({"data": "x", "colour": "red"})


def _run(tiny_data, **overrides) -> RunFolder:
    settings = dict(epochs=2, batch_size=32, device="cpu", seed=3)
    settings.update(overrides)
    config = make_config(str(tiny_data), preset="base", **settings)
    return RunFolder.create(config.to_dict())


def test_a_training_fills_its_run_folder(tiny_data):
    run = _run(tiny_data)
    status = train_run(run, progress=False, log=lambda m: None)
    assert status["state"] == "finished"
    epochs = run.epochs()
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds", "images_per_s"):
        assert key in epochs[0]
    assert run.batches() and run.batches()[0]["step"] == 0
    assert run.has_checkpoint("last") and run.has_checkpoint("best")
    evaluation = run.evaluation()
    # The test split's accuracy is the confusion matrix's diagonal, and the status says the same figure.
    confusion = evaluation["confusion"]
    assert evaluation["n"] == sum(map(sum, confusion)) == 60
    assert evaluation["accuracy"] == pytest.approx(100 * sum(confusion[i][i] for i in range(10)) / 60)
    assert run.status()["test_acc"] == evaluation["accuracy"]
    config = run.config()
    assert len(config["mean"]) == 3 and all(0 < s < 1 for s in config["std"])


def test_stop_then_resume_gives_the_same_model_as_one_run(tiny_data):
    straight = _run(tiny_data, epochs=3)
    train_run(straight, progress=False, log=lambda m: None)

    stopped = _run(tiny_data, epochs=3)

    def stop_after_first_epoch(message):
        if message.startswith("epoch 1/"):
            stopped.request_stop()

    status = train_run(stopped, progress=False, log=stop_after_first_epoch)
    assert status["state"] == "cancelled"
    assert [e["epoch"] for e in stopped.epochs()] == [1]
    status = train_run(stopped, resume=True, progress=False, log=lambda m: None)
    assert status["state"] == "finished"
    assert [e["epoch"] for e in stopped.epochs()] == [1, 2, 3]
    a = checkpoints.load(straight, "last")["model"]
    b = checkpoints.load(stopped, "last")["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert stopped.epochs()[-1]["valid_acc"] == straight.epochs()[-1]["valid_acc"]


def test_resume_without_a_completed_epoch_is_explained(tiny_data):
    run = _run(tiny_data)
    with pytest.raises(CheckpointError, match="no completed epoch to resume from"):
        train_run(run, resume=True, progress=False, log=lambda m: None)
    assert run.status()["state"] == "failed"


def test_a_stop_while_queued_cancels_without_training(tiny_data):
    run = _run(tiny_data)
    run.request_stop()
    assert train_run(run, progress=False, log=lambda m: None)["state"] == "cancelled"
    assert run.epochs() == []


def test_out_of_memory_fails_with_advice(tiny_data, monkeypatch):
    import cinic.training.loop as train

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "train_epoch", boom)
    run = _run(tiny_data)
    with pytest.raises(ConfigError, match="lower the batch size or use the CPU"):
        train_run(run, progress=False, log=lambda m: None)
    status = run.status()
    assert status["state"] == "failed" and "lower the batch size" in status["error"]
    assert run.epochs() == []


def test_a_loss_that_stops_being_a_number_fails_the_run_and_says_what_to_change(tiny_data, monkeypatch, capsys):
    from cinic import cli
    from cinic.training import loop as train

    real = train.train_epoch
    monkeypatch.setattr(train, "train_epoch", lambda *a, **k: (float("nan"), real(*a, **k)[1]))
    code = cli.main(["train", "--data", str(tiny_data), "--epochs", "1", "--device", "cpu", "--name", "nan",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "the loss became nan in epoch 1" in err and "Lower the learning rate" in err
    run = RunFolder.open("nan")
    assert run.status()["state"] == "failed" and "diverged" in run.status()["error"]
    assert not run.has_checkpoint("best") and not run.has_checkpoint("last")  # NaN weights never saved


def test_data_all_one_colour_is_refused_before_training(tiny_data, tmp_path, capsys):
    import shutil

    from PIL import Image

    from cinic import cli

    black = tmp_path / "black"
    shutil.copytree(tiny_data, black)
    for png in black.rglob("*.png"):
        Image.new("RGB", (32, 32)).save(png)
    code = cli.main(["train", "--data", str(black), "--epochs", "1", "--device", "cpu", "--name", "black",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "do not vary in a colour channel" in err
    assert RunFolder.open("black").status()["state"] == "failed"
