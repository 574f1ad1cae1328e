"""`python -m cinic ...`: the whole experiment from a terminal.

Each sub-command is one small function over the library. A user error (bad
folder, bad setting, damaged checkpoint) prints one clear line on stderr and
exits with status 2; a command that ran but failed exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cinic.training.config import OPTIMIZERS, RECIPES, SCHEDULES
from cinic.data.dataset import SPLITS
from cinic.errors import CinicError
from cinic.analysis.explain import METHODS as EXPLAIN_METHODS
from cinic.data.fetch import CINIC10_URL
from cinic.bench.full_scale import PER_SPLIT
from cinic.model.lenet import PRESET_ALIASES, PRESETS
from cinic.runs.admin import SORTS
from cinic.outputs import PICTURE_FORMATS
from cinic.runs.folder import CHECKPOINTS

EXIT_USAGE, EXIT_FAILED = 2, 1


def tqdm_progress(desc: str, unit: str = "it"):
    """A progress(done, total) callable drawing a terminal bar (on stderr)."""
    from tqdm import tqdm

    bar = None

    def update(done, total):
        nonlocal bar
        if bar is None or bar.total != total or bar.disable:  # a new phase, or the last one ended
            bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", leave=False)
        bar.n = done
        bar.refresh()
        if total and done >= total:
            bar.close()

    return update


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")


# --- data -------------------------------------------------------------------------
def cmd_demo_data(args) -> int:
    from cinic.data.demo import make_demo_dataset

    out = make_demo_dataset(Path(args.out), seed=args.seed)
    print(f"demo data set written to {out}")
    return 0


def cmd_fetch(args) -> int:
    from cinic.data.fetch import fetch
    from cinic.paths import cinic_root

    to = Path(args.to) if args.to else cinic_root()
    root = fetch(to, url=args.url, progress=tqdm_progress("CINIC-10", "B"),
                 extract_progress=tqdm_progress("extracting"))
    print(f"CINIC-10 is ready at {root}")
    return 0


def cmd_check(args) -> int:
    from cinic.data import dataset as data

    root = data.resolve_data(args.data)
    report = data.check_root(root, progress=tqdm_progress("checking"))
    if args.json:
        print_json(report)
        return 0
    print(f"{root}: a valid CINIC-10 layout")
    for split, per_class in report["counts"].items():
        print(f"  {split:5s} {sum(per_class.values()):7d}  " +
              "  ".join(f"{name} {n}" for name, n in per_class.items()))
    print(f"  train mean {report['mean']}  std {report['std']} (exact, over all pixels)")
    return 0


def cmd_corrupt(args) -> int:
    from cinic.data.corrupt import corrupt_split

    record = corrupt_split(args.data, args.out, split=args.split, seed=args.seed, severity=args.severity,
                           progress=tqdm_progress("decoding"))
    if args.json:
        print_json({k: v for k, v in record.items() if k != "files"} | {"out": str(Path(args.out).resolve())})
        return 0
    print(f"{args.out}: {args.split} split of {record['source']} corrupted at severity {args.severity} "
          f"(seed {args.seed}), other splits copied; " + ", ".join(f"{k} {n}" for k, n in record["counts"].items()))
    print(f"evaluate a run on it: python -m cinic evaluate RUN --data {args.out}")
    return 0


# --- models and training ------------------------------------------------------------
def cmd_summary(args) -> int:
    from cinic.model.lenet import format_summary, get_preset, summarize

    spec = get_preset(args.preset)
    print(f"{args.preset}: {spec.describe()}")
    print(format_summary(summarize(spec)))
    return 0


# TrainConfig fields set one to one by a --flag of the same name (the recipe fills the rest).
TRAIN_FLAGS = ("epochs", "lr", "batch_size", "eval_batch_size", "optimizer", "momentum", "weight_decay",
               "schedule", "warmup_epochs", "label_smoothing", "flip", "crop_pad", "device", "seed", "amp")


def config_from_args(args):
    from cinic.data import dataset as data
    from cinic.training.config import make_config
    from cinic.data.choice import data_in_use

    root = data.resolve_data(args.data) if args.data else data_in_use(make_demo=True)
    data.validate_root(root)
    overrides = {name: getattr(args, name) for name in TRAIN_FLAGS}
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


def cmd_train(args) -> int:
    from cinic.training.device import choose_device
    from cinic.runs.folder import RunFolder, change_for_resume, check_resumable
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


def resume_options(args) -> dict:
    """The options given with --resume; CinicError naming those a resume cannot change."""
    from cinic.runs.folder import RESUME_CHANGES

    defaults = build_parser().parse_args(["train"])
    given = {name: value for name, value in vars(args).items()
             if name not in ("func", "resume", "run", "no_progress", "runs_root")
             and value != getattr(defaults, name, None)}
    fixed = sorted(set(given) - set(RESUME_CHANGES))
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise CinicError(f"train --resume cannot change {flags}: a resume continues the run as it was set up, "
                         f"changing only {', '.join('--' + c for c in RESUME_CHANGES)} (the same data moved, "
                         "more epochs); start a new run for other settings")
    return given


def cmd_runs(args) -> int:
    from cinic.runs.admin import filter_runs, sort_runs
    from cinic.runs.folder import list_runs

    every = list_runs(args.runs_root)
    runs = sort_runs(filter_runs(every, args.state or (), args.preset or (), args.tag or (), args.min_test),
                     args.sort)
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print(f"none of the {len(every)} runs match these filters" if every else
              "no runs yet: start one with `python -m cinic train --preset base`")
        return 0
    header = f"{'run':32s} {'preset':14s} {'state':12s} {'epochs':>7s} {'best valid':>10s} {'test':>7s}  tags"
    print(header)
    for r in runs:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{r['name'][:32]:32s} {str(r.get('preset'))[:14]:14s} {str(r['state']):12s} "
              f"{r.get('epoch', 0):>3}/{r.get('epochs') or '?':<3} {fmt(r.get('best_valid_acc')):>10s} "
              f"{fmt(r.get('test_acc')):>7s}  {' '.join(r.get('tags') or ())}")
    return 0


def cmd_rename(args) -> int:
    from cinic.runs.admin import locate, rename_run

    run = rename_run(locate(args.run, args.runs_root), args.new_name)
    print(f"renamed {args.run} to {run.name}")
    return 0


def cmd_delete(args) -> int:
    from cinic.runs.admin import delete_run, locate
    from cinic.runs.folder import summarize_run

    run = locate(args.run, args.runs_root)
    if not args.yes:
        summary = summarize_run(run)
        test = f", test {summary['test_acc']:.2f}%" if summary.get("test_acc") is not None else ""
        question = f"delete run {run.name} ({summary['state']}{test}) and every file in {run.path}? [y/N] "
        if not sys.stdin.isatty():
            raise CinicError(f"deleting {run.name} needs a yes: run it in a terminal, or add --yes")
        if input(question).strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    path = delete_run(run)
    print(f"deleted {path}")
    return 0


def cmd_note(args) -> int:
    from cinic.runs.admin import annotate
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    if args.text is None and not args.tag and not args.untag:
        notes = run.notes()
    else:
        notes = annotate(run, args.text, args.tag or (), args.untag or ())
    if args.json:
        print_json(notes)
    else:
        print(f"{run.name}: tags {' '.join(notes['tags']) or '(none)'}")
        if notes["notes"]:
            print(notes["notes"])
    return 0


def cmd_stop(args) -> int:
    from cinic.runs.folder import RunFolder, stop_run

    run = RunFolder.open(args.run, root=args.runs_root)
    stop_run(run, grace_s=args.wait)
    print(f"asked {run.name} to stop; it saves its last completed epoch first")
    return 0


# --- evaluation ------------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    from cinic.training.device import choose_device
    from cinic.analysis.evaluate import evaluate_run
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    result = evaluate_run(run, args.checkpoint, choose_device(args.device), data=args.data, split=args.split,
                          progress=tqdm_progress("decoding"))
    if args.json:
        print_json(result)
        return 0
    print(f"{run.name} ({args.checkpoint}, epoch {result['epoch']}) on {result['source']}: "
          f"{result['accuracy']:.2f}% of {result['n']} images")
    for name, acc in result["per_class"].items():
        print(f"  {name:11s} {acc:6.2f}%")
    for pair in result["most_confused"][:5]:
        print(f"  {pair['true']} taken for {pair['pred']}: {pair['count']}")
    return 0


def cmd_predict(args) -> int:
    from cinic.model.checkpoints import load_model
    from cinic.training.device import choose_device
    from cinic.analysis.evaluate import classify_pictures
    from cinic.data.images import ImageError, open_image, to_model_input
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    device = choose_device(args.device)
    model, facts = load_model(run, args.checkpoint, device)
    if len(args.images) == 1 and is_batch(Path(args.images[0])):
        return predict_batch(args, model, facts, device)
    results, failed = [], 0
    for path in args.images:
        try:
            pixels, notes = to_model_input(open_image(path))
        except ImageError as e:
            results.append({"file": path, "error": str(e)})
            failed += 1
            continue
        [top] = classify_pictures(model, [pixels], facts["mean"], facts["std"], facts["classes"], args.top_k,
                                  device)
        results.append({"file": path, "notes": notes, "top": top})
    if args.json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                # ImageError messages already start with the file's name: do not say it twice.
                said = r["error"] if r["error"].startswith(r["file"]) else f"{r['file']}: {r['error']}"
                print(said, file=sys.stderr)
                continue
            note = f" ({'; '.join(r['notes'])})" if r["notes"] else ""
            print(f"{r['file']}{note}: " + ", ".join(f"{t['class']} {t['prob'] * 100:.1f}%" for t in r["top"]))
    return EXIT_FAILED if failed else 0


def is_batch(path: Path) -> bool:
    """A folder or a zip: many images to classify (and to evaluate when they sit in class folders)."""
    import zipfile

    return path.is_dir() or (path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)))


def predict_batch(args, model, facts, device) -> int:
    from cinic.analysis.image_sets import classify_batch, load_batch

    batch = load_batch(args.images[0])
    result = classify_batch(model, batch, facts["mean"], facts["std"], facts["classes"], args.top_k, device)
    if args.json:
        print_json(result)
    else:
        for message in result["errors"]:
            print(message, file=sys.stderr)
        if result["labelled"]:
            evaluation = result["evaluation"]
            print(f"{result['source']}: {evaluation['accuracy']:.2f}% of {evaluation['n']} images right")
            for (name, acc), row in zip(evaluation["per_class"].items(), evaluation["confusion"]):
                if sum(row):  # a class with no images here has no accuracy to show
                    print(f"  {name:11s} {acc:6.2f}% of {sum(row)}")
            for pair in evaluation["most_confused"][:5]:
                print(f"  {pair['true']} taken for {pair['pred']}: {pair['count']}")
        else:
            for p in result["predictions"]:
                print(f"{p['file']}: " + ", ".join(f"{t['class']} {t['prob'] * 100:.1f}%" for t in p["top"]))
        if result["skipped"]:
            print(f"({len(result['skipped'])} files that are not images were left out)", file=sys.stderr)
    return EXIT_FAILED if result["errors"] else 0


def cmd_export(args) -> int:
    from cinic.model.export import ONNX_INPUT_TEXT, export_model
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out, fmt = export_model(run, Path(args.out), args.format, args.checkpoint)
    print(f"wrote {out} " + ("(safetensors: weights and metadata only, no code)" if fmt == "safetensors" else
                             f"(ONNX; input: {ONNX_INPUT_TEXT}; outputs: logits, probabilities)"))
    return 0


def cmd_report(args) -> int:
    from cinic.analysis.report import write_report
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out = write_report(run, Path(args.out))
    print(f"wrote {out} (one HTML file: config, curves, confusion matrix, per class, mistakes; opens offline)")
    return 0


# --- augmentation ----------------------------------------------------------------------
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


def cmd_augment_preview(args) -> int:
    from cinic.data import dataset as data
    from cinic.augment.sample import PREVIEW_IMAGES, preview_grid
    from cinic.augment.ops import load_pipeline
    from cinic.outputs import output_file

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


def save_picture(pixels, out: Path) -> None:
    """An H x W x 3 uint8 picture into the file output_file checked, whole, in the format its suffix names."""
    from PIL import Image

    from cinic.outputs import write_output

    write_output(out, lambda handle: Image.fromarray(pixels).save(handle, format=PICTURE_FORMATS[out.suffix.lower()]))


def cmd_bench(args) -> int:
    from cinic.bench.benchmark import main as bench_main

    return bench_main(args.bench_args)


def cmd_make_full_scale(args) -> int:
    from cinic.data import dataset as data
    from cinic.data import choice as datasets
    from cinic.bench.full_scale import check_request, make_full_scale
    from cinic.workers import usable_cores

    source = data.resolve_data(args.data or datasets.shared_sample() or datasets.data_in_use(make_demo=True))
    jobs = args.jobs or usable_cores()
    check_request(Path(args.out), args.per_split, jobs)
    print(f"writing {args.per_split:,} images per split into {args.out} with {jobs} process(es)",
          file=sys.stderr)
    made = make_full_scale(source, Path(args.out), args.per_split, jobs, args.seed)
    if args.json:
        print_json(made)
    else:
        print(f"wrote {made['images']:,} images into {made['out']} in {made['seconds']:.1f} s; "
              f"benchmark it with: python -m cinic bench --data {made['out']}")
    return 0


# --- understanding a model ---------------------------------------------------------------
def cmd_diff(args) -> int:
    from cinic.training.device import choose_device
    from cinic.analysis.diff import compare_runs
    from cinic.runs.folder import RunFolder

    run_a, run_b = (RunFolder.open(name, root=args.runs_root) for name in (args.run_a, args.run_b))
    pair = compare_runs(run_a, run_b, data=args.data, device=choose_device(args.device),
                        progress=tqdm_progress("decoding"))
    result = pair.summary()
    if args.json:
        print_json(result)
        return 0
    print(f"A = {run_a.name} {result['accuracy_a']:.2f}%, B = {run_b.name} {result['accuracy_b']:.2f}% "
          f"on {result['n']:,} test images of {result['data']}")
    print(f"B fixed {result['fixed']} images and broke {result['broken']}; both right {result['both_right']}, "
          f"both wrong {result['both_wrong']}; same prediction on {result['agreement']:.1f}%")
    print(f"{result['verdict']} (exact McNemar test, p = {result['p_value']:.3g})")
    for row in result["per_class"]:
        print(f"  {row['class']:11s} {row['accuracy_a']:6.2f}% -> {row['accuracy_b']:6.2f}% "
              f"({row['delta']:+6.2f})  fixed {row['fixed']:3d}  broke {row['broken']:3d}")
    return 0


def cmd_explain(args) -> int:
    import numpy as np

    from cinic.model.checkpoints import load_model
    from cinic.training.device import choose_device
    from cinic.analysis.explain import METHODS, explain_picture, panel
    from cinic.data.images import open_image, to_model_input
    from cinic.outputs import output_file
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out = args.out and output_file(args.out, PICTURE_FORMATS, inputs=[args.image, run.path], example="overlay.png")
    device = choose_device(args.device)
    model, facts = load_model(run, args.checkpoint, device)
    picture, notes = to_model_input(open_image(args.image))
    result = explain_picture(model, facts, picture, args.method, args.target, device)
    if out:
        title = f"{METHODS[args.method]}: {result['target']}"
        save_picture(panel(picture, np.array(result["saliency"]), title), out)
    if args.json:
        print_json({k: result[k] for k in ("predicted", "target", "method", "saliency")})
        return 0
    note = f" ({'; '.join(notes)})" if notes else ""
    print(f"{args.image}{note}: predicted {result['predicted']} {result['p_predicted']:.1%}; "
          f"{METHODS[args.method]} map for {result['target']} ({result['p_target']:.1%})"
          + (f" written to {args.out}" if args.out else "; add --out overlay.png to see it"))
    return 0


# --- sweeps ----------------------------------------------------------------------------------
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


# --- the parser ----------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line like every other user error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m cinic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text, **options):
        p = sub.add_parser(name, help=help_text, description=help_text, **options)
        p.set_defaults(func=func)
        return p

    p = command("demo-data", cmd_demo_data, "make the small embedded demo data set in CINIC-10 layout")
    p.add_argument("out", help="folder to create")
    p.add_argument("--seed", type=int, default=0)

    p = command("fetch", cmd_fetch, "download CINIC-10 (about 690 MB, resumable) and extract it")
    p.add_argument("--to", help="folder to put CINIC-10.tar.gz and the extracted data in (default: data/)")
    p.add_argument("--url", default=CINIC10_URL, help="where to download it from (a mirror or a local server); "
                                                      "default: the official address")

    p = command("check", cmd_check, "validate a CINIC-10 folder or .tar.gz: counts per class, mean/std")
    p.add_argument("data")
    p.add_argument("--json", action="store_true")

    p = command("corrupt", cmd_corrupt, "write a copy of a data set with one split's images corrupted "
                                        "(noise, blur, contrast, brightness, JPEG; CIFAR-10-C style)")
    p.add_argument("data", help="CINIC-10 folder or .tar.gz")
    p.add_argument("--out", required=True, help="a new (or empty) folder, or an earlier corrupted copy to reuse")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--seed", type=int, default=0, help="which corruption each image gets, and its noise")
    p.add_argument("--severity", type=int, default=3, choices=range(1, 6), metavar="1..5",
                   help="CIFAR-10-C's severity (default 3: moderate)")
    p.add_argument("--json", action="store_true")

    p = command("summary", cmd_summary, "layer summary of a preset: output shapes and parameters")
    p.add_argument("--preset", default="base", choices=preset_names())

    p = command("train", cmd_train, "train a LeNet variant into a run folder")
    p.add_argument("--data", help="CINIC-10 folder or .tar.gz (default: the data set chosen in the app, "
                                  "else data/CINIC-10, else the demo set)")
    p.add_argument("--preset", default="base", choices=preset_names())
    p.add_argument("--model", metavar="SPEC.json", help="a composed model spec (JSON, as a run's config.json "
                                                         "holds under \"model\") instead of a preset")
    p.add_argument("--recipe", default="project", choices=RECIPES,
                   help="training defaults: ours, or the course report's (Adam 0.001, step drop)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--eval-batch-size", type=int, help="images per validation batch (default: per device)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="adam is AdamW (decoupled weight decay)")
    p.add_argument("--momentum", type=float, help="SGD momentum")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--lr-drop", action="append", metavar="EPOCH:LR",
                   help="step schedule: use LR from EPOCH on (repeatable), e.g. 8:0.0001")
    p.add_argument("--warmup-epochs", type=float, help="epochs of linear warm-up (may be fractional)")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, help="random flips on the device")
    p.add_argument("--crop-pad", type=int, help="random-crop padding on the device (0 = off)")
    p.add_argument("--augment", help="Augmentor pipeline: seed | none | FILE.json")
    p.add_argument("--augment-n", type=int, help="extra images to sample with --augment")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction,
                   help="bf16 autocast where the device has it (default on)")
    p.add_argument("--seed", type=int)
    p.add_argument("--run-dir", help="the run folder to create (default: a new one under the runs root)")
    p.add_argument("--name", help="the new run's name, its folder under the runs root "
                                  "(default: the time and the preset, e.g. 20260101-120000-base)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last epoch")
    p.add_argument("--run", help=argparse.SUPPRESS)  # a prepared run folder (the app's launcher)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (plain log lines)")
    add_runs_root(p)

    p = command("evaluate", cmd_evaluate, "evaluate a run on the test split or any folder of class folders")
    p.add_argument("run")
    p.add_argument("--data", help="a CINIC-10 root or a folder of class folders (default: the run's data)")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)

    p = command("predict", cmd_predict, "classify image files, a folder or a zip of them with a trained run "
                                        "(images in class folders are also evaluated)")
    p.add_argument("run")
    p.add_argument("images", nargs="+", metavar="IMAGE_FOLDER_OR_ZIP")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)

    p = command("runs", cmd_runs, "list runs: preset, state, epochs, best valid and test accuracy, tags")
    p.add_argument("--json", action="store_true")
    p.add_argument("--state", action="append", help="only runs in this state (repeatable: any of them)")
    p.add_argument("--preset", action="append", help="only runs of this preset, or custom (repeatable)")
    p.add_argument("--tag", action="append", help="only runs carrying this tag (repeatable: all of them)")
    p.add_argument("--min-test", type=float, metavar="PERCENT", help="only runs with at least this test accuracy")
    p.add_argument("--sort", default="newest", choices=SORTS)
    add_runs_root(p)

    p = command("rename", cmd_rename, "rename a run (its folder); refused while it trains")
    p.add_argument("run")
    p.add_argument("new_name", metavar="NEW_NAME")
    add_runs_root(p)

    p = command("delete", cmd_delete, "delete a run's folder and every file in it; refused while it trains")
    p.add_argument("run")
    p.add_argument("--yes", action="store_true", help="do not ask for a confirmation")
    add_runs_root(p)

    p = command("note", cmd_note, "show or set a run's notes and tags")
    p.add_argument("run")
    p.add_argument("--text", help="the run's notes (replaces them; \"\" clears them)")
    p.add_argument("--tag", action="append", help="add a tag (repeatable)")
    p.add_argument("--untag", action="append", help="remove a tag (repeatable)")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)

    p = command("stop", cmd_stop, "ask a running training to stop after saving")
    p.add_argument("run")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait before sending SIGTERM")
    add_runs_root(p)

    p = command("export", cmd_export, "export a run's model as safetensors (weights, no code) or ONNX (a graph)")
    p.add_argument("run")
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=("safetensors", "onnx"),
                   help="default: from --out's suffix (.onnx is ONNX), else safetensors")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    add_runs_root(p)

    p = command("report", cmd_report, "write a one-file HTML report of a run (opens offline)")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="the .html file to write")
    add_runs_root(p)

    p = command("augment", cmd_augment, "sample N augmented training images into the cache")
    p.add_argument("--data", required=True)
    p.add_argument("--pipeline", default="seed", help="seed | none | FILE.json")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")

    p = command("augment-preview", cmd_augment_preview, "save a grid of originals and augmented versions")
    p.add_argument("--data", required=True)
    p.add_argument("--pipeline", default="seed", help="seed | none | FILE.json")
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--versions", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)

    # The benchmark parses its own options (main passes them through), --help included.
    command("bench", cmd_bench, "seed pipeline vs project pipeline: seconds per epoch and ratio", add_help=False)

    p = command("make-full-scale", cmd_make_full_scale,
                "write a CINIC-10-sized folder of near copies of --data's images (for timing at full scale)")
    p.add_argument("out", help="a new (or empty) folder to write train/, valid/ and test/ into")
    p.add_argument("--data", help="the images to copy (default: the shared sample, else the data set in use)")
    p.add_argument("--per-split", type=int, default=PER_SPLIT, help=f"images per split (default {PER_SPLIT:,})")
    p.add_argument("--jobs", type=int, help="worker processes (default: every usable core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")

    p = command("diff", cmd_diff, "run A against run B image by image on the same test images: what B fixed "
                                  "and broke, per class, and whether the difference is more than noise")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--data", help="evaluate both on this CINIC-10 root's test split or folder of class folders "
                                  "(default: the runs' own test split, when it is the same for both)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)

    p = command("sweep", cmd_sweep, "run a grid of trainings (a JSON or TOML spec) on Ray, each trial a run "
                                    "folder; rerun it to skip finished trials and resume the others")
    p.add_argument("spec", metavar="SPEC", help='e.g. {"data": "DATA", "epochs": 1, '
                                               '"grid": {"preset": ["base", "stepping"], "seed": [0, 1]}}')
    p.add_argument("--address", help="join this Ray cluster (`ray start --head` prints it) instead of "
                                     "starting a local Ray")
    p.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once (default: as many "
                                                                   "as Ray has CPUs and GPUs for)")
    p.add_argument("--json", action="store_true", help="print trials and variants as JSON")
    add_runs_root(p)

    p = command("explain", cmd_explain, "what a run's model looks at in an image: a saliency map for a class")
    p.add_argument("run")
    p.add_argument("image")
    p.add_argument("--method", default="gradcam", choices=EXPLAIN_METHODS)
    p.add_argument("--target", metavar="CLASS", help="the class to explain (default: the predicted one)")
    p.add_argument("--out", metavar="PNG", help="write the image, the map and the map over it, 8x larger")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)
    return parser


def add_runs_root(p):
    p.add_argument("--runs-root", help="folder of run folders (default: checkpoints/, or $CINIC_RUNS)")


def preset_names() -> list[str]:
    """Every preset name the library knows, aliases included."""
    return [*PRESETS, *PRESET_ALIASES]


def main(argv=None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.func(args)
    except CinicError as e:  # every library error a user can cause and fix
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
