"""Seed pipeline vs project pipeline: seconds per epoch on the same data, model, batch and device.

    python -m cinic bench [--data ROOT] [--presets base,best] [--epochs 3] [--json]
    python -m cinic bench --knobs all        # measure each speed setting on its own
    python -m cinic bench --accuracy         # same seed and epochs: valid accuracy of both

The seed pipeline is the course report's: torchvision ImageFolder, PIL decode,
ToTensor and Normalize in DataLoader workers every epoch, Adam at 0.001 and a
per-batch loop that calls `.item()` on every batch. The project pipeline is
what `python -m cinic train` runs: `cinic.training.loop.setup_training` (the split
held on the device, the model, the optimiser) and `cinic.training.loop.train_epoch`
writing into a real (temporary) run folder, with only the speed settings under
measurement changed. This module measures and reports; it builds nothing itself. Both run in this one process,
one timed epoch of each in turn, so a load change on a shared machine hits
both alike. Printed as tables (airbench-style), or as one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import torch

from cinic.data import dataset as data

from cinic.data import choice as datasets
from cinic.runs.config import RECIPES, TrainConfig, make_config
from cinic.data.dataset import CLASSES, DataSet
from cinic.model.device import choose_device, describe_device, uses_bf16
from cinic.errors import CinicError
from cinic.model.classifier import Classifier
from cinic.model.lenet import PRESET_ALIASES, get_preset
from cinic.runs.folder import RunFolder
from cinic.bench.bare_loop import PARTS, build_loop, timed_gap_epoch
from cinic.bench.report_pipeline import SEED_LR, SeedPipeline, build_seed, seed_epoch
from cinic.bench.tables import report_text
from cinic.training.loop import SpeedSettings, Training, evaluate_loss_acc, setup_training, train_epoch
from cinic.workers import usable_cores

SEED_WORKERS = {"cpu": 2, "cuda": 6}   # DataLoader workers of the seed pipeline by default
EVAL_IMAGES = 90_000                   # a CINIC-10 test split
CINIC_EPOCH_IMAGES = 120_000           # CINIC-10's train split plus the report's 30,000 augmented images
EVAL_BATCH_SIZES = {"cpu": "128,256,1024", "cuda": "1024,4096,16384"}  # by device, unless given
PREDICT_REPEATS = 20
KNOBS = ("threads", "channels_last", "amp", "fused_adam", "compile", "augment", "cudnn_benchmark", "pinned")
CUDA_ONLY_KNOBS = ("cudnn_benchmark", "pinned")
CPU_ONLY_KNOBS = ("threads",)
NOTABLE = 0.05                         # a knob "helps" or "hurts" beyond +-5 %


class BenchError(CinicError):
    """A benchmark option or folder we cannot use; the message says what to do."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# =============================================================================
