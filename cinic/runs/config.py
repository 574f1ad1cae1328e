"""Training settings: the config of one run, the two recipes, their checks and the learning-rate schedule.

A `TrainConfig` is plain data (it is written as a run's config.json); the
training loop reads it, and the Train page, the CLI and the bench build it
with `make_config` without importing the loop. Every setting is checked by
`validate_config` before any work, each message naming the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, field, make_dataclass

from cinic.errors import CinicError
from cinic.model.lenet import ModelSpec, get_preset
from cinic.runs.settings import REQUIRED, Range, Setting, Widget

OPTIMIZERS = ("adam", "sgd")
# What each optimiser setting runs, in words: "adam" is AdamW (weight decay decoupled from the step).
OPTIMIZER_NAMES = {"adam": "AdamW", "sgd": "SGD with Nesterov momentum"}
SCHEDULES = ("step", "cosine", "onecycle", "none")
RECIPES = ("project", "report")
# Old names of a recipe, read as the new one: "seed" was the report's recipe before "seed" meant only
# random seeds; configs and sweep specs written then still load.
RECIPE_ALIASES = {"seed": "report"}


class ConfigError(CinicError):
    """A training setting out of range, named with what is allowed."""


# --- the settings: one line each ---------------------------------------------------
# Every use of a setting reads this table: TrainConfig's fields (in this order, as config.json
# holds them), `validate_config`, the CLI's train flags, the Train page's form and "Use these
# settings", the sweep spec's types and the reading of config.json. A new setting is one line
# here plus its use in the training loop (a recipe may give it a default in `recipe_defaults`).
S, W = Setting, Widget
SETTINGS = (
    S("data", "str", label="data folder"),
    S("preset", "str | None", "base", "preset", widget=W("model")),
    S("model", "dict | None", None, "model", widget=W("model")),
    S("recipe", "str", "project", "recipe", choices=RECIPES, widget=W("radio"),
      help="project: AdamW, warm-up then one-cycle decay, flips and crops, label smoothing, and on a preset's "
           "model contrast-normalised input, flip test-time augmentation and (without BatchNorm) Xavier weights. "
           "report: the course report's Adam at 0.001 dropped late, nothing else."),
    S("epochs", "int", 10, "epochs", Range(1, 1000), cli=True, widget=W("number", 1, 1000)),
    S("batch_size", "int", 64, "batch size", Range(1, 65536), cli=True, widget=W("number", 1, 65536)),
    S("eval_batch_size", "int | None", None, "evaluation batch size", Range(1), cli=True,
      help="images per validation batch (default: per device)", widget=W("number", 1, 65536)),
    S("optimizer", "str", "adam", "optimizer", choices=OPTIMIZERS, cli=True,
      help="adam is AdamW (decoupled weight decay)", widget=W("select", words=OPTIMIZER_NAMES)),
    S("lr", "float", 0.001, "learning rate", Range(0, 10, low_open=True), cli=True,
      widget=W("number", 1e-6, 10.0, format="%.5f")),
    S("momentum", "float", 0.9, "momentum", Range(0, 1, high_open=True), cli=True, help="SGD momentum",
      widget=W("number", 0.0, 0.99, 0.01)),
    S("weight_decay", "float", 0.0, "weight decay", Range(0, 1, high_open=True), cli=True,
      widget=W("number", 0.0, 0.5, format="%.5f")),
    S("schedule", "str", "cosine", "schedule", choices=SCHEDULES, cli=True, widget=W("select")),
    S("lr_drops", "list", [], "learning-rate drops", widget=W("drops")),  # checked in validate_config
    S("warmup_epochs", "float", 0.0, "warm-up epochs", Range(0, "epochs"), cli=True,
      help="epochs of linear warm-up (may be fractional)", widget=W("number", 0.0, "epochs", 0.5)),
    S("label_smoothing", "float", 0.0, "label smoothing", Range(0, 1, high_open=True), cli=True,
      widget=W("number", 0.0, 0.5, 0.05)),
    S("flip", "bool", False, "random horizontal flips", cli=True, widget=W("checkbox"),
      help="random flips on the device: each training image mirrored left to right with probability 0.5"),
    S("crop_pad", "int", 0, "crop padding", Range(0, 8), cli=True, widget=W("number", 0, 8),
      help="random-crop padding on the device (0 = off): pad each side with this many zero pixels, "
           "then cut a 32x32 window at a random place"),
    S("augment", "list", [], "Augmentor pipeline", widget=W("augmentation")),
    S("augment_name", "str", "none", "Augmentor pipeline name", widget=W("augmentation")),
    S("augment_n", "int", 0, "augment N", Range(0), widget=W("augmentation")),
    S("device", "str", "auto", "device", cli=True, help="auto | cpu | cuda | cuda:N | mps", widget=W("device")),
    S("seed", "int", 0, "seed", Range(0, 2 ** 63 - 1, said="a whole number 0..2**63-1"), cli=True,
      widget=W("number", 0, 2 ** 31 - 1)),
    S("amp", "bool", True, "mixed precision", cli=True, widget=W("checkbox"),
      help="bf16 autocast where the device has it (default on)"),
    S("mean", "list | None", None, "mean"),  # measured on the training images when training starts
    S("std", "list | None", None, "std"),
)
del S, W
SETTING = {s.name: s for s in SETTINGS}


def _to_dict(self) -> dict:
    return asdict(self)


@classmethod
def _from_dict(cls, d: dict) -> "TrainConfig":
    unknown = sorted(set(d) - set(SETTING))
    if unknown:
        raise ConfigError(f"unknown training setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(SETTING))}")
    return cls(**{**d, **({"recipe": recipe_name(d["recipe"])} if "recipe" in d else {})})


# Plain data, one field per setting (written as a run's config.json).
TrainConfig = make_dataclass(
    "TrainConfig",
    [(s.name, s.type) if s.default is REQUIRED else
     (s.name, s.type, field(default_factory=list) if s.default == [] else field(default=s.default))
     for s in SETTINGS],
    namespace={"to_dict": _to_dict, "from_dict": _from_dict})
TrainConfig.__module__ = __name__  # pickles (a sweep's trials) find it here


def recipe_name(recipe):
    """The recipe's current name: an old alias ("seed") reads as the recipe it names now ("report")."""
    return RECIPE_ALIASES.get(recipe, recipe) if isinstance(recipe, str) else recipe


