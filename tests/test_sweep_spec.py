"""cinic/sweeps/spec.py: a sweep spec checked whole before anything starts, errors naming the field,
and its expansion into trials with stable names."""

from __future__ import annotations

import json

import pytest

from cinic.errors import CinicError
from cinic.runs.config import TrainConfig, validate_config
from cinic.sweeps.spec import SweepSpecError, load_spec, parse_spec, trial_name, variant_labels, variant_of


def spec(data, **fields) -> dict:
    return {"data": str(data), "epochs": 1, "grid": {"preset": ["base", "stepping"], "seed": [0, 1]}, **fields}


def error_of(value, **kwargs) -> str:
    with pytest.raises(SweepSpecError) as caught:
        parse_spec(value, **kwargs)
    return str(caught.value)


def test_a_grid_expands_to_named_trials_with_valid_configs(tiny_data):
    s = parse_spec(spec(tiny_data, batch_size=32), default_name="presets")
    assert [t.name for t in s.trials] == ["presets_preset-base_seed-0", "presets_preset-base_seed-1",
                                          "presets_preset-stepping_seed-0", "presets_preset-stepping_seed-1"]
    assert [t.settings for t in s.trials][1] == {"preset": "base", "seed": 1}
    for trial in s.trials:
        config = TrainConfig.from_dict(trial.config)
        validate_config(config)
        assert (config.preset, config.seed, config.epochs, config.batch_size) == (
            trial.settings["preset"], trial.settings["seed"], 1, 32)
    assert s.resources == {"cpus": 1, "gpus": 0.25}


def test_the_recipe_and_any_setting_can_be_an_axis(tiny_data):
    s = parse_spec(spec(tiny_data, grid={"recipe": ["report", "project"], "lr": [0.001, 0.004]}))
    assert [(t.config["recipe"], t.config["lr"]) for t in s.trials] == [
        ("report", 0.001), ("report", 0.004), ("project", 0.001), ("project", 0.004)]
    assert s.trials[0].config["schedule"] == "step" and s.trials[2].config["schedule"] == "onecycle"
    # A spec written when the report's recipe was called "seed": the same configs, and its trials keep
    # the names they had (a rerun finds them).
    old = parse_spec(spec(tiny_data, grid={"recipe": ["seed", "project"], "lr": [0.001, 0.004]}))
    assert [t.config for t in old.trials] == [t.config for t in s.trials]
    assert old.trials[0].name.endswith("recipe-seed_lr-0.001")


def test_composed_models_can_be_an_axis_with_no_preset(tiny_data):
    from cinic.model.lenet import PRESETS

    plain, xavier = PRESETS["base"].to_dict(), {**PRESETS["base"].to_dict(), "init": "xavier"}
    s = parse_spec(spec(tiny_data, preset=None, grid={"model": [plain, xavier], "seed": [0, 1]}))
    assert [(t.config["preset"], t.config["model"]["init"], t.config["seed"]) for t in s.trials] == [
        (None, "default", 0), (None, "default", 1), (None, "xavier", 0), (None, "xavier", 1)]
    broken = {**plain, "init": "zeros"}
    message = error_of(spec(tiny_data, preset=None, grid={"model": [plain, broken], "seed": [0]}), source="s.json")
    assert "grid.model[1]" in message and "'init'" in message, message


def test_names_are_stable_and_valid_run_names(tiny_data):
    first = [t.name for t in parse_spec(spec(tiny_data), default_name="x").trials]
    assert first == [t.name for t in parse_spec(spec(tiny_data), default_name="x").trials]
    long = trial_name("s", {"model": {"conv": [{"out_channels": 6}] * 20}})
    assert len(long) <= 100 and long == trial_name("s", {"model": {"conv": [{"out_channels": 6}] * 20}})


def test_a_model_axis_is_labelled_by_what_differs_between_its_specs():
    from cinic.model.lenet import PRESETS

    base, best = PRESETS["base"].to_dict(), PRESETS["best"].to_dict()
    settings = [{"model": base, "lr": 0.004}, {"model": {**base, "init": "xavier"}, "lr": 0.004},
                {"model": {**best, "init": "xavier"}, "lr": 0.004}]
    assert variant_labels(settings) == [
        "model: conv 6 k5, 16 k5 · fc 120→84 · init default, lr=0.004",
        "model: conv 6 k5, 16 k5 · fc 120→84 · init xavier, lr=0.004",
        "model: conv 32 k3 BN, 64 k4 BN · fc 600→200 · init xavier, lr=0.004"]
    assert variant_labels([{"preset": "base", "lr": 0.1}, {}]) == ["preset=base, lr=0.1", "all trials"]


