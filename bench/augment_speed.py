"""How fast is sampling N augmented images? Ours serial, ours in a process pool, Augmentor's own paths.

    .venv/bin/python bench/augment_speed.py [--n 6000] [--workers 2 4] [--data SPLIT_FOLDER]

Uses the report's pipeline (SEED_PIPELINE). Source images come from a split
folder in CINIC-10 layout (default: the shared real sample's train split),
or random images where it is absent. Augmentor's `Pipeline.sample` reads PNGs
and writes one file per image; it runs on a temporary copy, never on the data.
Prints a table; the same seed must give identical images for every worker count.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import Augmentor  # noqa: E402

from cinic.augment import sample as augment
from cinic.augment.ops import SEED_PIPELINE, build_operations, validate_pipeline  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-sample" / "train"


def load_images(folder: Path, limit: int) -> tuple[np.ndarray, list[Path]]:
    """Up to `limit` 32x32 RGB images from a split folder (class sub-folders of PNGs)."""
    files = sorted(folder.glob("*/*.png"))[:limit]
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return images, files


def random_images(count: int, folder: Path) -> tuple[np.ndarray, list[Path]]:
    """Random images, also written as PNGs so Augmentor's file-based path has input."""
    images = np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    (folder / "noise").mkdir(parents=True)
    files = [folder / "noise" / f"{i}.png" for i in range(count)]
    for image, file in zip(images, files):
        Image.fromarray(image).save(file)
    return images, files


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def ours(images, n, workers):
    """cinic.augment.sample's path: draw n sources, augment in memory (what sample_augmented does, minus the cache)."""
    picks = np.random.default_rng(0).integers(0, len(images), size=n)
    return augment.augment_images(images[picks], SEED_PIPELINE, seed=0, workers=workers)


def augmentor_data_pipeline(images, n):
    """Augmentor's in-memory DataPipeline.sample (one thread), with the same operations."""
    pipeline = Augmentor.DataPipeline([[image] for image in images], labels=None)
    pipeline.operations = [op for _, op in build_operations(SEED_PIPELINE)]
    return pipeline.sample(n)


def augmentor_file_pipeline(files, n, workdir: Path, multi_threaded: bool) -> int:
    """The seed project's path: Pipeline(folder).sample(n) writing files (into a temporary copy)."""
    source = workdir / f"source-{multi_threaded}" / "images"
    source.mkdir(parents=True)
    for file in files:
        shutil.copy(file, source / f"{file.parent.name}-{file.name}")
    quiet = io.StringIO()  # Augmentor prints its set-up and a tqdm bar
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        pipeline = Augmentor.Pipeline(str(source), output_directory=str(workdir / f"out-{multi_threaded}"))
        for step in validate_pipeline(SEED_PIPELINE):
            arguments = {key: value for key, value in step.items() if key != "op"}
            getattr(pipeline, step["op"])(**arguments)
        pipeline.sample(n, multi_threaded=multi_threaded)
    return len(list((workdir / f"out-{multi_threaded}").iterdir()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000, help="augmented images per method")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="pool sizes to try")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a split folder (class/*.png)")
    parser.add_argument("--sources", type=int, default=5000, help="at most this many source images")
    parser.add_argument("--skip-files", action="store_true", help="skip Augmentor's file-writing path")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.data.is_dir():
            images, files = load_images(args.data, args.sources)
            origin = f"{len(images)} images from {args.data}"
        else:
            images, files = random_images(min(args.sources, 500), workdir / "noise-source")
            origin = f"{len(images)} random images ({args.data} is absent)"
        print(f"pipeline: report's seed pipeline; sources: {origin}; n = {args.n}")

        rows = []
        seconds, serial = timed(lambda: ours(images, args.n, 1))
        rows.append(("cinic.augment.sample, serial (workers=1)", seconds, "reference"))
        for workers in args.workers:
            seconds, pooled = timed(lambda: ours(images, args.n, workers))
            same = "identical" if np.array_equal(serial, pooled) else "DIFFERENT"
            rows.append((f"cinic.augment.sample, spawn pool (workers={workers})", seconds, same))
        seconds, _ = timed(lambda: augmentor_data_pipeline(images, args.n))
        rows.append(("Augmentor DataPipeline.sample, in memory", seconds, "no 32x32 guard"))
        if not args.skip_files:
            for threaded in (True, False):
                seconds, written = timed(lambda: augmentor_file_pipeline(files, args.n, workdir, threaded))
                rows.append((f"Augmentor Pipeline.sample(multi_threaded={threaded}), PNG files",
                             seconds, f"{written} files written"))

    print(f"\n{'method':<62} {'seconds':>8} {'images/s':>9}  note")
    for name, seconds, note in rows:
        print(f"{name:<62} {seconds:>8.2f} {args.n / seconds:>9.0f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
