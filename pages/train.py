"""Train: pick or compose a LeNet variant, set the recipe, launch it in the background, watch it.

The training is its own process (cinic.runs.folder.launch_training) writing its run
folder; this page only reads that folder, in a fragment that reruns every few
seconds. A reload, a closed tab or a rerun never touches the training.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from ui import app_ui
app_ui.page_start("Train")  # first: the menu shows while the library (torch) loads

from cinic import app_state

from ui import charts

from cinic.data import choice as datasets
from cinic.training.config import OPTIMIZER_NAMES, OPTIMIZERS, RECIPES, SCHEDULES, lr_curve, make_config, recipe_defaults
from cinic.model.lenet import ACTIVATIONS, INITS, INPUT_NORMS, PRESET_NOTES, PRESETS, ConvSpec, ModelSpec, summarize
from cinic.runs.admin import never_started
from cinic.runs.folder import LIVE_STATES, RunError, RunFolder, launch_training, list_runs, stop_run

POLL_SECONDS = 2.0
RESUMABLE = ("interrupted", "cancelled", "failed")


# --- the model ----------------------------------------------------------------------
def choose_model() -> tuple[str | None, ModelSpec | None]:
    """(preset name or None for custom, spec); the spec is None when the composed one is invalid."""
    mode = st.radio("Model", ["Preset", "Compose a variant"], horizontal=True, key="model-mode")
    preset = st.selectbox("Preset", list(PRESETS), key="preset",
                          format_func=lambda p: f"{p}: {PRESET_NOTES.get(p, '')}",
                          help="Start from one of the report's models or a one-change variant of the base.")
    if mode == "Preset":
        return preset, PRESETS[preset]
    with app_ui.errors_as_boxes("This model cannot be built"):
        return None, compose_spec(PRESETS[preset])
    return None, None


def compose_spec(start: ModelSpec) -> ModelSpec:
    """Widgets for every field of a ModelSpec, starting from `start`; raises ModelSpecError."""
    n_conv = st.number_input("Conv blocks", 1, 4, len(start.conv), key=f"n-conv-{id_of(start)}")
    layers = []
    columns = st.columns(int(n_conv))
    for i, column in enumerate(columns):
        base = start.conv[i] if i < len(start.conv) else ConvSpec(start.conv[-1].out_channels * 2, 3)
        with column:
            st.markdown(f"**conv {i + 1}**")
            key = f"{id_of(start)}-conv{i}"
            layers.append(ConvSpec(
                out_channels=int(st.number_input("feature maps", 1, 512, base.out_channels, key=f"{key}-maps")),
                kernel_size=int(st.number_input("kernel", 1, 11, base.kernel_size, key=f"{key}-k")),
                padding=int(st.number_input("padding", 0, 5, base.padding, key=f"{key}-pad")),
                pool=st.checkbox("max-pool 2x2", base.pool, key=f"{key}-pool"),
                batch_norm=st.checkbox("batch norm", base.batch_norm, key=f"{key}-bn"),
            ))
    fc_text = st.text_input("Hidden fully connected sizes (comma separated)",
                            ", ".join(map(str, start.fc)), key=f"{id_of(start)}-fc",
                            help="The last layer to the 10 classes is added for you; leave empty for none.")
    left, middle, right = st.columns(3)
    activation = left.selectbox("Activation", list(ACTIVATIONS), list(ACTIVATIONS).index(start.activation),
                                key=f"{id_of(start)}-act")
    dropout = middle.number_input("Dropout after each hidden layer", 0.0, 0.9, start.dropout, 0.05,
                                  key=f"{id_of(start)}-drop")
    init = right.selectbox("Initialisation", list(INITS), list(INITS).index(start.init), key=f"{id_of(start)}-init")
    left, right = st.columns(2, vertical_alignment="bottom")
    input_norm = left.selectbox("Input normalisation", INPUT_NORMS, INPUT_NORMS.index(start.input_norm),
                                key=f"{id_of(start)}-norm", help=(
                                    "contrast: each image to zero mean and unit spread inside the model, so a dim "
                                    "or washed-out photo looks like a clear one (the project recipe's choice)"))
    flip_tta = right.checkbox("Flip test-time augmentation", start.flip_tta, key=f"{id_of(start)}-tta",
                              help="Predict from the mean of the image's and its mirror image's logits.")
    return ModelSpec.from_dict({**start.to_dict(), "conv": [asdict(layer) for layer in layers],
                                "fc": parse_sizes(fc_text), "activation": activation,
                                "dropout": float(dropout), "init": init, "input_norm": input_norm,
                                "flip_tta": flip_tta})


def id_of(spec: ModelSpec) -> str:
    """A widget-key prefix per starting preset, so picking another preset resets the widgets to it."""
    return next((name for name, p in PRESETS.items() if p == spec), "custom")


def parse_sizes(text: str) -> list[int]:
    from cinic.model.lenet import ModelSpecError

    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or int(part) < 1:
            raise ModelSpecError(f"hidden size {part!r} is not a whole number of at least 1; "
                                 "write sizes like 120, 84")
        sizes.append(int(part))
    return sizes


def show_summary(spec: ModelSpec) -> int:
    rows = summarize(spec)
    params = sum(r["params"] for r in rows)
    st.caption(app_ui.as_text(spec.describe()))
    st.dataframe([{"layer": r["layer"], "output shape": " x ".join(map(str, r["output_shape"])),
                   "parameters": r["params"]} for r in rows], hide_index=True, height="content")
    st.metric("Parameters", f"{params:,}")
    return params


# --- the recipe -------------------------------------------------------------------
def choose_recipe(data_root: str, preset: str | None, spec: ModelSpec):
    """Widgets for the training settings; returns a validated TrainConfig or None (error shown)."""
    recipe = st.radio("Recipe", RECIPES, horizontal=True, key="recipe", help=(
        "project: AdamW, warm-up then one-cycle decay, flips and crops, label smoothing, and on a preset's "
        "model contrast-normalised input, flip test-time augmentation and (without BatchNorm) Xavier weights. "
        "seed: the course report's Adam at 0.001 dropped late, nothing else."))
    epochs = int(st.number_input("Epochs", 1, 1000, 10, key="epochs"))
    d = recipe_defaults(recipe, epochs)
    k = f"-{recipe}"  # keys per recipe: switching recipe shows that recipe's defaults
    left, middle, right = st.columns(3)
    optimizer = left.selectbox("Optimiser", OPTIMIZERS, OPTIMIZERS.index(d["optimizer"]), key="opt" + k,
                               format_func=OPTIMIZER_NAMES.get)
    lr = middle.number_input("Learning rate", 1e-6, 10.0, float(d["lr"]), format="%.5f", key="lr" + k)
    schedule = right.selectbox("Schedule", SCHEDULES, SCHEDULES.index(d["schedule"]), key="sched" + k)
    drops_text = ""
    if schedule == "step":
        follow_epochs("drops" + k, ", ".join(f"{e}:{v:g}" for e, v in d["lr_drops"]))
        drops_text = st.text_input("Learning-rate drops (epoch:lr, ...)", key="drops" + k,
                                   help="e.g. 8:0.0005 uses lr 0.0005 from epoch 8 on. The recipe's own "
                                        "drops follow the epochs until you edit them.")
    left, middle, right = st.columns(3)
    follow_epochs("warm" + k, min(float(d["warmup_epochs"]), epochs))
    warmup = left.number_input("Warm-up epochs", 0.0, float(epochs), step=0.5, key="warm" + k)
    weight_decay = middle.number_input("Weight decay", 0.0, 0.5, float(d["weight_decay"]), format="%.5f",
                                       key="wd" + k)
    smoothing = right.number_input("Label smoothing", 0.0, 0.5, float(d["label_smoothing"]), 0.05, key="ls" + k)
    left, middle, right = st.columns(3)
    batch_size = int(left.number_input("Batch size", 1, 65536, 64, key="batch"))
    crop_pad = int(middle.number_input("Crop padding (px)", 0, 8, int(d["crop_pad"]), key="crop" + k,
                                       help="Random crops: pad each side with this many zero pixels, then cut a "
                                            "32x32 window at a random place; 0 turns crops off."))
    seed = int(right.number_input("Seed", 0, 2**31 - 1, 0, key="seed"))
    # The checkbox gets half the width: in a third its label was cut to "Random horizon…".
    left, right = st.columns(2, vertical_alignment="bottom")
    device = left.selectbox("Device", device_choices(), key="device")
    flip = right.checkbox("Random horizontal flips", d["flip"], key="flip" + k,
                          help="Mirror each training image left to right with probability 0.5.")
    augmentation = choose_augmentation()

    with app_ui.errors_as_boxes("These settings cannot be used"):
        config = make_config(
            data_root, preset=preset, recipe=recipe, model=None if preset else spec.to_dict(),
            epochs=epochs, optimizer=optimizer, lr=float(lr), schedule=schedule,
            lr_drops=parse_drops(drops_text) if schedule == "step" else [],
            warmup_epochs=float(warmup), weight_decay=float(weight_decay), label_smoothing=float(smoothing),
            batch_size=batch_size, flip=flip, crop_pad=crop_pad, device=device, seed=seed, **augmentation)
        trained = ModelSpec.from_dict(config.model)
        if trained != spec:  # the recipe's model fields: say what will really be trained
            st.caption(app_ui.as_text(f"The {recipe} recipe trains {preset} as: {trained.describe()}"))
        st.altair_chart(charts.lr_schedule_chart(lr_curve(config)))
        return config
    return None


def follow_epochs(key: str, default) -> None:
    """Give widget `key` the recipe's default for these epochs unless the person changed it by hand.

    The seed recipe drops the rate at 80 % of the epochs: with 10 -> 3 epochs a drop kept at
    epoch 8 would be refused. A value still equal to the last default follows the new one.
    """
    last = f"{key}-default"
    if key not in st.session_state or st.session_state[key] == st.session_state.get(last):
        st.session_state[key] = default
    st.session_state[last] = default


def parse_drops(text: str) -> list[list]:
    from cinic.training.config import ConfigError

    drops = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            epoch, lr = part.split(":")
            drops.append([int(epoch), float(lr)])
        except ValueError:
            raise ConfigError(f"learning-rate drop {part!r} is not EPOCH:LR; write e.g. 8:0.0005") from None
    return drops


@st.cache_data(show_spinner=False)
def device_choices() -> list[str]:
    import torch

    choices = ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        choices.append("mps")
    return choices


def choose_augmentation() -> dict:
    """Augmentor images added before training: none, the report's pipeline, or the one saved on the Augmentation page."""
    from cinic.augment.ops import load_pipeline

    saved = app_state.saved_pipeline()
    options = ["none", "seed"] + (["saved"] if saved else [])
    labels = {"none": "none", "seed": "the report's pipeline",
              "saved": "the pipeline saved on the Augmentation page"}
    left, right = st.columns(2)
    choice = left.selectbox("Augmentor images", options, format_func=labels.get, key="augment-choice",
                            help="Extra training images sampled once before training, kept in the cache "
                                 "folder (never in your data folder). Compose a pipeline on the Augmentation page.")
    if choice == "none":
        return {"augment": [], "augment_name": "none", "augment_n": 0}
    steps, saved_n = saved if choice == "saved" else (load_pipeline("seed"), 0)
    n = int(right.number_input("How many extra images", 1, 1_000_000, saved_n or 1000, key=f"augment-n-{choice}"))
    name = "seed" if choice == "seed" else str(app_state.pipeline_path().name)
    return {"augment": list(steps), "augment_name": name, "augment_n": n}