def test_variant_is_every_axis_but_seed():
    assert variant_of({"preset": "base", "seed": 3, "lr": 0.1}) == {"preset": "base", "lr": 0.1}


@pytest.mark.parametrize("change, field", [
    ({"grid": {"lr": [0.001, -1]}}, "grid.lr[1]"),
    ({"grid": {"preset": ["base", "lenet9"]}}, "grid.preset[1]"),
    ({"grid": {"learning_rate": [0.1]}}, "grid.learning_rate"),
    ({"grid": {"seed": []}}, "grid.seed"),
    ({"grid": {"seed": [0, 0]}}, "grid.seed"),
    ({"epochs": 0}, "epochs must be 1..1000"),
    ({"epochs": "3"}, "epochs"),
    ({"flip": 1}, "flip"),
    ({"optimiser": "adam"}, "optimiser"),
    ({"name": "my sweep"}, "name"),
    ({"resources": {"gpus": -1}}, "resources.gpus"),
    ({"epochs": 2, "grid": {"warmup_epochs": [1, 3]}}, "grid.warmup_epochs[1]"),
    ({"grid": {"epochs": [1]}}, "grid.epochs"),  # both fixed and an axis
])
def test_a_bad_spec_names_its_field(tiny_data, change, field):
    message = error_of({**spec(tiny_data), **change}, source="s.json")
    assert message.startswith("s.json: ") and field in message, message


def test_a_missing_data_folder_is_named(tmp_path):
    assert "data: " in error_of(spec(tmp_path / "nowhere"))


def test_load_spec_reads_json_and_toml_and_names_a_broken_file(tiny_data, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(spec(tiny_data)))
    assert load_spec(tmp_path / "a.json").name == "a"
    (tmp_path / "b.toml").write_text(f'data = "{tiny_data}"\nepochs = 1\n[grid]\nseed = [0, 1, 2]\n')
    assert [t.settings["seed"] for t in load_spec(tmp_path / "b.toml").trials] == [0, 1, 2]
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(SweepSpecError, match="c.json is not valid JSON"):
        load_spec(tmp_path / "c.json")
    with pytest.raises(SweepSpecError, match="cannot read the sweep spec"):
        load_spec(tmp_path / "missing.json")


# --- explicit variants crossed with seeds ------------------------------------------------------------
def variants_spec(data, **fields) -> dict:
    return {"data": str(data), "batch_size": 32,
            "variants": [{"name": "base-long", "preset": "base", "recipe": "report", "epochs": 4,
                          "lr_drops": [[2, 0.0001], [4, 0.00001]], "augment": "report", "augment_n": "third"},
                         {"name": "best-short", "preset": "best", "epochs": 2, "lr": 0.002}],
            "seeds": [0, 1], **fields}


def test_explicit_variants_cross_seeds_with_settings_of_their_own(tiny_data):
    from cinic.augment.ops import SEED_PIPELINE, validate_pipeline

    s = parse_spec(variants_spec(tiny_data), default_name="study")
    assert [t.name for t in s.trials] == ["study_variant-base-long_seed-0", "study_variant-base-long_seed-1",
                                          "study_variant-best-short_seed-0", "study_variant-best-short_seed-1"]
    assert [t.settings for t in s.trials][1] == {"variant": "base-long", "seed": 1}
    base, best = s.trials[1].config, s.trials[2].config
    assert (base["preset"], base["recipe"], base["epochs"], base["lr_drops"], base["seed"]) == (
        "base", "report", 4, [[2, 0.0001], [4, 0.00001]], 1)
    assert (best["preset"], best["epochs"], best["lr"], best["batch_size"]) == ("best", 2, 0.002, 32)
    # "third": one Augmentor image for every three training images (160 here), with the report's pipeline
    assert base["augment_n"] == round(160 / 3) and base["augment"] == validate_pipeline(SEED_PIPELINE)
    assert base["augment_name"] == "report" and best["augment_n"] == 0
    for trial in s.trials:
        validate_config(TrainConfig.from_dict(trial.config))
    # stable: the same spec names the same trials; the stored spec reads back as the same sweep
    again = parse_spec(s.to_dict())
    assert [(t.name, t.config) for t in again.trials] == [(t.name, t.config) for t in s.trials]
    assert variant_labels([variant_of(t.settings) for t in s.trials][::2]) == ["base-long", "best-short"]


