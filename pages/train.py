"""Train: pick or compose a LeNet variant, set the recipe, launch it in the background, watch it.

The training is its own process (cinic.runs.launch.launch_training) writing its run
folder; this page only reads that folder, in a fragment that reruns every few
seconds. A reload, a closed tab or a rerun never touches the training.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from ui import app_ui
app_ui.page_start("Train")  # first: the menu shows while the library (torch) loads

from cinic.augment.saved import pipeline_path, saved_pipeline

from ui import charts

from cinic.data import choice as datasets
from cinic.runs.config import SETTING, SETTINGS, lr_curve, make_config, recipe_defaults
from cinic.model.lenet import ACTIVATIONS, INITS, INPUT_NORMS, PRESET_NOTES, PRESETS, ConvSpec, ModelSpec, summarize
from cinic.runs.admin import never_started
from cinic.runs import warm
from cinic.runs.folder import (LIVE_STATES, RunError, RunFolder, list_runs, optimizer_label, recipe_label,
                               run_label)
from cinic.runs.launch import launch_training, stop_run

POLL_SECONDS = 2.0
RESUMABLE = ("interrupted", "cancelled", "failed")


# --- the model ----------------------------------------------------------------------
def choose_model() -> tuple[str | None, ModelSpec | None]:
    """(preset name or None for custom, spec); the spec is None when the composed one is invalid."""
    mode = st.radio("Model", ["Preset", "Compose a variant"], horizontal=True, key="model-mode")
    # The recipe changes what a preset trains (the project recipe's input norm, TTA, init): named with it.
    recipe = recipe_label(st.session_state.get("recipe", SETTING["recipe"].default))
    preset = st.selectbox("Preset (with the recipe picked beside)", list(PRESETS), key="preset",
                          format_func=lambda p: f"{p} · {recipe}: {PRESET_NOTES.get(p, '')}",
                          help="Start from one of the report's models or a one-change variant of the base.")
    if mode == "Preset":
        return preset, PRESETS[preset]
    with app_ui.errors_as_boxes("This model cannot be built"):
        return None, compose_spec(PRESETS[preset])
    return None, None


def compose_spec(start: ModelSpec) -> ModelSpec:
    """Widgets for every field of a ModelSpec, starting from `start` (or from a run's model, loaded into
    them by "Use these settings"); raises ModelSpecError."""
    prefix = id_of(start)
    for key, value in compose_widget_values(start, prefix).items():
        st.session_state.setdefault(key, value)
    n_conv = st.number_input("Conv blocks", 1, 4, key=f"n-conv-{prefix}")
    layers = []
    added = ConvSpec(start.conv[-1].out_channels * 2, 3)  # a block beyond the start's
    for i, column in enumerate(st.columns(int(n_conv))):
        key = f"{prefix}-conv{i}"
        for widget, value in conv_widget_values(added, key).items():
            st.session_state.setdefault(widget, value)
        with column:
            st.markdown(f"**conv {i + 1}**")
            layers.append(ConvSpec(
                out_channels=int(st.number_input("feature maps", 1, 512, key=f"{key}-maps")),
                kernel_size=int(st.number_input("kernel", 1, 11, key=f"{key}-k")),
                padding=int(st.number_input("padding", 0, 5, key=f"{key}-pad")),
                pool=st.checkbox("max-pool 2x2", key=f"{key}-pool"),
                batch_norm=st.checkbox("batch norm", key=f"{key}-bn"),
            ))
    fc_text = st.text_input("Hidden fully connected sizes (comma separated)", key=f"{prefix}-fc",
                            help="The last layer to the 10 classes is added for you; leave empty for none.")
    left, middle, right = st.columns(3)
    activation = left.selectbox("Activation", list(ACTIVATIONS), key=f"{prefix}-act")
    dropout = middle.number_input("Dropout after each hidden layer", 0.0, 0.9, step=0.05, key=f"{prefix}-drop")
    init = right.selectbox("Initialisation", list(INITS), key=f"{prefix}-init")
    left, right = st.columns(2, vertical_alignment="bottom")
    input_norm = left.selectbox("Input normalisation", INPUT_NORMS, key=f"{prefix}-norm", help=(
        "contrast: each image to zero mean and unit spread inside the model, so a dim "
        "or washed-out photo looks like a clear one (the project recipe's choice)"))
    flip_tta = right.checkbox("Flip test-time augmentation", key=f"{prefix}-tta",
                              help="Predict from the mean of the image's and its mirror image's logits.")
    return ModelSpec.from_dict({**start.to_dict(), "conv": [asdict(layer) for layer in layers],
                                "fc": parse_sizes(fc_text), "activation": activation,
                                "dropout": float(dropout), "init": init, "input_norm": input_norm,
                                "flip_tta": flip_tta})


def compose_widget_values(spec: ModelSpec, prefix: str) -> dict:
    """The composing widgets' values (by key) that show `spec`."""
    values = {f"n-conv-{prefix}": len(spec.conv), f"{prefix}-fc": ", ".join(map(str, spec.fc)),
              f"{prefix}-act": spec.activation, f"{prefix}-drop": float(spec.dropout), f"{prefix}-init": spec.init,
              f"{prefix}-norm": spec.input_norm, f"{prefix}-tta": spec.flip_tta}
    for i, layer in enumerate(spec.conv):
        values.update(conv_widget_values(layer, f"{prefix}-conv{i}"))
    return values


