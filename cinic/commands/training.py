"""The training commands: summary, train (its settings' flags from the table of settings), augment,
augment-preview, bench, sweep."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cinic.commands.common import EXIT_FAILED, add_runs_root, preset_names, print_json, save_picture, tqdm_progress
from cinic.errors import CinicError
from cinic.runs.config import RECIPES, SETTING, SETTINGS

def summary_arguments(p) -> None:
    p.add_argument("--preset", default="base", choices=preset_names())


def cmd_summary(args) -> int:
    from cinic.model.lenet import format_summary, get_preset, summarize

    spec = get_preset(args.preset)
    print(f"{args.preset}: {spec.describe()}")
    print(format_summary(summarize(spec)))
    return 0


def train_arguments(p) -> None:
    p.add_argument("--data", help="CINIC-10 folder or .tar.gz (default: the data set chosen in the app, "
                                  "else data/CINIC-10, else the demo set)")
    p.add_argument("--preset", default="base", choices=preset_names())
    p.add_argument("--model", metavar="SPEC.json", help="a composed model spec (JSON, as a run's config.json "
                                                         "holds under \"model\") instead of a preset")
    p.add_argument("--recipe", default=SETTING["recipe"].default, choices=RECIPES, help=SETTING["recipe"].help)
    add_setting_flags(p)
    p.add_argument("--lr-drop", action="append", metavar="EPOCH:LR",
                   help="step schedule: use LR from EPOCH on (repeatable), e.g. 8:0.0001")
    p.add_argument("--augment", help="Augmentor pipeline: report | none | FILE.json")
    p.add_argument("--augment-n", type=int, help="extra images to sample with --augment")
    p.add_argument("--run-dir", help="the run folder to create (default: a new one under the runs root)")
    p.add_argument("--name", help="the new run's name, its folder under the runs root "
                                  "(default: the time and the preset, e.g. 20260101-120000-base)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last epoch")
    p.add_argument("--run", help=argparse.SUPPRESS)  # a prepared run folder (the app's launcher)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (plain log lines)")
    add_runs_root(p)


def cmd_train(args) -> int:
    from cinic.model.device import choose_device
    from cinic.runs.folder import RunFolder
    from cinic.runs.launch import change_for_resume, check_resumable
    from cinic.training.loop import train_run

    if args.run:  # a run folder made by launch_training (the app) or an earlier call
        run = RunFolder.open(args.run)
    elif args.resume:
        run = RunFolder.open(args.resume, root=args.runs_root)
        check_resumable(run)
        for change in change_for_resume(run, resume_options(args).get("data"), args.epochs):
            print(f"resume changes {change}", flush=True)
    else:
        config = config_from_args(args)
        choose_device(config.device)  # no GPU is said now, before a run folder exists
        root, name = args.runs_root, args.name
        if args.run_dir and args.name:
            raise CinicError("give --run-dir or --name, not both: --run-dir names the folder itself")
        if args.run_dir:
            root, name = Path(args.run_dir).parent, Path(args.run_dir).name
        run = RunFolder.create(config.to_dict(), root=root, name=name)
    print(f"run folder: {run.path}", flush=True)
    status = train_run(run, resume=bool(args.resume), progress=not args.no_progress,
                       log=lambda m: print(m, flush=True))
    print(f"run {run.name}: {status['state']}" + (f" ({status['error']})" if status.get("error") else ""))
    if status.get("signal"):  # ended by SIGTERM or Ctrl-C: exit as a signalled process does
        return 128 + status["signal"]
    return 0 if status["state"] in ("finished", "cancelled") else EXIT_FAILED


def config_from_args(args):
    from cinic.data import dataset as data
    from cinic.runs.config import make_config
    from cinic.data.choice import data_in_use

    root = data.resolve_data(args.data) if args.data else data_in_use(make_demo=True)
    data.validate_root(root)
    overrides = {s.name: getattr(args, s.name) for s in SETTINGS if s.cli}  # None where not given
    if args.lr_drop:
        overrides["lr_drops"] = [parse_lr_drop(d) for d in args.lr_drop]
        overrides["schedule"] = args.schedule or "step"
    if args.augment and args.augment != "none":
        from cinic.augment.ops import load_pipeline

        if not args.augment_n:
            raise CinicError("--augment needs --augment-n N: how many extra training images to sample")
        overrides.update(augment=load_pipeline(args.augment), augment_name=Path(args.augment).name,
                         augment_n=args.augment_n)
    model = load_model_spec(args.model) if args.model else None
    preset = None if model else args.preset
    return make_config(str(root), preset=preset, recipe=args.recipe, model=model, **overrides)


def load_model_spec(path: str) -> dict:
    """A composed model: a JSON file holding a model spec (as config.json's "model" holds one)."""
    from cinic.model.lenet import ModelSpec

    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise CinicError(f"--model {path}: cannot read a JSON model spec ({e}); write one like "
                         "config.json's \"model\" of a run") from None
    return ModelSpec.from_dict(spec).to_dict()  # ModelSpecError names the field


def parse_lr_drop(text: str) -> list:
    try:
        epoch, lr = text.split(":")
        return [int(epoch), float(lr)]
    except ValueError:
        raise CinicError(f"--lr-drop {text!r}: expected EPOCH:LR, e.g. 8:0.0001") from None


def resume_options(args) -> dict:
    """The options given with --resume; CinicError naming those a resume cannot change."""
    from cinic.runs.launch import RESUME_CHANGES

    parser = argparse.ArgumentParser()
    train_arguments(parser)
    defaults = parser.parse_args([])
    given = {name: value for name, value in vars(args).items()
             if name not in ("command", "func", "resume", "run", "no_progress", "runs_root")
             and value != getattr(defaults, name, None)}
    fixed = sorted(set(given) - set(RESUME_CHANGES))
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise CinicError(f"train --resume cannot change {flags}: a resume continues the run as it was set up, "
                         f"changing only {', '.join('--' + c for c in RESUME_CHANGES)} (the same data moved, "
                         "more epochs); start a new run for other settings")
    return given


def add_setting_flags(p) -> None:
    """A --flag per setting the table marks `cli`, None when not given (the recipe fills it in)."""
    for s in SETTINGS:
        if not s.cli:
            continue
        if s.type == "bool":
            p.add_argument(s.flag, action=argparse.BooleanOptionalAction, help=s.help)
        else:
            p.add_argument(s.flag, type=s.number_type or str, choices=s.choices, help=s.help)


def augment_arguments(p) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--pipeline", default="report", help="report | none | FILE.json")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")