def test_variants_beside_a_grid(tiny_data):
    raw = variants_spec(tiny_data, grid={"lr": [0.001, 0.004]}, seeds=[3])
    assert ": variants[1].lr: " in error_of(raw)  # a setting is a variant's or an axis, not both
    raw["variants"][1].pop("lr")
    s = parse_spec(raw, default_name="v")
    assert [t.settings for t in s.trials][:2] == [{"variant": "base-long", "lr": 0.001, "seed": 3},
                                                  {"variant": "base-long", "lr": 0.004, "seed": 3}]
    assert len({t.name for t in s.trials}) == 4 and s.axes == ["variant", "lr", "seed"]


@pytest.mark.parametrize("change, field", [
    (lambda v: v[1].update(epochs=0), "variants[1].epochs"),
    (lambda v: v[0].update(lr_drops=[[9, 0.0001]]), "variants[0].lr_drops"),
    (lambda v: v[0].update(augment_n="half"), "variants[0].augment_n"),
    (lambda v: v[0].update(augment="no-such-pipeline.json"), "variants[0].augment"),
    (lambda v: v[1].update(lr="fast"), "variants[1].lr"),
    (lambda v: v[1].update(colour=1), "variants[1].colour"),
    (lambda v: v[1].update(seed=4), "variants[1].seed"),
    (lambda v: v[1].update(name="base-long"), "variants[1].name"),
    (lambda v: v[1].update(name="best_short"), "variants[1].name"),
    (lambda v: v[1].pop("name"), "variants[1].name"),
])
def test_a_bad_variant_is_named_by_its_field(tiny_data, change, field):
    raw = variants_spec(tiny_data)
    change(raw["variants"])
    assert f": {field}: " in error_of(raw)


def test_bad_seeds_are_named(tiny_data):
    assert ": seeds: " in error_of(variants_spec(tiny_data, seeds=[0, 0]))
    assert ": seeds[1]: " in error_of(variants_spec(tiny_data, seeds=[0, -1]))
    assert ": seeds: " in error_of(variants_spec(tiny_data, grid={"seed": [0]}))
    assert ": variants: " in error_of(variants_spec(tiny_data, variants=[]))


def test_a_variant_sweeps_trials_are_summarised_per_variant():
    from cinic.sweeps.runner import variants

    trials = [{"settings": {"variant": name, "seed": seed}, "state": "finished", "test_acc": acc, "valid_acc": acc}
              for name, seed, acc in (("base-report", 0, 47.0), ("base-report", 1, 49.0), ("best-report", 0, 58.0))]
    summary = variants(trials)
    assert [(v["settings"], v["n"], v["test_mean"]) for v in summary] == [
        ({"variant": "base-report"}, 2, 48.0), ({"variant": "best-report"}, 1, 58.0)]
    assert variant_labels([v["settings"] for v in summary]) == ["base-report", "best-report"]


# --- hostile spec files and resources (issue 20, item 4) -------------------------------------------
def test_a_fifo_as_the_spec_is_refused_without_waiting_for_a_writer(tiny_data, tmp_path):
    import os
    import threading

    fifo = tmp_path / "s.json"
    os.mkfifo(fifo)

    def feed():  # what old code, blocked reading the FIFO, would have been given (it never is now)
        try:
            with open(fifo, "w") as writer:
                writer.write(json.dumps(spec(tiny_data)))
        except BrokenPipeError:  # released by the test's end, no reader left
            pass
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with pytest.raises(SweepSpecError, match="s.json is a FIFO .*not a regular file"):
            load_spec(fifo)
    finally:
        try:  # let the feeder go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_a_device_as_the_spec_is_refused(tmp_path):
    import os

    device = tmp_path / "zero.json"
    os.mknod(device, 0o20666, os.makedev(1, 3))  # a character device (a copy of /dev/null)
    with pytest.raises(SweepSpecError, match="is a character device"):
        load_spec(device)


