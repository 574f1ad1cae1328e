"""The figures behind "B beats A" for two trained runs: McNemar on their shared test images, and how
faithful each saliency method is on B.

    .venv/bin/python bench/explain_figures.py RUN_A RUN_B [--images 50] [--runs-root DIR]

RUN_A and RUN_B are run names (or folders) trained on the same data, for example `base` and `best`
trained for 10 epochs on the shared sample. Prints the A-vs-B headline (`python -m cinic diff`'s
figures) and, per saliency method, the mean drop of the predicted class's probability when the 20 %
most salient pixels are hidden against the 20 % least salient (a faithful map: the first is larger),
over evenly spaced test images of every class.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cinic.runs import checkpoints

from cinic.analysis import diff

from cinic.analysis import explain
from cinic.runs.folder import RunFolder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--images", type=int, default=50, help="test images in the faithfulness figures")
    parser.add_argument("--runs-root", type=Path, default=None)
    args = parser.parse_args()
    run_a, run_b = (RunFolder.open(name, root=args.runs_root) for name in (args.run_a, args.run_b))

    pair = diff.compare_runs(run_a, run_b)
    summary = pair.summary()
    print(f"{pair.name_a} vs {pair.name_b} on {len(pair.labels):,} test images of {summary['data']}:")
    for key in ("accuracy_a", "accuracy_b", "fixed", "broken", "p_value", "verdict"):
        print(f"  {key}: {summary.get(key)}")

    classifier = checkpoints.load_model(run_b, "best", "cpu")
    images = pair.dataset.images
    step = max(1, len(images) // args.images)
    pictures = [images[i].permute(1, 2, 0).numpy() for i in range(0, len(images), step)][:args.images]
    print(f"\nfaithfulness of {pair.name_b}'s saliency, {len(pictures)} test images, "
          f"{explain.HIDE_FRACTION:.0%} of the pixels hidden (mean drop of the predicted class's probability):")
    print("| method | most salient hidden | least salient hidden | difference | seconds |")
    print("|--------|--------------------:|---------------------:|-----------:|--------:|")
    for method in explain.METHODS:
        start = time.perf_counter()
        result = explain.faithfulness(classifier, pictures, method)
        print(f"| {method} | {result['drop_most']:.3f} | {result['drop_least']:.3f} | "
              f"{result['drop_most'] - result['drop_least']:+.3f} | {time.perf_counter() - start:.1f} |")


if __name__ == "__main__":
    main()