def recipe_defaults(recipe: str, epochs: int) -> dict:
    """The settings a recipe implies; explicit settings override them.

    "report" is the course report's recipe: Adam at 0.001, halved late, nothing
    else. "project" is ours: AdamW at 0.004 with weight decay, a short warm-up
    then decay to zero, flips and small crops on the device, and label
    smoothing, with contrast-normalised input, flip TTA and (without
    BatchNorm) Xavier weights in the model (`recipe_model_defaults`). On the
    shared sample, 10 epochs, mean of seeds 0-2 (bench/recipe_study.py,
    README), project vs report test accuracy, clean and on the corrupted test
    split: base 53.4 vs 47.2 and 50.2 vs 43.3, stepping 55.3 vs 48.5 and 51.0
    vs 42.9, best 68.9 vs 58.2 and 58.9 vs 45.9. The model fields carry the
    corrupted gaps (stepping 46.0 without them) and Xavier base's clean one
    (bench/init_probe.json, seeds 0-5). 0.004 from a grid over
    0.002/0.004/0.006, 10 epochs: best of the three for base and stepping,
    within one run's noise of 0.002 for best.
    """
    recipe = recipe_name(recipe)
    if recipe == "report":
        return dict(optimizer="adam", lr=0.001, schedule="step", weight_decay=0.0,
                    lr_drops=[[max(2, round(epochs * 0.8)), 0.0005]] if epochs >= 2 else [], warmup_epochs=0.0,
                    label_smoothing=0.0, flip=False, crop_pad=0)
    if recipe == "project":
        return dict(optimizer="adam", lr=0.004, schedule="onecycle", weight_decay=5e-4,
                    lr_drops=[], warmup_epochs=min(1.0, epochs / 5),
                    label_smoothing=0.1, flip=True, crop_pad=2)
    raise ConfigError(f"unknown recipe {recipe!r}: use one of {', '.join(RECIPES)}")