def test_a_spec_file_over_the_size_cap_is_refused_unread(tiny_data, tmp_path, monkeypatch):
    from cinic.sweeps import spec as spec_module

    big = tmp_path / "big.json"
    big.write_text(" " * (2 << 20) + json.dumps(spec(tiny_data)))
    with pytest.raises(SweepSpecError, match="more than the"):
        load_spec(big)


@pytest.mark.parametrize("suffix, text", [(".json", "[" * 100_000 + "]" * 100_000),
                                          (".toml", "a = " + "[" * 100_000 + "]" * 100_000),
                                          (".json", '{"grid": ' * 40 + "{}" + "}" * 40)])
def test_deep_nesting_is_one_line(suffix, text, tmp_path):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    with pytest.raises(SweepSpecError, match="nests lists or objects more than"):
        load_spec(path)


def test_a_key_given_twice_is_refused(tiny_data, tmp_path):
    path = tmp_path / "twice.json"
    path.write_text('{"data": "%s", "epochs": 1, "epochs": 3}' % tiny_data)
    with pytest.raises(SweepSpecError, match="twice.json: 'epochs' is given twice"):
        load_spec(path)
    path.write_text('{"data": "%s", "grid": {"seed": [0], "seed": [1]}}' % tiny_data)
    with pytest.raises(SweepSpecError, match="'seed' is given twice"):
        load_spec(path)


@pytest.mark.parametrize("value", ["Infinity", "NaN", "-Infinity", "1e400"])
def test_resources_that_are_not_finite_are_refused(value, tiny_data, tmp_path):
    path = tmp_path / "inf.json"
    path.write_text('{"data": "%s", "resources": {"cpus": %s}}' % (tiny_data, value))
    with pytest.raises(SweepSpecError, match="resources.cpus"):
        load_spec(path)
    assert "resources.gpus" in error_of({**spec(tiny_data), "resources": {"gpus": float("inf")}})


def test_resources_beyond_the_machine_are_refused_before_anything_is_made(tiny_data, tmp_path, monkeypatch):
    from cinic.sweeps import runner
    from cinic.workers import usable_cores

    def would_wait_forever(*args):
        raise AssertionError("Ray was asked for what this machine does not have")
    monkeypatch.setattr(runner, "_run_on_ray", would_wait_forever)
    root = tmp_path / "runs"
    for cpus in (1e9, usable_cores() + 1):
        checked = parse_spec({**spec(tiny_data), "resources": {"cpus": cpus}})
        with pytest.raises(CinicError, match="resources.cpus: .* more than the .* usable CPU"):
            runner.run_sweep(checked, root=root, log=lambda m: None)
        assert not root.exists() or list(root.iterdir()) == []


# --- trial names unique by construction (issue 20, item 9) ------------------------------------------
def test_long_sweep_names_that_share_their_start_give_different_trial_names(tiny_data):
    model = {"model": {"conv": [{"out_channels": 6}] * 20}}
    first, second = "s" * 80 + "-first", "s" * 80 + "-second"
    assert trial_name(first, model) != trial_name(second, model)
    grid = {"grid": {"lr": [0.001, 0.002], "seed": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}
    names = {t.name for n in (first, second) for t in parse_spec({**spec(tiny_data), **grid, "name": n}).trials}
    assert len(names) == 2 * 24


def test_values_that_read_alike_in_a_folder_name_give_different_trial_names(tiny_data):
    for values in (["a", "a-2", "a!"], ["a!", "a?", "a", "a-1", "a-2"], ["x y", "x-y", "x_y", "x/y"]):
        for seeds in ({}, {"seed": [0, 1]}):
            grid = {"grid": {"augment_name": values, **seeds}}
            names = [t.name for t in parse_spec({**spec(tiny_data), **grid}).trials]
            assert len(set(names)) == len(names) == len(values) * len(seeds.get("seed", [0])), names
            assert names == [t.name for t in parse_spec({**spec(tiny_data), **grid}).trials]  # stable
    plain = parse_spec({**spec(tiny_data), "name": "p", "grid": {"augment_name": ["a", "b"]}}).trials
    assert [t.name for t in plain] == ["p_augment-name-a", "p_augment-name-b"]  # readable where nothing collides
