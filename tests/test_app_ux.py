"""What a newcomer trips over (issue 11, section 1): one test or more per numbered item, through AppTest."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from cinic import paths

from cinic.data import choice as datasets
from cinic.runs.folder import RunFolder
from test_app import (PROJECT, assert_clean, button, demo_dir, finished_runs_root, open_app, with_demo,  # noqa: F401
                      with_finished_run)


# --- 2. the report recipe's drop follows the epochs -----------------------------------------------------
def test_the_report_recipes_drop_follows_the_epochs_until_edited(with_demo):
    at = open_app("Train")
    at.radio(key="recipe").set_value("report").run()
    assert at.text_input(key="lr_drops-report").value == "8:0.0005"
    at.number_input(key="epochs").set_value(3).run()
    assert_clean(at)
    assert at.text_input(key="lr_drops-report").value == "2:0.0005"
    assert not button(at, "Start training").disabled
    at.text_input(key="lr_drops-report").set_value("3:0.0001").run()  # by hand: it stays
    at.number_input(key="epochs").set_value(5).run()
    assert at.text_input(key="lr_drops-report").value == "3:0.0001"
    assert_clean(at)


# --- 5. a finished run says how it went; a stopped one has no time left -------------------------------
def progress_text(at) -> str:
    return at.get("progress")[0].proto.text


def test_a_finished_run_says_how_it_went_on_the_train_page(with_finished_run):
    at = open_app("Train")
    evaluation, epochs = with_finished_run.evaluation(), with_finished_run.epochs()
    message = at.success[0].value
    assert f"test accuracy {evaluation['accuracy']:.2f}%" in message
    assert f"best at epoch 1 (validation {epochs[0]['valid_acc']:.2f}%)" in message
    links = [link for link in at.get("page_link") if link.value == "Open finished-base in Results"]
    assert links and links[0].proto.page.endswith("results")
    assert "left" not in progress_text(at)


def test_a_cancelled_run_never_says_time_left(with_demo):
    run = RunFolder.create({"preset": "base", "epochs": 5}, root=paths.runs_root(), name="stopped")
    run.append_metrics({"kind": "epoch", "epoch": 1, "train_loss": 2.0, "train_acc": 20.0, "valid_loss": 2.0,
                        "valid_acc": 20.0, "lr": 0.001, "seconds": 15.0, "images_per_s": 100.0})
    run.append_metrics({"kind": "batch", "epoch": 2, "step": 30, "loss": 1.9})
    run.write_status("cancelled", epoch=1, epochs=5, steps_per_epoch=64, device="cpu")
    at = open_app("Train")
    assert_clean(at)
    assert progress_text(at) == "epoch 1 of 5: cancelled"


# --- 1. a Data page error stays until the path changes; a split folder points at its root -------------
def wait_for_error(at):
    for _ in range(50):  # the check runs in a background thread; the page polls it
        if at.error:
            return at
        time.sleep(0.1)
        at.run()
    return at


def test_a_data_path_error_stays_until_the_path_changes_and_names_the_root(with_demo):
    at = open_app("Data")
    at.text_input(key="data-given").set_value(str(with_demo / "train" / "cat"))
    button(at, "Use this data").click().run()
    wait_for_error(at)
    message = at.error[0].value
    assert "did you mean that one?" in message and f"CINIC-10 folder {with_demo}" in message
    for _ in range(3):  # later polls and reruns keep it
        time.sleep(0.3)
        at.run()
        assert [e.value for e in at.error] == [message]
    at.text_input(key="data-given").set_value(str(with_demo / "train")).run()
    assert not at.error  # a new path: the old error is gone
    button(at, "Use this data").click().run()
    assert "split folder of the CINIC-10 folder" in wait_for_error(at).error[0].value
    assert datasets.chosen_data_root() == with_demo


# --- 10. small ones: AdamW by name, run.sh's data set, no CLI hint in the app's log, no zombies, wrapped log
def test_the_optimiser_is_named_adamw_and_the_log_wraps_long_lines(with_finished_run):
    at = open_app("Train")
    assert at.selectbox(key="optimizer-project").options == ["AdamW", "SGD with Nesterov momentum"]
    assert at.selectbox(key="optimizer-project").value == "adam"  # the setting itself is unchanged
    assert [c.proto.wrap_lines for c in at.code] == [True]


def test_run_sh_names_the_data_set_the_app_uses(with_demo):
    line = next(x for x in (PROJECT / "run.sh").read_text().splitlines() if "ready_for_first_start" in x)
    code = shlex.split(line.strip())[-1]  # "$PY" -c "CODE"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                         env=os.environ.copy(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"data set: {with_demo}"


def test_a_stopped_training_logs_no_command_line_hint(with_demo):
    from cinic.runs.config import make_config
    from cinic.training.loop import train_run

    run = RunFolder.create(make_config(str(with_demo), epochs=1, batch_size=8, device="cpu").to_dict(),
                           root=paths.runs_root(), name="stop-me")
    said = []

    def log(message):
        said.append(message)
        if message.startswith("device:"):
            run.request_stop()  # honoured at the first batch

    assert train_run(run, progress=False, log=log)["state"] == "cancelled"
    assert said[-1].startswith("stopped on request") and not any("--" in m for m in said)


def test_a_finished_training_process_is_reaped(with_demo):
    from cinic.runs.config import make_config
    from cinic.runs.launch import launch_training

    run = launch_training(make_config(str(with_demo), epochs=1, batch_size=8, device="cpu").to_dict())
    deadline = time.time() + 240
    while (run.status()["state"] in ("queued", "running") or not run.status().get("pid")) \
            and time.time() < deadline:
        time.sleep(0.5)
    pid = run.status()["pid"]
    assert run.status()["state"] == "finished", run.log_tail()
    gone = time.time() + 30  # the process exits just after writing "finished"
    while Path(f"/proc/{pid}").exists() and time.time() < gone:
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), (
        "the finished training is still a zombie child of this process: "
        + Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0])


# --- 6. Compare: the report's rows (hideable), a colour per run --------------------------------------
def test_compare_shows_the_reports_figures_as_rows_that_can_be_hidden(with_finished_run):
    at = open_app("Compare")
    table = at.dataframe[0].value
    assert list(table["test %"])[1:] == [50.73, 52.25, 64.38]
    assert list(table["run"])[1:] == ["report: base", "report: stepping", "report: best"]
    at.toggle(key="compare-reference").set_value(False).run()
    assert list(at.dataframe[0].value["run"]) == ["finished-base"]
    assert_clean(at)


def test_compare_says_what_changed_per_variant_in_words_not_a_cut_column(with_finished_run):
    from cinic.model.lenet import PRESET_NOTES

    at = open_app("Compare")
    shown = list(at.dataframe[0].proto.column_order)
    assert shown[-1] == "state" and "what changed" not in shown
    assert any(f"**best**: {PRESET_NOTES['best']}" in m.value for m in at.markdown)


# --- 7. a most-confused row selects its matrix cell ------------------------------------------------------
def test_a_most_confused_row_picks_its_confusion_cell(with_finished_run):
    import json

    pairs = with_finished_run.evaluation()["most_confused"]
    assert len(pairs) >= 2
    at = open_app("Results")
    heading = lambda: next(m.value for m in at.markdown if m.value.startswith("**Images of class"))  # noqa: E731
    assert heading().startswith(f"**Images of class {pairs[0]['true']} predicted as {pairs[0]['pred']}**")
    at.session_state["most-confused"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert heading().startswith(f"**Images of class {pairs[1]['true']} predicted as {pairs[1]['pred']}**")
    matrix = next(json.loads(c.proto.spec) for c in at.get("vega_lite_chart") if "Confusion" in c.proto.spec)
    assert matrix["params"][0]["value"] == [{"true_class": pairs[1]["true"], "predicted": pairs[1]["pred"]}]


# --- 8. Classify: its limits said, a picture too large said in plain words, squeeze or crop --------------
def test_classify_states_its_limits_and_squeezes_or_crops_non_square_pictures(with_finished_run):
    from test_app import png_bytes
    from test_images import header_only_png

    at = open_app("Classify")
    assert "at most 20 MB and 16.8 megapixels (4096x4096) each" in at.file_uploader(key="classify-upload").label
    wide = png_bytes(64, 32)
    at.file_uploader(key="classify-upload").set_value([("wide.png", wide, "image/png"),
                                                       ("huge.png", header_only_png(20_000, 20_000), "image/png")])
    at.run()
    assert [e.value for e in at.error] == ["huge.png is too large a picture (400.0 megapixels); at most 16.8 "
                                           "megapixels (4096x4096) are accepted: shrink it, then try again."]
    assert any("squeezed to fit" in c.value for c in at.caption)
    at.radio(key="classify-fit").set_value("crop").run()
    assert any("its centre 32x32 was kept" in c.value for c in at.caption)
    assert not any("squeezed" in c.value for c in at.caption)


# --- 3. the watched run's settings beside its progress, and "use these settings" --------------------------
def test_the_watched_runs_settings_show_and_load_into_the_form(with_finished_run):
    at = open_app("Train")  # a fresh session: the form shows its defaults
    assert any(c.value.startswith("Settings: **base · project recipe**, 1 epochs (AdamW 0.004, onecycle), "
                                  "batch 32, Augmentor images: none, device cpu") for c in at.caption)
    at.selectbox(key="preset").set_value("best").run()
    at.radio(key="recipe").set_value("report").run()
    assert at.number_input(key="epochs").value == 10 and at.number_input(key="batch_size").value == 64
    button(at, "Use these settings").click().run()
    assert_clean(at)
    assert at.selectbox(key="preset").value == "base" and at.radio(key="recipe").value == "project"
    assert at.number_input(key="epochs").value == 1 and at.number_input(key="batch_size").value == 32
    assert at.selectbox(key="device").value == "cpu"
    assert at.number_input(key="warmup_epochs-project").value == with_finished_run.config()["warmup_epochs"]


def a_value_the_form_does_not_show(setting, shown: dict, chosen: dict):
    """For each kind of widget of the table, a value inside its bounds that differs from what the form
    shows before loading (the table's default or the recipe's): loading must set it, or it is missed."""
    w, default = setting.widget, shown[setting.name]
    if w.kind == "number":
        number = setting.number_type
        low, high = number(w.low), number(chosen[w.high] if isinstance(w.high, str) else w.high)
        value = low + (high - low) // 3 if number is int else round(low + (high - low) / 3, 2)
        return value if value != default else value + number(1)
    if w.kind in ("select", "radio"):
        return next(c for c in setting.choices if c != default)
    if w.kind == "checkbox":
        return not default
    if w.kind == "device":
        return "cpu"  # the form shows "auto"
    if w.kind == "drops":
        return [[2, 0.0005], [chosen["epochs"] - 1, 0.0001]]
    raise AssertionError(f"a setting drawn as {w.kind!r} ({setting.name}): teach this test a value for it")


def test_use_these_settings_restores_every_setting_a_run_was_trained_with(with_demo, monkeypatch):
    """Every setting of the table that the form shows, a composed model and a run's own Augmentor
    pipeline included, comes back from "Use these settings": the run started from the filled form
    has the run's config."""
    from cinic.augment.ops import load_pipeline
    from cinic.model.lenet import ModelSpec, get_preset
    from cinic.runs import launch
    from cinic.runs.config import SETTING, SETTINGS, make_config, recipe_defaults

    on_form = [s for s in SETTINGS if s.widget]
    assert {s.name for s in SETTINGS} - {s.name for s in on_form} == {"data", "mean", "std"}  # the page's, measured
    recipe = SETTING["recipe"].default  # the form is switched to the other recipe before loading
    chosen = {"recipe": recipe}
    chosen["epochs"] = a_value_the_form_does_not_show(SETTING["epochs"], {"epochs": SETTING["epochs"].default}, {})
    shown = {s.name: s.default for s in SETTINGS} | recipe_defaults(recipe, chosen["epochs"])
    shown["schedule"] = "onecycle" if shown["schedule"] != "onecycle" else "cosine"  # so that "step" is chosen:
    chosen["schedule"] = "step"                                                       # the drops show only there
    for setting in on_form:
        if setting.widget.kind not in ("model", "augmentation") and setting.name not in chosen:
            chosen[setting.name] = a_value_the_form_does_not_show(setting, shown, chosen)
    base = get_preset("base").to_dict()
    model = {**base, "conv": [{**base["conv"][0], "out_channels": 7, "padding": 1}, base["conv"][1]],
             "fc": [60], "activation": "tanh", "dropout": 0.25, "init": "xavier", "input_norm": "contrast",
             "flip_tta": True}
    steps = load_pipeline("seed")[:2]
    config = make_config(str(with_demo), preset=None, model=ModelSpec.from_dict(model).to_dict(),
                         augment=steps, augment_name="mine.json", augment_n=123,
                         **{k: v for k, v in chosen.items() if k not in ("preset", "model")}).to_dict()
    run = RunFolder.create(config, root=paths.runs_root(), name="every-setting")
    run.write_status("finished")
    launched = []
    monkeypatch.setattr(launch, "launch_training", lambda config, name=None: launched.append(config) or run)

    at = open_app("Train")
    at.radio(key="recipe").set_value(next(r for r in SETTING["recipe"].choices if r != recipe)).run()
    button(at, "Use these settings").click().run()
    assert_clean(at)
    button(at, "Start training").click().run()
    [started] = launched
    assert {name: started[name] for name in config} == config