def recipe_model_defaults(recipe: str, spec: ModelSpec) -> dict:
    """Model-spec fields a recipe sets on a preset's spec (a composed spec keeps its own).

    They live in the spec, not in the training settings, because they are part
    of what the model computes (or how it starts): checkpoints, predict, export
    and explain all see them. Xavier initialisation goes only on specs without
    BatchNorm: it lifts base and stepping, whose default PyTorch weights start
    too small for ten short epochs, while BatchNorm rescales best's activations
    anyway and Xavier cost it about 2 points (bench/init_probe.json). See `recipe_defaults` for the figures.
    """
    recipe = recipe_name(recipe)
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}: use one of {', '.join(RECIPES)}")
    if recipe == "report":
        return {}
    has_batch_norm = any(block.batch_norm for block in spec.conv)
    return {"input_norm": "contrast", "flip_tta": True, **({} if has_batch_norm else {"init": "xavier"})}


def make_config(data: str, preset: str | None = "base", recipe: str = "project",
                model: dict | None = None, **overrides) -> TrainConfig:
    """A full config: the preset's model (with the recipe's model fields), the recipe's defaults,
    then explicit overrides. A given `model` is used as it is."""
    recipe = recipe_name(recipe)  # an old name ("seed") is stored as the current one
    if model is None:
        spec = get_preset(preset)  # ModelSpecError lists the presets
        model = {**spec.to_dict(), **recipe_model_defaults(recipe, spec)}
    epochs = overrides.get("epochs")
    if epochs is None:  # the CLI passes every option, None when not given
        epochs = TrainConfig.epochs
    settings = recipe_defaults(recipe, epochs)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig(data=str(data), preset=preset, model=model, recipe=recipe, **settings)
    validate_config(config)
    return config


def validate_config(c: TrainConfig) -> None:
    """Every setting checked before any work, each message naming the field: its type and range from
    the table, then what a range cannot say (the drops, Augmentor's sample size, the model)."""
    for setting in SETTINGS:
        fault = setting.fault(getattr(c, setting.name), c)
        if fault:
            raise ConfigError(fault)
    if c.augment_n:
        from cinic import paths
        from cinic.augment.ops import check_sample_size

        check_sample_size(c.augment_n, paths.cache_root())  # against memory and disk, before any run exists
    for drop in c.lr_drops:
        if not (isinstance(drop, (list, tuple)) and len(drop) == 2 and isinstance(drop[0], int)
                and isinstance(drop[1], (int, float)) and 1 <= drop[0] <= c.epochs and 0 < drop[1] <= 10):
            raise ConfigError(f"each learning-rate drop must be [epoch 1..{c.epochs}, lr in (0, 10] like the "
                              f"learning rate], got {drop}")
    ModelSpec.from_dict(c.model)  # raises ModelSpecError naming the field


# --- the schedule ---------------------------------------------------------------
def lr_at(c: TrainConfig, t: float) -> float:
    """Learning rate after `t` epochs of training (t may be fractional)."""
    if c.warmup_epochs > 0 and t < c.warmup_epochs:
        return c.lr * (t + 1e-3) / c.warmup_epochs
    if c.schedule == "step":
        lr = c.lr
        for epoch, value in sorted(c.lr_drops):
            if t >= epoch - 1:  # lr_drops count epochs from 1
                lr = value
        return lr
    if c.schedule in ("cosine", "onecycle"):
        span = max(c.epochs - c.warmup_epochs, 1e-9)
        progress = min(max((t - c.warmup_epochs) / span, 0.0), 1.0)
        floor = 0.0 if c.schedule == "onecycle" else c.lr * 0.01
        return floor + (c.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return c.lr


def lr_at_epoch(c: TrainConfig, epoch: int) -> float:
    """The learning rate at the start of `epoch` (1-based), for plots."""
    return lr_at(c, epoch - 1)


def lr_curve(c: TrainConfig, points: int = 400) -> list[tuple[float, float]]:
    """(epochs trained, learning rate) through the whole training, several points per epoch (at
    most `points` in all), for the Train page's preview: the rate moves within an epoch (the
    warm-up climbs from 0 in the first), which one value per epoch hides."""
    per_epoch = max(2, points // c.epochs)
    steps = c.epochs * per_epoch
    return [(i / per_epoch, lr_at(c, i / per_epoch)) for i in range(steps + 1)]
