"""A sweep as data: the data set, the fixed settings and the grid of axes, expanded into named trials.

A spec is a JSON (or TOML) object:

    {"name": "presets",                      # optional; default: the file's name
     "data": "../shared/data/cifar10-sample",
     "epochs": 1,                            # any TrainConfig field, fixed for every trial
     "grid": {"preset": ["base", "stepping"], "seed": [0, 1]},   # any TrainConfig field as an axis
     "resources": {"cpus": 1, "gpus": 0.25}} # optional: what each trial asks Ray for

Beside (or instead of) the grid, a spec may list explicit variants, each with
settings of its own, crossed with the grid and with seeds:

    {"data": "...", "batch_size": 64,
     "variants": [{"name": "base-report", "preset": "base", "recipe": "report", "epochs": 16,
                   "lr_drops": [[8, 0.0001], [16, 0.00001]], "augment": "report", "augment_n": "third"},
                  {"name": "best-report", "preset": "best", "epochs": 5, ...}],
     "seeds": [0, 1, 2]}

A variant's settings win over the fixed ones; its "name" names its trials
(`<sweep>_variant-<name>_seed-<s>`). Anywhere a setting goes, "augment" may be
a pipeline's name ("report", "none") or file as well as a list of steps, and
"augment_n" may be "third": one Augmentor image for every three training images
of the data set, counted when the trial's config is made (30,000 for
CINIC-10's 90,000, as the report sampled).

Everything is checked before any trial starts: every trial's config is built
with `cinic.runs.config.make_config` and validated, and each error names the field
(`grid.lr`, `epochs`, `variants[1].epochs`, ...). Trials are the grid's product in the order the
axes are written; each gets a name (its run folder's) made from the sweep's
name and its axis values, so the same spec always names the same folders and a
rerun finds the trials it already ran.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from cinic.runs.config import SETTING, TrainConfig, make_config
from cinic.errors import CinicError
from cinic.runs.folder import check_run_name, run_label

SPEC_KEYS = ("name", "data", "grid", "variants", "seeds", "resources")  # the keys that are not TrainConfig settings
SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name != "data")
MAX_TRIALS = 1000
MAX_SPEC_BYTES = 1 << 20   # a spec of MAX_TRIALS composed models is far smaller
MAX_SPEC_DEPTH = 16        # objects and lists inside each other; a spec with model axes needs about 6
DEFAULT_RESOURCES = {"cpus": 1, "gpus": 0.25}  # several LeNets share one GPU
AUGMENT_THIRD = "third"  # augment_n: a third of the training split, as the report's 30,000 of 90,000
VARIANT_NAME = re.compile(r"[A-Za-z0-9.-]{1,40}")

class SweepSpecError(CinicError):
    """A sweep spec that cannot run: its message names the file and the field."""


class _KeyTwice(Exception):
    """A JSON object that gives one key twice (not a ValueError: that would read as bad JSON)."""


@dataclass(frozen=True)
class Trial:
    name: str         # its run folder's name under the runs root
    settings: dict    # its variant's name, its values of the grid's axes and its seed, in that order
    config: dict      # the full TrainConfig, as its run folder's config.json holds it


@dataclass(frozen=True)
class SweepSpec:
    name: str
    data: str                 # absolute
    fixed: dict               # settings every trial shares
    grid: dict                # axis -> list of values
    resources: dict           # {"cpus": float, "gpus": float}
    trials: tuple
    variants: tuple = ()      # explicit variants: {"name", setting: value, ...}, as the spec wrote them
    seeds: tuple | None = None  # the seeds every variant runs with (None: the spec names none)

    @property
    def axes(self) -> list[str]:
        return (["variant"] if self.variants else []) + list(self.grid) + (["seed"] if self.seeds else [])

    def to_dict(self) -> dict:
        """The spec as the sweep folder keeps it (spec.json): what a rerun compares itself with."""
        explicit = {"variants": [dict(v) for v in self.variants]} if self.variants else {}
        explicit.update({"seeds": list(self.seeds)} if self.seeds is not None else {})
        return {"name": self.name, "data": self.data, **self.fixed, "grid": self.grid, **explicit,
                "resources": self.resources}


# --- reading -----------------------------------------------------------------------------
def load_spec(path) -> SweepSpec:
    """A spec file (.json, or .toml), checked whole; SweepSpecError naming the file and field."""
    path = Path(path)
    raw = _read_spec_file(path)
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        if kind == "TOML":
            import tomllib  # refuses a key given twice itself

            spec = tomllib.loads(raw.decode())
        else:
            spec = json.loads(raw, object_pairs_hook=_object_without_repeats)
    except _KeyTwice as e:
        raise SweepSpecError(f"{path}: {e.args[0]!r} is given twice in one object; keep one") from None
    except RecursionError:
        spec = None  # deeper than the parser goes: refused below with the depth's message
    except (ValueError, UnicodeDecodeError) as e:
        raise SweepSpecError(f"{path} is not valid {kind}: {str(e)[:200]}") from None
    if spec is None or _depth(spec) > MAX_SPEC_DEPTH:
        raise SweepSpecError(f"{path} nests lists or objects more than {MAX_SPEC_DEPTH} deep; a sweep spec "
                             "needs about 6 (grid, an axis, a model, its blocks)")
    return parse_spec(spec, default_name=path.stem, source=str(path))


def _read_spec_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_SPEC_BYTES. Opened without blocking, so that a FIFO
    never waits for a writer, and refused unread when it is a device, a FIFO or a folder."""
    from cinic.outputs import kind_of

    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise SweepSpecError(f"{path} is {kind_of(mode)}, not a regular file: give a .json or .toml file")
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise SweepSpecError(f"cannot read the sweep spec {path}: {e.strerror or e}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SweepSpecError(f"{path} is more than the {MAX_SPEC_BYTES:,} bytes a sweep spec may hold")
    return raw


def _object_without_repeats(pairs: list) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _KeyTwice(key)
        seen.add(key)
    return dict(pairs)


def _depth(value) -> int:
    """How many objects and lists sit inside each other in `value` (counted without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_spec(spec, default_name: str = "sweep", source: str = "the sweep spec") -> SweepSpec:
    """A checked SweepSpec from a spec object; every trial's config is built and validated."""

    def fail(field: str, message: str):
        raise SweepSpecError(f"{source}: {field}: {message}")

    if not isinstance(spec, dict):
        raise SweepSpecError(f"{source} must hold a JSON object like "
                             '{"data": "DATA", "epochs": 1, "grid": {"preset": ["base"], "seed": [0, 1]}}')
    unknown = sorted(k for k in spec if k not in SPEC_KEYS and k not in SETTINGS)
    if unknown:
        fail(unknown[0], f"unknown setting; use {', '.join(SPEC_KEYS)} or a training setting "
                         f"({', '.join(SETTINGS)})")
    name = spec.get("name", default_name)
    try:
        check_run_name(name)
    except CinicError as e:
        fail("name", str(e).replace("run name", "sweep name"))
    data, train_images = _data_root(spec.get("data"), fail)
    grid = _grid(spec.get("grid", {}), fail)
    fixed = {k: v for k, v in spec.items() if k in SETTINGS}
    both = sorted(set(fixed) & set(grid))
    if both:
        fail(f"grid.{both[0]}", "is both fixed and an axis; keep one of them")
    for key, value in fixed.items():
        _check_type(key, value, fail)
    for axis, values in grid.items():
        for i, value in enumerate(values):
            _check_type(f"grid.{axis}[{i}]", value, fail, setting=axis)
    variants = _variants(spec.get("variants"), grid, fail)
    seeds = _seeds(spec.get("seeds"), grid, variants, fail)
    resources = _resources(spec.get("resources", {}), fail)
    size = max(len(variants), 1) * len(seeds or [None]) * math.prod(len(v) for v in grid.values())
    if size > MAX_TRIALS:
        fail("variants" if variants else "seeds", f"make {size:,} trials; at most {MAX_TRIALS:,} per sweep")
    trials = tuple(_trials(name, Data(data, train_images), fixed, grid, variants, seeds, fail))
    return SweepSpec(name, data, fixed, grid, resources, trials, variants, seeds)


@dataclass(frozen=True)
class Data:
    """The data set a spec trains on, and what a setting may be resolved against."""
    root: str               # absolute
    train_images: int       # images in its training split (augment_n "third" counts them)


def _data_root(value, fail) -> tuple[str, int]:
    from cinic.data import dataset as data

    if not isinstance(value, str) or not value:
        fail("data", "give the data set's folder, e.g. \"../shared/data/cifar10-sample\"")
    try:
        root = data.resolve_data(value)  # relative to the current folder, like --data
        report = data.validate_root(root)
    except CinicError as e:
        fail("data", str(e))
    return str(Path(root).resolve()), sum(report["counts"].get("train", {}).values())


def _variants(variants, grid: dict, fail) -> tuple:
    """The explicit variants, each {"name": ..., setting: value}; names unique, settings typed."""
    if variants is None:
        return ()
    if not isinstance(variants, list) or not variants:
        fail("variants", 'must be a non-empty list like [{"name": "base-report", "preset": "base", "epochs": 16}]')
    names = set()
    for i, variant in enumerate(variants):
        where = f"variants[{i}]"
        if not isinstance(variant, dict):
            fail(where, 'must be an object like {"name": "base-report", "preset": "base", "epochs": 16}')
        name = variant.get("name")
        if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name) or _slug(name) != name:
            fail(f"{where}.name", "give each variant a name of 1-40 letters, digits and '.', with single "
                                  f"'-' between them (it names its trials), not {json.dumps(name)[:60]}")
        if name in names:
            fail(f"{where}.name", f"{name!r} names two variants; each needs its own")
        names.add(name)
        for key, value in variant.items():
            if key == "name":
                continue
            if key not in SETTINGS:
                fail(f"{where}.{key}", f"is not a training setting; use any of {', '.join(SETTINGS)}")
            if key in grid:
                fail(f"{where}.{key}", "is also an axis of the grid; keep one of them")
            if key == "seed":
                fail(f"{where}.seed", 'a variant runs with the spec\'s "seeds"; give them there')
            _check_type(f"{where}.{key}", value, fail)
    return tuple(dict(v) for v in variants)