# --- launching and watching --------------------------------------------------------
def launch(config, name: str | None) -> None:
    with app_ui.errors_as_boxes("The training could not be started"):
        run = launch_training(config.to_dict(), name=name)
        st.session_state.pop("run-name", None)  # the next run gets a name of its own
        st.query_params["run"] = run.name
        st.toast(f"Started {app_ui.as_text(run.name)}")
        st.rerun()


def watched_run(summaries: list[dict]) -> dict | None:
    """The run in the URL while it trains, else the one training now, else the URL's, else the newest
    that trained (one cancelled while still queued has nothing to show)."""
    wanted = next((s for s in summaries if s["name"] == st.query_params.get("run")), None)
    live = [s for s in summaries if s.get("state") in LIVE_STATES]
    if wanted is not None and wanted in live:
        return wanted
    if live:
        return live[0]
    return wanted or next((s for s in summaries if not never_started(s)), None)


def watch(run_path: str) -> None:
    """Status, progress and curves of one run, re-read from its folder on every fragment rerun."""
    run = RunFolder(run_path)
    status, epochs = run.status(), run.epochs()
    state = status.get("state")
    others = list_runs(run.path.parent) if state == "queued" else []
    word, ahead = charts.live_state(state, run.name, others)
    st.markdown(f"**{app_ui.as_text(run.name)}**: {app_ui.STATE_ICONS.get(state, '')} {app_ui.as_text(word)}"
                + (f" on {app_ui.as_text(status['device'])}" if status.get("device") else ""))
    if ahead:
        st.info(f"Queued behind {app_ui.as_text(', '.join(ahead))}: it starts when that training ends.",
                icon=":material/hourglass_top:")
    settings_of(run)
    progress = charts.training_progress(status, epochs, run.batches() if state == "running" else ())
    st.progress(progress["fraction"], text=progress["text"])
    if state == "finished":
        how_it_went(run, status, epochs)
    if status.get("error") and state in ("failed", "interrupted"):
        st.error(f"{app_ui.as_text(status['error'])}. Resume it from its last completed epoch, or change the settings "
                 "and start a new run.", icon=":material/error:")
    actions(run, state)
    app_ui.show_curves(run, epochs)
    with st.expander("Training log"):
        st.code(run.log_tail(30) or "(empty)", language=None, wrap_lines=True)  # long lines wrapped, not cut
    if state not in LIVE_STATES and st.session_state.get("watch-live"):
        st.session_state["watch-live"] = False
        st.rerun()  # the run ended: redraw the page once, which stops the polling