# --- 4. a launch says what it is doing before its first batch ---------------------------------------------
def test_a_training_reports_its_phases_before_the_first_batch(with_demo, monkeypatch):
    from cinic.runs.config import make_config
    from cinic.training.loop import train_run

    config = make_config(str(with_demo), epochs=1, batch_size=8, device="cpu", augment=[], augment_n=0)
    run = RunFolder.create(config.to_dict(), root=paths.runs_root(), name="phases")
    phases, write = [], RunFolder.write_status

    def recording(self, state, **fields):
        if fields.get("phase"):
            phases.append(fields["phase"])
        write(self, state, **fields)

    monkeypatch.setattr(RunFolder, "write_status", recording)
    assert train_run(run, progress=False, log=lambda m: None)["state"] == "finished"
    assert [p.split(" ")[0] for p in phases] == ["reading", "building", "training:"]
    assert "moving 160 training images to cpu" in phases[1]


def test_the_train_page_shows_the_phase_of_a_starting_run(with_demo):
    from cinic.runs.process import this_process

    run = RunFolder.create({"preset": "base", "epochs": 3}, root=paths.runs_root(), name="starting")
    run.write_status("running", **this_process(), epochs=3, phase="building the model and moving 160 training "
                                                                    "images to cpu")
    at = open_app("Train")
    assert progress_text(at) == "building the model and moving 160 training images to cpu…"