def conv_widget_values(layer: ConvSpec, key: str) -> dict:
    return {f"{key}-maps": layer.out_channels, f"{key}-k": layer.kernel_size, f"{key}-pad": layer.padding,
            f"{key}-pool": layer.pool, f"{key}-bn": layer.batch_norm}


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


# --- the recipe: a widget per setting of the table -----------------------------------
# The recipe and the epochs come first: the other settings' defaults depend on them.
FIRST = ("recipe", "epochs")
GRID_KINDS = ("number", "select", "device")  # three to a row; checkboxes two to a row (their labels are long)


def choose_recipe(data_root: str, preset: str | None, spec: ModelSpec):
    """Widgets for the training settings of the table; returns a validated TrainConfig or None (error shown)."""
    values = {}
    for name in FIRST:
        values[name] = draw_setting(SETTING[name], st, values)
    on_form = [s for s in SETTINGS if s.widget and s.name not in FIRST]
    for row in rows_of([s for s in on_form if s.widget.kind in GRID_KINDS], 3):
        for column, setting in zip(st.columns(3), row):
            values[setting.name] = draw_setting(setting, column, values)
    values["lr_drops"] = choose_drops(values)
    for row in rows_of([s for s in on_form if s.widget.kind == "checkbox"], 2):
        for column, setting in zip(st.columns(2), row):
            values[setting.name] = draw_setting(setting, column, values)
    values.update(choose_augmentation())

    with app_ui.errors_as_boxes("These settings cannot be used"):
        config = make_config(data_root, preset=preset, model=None if preset else spec.to_dict(), **values)
        trained = ModelSpec.from_dict(config.model)
        # What will really be trained: the recipe may change the preset's model fields.
        st.markdown(f"Trains **{app_ui.as_text(run_label(config.to_dict()))}**: {app_ui.as_text(trained.describe())}")
        st.altair_chart(charts.lr_schedule_chart(lr_curve(config)))
        return config
    return None


def rows_of(items: list, n: int) -> list[list]:
    return [items[i:i + n] for i in range(0, len(items), n)]


# The settings a recipe gives defaults to (both recipes give the same ones).
PER_RECIPE = tuple(recipe_defaults(SETTING["recipe"].default, SETTING["epochs"].default))


def widget_key(name: str, recipe: str | None) -> str:
    """A setting's widget key; a setting the recipe gives a default has one per recipe, so switching
    recipe shows that recipe's defaults."""
    return f"{name}-{recipe}" if name in PER_RECIPE else name


def form_default(setting, values: dict):
    """The recipe's default for the epochs chosen, once both are drawn; else the table's."""
    if "epochs" not in values:
        return setting.default
    return recipe_defaults(values["recipe"], values["epochs"]).get(setting.name, setting.default)


def draw_setting(setting, where, values: dict):
    """One setting's widget in `where` (the page or a column), from the table: its label, bounds and
    help; it shows the default until the person changes it (or loads a run's settings)."""
    key, w = widget_key(setting.name, values.get("recipe")), setting.widget
    label = setting.label[:1].upper() + setting.label[1:]
    if w.kind == "device":
        return where.selectbox(label, device_choices(), key=key, help=setting.help)
    follow_default(key, form_default(setting, values))
    if w.kind == "radio":
        return where.radio(label, setting.choices, key=key, help=setting.help, horizontal=True,
                           format_func=in_words(setting, values))
    if w.kind == "select":
        return where.selectbox(label, setting.choices, key=key, help=setting.help,
                               format_func=in_words(setting, values))
    if w.kind == "checkbox":
        return where.checkbox(label, key=key, help=setting.help)
    number = setting.number_type
    high = values[w.high] if isinstance(w.high, str) else w.high
    value = where.number_input(label, number(w.low), number(high), step=number(w.step) if w.step else None,
                               format=w.format, key=key, help=setting.help, placeholder="default")
    return None if value is None else number(value)