def settings_of(run: RunFolder) -> None:
    """The watched run's settings in one line, and a button that loads them into the form above
    (after a reload the form shows its defaults, not what the run beside it trains with)."""
    try:
        c = run.config()
    except RunError as e:  # a damaged config.json: the progress beside it still shows
        st.warning(f"{app_ui.as_text(e)}. Its settings cannot be shown or reused.", icon=":material/warning:")
        return
    if not all(name in c for name in FORM_SETTINGS):
        return  # not a config the form can show (written by hand or by an older version)
    drops = ", ".join(f"{e}:{v:g}" for e, v in c["lr_drops"] or [])
    text = app_ui.as_text  # every value read from config.json, which may be anyone's
    st.caption(f"Settings: **{text(c['preset'] or 'a composed model')}**, {text(c['epochs'])} epochs, "
               f"{text(c['recipe'])} recipe ({text(OPTIMIZER_NAMES.get(c['optimizer'], c['optimizer']))} "
               f"{c['lr']:g}, {text(c['schedule'])}{' ' + text(drops) if drops else ''}), batch "
               f"{text(c['batch_size'])}, Augmentor images: "
               f"{text(charts.augmentation_label(c['augment_name'], c['augment_n']))}, device {text(c['device'])}")
    st.button("Use these settings", key="use-settings", icon=":material/settings_backup_restore:",
              on_click=load_settings, args=(c,),
              help="Fill the form above with this run's settings, to train it again or change one thing.")
    if st.session_state.pop("settings-loaded", False):
        st.rerun(scope="app")  # the form lives outside this fragment


