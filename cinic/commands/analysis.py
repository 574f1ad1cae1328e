"""The commands over trained models: evaluate, predict, export, report, diff, explain."""

from __future__ import annotations

import sys
from pathlib import Path

from cinic.analysis.explain import METHODS as EXPLAIN_METHODS
from cinic.commands.common import EXIT_FAILED, add_runs_root, print_json, save_picture, tqdm_progress
from cinic.data.dataset import SPLITS
from cinic.runs.folder import CHECKPOINTS

def evaluate_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--data", help="a CINIC-10 root or a folder of class folders (default: the run's data)")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)


def cmd_evaluate(args) -> int:
    from cinic.model.device import choose_device
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


def predict_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("images", nargs="+", metavar="IMAGE_FOLDER_OR_ZIP")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)


def cmd_predict(args) -> int:
    from cinic.runs.checkpoints import load_model
    from cinic.model.device import choose_device
    from cinic.analysis.evaluate import classify_pictures
    from cinic.data.images import ImageError, open_image, to_model_input
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    classifier = load_model(run, args.checkpoint, choose_device(args.device))
    if len(args.images) == 1 and is_batch(Path(args.images[0])):
        return predict_batch(args, classifier)
    results, failed = [], 0
    for path in args.images:
        try:
            pixels, notes = to_model_input(open_image(path))
        except ImageError as e:
            results.append({"file": path, "error": str(e)})
            failed += 1
            continue
        [top] = classify_pictures(classifier, [pixels], args.top_k)
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


def predict_batch(args, classifier) -> int:
    from cinic.analysis.image_sets import classify_batch, load_batch

    batch = load_batch(args.images[0])
    result = classify_batch(classifier, batch, args.top_k)
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


def export_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=("safetensors", "onnx"),
                   help="default: from --out's suffix (.onnx is ONNX), else safetensors")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    add_runs_root(p)


def cmd_export(args) -> int:
    from cinic.runs.export import ONNX_INPUT_TEXT, export_model
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out, fmt = export_model(run, Path(args.out), args.format, args.checkpoint)
    print(f"wrote {out} " + ("(safetensors: weights and metadata only, no code)" if fmt == "safetensors" else
                             f"(ONNX; input: {ONNX_INPUT_TEXT}; outputs: logits, probabilities)"))
    return 0


def report_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("--out", required=True, help="the .html file to write")
    add_runs_root(p)


def cmd_report(args) -> int:
    from cinic.analysis.report import write_report
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out = write_report(run, Path(args.out))
    print(f"wrote {out} (one HTML file: config, curves, confusion matrix, per class, mistakes; opens offline)")
    return 0


def diff_arguments(p) -> None:
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--data", help="evaluate both on this CINIC-10 root's test split or folder of class folders "
                                  "(default: the runs' own test split, when it is the same for both)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)


def cmd_diff(args) -> int:
    from cinic.model.device import choose_device
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


def explain_arguments(p) -> None:
    p.add_argument("run")
    p.add_argument("image")
    p.add_argument("--method", default="gradcam", choices=EXPLAIN_METHODS)
    p.add_argument("--target", metavar="CLASS", help="the class to explain (default: the predicted one)")
    p.add_argument("--out", metavar="PNG", help="write the image, the map and the map over it, 8x larger")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    add_runs_root(p)


def cmd_explain(args) -> int:
    import numpy as np

    from cinic.runs.checkpoints import load_model
    from cinic.model.device import choose_device
    from cinic.analysis.explain import METHODS, explain_picture, panel
    from cinic.data.images import open_image, to_model_input
    from cinic.outputs import PICTURE_FORMATS, output_file
    from cinic.runs.folder import RunFolder

    run = RunFolder.open(args.run, root=args.runs_root)
    out = args.out and output_file(args.out, PICTURE_FORMATS, inputs=[args.image, run.path], example="overlay.png")
    classifier = load_model(run, args.checkpoint, choose_device(args.device))
    picture, notes = to_model_input(open_image(args.image))
    result = explain_picture(classifier, picture, args.method, args.target)
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