# Options
# =============================================================================
def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cinic bench", description=__doc__.splitlines()[0])
    p.add_argument("--data", help="CINIC-10 root (default: the shared sample, else the data set in use)")
    p.add_argument("--presets", default="base,best", help="model presets, comma-separated (default base,best)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per pipeline, after one warm-up epoch")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, help="seed pipeline DataLoader workers (default 2 on CPU, 6 on GPU)")
    p.add_argument("--threads", type=int, help="CPU threads of both pipelines (default: torch's, as train runs)")
    p.add_argument("--recipe", default="project", choices=RECIPES,
                   help="the project pipeline's recipe (default project: on-device flips and crops)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-images", type=int, default=EVAL_IMAGES,
                   help="images in the evaluation timing (the test split repeated; default 90000)")
    p.add_argument("--eval-batch-sizes", help="comma-separated (default 128,256,1024 on CPU, "
                                              "1024,4096,16384 on GPU)")
    p.add_argument("--knobs", default="", help=f"speed settings to measure one by one: all or {','.join(KNOBS)}")
    p.add_argument("--accuracy", action="store_true",
                   help="also train both pipelines (no augmentation, same seed and lr) and compare valid accuracy")
    p.add_argument("--accuracy-epochs", type=int, default=5)
    p.add_argument("--accuracy-seeds", type=int, default=2, help="seeds 0..N-1 for --accuracy")
    p.add_argument("--gap", action="store_true",
                   help="where the project loop's time over the bare loop goes: each part switched off alone")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    argv = list(argv)
    if argv and argv[0] == "--":  # `python -m cinic bench -- ...` passes the separator on
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    checks = [
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}"),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (args.workers is None or args.workers >= 0, f"--workers must be 0 or more, got {args.workers}"),
        (args.threads is None or args.threads >= 1, f"--threads must be at least 1, got {args.threads}"),
        (args.eval_images >= 0, f"--eval-images must be 0 (skip) or more, got {args.eval_images}"),
        (args.accuracy_epochs >= 1, f"--accuracy-epochs must be at least 1, got {args.accuracy_epochs}"),
        (args.accuracy_seeds >= 1, f"--accuracy-seeds must be at least 1, got {args.accuracy_seeds}"),
    ]
    for ok, message in checks:
        if not ok:
            raise BenchError(message)
    args.presets = [PRESET_ALIASES.get(name, name) for name in comma_list(args.presets)]
    if not args.presets:
        raise BenchError("--presets is empty: name at least one model preset, e.g. base,best")
    for name in args.presets:
        get_preset(name)  # ModelSpecError lists the choices
    if args.eval_batch_sizes is not None:
        args.eval_batch_sizes = [_positive_int(v, "--eval-batch-sizes") for v in comma_list(args.eval_batch_sizes)]
    args.knobs = list(KNOBS) if args.knobs.strip() == "all" else comma_list(args.knobs)
    unknown = [k for k in args.knobs if k not in KNOBS]
    if unknown:
        raise BenchError(f"unknown knob(s) {', '.join(unknown)} in --knobs: use all or {', '.join(KNOBS)}")
    return args