# --- 9. Augmentation: insert where chosen (before the final resize), names in words, remove all asks ---
def test_augmentation_inserts_before_the_final_resize_and_asks_before_removing_all(with_demo):
    from cinic.augment.ops import SEED_PIPELINE

    at = open_app("Augmentation")
    assert SEED_PIPELINE[-1]["op"] == "resize"
    add = at.selectbox(key="aug-add-op")
    assert add.options[:1] == ["Crop the centre (crop_centre)"]
    add.set_value("rotate").run()
    button(at, "Add step").click().run()
    ops = [line.split(". ")[1].split("(")[0] for line in at.code[0].value.splitlines()]
    assert ops[-2:] == ["rotate", "resize"]  # before the final resize, not after it
    assert any("**6. Rotate by a random angle** (`rotate`)" in m.value for m in at.markdown)
    assert any("no black corners" in c.value for c in at.caption)
    at.selectbox(key="aug-add-where").set_value(0).run()
    at.selectbox(key="aug-add-op").set_value("greyscale").run()
    button(at, "Add step").click().run()
    assert at.code[0].value.splitlines()[0].startswith("1. greyscale")
    button(at, "Remove all steps").click().run()
    assert any("Remove all 8 steps?" in w.value for w in at.warning)
    button(at, "Keep them").click().run()
    assert len(at.code[0].value.splitlines()) == 8 and not at.warning
    button(at, "Remove all steps").click().run()
    button(at, "Yes, remove them").click().run()
    assert at.code[0].value == "(no augmentation)"
    assert_clean(at)


def test_augmentation_previews_each_step(with_demo):
    at = open_app("Augmentation")
    assert len(at.get("image")) == 1  # the whole pipeline's preview
    at.toggle(key="aug-each").set_value(True).run()
    assert_clean(at)
    captions = [c for image in at.get("image") for c in [image.proto.imgs[0].caption]]
    assert [c for c in captions if c.startswith("after step")] == [
        f"after step {i}: the original, then six draws" for i in range(1, 7)]