def _seeds(seeds, grid: dict, variants: tuple, fail) -> tuple | None:
    if seeds is None:
        return None
    if "seed" in grid:
        fail("seeds", "the grid has a seed axis too; keep one of them")
    if not isinstance(seeds, list) or not seeds:
        fail("seeds", "must be a non-empty list of seeds, e.g. [0, 1, 2]")
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
            fail(f"seeds[{i}]", f"{json.dumps(seed)[:60]} is not a whole number 0..2**63-1")
    if len(set(seeds)) < len(seeds):
        fail("seeds", "lists a seed twice; each trial must differ")
    return tuple(seeds)


def _grid(grid, fail) -> dict:
    if not isinstance(grid, dict):
        fail("grid", 'must be an object of axes, e.g. {"preset": ["base", "stepping"], "seed": [0, 1]}')
    for axis, values in grid.items():
        if axis not in SETTINGS:
            fail(f"grid.{axis}", f"is not a training setting; axes are any of {', '.join(SETTINGS)}")
        if not isinstance(values, list) or not values:
            fail(f"grid.{axis}", "must be a non-empty list of values")
        seen = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(seen)) < len(seen):
            fail(f"grid.{axis}", "lists a value twice; each trial must differ")
    size = math.prod(len(values) for values in grid.values())
    if size > MAX_TRIALS:
        fail("grid", f"makes {size:,} trials; at most {MAX_TRIALS:,} per sweep")
    return {axis: list(values) for axis, values in grid.items()}