def in_words(setting, values: dict):
    """How a choice of `setting` reads where it is picked: a recipe as "report recipe", the optimiser as
    Adam where the recipe's weight decay is 0 (AdamW without it is Adam, the report's), else the table's words."""
    if setting.name == "recipe":
        return recipe_label
    if setting.name == "optimizer":
        return lambda v: optimizer_label(v, form_default(SETTING["weight_decay"], values))
    return (lambda v: setting.widget.words.get(v, v)) if setting.widget.words else str


def follow_default(key: str, default) -> None:
    """Give widget `key` the recipe's default for these epochs unless the person changed it by hand.

    The report recipe drops the rate at 80 % of the epochs: with 10 -> 3 epochs a drop kept at
    epoch 8 would be refused. A value still equal to the last default follows the new one; one loaded
    from a run ("Use these settings") has no last default, so it stays.
    """
    last = f"{key}-default"
    state = st.session_state
    if key not in state or (last in state and state[key] == state[last]):
        state[key] = default
    state[last] = default


def choose_drops(values: dict) -> list[list]:
    """The step schedule's drops, typed as text; none for the other schedules."""
    if values["schedule"] != "step":
        return []
    key = widget_key("lr_drops", values["recipe"])
    follow_default(key, drops_text(recipe_defaults(values["recipe"], values["epochs"])["lr_drops"]))
    text = st.text_input("Learning-rate drops (epoch:lr, ...)", key=key,
                         help="e.g. 8:0.0005 uses lr 0.0005 from epoch 8 on. The recipe's own "
                              "drops follow the epochs until you edit them.")
    return parse_drops(text)


def drops_text(drops) -> str:
    return ", ".join(f"{e}:{v:g}" for e, v in drops or [])


def parse_drops(text: str) -> list[list]:
    from cinic.runs.config import ConfigError

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
    """Augmentor images added before training: none, the report's pipeline, the one saved on the
    Augmentation page, or the one a run used (after "Use these settings")."""
    from cinic.augment.ops import load_pipeline

    saved, loaded = saved_pipeline(), st.session_state.get("augment-loaded")
    options = ["none", "report"] + (["saved"] if saved else []) + (["loaded"] if loaded else [])
    labels = {"none": "none", "report": "the report's pipeline",
              "saved": "the pipeline saved on the Augmentation page",
              "loaded": f"{loaded['augment_name']}, as the run used it" if loaded else ""}
    left, right = st.columns(2)
    choice = left.selectbox("Augmentor images", options, format_func=labels.get, key="augment-choice",
                            help="Extra training images sampled once before training, kept in the cache "
                                 "folder (never in your data folder). Compose a pipeline on the Augmentation page.")
    if choice == "none":
        return {"augment": [], "augment_name": "none", "augment_n": 0}
    if choice == "loaded":
        steps, name, default_n = loaded["augment"], loaded["augment_name"], loaded["augment_n"]
    elif choice == "saved":
        (steps, default_n), name = saved, str(pipeline_path().name)
    else:
        steps, name, default_n = load_pipeline("report"), "report", 0
    n = int(right.number_input("How many extra images", 1, 1_000_000, default_n or 1000, key=f"augment-n-{choice}"))
    return {"augment": list(steps), "augment_name": name, "augment_n": n}


# --- launching and watching --------------------------------------------------------
def launch(config, name: str | None) -> None:
    with app_ui.errors_as_boxes("The training could not be started"):
        run = launch_training(config.to_dict(), name=name)
        st.session_state.pop("run-name", None)  # the next run gets a name of its own
        app_ui.follow_run(run.name)  # this tab watches its own run, whatever another tab starts
        st.toast(f"Started {app_ui.as_text(run.name)}")
        st.rerun()


