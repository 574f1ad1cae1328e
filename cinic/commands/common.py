"""What every command shares: exit codes, progress bars, JSON output, the --runs-root option."""

from __future__ import annotations

import json
import sys

from cinic.model.lenet import PRESET_ALIASES, PRESETS

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


def add_runs_root(p):
    p.add_argument("--runs-root", help="folder of run folders (default: checkpoints/, or $CINIC_RUNS)")


def preset_names() -> list[str]:
    """Every preset name the library knows, aliases included."""
    return [*PRESETS, *PRESET_ALIASES]


def save_picture(pixels, out) -> None:
    """An H x W x 3 uint8 picture into the file `cinic.outputs.output_file` checked, whole, in the format
    its suffix names."""
    from PIL import Image

    from cinic.outputs import PICTURE_FORMATS, write_output

    write_output(out, lambda handle: Image.fromarray(pixels).save(handle, format=PICTURE_FORMATS[out.suffix.lower()]))
