"""cinic/cli.py: every sub-command's happy path, and one user error each (exit 2, one line, no traceback).

The library behind each command has its own tests; these check that the
command line reaches it, prints what the README says, and turns a user's
mistake into one line on stderr with exit status 2.
"""

from __future__ import annotations

import functools
import http.server
import json
import tarfile
import threading
from pathlib import Path

import pytest
from PIL import Image

from cinic import cli
from cinic.data.dataset import CLASSES, SPLITS
from cinic.runs.folder import RunFolder


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, *argv) -> str:
    """Run a command that must fail as a user error; return its one line."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own exit, through cli.Parser.error
        code = exit_.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    assert (code, out) == (2, ""), (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A finished one-epoch base run on the tiny data set, made through the CLI."""
    run_dir = tmp_path_factory.mktemp("cli-runs") / "base"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CINIC_CACHE", str(tmp_path_factory.mktemp("cli-cache")))
        assert cli.main(["train", "--data", str(tiny_data), "--epochs", "1", "--batch-size", "32",
                         "--device", "cpu", "--run-dir", str(run_dir), "--no-progress"]) == 0
    return run_dir


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (48, 40), (200, 30, 30)).save(path)
    return path


# --- data ------------------------------------------------------------------------------------
def test_demo_data(tmp_path, capsys):
    code, out, _ = run(capsys, "demo-data", tmp_path / "demo", "--seed", "2")
    assert code == 0 and "demo data set written to" in out
    assert all((tmp_path / "demo" / split / name).is_dir() for split in SPLITS for name in CLASSES)