def watched_run(summaries: list[dict]) -> dict | None:
    """The run this tab follows (it started or picked it: the URL says which), whatever its state; else
    the one training now; else the newest that trained (one cancelled while still queued has nothing
    to show). Another tab's run never replaces this tab's own."""
    wanted = app_ui.followed_run([s["name"] for s in summaries])
    if wanted is not None:
        return next(s for s in summaries if s["name"] == wanted)
    live = [s for s in summaries if s.get("state") in LIVE_STATES]
    return live[0] if live else next((s for s in summaries if not never_started(s)), None)


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
    if not all(s.name in c for s in SETTINGS if s.widget):
        return  # not a config the form can show (written by hand or by an older version)
    drops = drops_text(c["lr_drops"])
    text = app_ui.as_text  # every value read from config.json, which may be anyone's
    st.caption(f"Settings: **{text(run_label(c))}**, {text(c['epochs'])} epochs "
               f"({text(optimizer_label(c['optimizer'], c['weight_decay']))} {c['lr']:g}, {text(c['schedule'])}"
               f"{' ' + text(drops) if drops else ''}), batch {text(c['batch_size'])}, Augmentor images: "
               f"{text(charts.augmentation_label(c['augment_name'], c['augment_n']))}, device {text(c['device'])}")
    st.button("Use these settings", key="use-settings", icon=":material/settings_backup_restore:",
              on_click=load_settings, args=(c,),
              help="Fill the form above with this run's settings, to train it again or change one thing.")
    if st.session_state.pop("settings-loaded", False):
        st.rerun(scope="app")  # the form lives outside this fragment


def load_settings(config: dict) -> None:
    """Set the form's widgets to a run's config (a button's callback: widgets may be set only here):
    every setting the table puts on the form, each by its widget's kind."""
    loaded = set()
    for setting in SETTINGS:
        if setting.widget and setting.widget.kind not in loaded:
            LOADERS[setting.widget.kind](setting, config)
            if setting.widget.kind in COMPOSED:
                loaded.add(setting.widget.kind)  # one widget sets several settings
    st.session_state["settings-loaded"] = True


def load_widget(setting, config: dict) -> None:
    key = widget_key(setting.name, config["recipe"])
    value = config[setting.name]
    number = setting.number_type
    st.session_state[key] = number(value) if number and value is not None else value
    st.session_state.pop(f"{key}-default", None)  # loaded, not a default: it stays when the epochs change


def load_device(setting, config: dict) -> None:
    if config["device"] in device_choices():  # a GPU this machine lacks keeps the form's choice
        st.session_state["device"] = config["device"]


def load_drops(setting, config: dict) -> None:
    key = widget_key("lr_drops", config["recipe"])
    st.session_state[key] = drops_text(config["lr_drops"])
    st.session_state.pop(f"{key}-default", None)


def load_model(setting, config: dict) -> None:
    """A preset's model as the preset (the recipe adds its model fields again), any other as composed."""
    state = st.session_state
    preset = config.get("preset")
    if preset in PRESETS and make_config(config["data"], preset=preset, recipe=config["recipe"]).model == config["model"]:
        state["model-mode"], state["preset"] = "Preset", preset
        return
    state["model-mode"] = "Compose a variant"
    start = PRESETS[state.get("preset", next(iter(PRESETS)))]  # the composing widgets' keys name it
    for key, value in compose_widget_values(ModelSpec.from_dict(config["model"]), id_of(start)).items():
        state[key] = value


def load_augmentation(setting, config: dict) -> None:
    """The run's Augmentor pipeline, steps and all, as the "loaded" choice (the saved one may have changed)."""
    from cinic.augment.ops import load_pipeline

    state = st.session_state
    if config["augment_name"] == "none" or not config["augment_n"]:
        state["augment-choice"] = "none"
    elif config["augment_name"] in ("report", "seed") and config["augment"] == load_pipeline("report"):
        # "seed": the report's pipeline's old name
        state["augment-choice"], state["augment-n-report"] = "report", int(config["augment_n"])
    else:
        state["augment-loaded"] = {k: config[k] for k in ("augment", "augment_name", "augment_n")}
        state["augment-choice"], state["augment-n-loaded"] = "loaded", int(config["augment_n"])


LOADERS = {"number": load_widget, "select": load_widget, "radio": load_widget, "checkbox": load_widget,
           "device": load_device, "drops": load_drops, "model": load_model, "augmentation": load_augmentation}
COMPOSED = ("model", "augmentation")


def how_it_went(run: RunFolder, status: dict, epochs: list[dict]) -> None:
    """A finished run's result in one line (test accuracy of best.pt, its epoch, the time it took),
    and the way to its Results."""
    best = charts.best_epoch(epochs)
    valid = next((e["valid_acc"] for e in epochs if e["epoch"] == best), None)
    parts = [f"test accuracy {charts.percent(status['test_acc'])}" if status.get("test_acc") is not None
             else "not evaluated"]
    if best is not None:
        parts.append(f"best at epoch {best} (validation {charts.percent(valid)}), whose checkpoint was tested")
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
        warm.keep_warm()  # Start reaches the first batch without Python's and torch's imports
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
