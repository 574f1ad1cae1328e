"""`python -m cinic ...`: the whole experiment from a terminal.

Each sub-command is one small function over the library, in `cinic.commands` beside the options it
reads; this module lists them and runs one. A user error (bad folder, bad setting, damaged
checkpoint) prints one clear line on stderr and exits with status 2; a command that ran but failed
exits with 1.
"""

from __future__ import annotations

import argparse
import sys

from cinic.commands import analysis, data, reproduce, runs, training
from cinic.commands.common import EXIT_USAGE
from cinic.errors import CinicError

# Every command, in the order --help lists them: name, handler, its options, what it does.
COMMANDS = (
    ("demo-data", data.cmd_demo_data, data.demo_data_arguments,
     "make the small embedded demo data set in CINIC-10 layout"),
    ("fetch", data.cmd_fetch, data.fetch_arguments,
     "download CINIC-10 (about 690 MB, resumable) and extract it"),
    ("check", data.cmd_check, data.check_arguments,
     "validate a CINIC-10 folder or .tar.gz: counts per class, mean/std"),
    ("corrupt", data.cmd_corrupt, data.corrupt_arguments,
     "write a copy of a data set with one split's images corrupted "
     "(noise, blur, contrast, brightness, JPEG; CIFAR-10-C style)"),
    ("summary", training.cmd_summary, training.summary_arguments,
     "layer summary of a preset: output shapes and parameters"),
    ("train", training.cmd_train, training.train_arguments,
     "train a LeNet variant into a run folder"),
    ("evaluate", analysis.cmd_evaluate, analysis.evaluate_arguments,
     "evaluate a run on the test split or any folder of class folders"),
    ("predict", analysis.cmd_predict, analysis.predict_arguments,
     "classify image files, a folder or a zip of them with a trained run "
     "(images in class folders are also evaluated)"),
    ("runs", runs.cmd_runs, runs.runs_arguments,
     "list runs: preset, state, epochs, best valid and test accuracy, tags"),
    ("rename", runs.cmd_rename, runs.rename_arguments,
     "rename a run (its folder); refused while it trains"),
    ("delete", runs.cmd_delete, runs.delete_arguments,
     "delete a run's folder and every file in it; refused while it trains"),
    ("note", runs.cmd_note, runs.note_arguments,
     "show or set a run's notes and tags"),
    ("stop", runs.cmd_stop, runs.stop_arguments,
     "ask a running training to stop after saving"),
    ("export", analysis.cmd_export, analysis.export_arguments,
     "export a run's model as safetensors (weights, no code) or ONNX (a graph)"),
    ("report", analysis.cmd_report, analysis.report_arguments,
     "write a one-file HTML report of a run (opens offline)"),
    ("augment", training.cmd_augment, training.augment_arguments,
     "sample N augmented training images into the cache"),
    ("augment-preview", training.cmd_augment_preview, training.augment_preview_arguments,
     "save a grid of originals and augmented versions"),
    ("bench", training.cmd_bench, training.bench_arguments,
     "seed pipeline vs project pipeline: seconds per epoch and ratio"),
    ("make-full-scale", data.cmd_make_full_scale, data.make_full_scale_arguments,
     "write a CINIC-10-sized folder of near copies of --data's images (for timing at full scale)"),
    ("diff", analysis.cmd_diff, analysis.diff_arguments,
     "run A against run B image by image on the same test images: what B fixed "
     "and broke, per class, and whether the difference is more than noise"),
    ("sweep", training.cmd_sweep, training.sweep_arguments,
     "run a grid of trainings (a JSON or TOML spec) on Ray, each trial a run "
     "folder; rerun it to skip finished trials and resume the others"),
    ("reproduce", reproduce.cmd_reproduce, reproduce.add_arguments, reproduce.HELP),
    ("explain", analysis.cmd_explain, analysis.explain_arguments,
     "what a run's model looks at in an image: a saliency map for a class"),
)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line like every other user error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m cinic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, handler, arguments, help_text in COMMANDS:
        # The benchmark parses its own options (main passes them through), --help included.
        p = sub.add_parser(name, help=help_text, description=help_text, add_help=name != "bench")
        p.set_defaults(func=handler)
        arguments(p)
    return parser


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
