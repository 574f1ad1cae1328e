"""cinic/bench/benchmark.py: the benchmark's JSON, its options, and the full-scale folder maker, on tiny data."""

from __future__ import annotations

import json

import pytest
import torch

from cinic import cli

from cinic.bench import benchmark as bench

from cinic.data import dataset as data
from cinic.model.device import uses_bf16


def run_json(capsys, *args) -> dict:
    """Through the CLI, as a user types it: `python -m cinic bench --data ... --json`."""
    assert cli.main(["bench", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_json_has_both_timings_and_their_ratio(tiny_data, capsys):
    report = run_json(capsys, "--data", str(tiny_data), "--presets", "base", "--epochs", "1",
                      "--workers", "1", "--eval-images", "300", "--eval-batch-sizes", "64,256")
    [result] = report["results"]
    assert result["preset"] == "base"
    seed_s, project_s = result["seed_s_per_epoch"], result["project_s_per_epoch"]
    assert seed_s > 0 and project_s > 0
    assert result["ratio"] == pytest.approx(seed_s / project_s, rel=1e-3)
    assert result["bare_s_per_epoch"] > 0 and len(result["bare_epochs_s"]) == 1
    assert result["project_over_bare"] == pytest.approx(project_s / result["bare_s_per_epoch"], rel=1e-3)
    assert len(result["seed_epochs_s"]) == len(result["project_epochs_s"]) == 1
    assert result["train_images"] == report["data"]["train"] == 160
    assert result["project_images_per_s"] == pytest.approx(160 / project_s, rel=1e-3)
    assert result["host_peak_rss_mib"] > 0 and result["gpu_peak_mib"] == {"seed": None, "project": None, "bare": None}
    dtypes = ["float32", "bfloat16"] if uses_bf16(torch.device("cpu"), True) else ["float32"]
    assert [(e["images"], e["batch_size"], e["dtype"]) for e in result["evaluation"]] == [
        (300, batch, dtype) for batch in (64, 256) for dtype in dtypes]
    assert result["predict_one"]["median_ms"] > 0
    assert report["decode"]["images"] == 160 and report["decode"]["cold_s"] > 0
    assert report["settings"]["project_knobs"]["speed"]["channels_last"] is True  # train.py's CPU setting


def test_knobs_and_accuracy_are_reported(tiny_data, capsys):
    report = run_json(capsys, "--data", str(tiny_data), "--presets", "base", "--epochs", "1",
                      "--workers", "0", "--eval-images", "0", "--knobs", "channels_last,augment,amp",
                      "--accuracy", "--accuracy-epochs", "1", "--accuracy-seeds", "1")
    [result] = report["results"]
    assert "evaluation" not in result  # --eval-images 0 skips it
    # amp is bf16 autocast: where the device has no bf16 it yields no row rather than a meaningless one.
    amp = ["amp off"] if uses_bf16(torch.device("cpu"), True) else []
    assert [k["setting"] for k in result["knobs"]] == ["channels_last off", "no flips/crops", *amp]
    for knob in result["knobs"]:
        assert knob["speedup"] == pytest.approx(knob["baseline_s"] / knob["variant_s"], rel=1e-2)
        assert knob["verdict"] in ("helps", "hurts", "no effect")
    accuracy = result["accuracy"]
    assert accuracy["epochs"] == 1 and len(accuracy["runs"]) == 1
    # Both models scored on the whole valid split (60 images): each accuracy is a count of those images.
    [run] = accuracy["runs"]
    for key in ("seed_valid_acc", "project_valid_acc"):
        right = accuracy[key] * 60 / 100
        assert accuracy[key] == run[key] and right == pytest.approx(round(right), abs=0.01), (key, accuracy)


def test_the_gap_to_the_bare_loop_switches_each_part_off_alone(tiny_data, capsys):
    from cinic.bench.bare_loop import PARTS

    report = run_json(capsys, "--data", str(tiny_data), "--presets", "base", "--epochs", "1",
                      "--workers", "0", "--eval-images", "0", "--gap")
    [result] = report["results"]
    gap = result["gap"]
    assert gap["bare_s"] == result["bare_s_per_epoch"] and gap["all_parts_s"] > 0
    assert [p["part"] for p in gap["parts"]] == list(PARTS)
    for part in gap["parts"]:
        assert part["cost_s"] == pytest.approx(gap["all_parts_s"] - part["without_s"], abs=2e-6)


def test_the_loop_with_every_part_computes_what_the_training_loop_does(tiny_data, tmp_path, one_thread):
    """The gap is only meaningful if "all parts" is the project's loop: same batches, same weights."""
    from cinic.bench.bare_loop import PARTS, build_loop, gap_epoch
    from cinic.runs.folder import RunFolder
    from cinic.runs.config import make_config
    from cinic.training.loop import SpeedSettings, setup_training, train_epoch

    train = data.load_split(tiny_data, "train")
    mean, std = data.channel_stats(train.images)
    config = make_config(str(tiny_data), preset="base", epochs=2, batch_size=32, device="cpu",
                         mean=[float(v) for v in mean], std=[float(v) for v in std])
    cpu, speed = torch.device("cpu"), SpeedSettings.for_device(torch.device("cpu"))
    ours = setup_training(config, train.images, train.labels, cpu, speed=speed)
    rebuilt = build_loop(config, train.images, train.labels, cpu, speed, PARTS)
    for epoch in (1, 2):
        train_epoch(ours, epoch, RunFolder.create(config.to_dict(), root=tmp_path, name=f"ours-{epoch}"))
        gap_epoch(rebuilt, epoch, RunFolder.create(config.to_dict(), root=tmp_path, name=f"gap-{epoch}"))
    for (name, a), b in zip(ours.model.state_dict().items(), rebuilt.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_table_output_names_both_pipelines(tiny_data, capsys):
    assert bench.main(["--data", str(tiny_data), "--presets", "base", "--epochs", "1", "--workers", "0",
                       "--eval-images", "0"]) == 0
    out = capsys.readouterr().out
    assert "| preset | seed s/epoch | project s/epoch | ratio |" in out
    assert "train.py's settings (channels_last" in out and "| base " in out


@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--knobs", "turbo"], "unknown knob(s) turbo"),
    (["--eval-batch-sizes", "64,big"], "--eval-batch-sizes takes whole numbers"),
    (["--presets", "huge"], "unknown model preset 'huge'"),
])
def test_bad_options_are_named(args, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        bench.parse_args(args)


def test_repeated_split_has_exactly_n_images(tiny_data):
    test = data.load_split(tiny_data, "test")
    big = bench.repeated_split(test, 150)
    assert big.images.shape == (150, 3, 32, 32) and big.labels.shape == (150,) and len(big.files) == 150
    assert torch.equal(big.images[len(test.labels)], test.images[0])
