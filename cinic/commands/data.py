"""The data commands: demo-data, fetch, check, corrupt, make-full-scale."""

from __future__ import annotations

import sys
from pathlib import Path

from cinic.bench.full_scale import PER_SPLIT
from cinic.commands.common import print_json, tqdm_progress
from cinic.data.dataset import SPLITS
from cinic.data.fetch import CINIC10_URL

def demo_data_arguments(p) -> None:
    p.add_argument("out", help="folder to create")
    p.add_argument("--seed", type=int, default=0)


def cmd_demo_data(args) -> int:
    from cinic.data.demo import make_demo_dataset

    out = make_demo_dataset(Path(args.out), seed=args.seed)
    print(f"demo data set written to {out}")
    return 0


def fetch_arguments(p) -> None:
    p.add_argument("--to", help="folder to put CINIC-10.tar.gz and the extracted data in (default: data/)")
    p.add_argument("--url", default=CINIC10_URL, help="where to download it from (a mirror or a local server); "
                                                      "default: the official address")


def cmd_fetch(args) -> int:
    from cinic.data.fetch import fetch
    from cinic.paths import cinic_root

    to = Path(args.to) if args.to else cinic_root()
    root = fetch(to, url=args.url, progress=tqdm_progress("CINIC-10", "B"),
                 extract_progress=tqdm_progress("extracting"))
    print(f"CINIC-10 is ready at {root}")
    return 0


def check_arguments(p) -> None:
    p.add_argument("data")
    p.add_argument("--json", action="store_true")


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


def corrupt_arguments(p) -> None:
    p.add_argument("data", help="CINIC-10 folder or .tar.gz")
    p.add_argument("--out", required=True, help="a new (or empty) folder, or an earlier corrupted copy to reuse")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--seed", type=int, default=0, help="which corruption each image gets, and its noise")
    p.add_argument("--severity", type=int, default=3, choices=range(1, 6), metavar="1..5",
                   help="CIFAR-10-C's severity (default 3: moderate)")
    p.add_argument("--json", action="store_true")


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


def make_full_scale_arguments(p) -> None:
    p.add_argument("out", help="a new (or empty) folder to write train/, valid/ and test/ into")
    p.add_argument("--data", help="the images to copy (default: the shared sample, else the data set in use)")
    p.add_argument("--per-split", type=int, default=PER_SPLIT, help=f"images per split (default {PER_SPLIT:,})")
    p.add_argument("--jobs", type=int, help="worker processes (default: every usable core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")


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
