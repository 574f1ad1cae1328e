"""Which data set is in use when none is named: one rule for the app, the CLI and the bench.

The one chosen on the Data page (remembered in the app's state file) while it
still exists, else CINIC-10 where it is expected (`CINIC_DATA`, or
data/CINIC-10), else the embedded demo set (made on first use when asked).
"""

from __future__ import annotations

from pathlib import Path

from cinic import app_state, paths


def chosen_data_root() -> Path | None:
    """The data folder picked on the Data page, if one was picked and is still there."""
    chosen = app_state.load_state().get("data_root")
    if isinstance(chosen, str) and chosen and Path(chosen).is_dir():
        return Path(chosen)
    return None


def remember_data_root(root: str | Path) -> None:
    app_state.update_state(data_root=str(Path(root).resolve()))


def data_in_use(make_demo: bool = False) -> Path | None:
    """The chosen data set, else CINIC-10, else the demo set; None when there is none yet and
    `make_demo` is off (with it on, the demo set is drawn first: a few seconds)."""
    chosen = chosen_data_root()
    if chosen:
        return chosen
    if (paths.cinic_root() / "train").is_dir():
        return paths.cinic_root()
    demo = paths.demo_root()
    if make_demo:
        from cinic.data.demo import ensure_demo_dataset

        return ensure_demo_dataset(demo)
    return demo if (demo / "train").is_dir() else None


def ready_for_first_start(say=print) -> Path:
    """The data set the app will use, made first when there is none: `./run.sh app` calls this so the
    app comes up ready to train on the embedded demo set; CINIC-10 stays a choice on the Data page."""
    root = data_in_use()
    if root is None:
        say(f"data set: none chosen and no CINIC-10 at {paths.cinic_root()}: making the embedded demo data set "
            "(a few seconds) ...")
        root = data_in_use(make_demo=True)
        say(f"data set: {describe_data_root(root)}, made now; choose CINIC-10 on the app's Data page")
    else:
        say(f"data set: {describe_data_root(root)}")
    return root


def shared_sample() -> Path | None:
    """The real CIFAR-10 sample in CINIC-10 layout beside the project (../shared/data/cifar10-sample),
    where this workplace has it: the bench and the README's figures use it."""
    sample = paths.project_root().parent / "shared" / "data" / "cifar10-sample"
    return sample if (sample / "train").is_dir() else None


def describe_data_root(root: Path | None) -> str:
    """Say in words which data set `root` is ("the embedded demo data set", "CINIC-10 at ...")."""
    if root is None:
        return "no data set yet"
    root = Path(root).resolve()
    if root == paths.demo_root().resolve():
        return f"the embedded demo data set ({root})"
    if root == paths.cinic_root().resolve():
        return f"CINIC-10 at {root}"
    return f"{root}"