def _check_type(field: str, value, fail, setting: str | None = None) -> None:
    """A value of the JSON type the table of settings gives its field (an int is a float, a bool is no
    number), so that a string where a number belongs is named before make_config compares it."""
    setting = setting or field.rpartition(".")[2]
    if setting == "augment_n" and isinstance(value, str):
        if value != AUGMENT_THIRD:
            fail(field, f'{json.dumps(value)[:60]}: give a number of images, or "{AUGMENT_THIRD}" for one '
                        "Augmentor image per three training images (the report's share)")
        return
    if setting == "augment" and isinstance(value, str):  # a pipeline's name or file, loaded with the config
        return
    declared = SETTING[setting]
    if not declared.is_of_type(value):
        shown = repr(value) if isinstance(value, bool) else json.dumps(value)[:60]
        fail(field, f"{shown} is not of type {declared.type}")


def _resources(resources, fail) -> dict:
    if not isinstance(resources, dict):
        fail("resources", 'must be an object like {"cpus": 1, "gpus": 0.25}')
    unknown = sorted(set(resources) - set(DEFAULT_RESOURCES))
    if unknown:
        fail(f"resources.{unknown[0]}", "unknown; use cpus and gpus")
    merged = {**DEFAULT_RESOURCES, **resources}
    for key, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            fail(f"resources.{key}", f"{value!r} is not a finite number of at least 0")
    if merged["cpus"] <= 0:
        fail("resources.cpus", "each trial needs some CPU; give e.g. 1")
    if merged["gpus"] > 1 and merged["gpus"] != int(merged["gpus"]):
        fail("resources.gpus", "more than one GPU must be a whole number")
    return merged