def _positive_int(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BenchError(f"{option} takes whole numbers separated by commas, got {text!r}") from None
    if value < 1:
        raise BenchError(f"{option} values must be at least 1, got {value}")
    return value


# =============================================================================
# Measuring
# =============================================================================
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def host_peak_rss_mib(who=resource.RUSAGE_SELF) -> float:
    """High-water resident memory (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(who).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


def gpu_peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)


def reset_gpu_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DataLoader workers, once joined)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


@contextmanager
def torch_settings(threads: int, cudnn_benchmark: bool):
    """Process-wide torch settings for one block, put back afterwards."""
    before = torch.get_num_threads(), torch.backends.cudnn.benchmark
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.backends.cudnn.benchmark = before[1]


@contextmanager
def cache_root_at(folder: Path):
    """Point cinic's decoded cache at `folder` for one block (a cold decode)."""
    before = os.environ.get("CINIC_CACHE")
    os.environ["CINIC_CACHE"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CINIC_CACHE", None)
        else:
            os.environ["CINIC_CACHE"] = before


# =============================================================================
# The two contestants, one timed epoch each
# =============================================================================
def timed_seed_epoch(s: SeedPipeline, threads: int) -> float:
    """Seconds of one epoch of the report's pipeline (cinic.bench.report_pipeline)."""
    with torch_settings(threads, cudnn_benchmark=False):
        started = time.perf_counter()
        seed_epoch(s)
        sync(s.device)
        return time.perf_counter() - started


# =============================================================================
# The project pipeline (cinic.training.loop's own setup and epoch)
# =============================================================================
@dataclass(frozen=True)
class Knobs:
    """One project pipeline's settings: the loop's SpeedSettings, plus the process's thread count and
    whether the recipe's on-device flips and crops run. `train_py_knobs` is what training does."""

    threads: int
    speed: SpeedSettings
    amp: bool = True           # bf16 autocast where device.uses_bf16 allows it (CUDA, CPUs with bf16)
    augment: bool = True       # the recipe's on-device flips and crops


def train_py_knobs(device: torch.device, threads: int) -> Knobs:
    return Knobs(threads=threads, speed=SpeedSettings.for_device(device))


@dataclass
class ProjectPipeline:
    training: Training
    run: RunFolder
    knobs: Knobs
    epochs_done: int = 0

    @property
    def images(self) -> int:
        return len(self.training.train_data)


def project_config(root: Path, preset: str, recipe: str, epochs: int, batch_size: int,
                   device: torch.device, mean, std, seed: int, knobs: Knobs, **overrides) -> TrainConfig:
    config = make_config(str(root), preset=preset, recipe=recipe, epochs=epochs, batch_size=batch_size,
                         device=str(device), seed=seed, mean=list(mean), std=list(std), amp=knobs.amp,
                         **overrides)
    if not knobs.augment:
        config = replace(config, flip=False, crop_pad=0)
    return config


def build_project(config: TrainConfig, train: DataSet, device: torch.device, knobs: Knobs,
                  runs_root: Path, valid: DataSet | None = None) -> ProjectPipeline:
    """cinic.training.loop's own setup with `knobs` applied, and a temporary run folder for its metrics."""
    run = RunFolder.create(config.to_dict(), root=runs_root,
                           name=f"{config.preset}-{len(list(runs_root.iterdir())) + 1}")
    training = setup_training(config, train.images, train.labels, device, valid=valid, speed=knobs.speed)
    return ProjectPipeline(training, run, knobs)


def project_epoch(p: ProjectPipeline) -> float:
    """One epoch of cinic.training.loop's loop (metrics into the temporary run folder); seconds."""
    p.epochs_done += 1
    with torch_settings(p.knobs.threads, p.knobs.speed.cudnn_benchmark):
        started = time.perf_counter()
        train_epoch(p.training, min(p.epochs_done, p.training.config.epochs), p.run)
        sync(p.training.device)
        return time.perf_counter() - started


def bare_epoch(loop, knobs: Knobs) -> float:
    """One epoch of a bare (or part-built) loop under the project pipeline's thread settings; seconds."""
    with torch_settings(knobs.threads, knobs.speed.cudnn_benchmark):
        return timed_gap_epoch(loop, 1, loop.run)


def bench_gap(preset: str, ctx: BenchContext, args, project_s: float, bare_s: float) -> dict:
    """Where the project loop's time over the bare loop goes: the loop rebuilt with every part of
    the project's loop on ("all", which should time as the project's own), then with each part off
    alone; a part's cost is what switching it off saves."""
    device, knobs = ctx.device, ctx.knobs
    config = project_config(ctx.root, preset, args.recipe, args.epochs + 1, args.batch_size, device,
                            ctx.mean, ctx.std, args.seed, knobs)
    variants = {"all": tuple(PARTS), **{part: tuple(p for p in PARTS if p != part) for part in PARTS}}
    loops = {}
    for name, parts in variants.items():
        loops[name] = build_loop(config, ctx.train.images, ctx.train.labels, device, knobs.speed, parts)
        loops[name].run = RunFolder.create(config.to_dict(), root=ctx.runs_root, name=f"gap-{preset}-{name}")
    log(f"{preset}: the gap to the bare loop, {len(loops)} loops, 1 warm-up + {args.epochs} timed epochs each")
    times = time_in_turn({name: lambda loop=loop: bare_epoch(loop, knobs) for name, loop in loops.items()},
                         args.epochs, device)
    wall = {name: statistics.median(t["epochs"]) for name, t in times.items()}
    cpu = {name: statistics.median(t["cpu"]) for name, t in times.items()}
    parts = [{"part": part, "what": PARTS[part], "without_s": round(wall[part], 6),
              "cost_s": round(wall["all"] - wall[part], 6),
              "share_of_gap": round((wall["all"] - wall[part]) / (wall["all"] - bare_s), 3)
              if wall["all"] > bare_s else None,
              "cost_cpu_s": round(cpu["all"] - cpu[part], 6)} for part in PARTS]
    return {"project_s": round(project_s, 6), "bare_s": round(bare_s, 6), "all_parts_s": round(wall["all"], 6),
            "all_parts_cpu_s": round(cpu["all"], 6), "parts": parts}


# =============================================================================
# Timing both, in turn
# =============================================================================
def time_in_turn(contestants: dict, epochs: int, device: torch.device) -> dict:
    """{name: timed_epoch()} -> {name: {"first", "epochs", "cpu", "gpu_peak_mib"}} in seconds.

    One warm-up epoch each (its GPU memory peak recorded per contestant), then
    the timed epochs in turn: a shared machine's load changes are spread over
    every contestant instead of charged to whichever ran last.
    """
    times = {}
    for name, timed_epoch in contestants.items():
        reset_gpu_peak(device)
        times[name] = {"first": round(timed_epoch(), 6), "epochs": [], "cpu": [], "gpu_peak_mib": gpu_peak_mib(device)}
    for _ in range(epochs):
        for name, timed_epoch in contestants.items():
            cpu_before = cpu_seconds()
            times[name]["epochs"].append(round(timed_epoch(), 6))
            times[name]["cpu"].append(round(cpu_seconds() - cpu_before, 6))
    return times


def bench_preset(preset: str, ctx: BenchContext, args) -> tuple[dict, ProjectPipeline]:
    device = ctx.device
    log(f"{preset}: seed pipeline vs project pipeline, 1 warm-up + {args.epochs} timed epochs each")
    seed = build_seed(ctx.root / "train", preset, ctx.mean, ctx.std, args.batch_size, ctx.workers, device, args.seed)
    knobs = ctx.knobs
    config = project_config(ctx.root, preset, args.recipe, args.epochs + 1, args.batch_size, device,
                            ctx.mean, ctx.std, args.seed, knobs)
    project = build_project(config, ctx.train, device, knobs, ctx.runs_root)
    bare = build_loop(config, ctx.train.images, ctx.train.labels, device, knobs.speed)
    times = time_in_turn({"seed": lambda: timed_seed_epoch(seed, ctx.threads),
                          "project": lambda: project_epoch(project),
                          "bare": lambda: bare_epoch(bare, knobs)}, args.epochs, device)
    seed_s = statistics.median(times["seed"]["epochs"])
    project_s = statistics.median(times["project"]["epochs"])
    bare_s = statistics.median(times["bare"]["epochs"])
    seed_cpu, project_cpu = statistics.median(times["seed"]["cpu"]), statistics.median(times["project"]["cpu"])
    result = {
        "preset": preset,
        "seed_s_per_epoch": round(seed_s, 6),
        "project_s_per_epoch": round(project_s, 6),
        "ratio": round(seed_s / project_s, 4),
        # The bare loop: the same network, data already normalised in memory, Adam, nothing else.
        "bare_s_per_epoch": round(bare_s, 6),
        "project_over_bare": round(project_s / bare_s, 4),
        "bare_epochs_s": times["bare"]["epochs"],
        "bare_cpu_s_per_epoch": round(statistics.median(times["bare"]["cpu"]), 6),  # steadier on a loaded machine
        "project_over_bare_cpu": round(project_cpu / statistics.median(times["bare"]["cpu"]), 4),
        "train_images": seed.images,
        "seed_images_per_s": round(seed.images / seed_s, 1),
        "project_images_per_s": round(project.images / project_s, 1),
        # The GPU target is stated for a CINIC-10-sized epoch (90,000 + 30,000 augmented images).
        "project_s_per_120k_images": round(CINIC_EPOCH_IMAGES * project_s / project.images, 3),
        "seed_cpu_s_per_epoch": round(seed_cpu, 6),
        "project_cpu_s_per_epoch": round(project_cpu, 6),
        "cpu_ratio": round(seed_cpu / project_cpu, 4) if project_cpu > 0 else None,
        "seed_epochs_s": times["seed"]["epochs"],
        "project_epochs_s": times["project"]["epochs"],
        "seed_first_epoch_s": times["seed"]["first"],
        "project_first_epoch_s": times["project"]["first"],
        "host_peak_rss_mib": host_peak_rss_mib(),
        "workers_peak_rss_mib": host_peak_rss_mib(resource.RUSAGE_CHILDREN),
        "gpu_peak_mib": {name: times[name]["gpu_peak_mib"] for name in times},
    }
    return result, project


# =============================================================================
# Decoding, evaluation and one prediction
# =============================================================================
def time_decode(root: Path) -> tuple[dict, DataSet]:
    """The train split decoded into a fresh cache (cold), then loaded from it (warm)."""
    with tempfile.TemporaryDirectory(prefix="cinic-bench-cache-") as fresh, cache_root_at(Path(fresh)):
        started = time.perf_counter()
        train = data.load_split(root, "train")
        cold = time.perf_counter() - started
        started = time.perf_counter()
        data.load_split(root, "train")
        warm = time.perf_counter() - started
    return {"images": len(train.labels), "cold_s": round(cold, 4), "warm_s": round(warm, 4)}, train


def repeated_split(split: DataSet, n: int) -> DataSet:
    """`split` repeated (and cut) to exactly n images: a CINIC-sized test set from a sample."""
    reps = -(-n // len(split.labels))
    return DataSet(images=split.images.repeat(reps, 1, 1, 1)[:n].contiguous(),
                   labels=split.labels.repeat(reps)[:n].contiguous(),
                   files=(split.files * reps)[:n], origins=(split.origins * reps)[:n],
                   classes=split.classes, source=split.source)


def evaluation_model(model: torch.nn.Module, mean, std) -> Classifier:
    """The trained model as a checkpoint loads it: plain memory format, as the app evaluates it."""
    return Classifier(copy.deepcopy(model).to(memory_format=torch.contiguous_format), mean, std, CLASSES)


def time_evaluation(classifier: Classifier, test: DataSet, batch_sizes, threads: int) -> list[dict]:
    """cinic.analysis.evaluate.evaluate (confusion matrix and all) on `test`, per batch size, in the float32
    every reported result uses and, where the device has it, in bf16 for comparison."""
    from cinic.analysis.evaluate import evaluate

    device = classifier.device
    precisions = [False, True] if uses_bf16(device, True) else [False]
    rows = []
    with torch_settings(threads, device.type == "cuda"):
        for batch_size in batch_sizes:
            for amp in precisions:
                started = time.perf_counter()
                result = evaluate(classifier, test, batch_size=batch_size, amp=amp)
                seconds = time.perf_counter() - started
                rows.append({"images": result["n"], "batch_size": batch_size, "dtype": result["compute_dtype"],
                             "seconds": round(seconds, 4), "images_per_s": round(result["n"] / seconds, 1),
                             "accuracy": result["accuracy"]})
    return rows


def time_predict_one(classifier: Classifier, image_path: Path, threads: int) -> dict:
    """One uploaded image as the app and `predict` handle it: open, convert, classify, top 3."""
    from cinic.analysis.evaluate import classify_pictures
    from cinic.data.images import open_image, to_model_input

    def once() -> float:
        started = time.perf_counter()
        pixels, _notes = to_model_input(open_image(image_path))
        classify_pictures(classifier, [pixels], 3)
        return (time.perf_counter() - started) * 1000

    with torch_settings(threads, classifier.device.type == "cuda"):
        first = once()
        rest = [once() for _ in range(PREDICT_REPEATS)]
    return {"first_ms": round(first, 3), "median_ms": round(statistics.median(rest), 3)}


# =============================================================================
# Knobs: each speed setting on its own, against train.py's settings
# =============================================================================
def knob_variants(name: str, base: Knobs, device: torch.device) -> list[tuple[str, Knobs]]:
    """(label, knobs) for one knob; none where the knob means nothing on this device."""
    if (name in CUDA_ONLY_KNOBS and device.type != "cuda") or (name in CPU_ONLY_KNOBS and device.type != "cpu"):
        return []
    if name == "amp" and not uses_bf16(device, True):
        return []  # no bf16 on this device: both variants would run in fp32
    if name == "threads":
        counts = sorted({1, 2, usable_cores()} - {base.threads})
        return [(f"threads {n}", replace(base, threads=n)) for n in counts]
    if name == "augment":
        return [("no flips/crops", replace(base, augment=False))]
    if name == "amp":
        return [(f"amp {'off' if base.amp else 'on'}", replace(base, amp=not base.amp))]
    if name == "pinned":
        return [("stream from pinned host memory", replace(base, speed=replace(base.speed, stream=True)))]
    flipped = not getattr(base.speed, name)
    return [(f"{name} {'on' if flipped else 'off'}", replace(base, speed=replace(base.speed, **{name: flipped})))]


def bench_knobs(preset: str, ctx: BenchContext, args) -> list[dict]:
    """Each variant against train.py's settings, epochs in turn; speed-up = baseline / variant."""
    device = ctx.device
    base = ctx.knobs
    rows = []
    for name in args.knobs:
        for label, knobs in knob_variants(name, base, device):
            log(f"{preset}: knob {label}")
            pipelines = {}
            for tag, k in (("baseline", base), ("variant", knobs)):
                config = project_config(ctx.root, preset, args.recipe, args.epochs + 1, args.batch_size,
                                        device, ctx.mean, ctx.std, args.seed, k)
                pipeline = build_project(config, ctx.train, device, k, ctx.runs_root)
                pipelines[tag] = lambda pipeline=pipeline: project_epoch(pipeline)
            times = time_in_turn(pipelines, args.epochs, device)
            base_s = statistics.median(times["baseline"]["epochs"])
            variant_s = statistics.median(times["variant"]["epochs"])
            rows.append({"knob": name, "setting": label, "baseline_s": round(base_s, 6),
                         "variant_s": round(variant_s, 6), "speedup": round(base_s / variant_s, 3),
                         "variant_first_epoch_s": times["variant"]["first"],
                         "verdict": verdict(base_s / variant_s)})
    return rows


def verdict(speedup: float) -> str:
    if speedup > 1 + NOTABLE:
        return "helps"
    if speedup < 1 - NOTABLE:
        return "hurts"
    return "no effect"


# =============================================================================
# Accuracy: the same model, seed and learning rate through both pipelines
# =============================================================================
def bench_accuracy(preset: str, ctx: BenchContext, args) -> dict:
    """Valid accuracy after N epochs of each pipeline, no augmentation, constant Adam lr 0.001.

    Both models start from the same weights (same seed) and are scored by the
    same evaluator on the same decoded valid split, so the only difference is
    the data path (and its shuffling order).
    """
    device = ctx.device
    knobs = replace(ctx.knobs, augment=False)
    runs = []
    for seed in range(args.accuracy_seeds):
        log(f"{preset}: accuracy, seed {seed}, {args.accuracy_epochs} epochs per pipeline")
        seed_pipe = build_seed(ctx.root / "train", preset, ctx.mean, ctx.std, args.batch_size, ctx.workers,
                               device, seed)
        config = project_config(ctx.root, preset, "seed", args.accuracy_epochs, args.batch_size, device,
                                ctx.mean, ctx.std, seed, knobs, schedule="none", lr=SEED_LR,
                                weight_decay=0.0, label_smoothing=0.0)
        project = build_project(config, ctx.train, device, knobs, ctx.runs_root, valid=ctx.valid)
        valid = project.training.valid_data  # the same on-device valid split scores both models
        with torch_settings(ctx.threads, knobs.speed.cudnn_benchmark):
            for _ in range(args.accuracy_epochs):
                seed_epoch(seed_pipe)
                project_epoch(project)
            # Both scored in fp32 by the same function: only the training differs.
            seed_acc = evaluate_loss_acc(seed_pipe.model, valid, 1024, device, False)[1]
            project_acc = evaluate_loss_acc(project.training.model, valid, 1024, device, False)[1]
        runs.append({"seed": seed, "seed_valid_acc": round(seed_acc, 2), "project_valid_acc": round(project_acc, 2)})
    return {"epochs": args.accuracy_epochs, "runs": runs,
            "seed_valid_acc": round(statistics.mean(r["seed_valid_acc"] for r in runs), 2),
            "project_valid_acc": round(statistics.mean(r["project_valid_acc"] for r in runs), 2)}


# =============================================================================
# main
# =============================================================================
@dataclass
class BenchContext:
    """What every preset's measurements share: the device, the data (decode timed) and the settings."""

    device: torch.device
    root: Path
    threads: int
    workers: int
    knobs: Knobs
    decode: dict
    train: DataSet
    valid: DataSet
    test: DataSet
    mean: list
    std: list
    runs_root: Path | None = None  # a temporary folder for the project pipeline's run folders


def default_data() -> Path:
    """The shared real sample where present (README's figures are measured on it), else the data set in use."""
    return datasets.shared_sample() or datasets.data_in_use(make_demo=True)


def prepare(args) -> BenchContext:
    device = choose_device(args.device)
    root = data.resolve_data(args.data or default_data())
    threads = args.threads or torch.get_num_threads()
    workers = args.workers if args.workers is not None else SEED_WORKERS.get(device.type, 2)
    if args.eval_batch_sizes is None:
        args.eval_batch_sizes = [int(v) for v in comma_list(EVAL_BATCH_SIZES.get(device.type, "1024"))]
    log(f"device {device}, {threads} thread(s), data {root}")
    decode, train = time_decode(root)
    valid = data.load_split(root, "valid")
    test = data.load_split(root, "test")
    mean, std = data.channel_stats(train.images)
    return BenchContext(device, root, threads, workers, train_py_knobs(device, threads), decode, train, valid,
                        test, list(mean), list(std))


def bench_everything(preset: str, ctx: BenchContext, eval_set: DataSet | None, args) -> dict:
    """Epoch timings of both pipelines, then evaluation, one prediction, knobs and accuracy as asked."""
    result, project = bench_preset(preset, ctx, args)
    trained = project.training.model
    classifier = evaluation_model(getattr(trained, "_orig_mod", trained), ctx.mean, ctx.std)
    if eval_set is not None:
        log(f"{preset}: evaluate {len(eval_set.labels):,} images at batch sizes {args.eval_batch_sizes}")
        result["evaluation"] = time_evaluation(classifier, eval_set, args.eval_batch_sizes, ctx.threads)
    result["predict_one"] = time_predict_one(classifier, ctx.root / "test" / ctx.test.files[0], ctx.threads)
    if args.gap:
        result["gap"] = bench_gap(preset, ctx, args, result["project_s_per_epoch"], result["bare_s_per_epoch"])
    if args.knobs:
        result["knobs"] = bench_knobs(preset, ctx, args)
    if args.accuracy:
        result["accuracy"] = bench_accuracy(preset, ctx, args)
    return result


def run_benchmark(args) -> dict:
    load_before = load_average()
    ctx = prepare(args)
    device = ctx.device
    eval_set = repeated_split(ctx.test, args.eval_images) if args.eval_images else None
    with tempfile.TemporaryDirectory(prefix="cinic-bench-runs-") as runs_root:
        ctx.runs_root = Path(runs_root)
        results = [bench_everything(preset, ctx, eval_set, args) for preset in args.presets]
    return {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": {"device": describe_device(device) if device.type != "cpu" else f"cpu ({ctx.threads} threads)",
                    "cores": usable_cores(), "threads": ctx.threads, "torch": torch.__version__,
                    "load_before": load_before, "load_after": load_average()},
        "data": {"root": str(ctx.root), "train": len(ctx.train.labels), "valid": len(ctx.valid.labels),
                 "test": len(ctx.test.labels), "mean": ctx.mean, "std": ctx.std},
        "settings": {"batch_size": args.batch_size, "workers": ctx.workers, "epochs": args.epochs,
                     "recipe": args.recipe, "seed": args.seed,
                     "project_knobs": dataclasses.asdict(ctx.knobs)},
        "decode": ctx.decode,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run_benchmark(args)
    print(json.dumps(report) if args.json else report_text(report))
    return 0