FORM_SETTINGS = ("preset", "recipe", "epochs", "optimizer", "lr", "schedule", "lr_drops", "warmup_epochs",
                 "weight_decay", "label_smoothing", "crop_pad", "flip", "batch_size", "seed", "device",
                 "augment_name", "augment_n")


def load_settings(config: dict) -> None:
    """Set the form's widgets to a run's config (a button's callback: widgets may be set only here)."""
    state, k = st.session_state, f"-{config['recipe']}"
    if config.get("preset") in PRESETS:
        state["model-mode"], state["preset"] = "Preset", config["preset"]
    state["recipe"], state["epochs"] = config["recipe"], int(config["epochs"])
    state["opt" + k], state["lr" + k], state["sched" + k] = config["optimizer"], float(config["lr"]), config["schedule"]
    state["drops" + k] = ", ".join(f"{e}:{v:g}" for e, v in config.get("lr_drops") or [])
    state["warm" + k], state["wd" + k] = float(config["warmup_epochs"]), float(config["weight_decay"])
    state["ls" + k], state["crop" + k] = float(config["label_smoothing"]), int(config["crop_pad"])
    state["flip" + k], state["batch"], state["seed"] = bool(config["flip"]), int(config["batch_size"]), int(config["seed"])
    if config.get("device") in device_choices():
        state["device"] = config["device"]
    if config.get("augment_name") in ("none", "seed"):
        state["augment-choice"] = config["augment_name"]
        if config["augment_name"] == "seed":
            state["augment-n-seed"] = int(config["augment_n"])
    state["settings-loaded"] = True