def check_resources_fit(spec: "SweepSpec", cpus: float, gpus: float, where: str) -> None:
    """SweepSpecError when one trial asks for more than `where` (this machine, the Ray cluster) has:
    Ray would wait for it forever. GPUs are checked only where there are some (else trials use none)."""
    asked = spec.resources
    if asked["cpus"] > cpus:
        raise SweepSpecError(f"{spec.name}: resources.cpus: {asked['cpus']:g} is more than the {cpus:g} usable CPUs "
                             f"of {where}; Ray would wait for them forever: give at most {cpus:g}")
    if gpus and asked["gpus"] > gpus:
        raise SweepSpecError(f"{spec.name}: resources.gpus: {asked['gpus']:g} is more than the {gpus:g} GPUs of "
                             f"{where}; Ray would wait for them forever: give at most {gpus:g}")


# --- expanding ---------------------------------------------------------------------------------
def _trials(sweep: str, data: Data, fixed: dict, grid: dict, variants: tuple, seeds: tuple | None, fail):
    """Every trial (variants x grid x seeds), each config built and validated. The parts are checked
    alone first, so an error names the field it comes from: a model axis first (the fixed settings
    and the other axes then borrow its first spec: alone they name no model, and the preset may be
    absent), then each variant over the fixed settings, else the fixed settings alone, then each
    axis value over the fixed settings (and the first variant)."""
    def where(axis, i, value):
        return f"grid.{axis}[{i}] = {json.dumps(value)[:60]}"

    for i, value in enumerate(grid.get("model", [])):
        _build(data, {"model": value}, fail, where("model", i, value))
    borrowed = {"model": grid["model"][0]} if "model" in grid and "model" not in fixed else {}
    for i, variant in enumerate(variants):
        _check_variant(data, {**fixed, **borrowed}, variant, fail, f"variants[{i}]")
    if not variants:
        _build(data, {**fixed, **borrowed}, fail, "the fixed settings")
    first = _settings_of(variants[0]) if variants else {}
    for axis, values in grid.items():
        for i, value in enumerate(values):
            _build(data, {**fixed, **borrowed, **first, axis: value}, fail, where(axis, i, value))
    alike = [axis for axis, values in grid.items() if len({_slug(v) for v in values}) < len(values)]
    names = set()
    for variant in variants or ({},):
        for values in itertools.product(*grid.values()):
            for seed in seeds or (None,):
                settings = {**({"variant": variant["name"]} if variant else {}), **dict(zip(grid, values)),
                            **({"seed": seed} if seed is not None else {})}
                config = _build(data, {**fixed, **_settings_of(variant), **_settings_of(settings)}, fail,
                                f"the trial {_describe(settings)}")
                name = trial_name(sweep, settings, alike)
                if name in names:  # only two digests alike could do this: never silently share a run folder
                    fail("grid", f"two trials would share the run folder name {name}; rename the sweep")
                names.add(name)
                yield Trial(name, settings, config.to_dict())


def _settings_of(entry: dict) -> dict:
    """A variant's (or a trial's) training settings: all but its name."""
    return {k: v for k, v in entry.items() if k not in ("name", "variant")}


def _check_variant(data: Data, base: dict, variant: dict, fail, where: str) -> None:
    """The variant over the fixed settings; when that fails, the first of its settings that fails
    alone over them (with the variant's epochs, which its lr_drops count against) is named."""
    own = _settings_of(variant)
    try:
        make_config(data.root, **_config_arguments({**base, **own}, data))
        return
    except CinicError as whole:
        message = str(whole)
    epochs = {"epochs": own["epochs"]} if "epochs" in own else {}
    for key in sorted(own, key=lambda k: k != "epochs"):
        try:
            make_config(data.root, **_config_arguments({**base, **epochs, key: own[key]}, data))
        except CinicError as alone:
            fail(f"{where}.{key}", str(alone))
    fail(f"{where} ({variant['name']})", message)


def _build(data: Data, settings: dict, fail, where: str) -> TrainConfig:
    try:
        return make_config(data.root, **_config_arguments(settings, data))
    except CinicError as e:
        fail(where, str(e))