def cmd_augment(args) -> int:
    from cinic.data import dataset as data
    from cinic.augment.sample import sample_augmented
    from cinic.augment.ops import load_pipeline

    steps = load_pipeline(args.pipeline)
    root = data.resolve_data(args.data)
    train = data.load_split(root, "train", progress=tqdm_progress("decoding train"))
    result = sample_augmented(train, steps, args.n, seed=args.seed, progress=tqdm_progress("augmenting"))
    summary = {"n": int(result.images.shape[0]), "per_class": result.per_class, "path": str(result.path),
               "pipeline": steps}
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['n']} augmented images cached at {summary['path']}")
        print("  " + "  ".join(f"{k} {v}" for k, v in summary["per_class"].items()))
    return 0


def augment_preview_arguments(p) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--pipeline", default="report", help="report | none | FILE.json")
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--versions", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)


def cmd_augment_preview(args) -> int:
    from cinic.data import dataset as data
    from cinic.augment.sample import PREVIEW_IMAGES, preview_grid
    from cinic.augment.ops import load_pipeline
    from cinic.outputs import PICTURE_FORMATS, output_file

    import torch

    if not 1 <= args.images <= PREVIEW_IMAGES:
        raise CinicError(f"--images must be 1..{PREVIEW_IMAGES}, got {args.images}")
    out = output_file(args.out, PICTURE_FORMATS, inputs=[args.data], example="preview.png")
    steps = load_pipeline(args.pipeline)
    train = data.load_split(data.resolve_data(args.data), "train", progress=tqdm_progress("decoding train"))
    pick = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(args.seed))[:args.images]
    grid = preview_grid(steps, train.images[pick], versions=args.versions, seed=args.seed)
    save_picture(grid, out)
    print(f"preview of {args.images} images x {args.versions} versions written to {args.out}")
    return 0


def bench_arguments(p) -> None:
    """None here: the benchmark parses its own options (main passes them through), --help included."""


def cmd_bench(args) -> int:
    from cinic.bench.benchmark import main as bench_main

    return bench_main(args.bench_args)


def sweep_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC", help='e.g. {"data": "DATA", "epochs": 1, '
                                               '"grid": {"preset": ["base", "stepping"], "seed": [0, 1]}}')
    p.add_argument("--address", help="join this Ray cluster (`ray start --head` prints it) instead of "
                                     "starting a local Ray")
    p.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once (default: as many "
                                                                   "as Ray has CPUs and GPUs for)")
    p.add_argument("--json", action="store_true", help="print trials and variants as JSON")
    add_runs_root(p)


def cmd_sweep(args) -> int:
    from cinic.sweeps.runner import run_sweep
    from cinic.sweeps.spec import load_spec

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise CinicError(f"--max-concurrent must be at least 1, got {args.max_concurrent}")
    spec = load_spec(args.spec)  # checked whole before anything starts
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    summary = run_sweep(spec, root=args.runs_root, address=args.address, max_concurrent=args.max_concurrent,
                        log=log)
    if args.json:
        print_json({k: summary[k] for k in ("sweep", "path", "state", "trials", "variants")})
    else:
        print_variants(summary["variants"])
        print(f"sweep {summary['sweep']}: {summary['state']}; its folder: {summary['path']}")
    ended = {t["state"] for t in summary["trials"]}
    return 0 if ended <= {"finished"} else EXIT_FAILED


def print_variants(variants: list[dict]) -> None:
    """Mean +- std and the 95% interval of each variant's test accuracy over its seeds."""
    from cinic.sweeps.spec import variant_labels

    for v, settings in zip(variants, variant_labels([v["settings"] for v in variants])):
        if v["test_mean"] is None:
            print(f"  {settings}: no finished trial")
            continue
        spread = (f" +- {v['test_std']:.2f}, 95% CI {v['test_ci95'][0]:.2f}..{v['test_ci95'][1]:.2f}"
                  if v["test_std"] is not None else "")
        print(f"  {settings}: test {v['test_mean']:.2f}%{spread} over {v['n']} seed(s); "
              f"valid {v['valid_mean']:.2f}%")