def how_it_went(run: RunFolder, status: dict, epochs: list[dict]) -> None:
    """A finished run's result in one line (test accuracy of best.pt, its epoch, the time it took),
    and the way to its Results."""
    best = charts.best_epoch(epochs)
    valid = next((e["valid_acc"] for e in epochs if e["epoch"] == best), None)
    parts = [f"test accuracy {status['test_acc']:.2f}%" if status.get("test_acc") is not None
             else "not evaluated"]
    if best is not None:
        parts.append(f"best at epoch {best} (validation {valid:.2f}%), whose checkpoint was tested")
    if epochs:
        parts.append(f"{charts.format_duration(sum(e['seconds'] for e in epochs))} of training")
    st.success("Finished: " + "; ".join(parts) + ".", icon=":material/check_circle:")
    st.page_link(app_ui.menu_entry("Results").file, label=f"Open {app_ui.as_text(run.name)} in Results",
                 icon=":material/analytics:", query_params={"run": run.name})


def actions(run: RunFolder, state: str) -> None:
    left, right = st.columns(2)
    if state in LIVE_STATES and left.button("Cancel", key="cancel", icon=":material/stop:"):
        stop_run(run)
        st.toast("Asked the training to stop: it stops within a few batches; Resume continues "
                 "from its last completed epoch.")
    if state in RESUMABLE and run.has_checkpoint("last") and right.button("Resume", key="resume",
                                                                          icon=":material/play_arrow:"):
        with app_ui.errors_as_boxes("The run could not be resumed"):
            launch_training(resume_run=run)
            st.rerun()


# --- the page ---------------------------------------------------------------------------
with app_ui.page_body():
    st.title("Train")
    data_root = app_ui.data_root_or_offer_demo("train")
    if data_root is not None:
        st.caption(f"Data: {app_ui.as_text(datasets.describe_data_root(data_root))}")
        model_col, recipe_col = st.columns([1, 1], gap="large")
        with model_col:
            st.subheader("Model")
            preset, spec = choose_model()
            if spec is not None:
                show_summary(spec)
        with recipe_col:
            st.subheader("Recipe")
            config = choose_recipe(str(data_root), preset, spec) if spec is not None else None
        run_name = st.text_input("Run name (optional)", key="run-name",
                                 placeholder="default: the time and the preset, e.g. 20260101-120000-base",
                                 help="The run's folder under the runs root: letters, digits, '.', '_' and '-'. "
                                      "Rename it later on the Results page.")
        if st.button("Start training", type="primary", disabled=config is None, icon=":material/rocket_launch:"):
            launch(config, run_name.strip() or None)

    st.subheader("Progress")
    summaries = list_runs()
    current = watched_run(summaries)
    if current is None:
        st.caption("No runs yet.")
    else:
        live = current.get("state") in LIVE_STATES
        st.session_state["watch-live"] = live
        # Poll only while the run can still change; a finished run is drawn once.
        st.fragment(watch, run_every=POLL_SECONDS if live else None)(current["path"])