def _config_arguments(settings: dict, data: Data) -> dict:
    """make_config's arguments: preset, recipe and model by name, the rest as overrides; a pipeline
    given by name loaded, and augment_n "third" counted against the data's training split."""
    arguments = dict(settings)
    if arguments.get("model") is not None:
        arguments.setdefault("preset", None)
    if isinstance(arguments.get("augment"), str):
        from cinic.augment.ops import load_pipeline

        word = arguments["augment"]
        arguments["augment"] = load_pipeline(word)
        arguments.setdefault("augment_name", Path(word).name)
    if arguments.get("augment_n") == AUGMENT_THIRD:
        arguments["augment_n"] = augment_third(data.train_images)
    return arguments


def augment_third(train_images: int) -> int:
    """How many Augmentor images "third" means: one for every three training images, rounded
    (30,000 for CINIC-10's 90,000 training images, the report's share)."""
    return round(train_images / 3)


def trial_name(sweep: str, settings: dict, alike: Sequence[str] = ()) -> str:
    """`<sweep>_<axis>-<value>_...`: readable, stable for the same settings, a valid run name.

    Unique by construction: a value never holds '_', so the parts of one sweep's names read back
    unambiguously, and the values of an axis in `alike` (two of its values read alike in a folder
    name: 'a!' and 'a') each carry a digest of themselves. A name over 100 characters becomes the
    sweep's name cut to 80 and a digest of the whole sweep name and settings, so two sweeps whose
    names share their start still differ (and no readable name ends in a part without '-').
    """
    parts = [f"{_slug(axis)}-{_slug(value)}" + (f"-{_digest(value)}" if axis in alike else "")
             for axis, value in settings.items()]
    name = "_".join([sweep, *parts])
    if len(name) > 100:  # long values (a model spec)
        name = f"{sweep[:80]}_{_digest([sweep, settings])}"
    return name


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def _slug(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "x"


def _describe(settings: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items()) or "(no axes)"


def variant_labels(settings_list: Sequence[Mapping]) -> list[str]:
    """A label per settings dict: "preset=base, lr=0.004", with a recipe axis "base · report recipe,
    lr=0.004" (cinic.runs.folder.run_label); no axes at all read "all trials"; an explicit variant reads
    as its name ("base-report", "base-report, lr=0.004" beside a grid).

    A model axis reads as the spec fields in which its models differ, e.g.
    "model: conv 6 k5, 16 k5 · init xavier", not as a line of JSON whose
    differences are cut off at the end of a table cell.
    """
    models = [s["model"] for s in settings_list if isinstance(s.get("model"), dict)]
    differing = [f for f in dict.fromkeys(k for m in models for k in m)
                 if len({json.dumps(m.get(f), sort_keys=True) for m in models}) > 1]

    def text(axis, value) -> str:
        if axis == "variant":
            return str(value)
        if axis == "model" and isinstance(value, dict):
            return "model: " + (" · ".join(_model_field(f, value.get(f)) for f in differing) or "one spec")
        return f"{axis}={value}"

    def label(settings: Mapping) -> str:
        parts = [text(k, v) for k, v in settings.items() if k not in ("preset", "recipe") or "recipe" not in settings]
        if "recipe" in settings:  # as every run is labelled: "base · report recipe"
            parts.insert(0, run_label(settings) if "preset" in settings else run_label(settings).split(" · ")[1])
        return ", ".join(parts) or "all trials"

    return [label(s) for s in settings_list]


def _model_field(field: str, value) -> str:
    if field == "conv" and isinstance(value, list):
        return "conv " + ", ".join(_conv_text(block) for block in value)
    if field == "fc" and isinstance(value, list):
        return "fc " + ("→".join(map(str, value)) or "none")
    return f"{field} {value if isinstance(value, str) else json.dumps(value)}"


def _conv_text(block) -> str:
    """"32 k3 BN": maps, kernel, and what differs from a plain pooled block."""
    if not isinstance(block, Mapping):
        return json.dumps(block)
    text = f"{block.get('out_channels')} k{block.get('kernel_size')}"
    text += f" p{block['padding']}" if block.get("padding") else ""  # as ModelSpec.describe writes it
    text += " no pool" if block.get("pool") is False else ""
    return text + (" BN" if block.get("batch_norm") else "")


def variant_of(settings: dict) -> dict:
    """The settings that name a variant: every axis but the seed."""
    return {k: v for k, v in settings.items() if k != "seed"}