def test_demo_data_refuses_a_folder_of_someone_elses(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    assert "is not a demo data set made by cinic" in user_error(capsys, "demo-data", tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


@pytest.fixture
def archive_server(tiny_data, tmp_path):
    """A loopback HTTP server offering the tiny data set as CINIC-10.tar.gz."""
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "CINIC-10.tar.gz", "w:gz") as tar:
        tar.add(tiny_data / "train", arcname="train")
        tar.add(tiny_data / "valid", arcname="valid")
        tar.add(tiny_data / "test", arcname="test")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/CINIC-10.tar.gz"
    server.shutdown()


def test_fetch_from_a_mirror(archive_server, tmp_path, capsys):
    code, out, _ = run(capsys, "fetch", "--to", tmp_path / "got", "--url", archive_server)
    assert code == 0 and "CINIC-10 is ready at" in out
    assert (tmp_path / "got" / "train" / "cat").is_dir()


def test_fetch_refuses_an_address_that_is_not_http(tmp_path, capsys):
    line = user_error(capsys, "fetch", "--to", tmp_path / "got", "--url", "ftp://example.org/CINIC-10.tar.gz")
    assert "ftp://example.org" in line


def test_check(tiny_data, capsys):
    code, out, _ = run(capsys, "check", tiny_data, "--json")
    report = json.loads(out)
    assert code == 0 and report["total"] == 10 * (16 + 6 + 6) and len(report["mean"]) == 3


def test_check_of_a_missing_folder(tmp_path, capsys):
    assert f"no such file or folder: {tmp_path / 'nowhere'}" in user_error(capsys, "check", tmp_path / "nowhere")


def test_corrupt_then_evaluate_on_the_copy(tiny_data, trained, tmp_path, capsys):
    code, out, _ = run(capsys, "corrupt", tiny_data, "--out", tmp_path / "c", "--seed", "2", "--json")
    record = json.loads(out)
    assert code == 0 and (record["split"], record["seed"], record["severity"]) == ("test", 2, 3)
    assert sum(record["counts"].values()) == 10 * 6
    code, out, _ = run(capsys, "evaluate", trained, "--data", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["source"] == str(tmp_path / "c" / "test")


def test_corrupt_into_someone_elses_folder(tiny_data, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert "is not a corrupted copy" in user_error(capsys, "corrupt", tiny_data, "--out", tmp_path / "mine")
    assert "invalid choice" in user_error(capsys, "corrupt", tiny_data, "--out", tmp_path / "x", "--severity", "9")


# --- models and training ----------------------------------------------------------------------
def test_summary(capsys):
    code, out, _ = run(capsys, "summary", "--preset", "small-filters")  # an alias: the library knows it
    assert code == 0 and "conv 3→6 k3" in out and "total" in out.lower()


def test_summary_of_an_unknown_preset(capsys):
    line = user_error(capsys, "summary", "--preset", "huge")
    assert "invalid choice: 'huge'" in line and "'stepping'" in line


def test_train_takes_every_training_setting(tiny_data, tmp_path, capsys):
    """Every TrainConfig field a person sets has a flag (mean and std are measured, not set)."""
    from dataclasses import fields

    from cinic.runs.config import TrainConfig

    run_dir = tmp_path / "runs" / "all-flags"
    code, _, _ = run(capsys, "train", "--data", tiny_data, "--preset", "base", "--recipe", "project",
                     "--epochs", "2", "--lr", "0.002", "--batch-size", "40", "--eval-batch-size", "50",
                     "--optimizer", "sgd", "--momentum", "0.8", "--weight-decay", "0.001", "--schedule", "step",
                     "--lr-drop", "2:0.0005", "--warmup-epochs", "0.5", "--label-smoothing", "0.05",
                     "--no-flip", "--crop-pad", "1", "--augment", "seed", "--augment-n", "20", "--device", "cpu",
                     "--no-amp", "--seed", "7", "--run-dir", run_dir, "--no-progress")
    assert code == 0
    config = RunFolder(run_dir).config()
    expected = dict(epochs=2, lr=0.002, batch_size=40, eval_batch_size=50, optimizer="sgd", momentum=0.8,
                    weight_decay=0.001, schedule="step", lr_drops=[[2, 0.0005]], warmup_epochs=0.5,
                    label_smoothing=0.05, flip=False, crop_pad=1, augment_name="seed", augment_n=20,
                    device="cpu", amp=False, seed=7, preset="base", recipe="project")
    assert {k: config[k] for k in expected} == expected
    set_by_flags = set(expected) | {"data", "model", "augment"}
    assert {f.name for f in fields(TrainConfig)} - set_by_flags == {"mean", "std"}


def test_train_a_composed_model_from_a_spec_file(tiny_data, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"conv": [{"out_channels": 4, "kernel_size": 3}], "fc": [16]}))
    run_dir = tmp_path / "runs" / "composed"
    code, _, _ = run(capsys, "train", "--data", tiny_data, "--model", spec, "--epochs", "1", "--device", "cpu",
                     "--run-dir", run_dir, "--no-progress")
    config = RunFolder(run_dir).config()
    assert code == 0 and config["preset"] is None and config["model"]["conv"][0]["out_channels"] == 4


def test_train_with_a_bad_setting_creates_no_run(tiny_data, tmp_path, capsys):
    assert "epochs must be 1..1000, got 0" in user_error(
        capsys, "train", "--data", tiny_data, "--epochs", "0", "--runs-root", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_runs(trained, capsys):
    code, out, _ = run(capsys, "runs", "--runs-root", trained.parent, "--json")
    [summary] = json.loads(out)
    assert code == 0 and summary["name"] == "base" and summary["state"] == "finished"


def test_runs_of_a_runs_root_that_is_a_file(tmp_path, capsys):
    (tmp_path / "runs").write_text("")
    assert "is a file, not a folder" in user_error(capsys, "runs", "--runs-root", tmp_path / "runs")


def test_stop_a_queued_run(tmp_path, capsys):
    queued = RunFolder.create({"epochs": 1}, root=tmp_path, name="waiting")
    code, out, _ = run(capsys, "stop", queued.path)
    assert code == 0 and "asked waiting to stop" in out and queued.stop_requested()


def test_stop_something_that_is_not_a_run(tmp_path, capsys):
    assert "is not a run folder" in user_error(capsys, "stop", tmp_path)


# --- evaluation and export ------------------------------------------------------------------------
def test_evaluate(trained, capsys):
    code, out, _ = run(capsys, "evaluate", trained, "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 60 and result["checkpoint"] == "best"


def test_evaluate_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert "is not a run folder" in user_error(capsys, "evaluate", tmp_path)


def test_predict(trained, picture, capsys):
    code, out, _ = run(capsys, "predict", trained, picture, "--json", "--top-k", "2")
    [result] = json.loads(out)
    assert code == 0 and len(result["top"]) == 2 and "resized" in " ".join(result["notes"])


def test_predict_with_a_run_that_has_no_checkpoint(tmp_path, picture, capsys):
    empty = RunFolder.create({"epochs": 1}, root=tmp_path, name="untrained")
    assert "no checkpoint at" in user_error(capsys, "predict", empty.path, picture)


def test_export(trained, tmp_path, capsys):
    code, out, _ = run(capsys, "export", trained, "--out", tmp_path / "model.safetensors")
    assert code == 0 and (tmp_path / "model.safetensors").stat().st_size > 10_000


def test_export_of_a_run_without_a_checkpoint(tmp_path, capsys):
    empty = RunFolder.create({"epochs": 1}, root=tmp_path, name="untrained")
    assert "no checkpoint at" in user_error(capsys, "export", empty.path, "--out", tmp_path / "m.safetensors")


def test_export_onnx_by_its_suffix(trained, tmp_path, capsys):
    code, out, _ = run(capsys, "export", trained, "--out", tmp_path / "model.onnx")
    assert code == 0 and "ONNX; input: uint8" in out and (tmp_path / "model.onnx").stat().st_size > 10_000


def test_report(trained, tmp_path, capsys):
    code, out, _ = run(capsys, "report", trained, "--out", tmp_path / "run.html")
    assert code == 0 and "opens offline" in out and "<svg" in (tmp_path / "run.html").read_text()


def test_report_into_a_missing_folder(trained, tmp_path, capsys):
    assert "no folder" in user_error(capsys, "report", trained, "--out", tmp_path / "nowhere" / "run.html")


def test_predict_a_folder(trained, tiny_data, capsys):
    code, out, _ = run(capsys, "predict", trained, tiny_data / "test" / "cat", "--json")
    result = json.loads(out)
    assert code == 0 and not result["labelled"] and result["n"] == 6


# --- managing runs -----------------------------------------------------------------------------------
@pytest.fixture
def runs_root(tmp_path) -> Path:
    RunFolder.create({"epochs": 1}, root=tmp_path / "runs", name="old-name").write_status("finished")
    return tmp_path / "runs"


def test_rename(runs_root, capsys):
    code, out, _ = run(capsys, "rename", "old-name", "new-name", "--runs-root", runs_root)
    assert code == 0 and "renamed old-name to new-name" in out and (runs_root / "new-name" / "config.json").is_file()


def test_rename_to_a_name_with_a_space(runs_root, capsys):
    assert "e.g. 'new-name'" in user_error(capsys, "rename", "old-name", "new name", "--runs-root", runs_root)


def test_delete(runs_root, capsys):
    code, out, _ = run(capsys, "delete", "old-name", "--yes", "--runs-root", runs_root)
    assert code == 0 and "deleted" in out and list(runs_root.iterdir()) == []


def test_delete_a_run_that_is_not_there(runs_root, capsys):
    assert "no run named 'nothing'" in user_error(capsys, "delete", "nothing", "--yes", "--runs-root", runs_root)


def test_note(runs_root, capsys):
    code, out, _ = run(capsys, "note", "old-name", "--text", "first try", "--tag", "baseline", "--runs-root",
                       runs_root, "--json")
    assert code == 0 and json.loads(out) == {"notes": "first try", "tags": ["baseline"]}


def test_note_with_a_tag_of_two_words(runs_root, capsys):
    assert "a tag is one word" in user_error(capsys, "note", "old-name", "--tag", "two words", "--runs-root",
                                             runs_root)


# --- understanding a model -----------------------------------------------------------------------------
def test_diff(trained, capsys):
    code, out, _ = run(capsys, "diff", trained, trained, "--device", "cpu", "--json")  # a run against itself
    result = json.loads(out)
    assert code == 0 and result["n"] == 60 and (result["fixed"], result["broken"], result["p_value"]) == (0, 0, 1.0)


def test_diff_with_a_folder_that_is_not_a_run(trained, tmp_path, capsys):
    assert "is not a run folder" in user_error(capsys, "diff", trained, tmp_path)


def test_explain(trained, picture, tmp_path, capsys):
    code, out, _ = run(capsys, "explain", trained, picture, "--method", "integrated-gradients",
                       "--out", tmp_path / "overlay.png", "--json")
    result = json.loads(out)
    assert code == 0 and result["method"] == "integrated-gradients" and len(result["saliency"]) == 32
    assert (tmp_path / "overlay.png").stat().st_size > 1000


def test_explain_a_class_that_does_not_exist(trained, picture, capsys):
    assert "unknown class 'kitten'" in user_error(capsys, "explain", trained, picture, "--target", "kitten")


# --- augmentation ----------------------------------------------------------------------------------
def test_augment(tiny_data, capsys):
    code, out, _ = run(capsys, "augment", "--data", tiny_data, "--pipeline", "seed", "--n", "30", "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 30 and sum(result["per_class"].values()) == 30


def test_augment_with_a_missing_pipeline_file(tiny_data, tmp_path, capsys):
    assert "missing.json" in user_error(capsys, "augment", "--data", tiny_data, "--pipeline",
                                        tmp_path / "missing.json", "--n", "5")


def test_augment_preview(tiny_data, tmp_path, capsys):
    code, out, _ = run(capsys, "augment-preview", "--data", tiny_data, "--out", tmp_path / "grid.png",
                       "--images", "3", "--versions", "2")
    with Image.open(tmp_path / "grid.png") as grid:
        assert code == 0 and grid.width > grid.height > 32


def test_augment_preview_with_a_bad_step(tiny_data, tmp_path, capsys):
    pipeline = tmp_path / "bad.json"
    pipeline.write_text(json.dumps([{"op": "flip_left_right", "probability": 1.5}]))
    assert "step 1 (flip_left_right)" in user_error(capsys, "augment-preview", "--data", tiny_data,
                                                    "--pipeline", pipeline, "--out", tmp_path / "g.png")


# --- measuring ---------------------------------------------------------------------------------------
def test_bench(tiny_data, capsys):
    code, out, _ = run(capsys, "bench", "--data", tiny_data, "--presets", "base", "--epochs", "1",
                       "--workers", "0", "--eval-images", "0", "--json")
    [result] = json.loads(out)["results"]
    assert code == 0 and result["ratio"] == pytest.approx(result["seed_s_per_epoch"] / result["project_s_per_epoch"],
                                                          rel=1e-3)


def test_bench_with_a_bad_option(capsys):
    assert "--epochs must be at least 1" in user_error(capsys, "bench", "--epochs", "0")


def test_make_full_scale_with_too_few_images(tiny_data, tmp_path, capsys):
    # Its happy path writes thousands of files: tests/test_full_scale.py runs it.
    assert "at least 10 images per split" in user_error(capsys, "make-full-scale", tmp_path / "full", "--data",
                                                        tiny_data, "--per-split", "5")
    assert not (tmp_path / "full").exists()


def test_sweep_with_a_bad_spec_names_the_field(tiny_data, tmp_path, capsys):
    # Its happy path starts Ray and trains: tests/test_sweep.py runs it.
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"data": str(tiny_data), "grid": {"lr": [0.001, 20]}}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"data": str(tiny_data), "grid": {"seed": [0]}}))
    assert "grid.lr[1]" in user_error(capsys, "sweep", spec, "--runs-root", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # checked before anything was made
    assert "--max-concurrent" in user_error(capsys, "sweep", spec, "--max-concurrent", "0")
    unreachable = user_error(capsys, "sweep", good, "--address", "127.0.0.1:1", "--runs-root", tmp_path / "runs")
    assert "no Ray cluster answers at 127.0.0.1:1" in unreachable and not (tmp_path / "runs").exists()


# Each command above has a happy path and a user error here (make-full-scale's happy path: test_full_scale,
# sweep's: test_sweep).
TESTED = {"demo-data", "fetch", "check", "summary", "train", "runs", "stop", "evaluate", "predict", "export",
          "augment", "augment-preview", "bench", "make-full-scale", "report", "rename", "delete", "note",
          "diff", "explain", "sweep", "corrupt", "reproduce"}


def test_reproduce_refuses_bad_options_before_anything_is_made(tiny_data, tmp_path, capsys):
    # Its happy path starts Ray and trains: tests/test_study.py runs it (slow).
    runs = tmp_path / "runs"
    assert "seeds must be a whole number 1..100" in user_error(capsys, "reproduce", "--data", tiny_data, "--seeds", "0",
                                                                "--runs-root", runs)
    assert "epochs scale" in user_error(capsys, "reproduce", "--data", tiny_data, "--epochs-scale", "2",
                                        "--runs-root", runs)
    assert "--max-concurrent" in user_error(capsys, "reproduce", "--data", tiny_data, "--max-concurrent", "0")
    assert "no Ray cluster answers at 127.0.0.1:1" in user_error(
        capsys, "reproduce", "--data", tiny_data, "--address", "127.0.0.1:1", "--runs-root", runs)
    assert "sweep name" in user_error(capsys, "reproduce", "--data", tiny_data, "--name", "../up", "--runs-root", runs)
    assert not runs.exists()


def test_a_new_command_gets_its_tests_here_too():
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert commands == TESTED, f"untested here: {sorted(commands - TESTED)}"
