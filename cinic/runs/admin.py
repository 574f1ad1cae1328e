"""Managing runs: renaming, notes and tags, deleting, and choosing which runs to show in what order.

A run's name is its folder's name, so `python -m cinic evaluate NAME` finds a
renamed run by its new name. Renaming and deleting touch exactly one folder,
directly inside the runs root, never through a link, and never a run that is
training (its process writes into the folder). Notes and tags live in the run's
notes.json (docs/architecture.md), which listing reads beside config.json and
status.json.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from cinic import paths
from cinic.runs.folder import CONFIG, LIVE_STATES, RESERVED, RunError, RunFolder, check_run_name

TAG = re.compile(r"[\w][\w.+-]{0,39}")  # one word: a tag is typed after --tag and shown as a chip
MAX_NOTES = 10_000                      # characters; notes.json stays small, so listing stays fast


# --- which folder an action may touch ----------------------------------------------------
def locate(name_or_path, root: Path | None = None) -> RunFolder:
    """The run a rename or delete may touch: a run folder directly inside the runs root, not a link.

    A bare name is looked up in the runs root; a path must lead into it. No
    link is followed, so the folder named is the folder touched.
    """
    root = Path(root or paths.runs_root()).absolute()
    entry = Path(name_or_path)
    if len(entry.parts) == 1 and not entry.is_absolute():
        entry = root / entry
    entry = entry.absolute()  # not resolve(): a link must be seen as a link
    if entry.name in ("", ".", ".."):
        raise RunError(f"{name_or_path!r} does not name a run: give a run's name "
                       "(list them with `python -m cinic runs`)")
    if entry.name.lower() in RESERVED:
        raise RunError(f"{entry} is the runs root's own {entry.name}/ folder, a reserved name, not a run: "
                       "nothing there is renamed or deleted as a run")
    if entry.is_symlink():
        raise RunError(f"{entry} is a link, not a run folder: rename or delete what it points to by hand")
    if entry.parent.resolve() != root.resolve():
        raise RunError(f"{entry} is not a run folder directly inside the runs root {root}; "
                       "only runs there are renamed or deleted")
    if not (entry / CONFIG).is_file():
        raise RunError(f"no run named {entry.name!r} in {root} (no {CONFIG}); "
                       "list runs with `python -m cinic runs`")
    return RunFolder(entry)


def _refuse_live(run: RunFolder, action: str) -> None:
    state = run.status()["state"]
    if state in LIVE_STATES:
        raise RunError(f"run {run.name} is {state}: stop it first (`python -m cinic stop {run.name}` or "
                       f"Cancel on the Train page), then {action} it")


# --- renaming and deleting ------------------------------------------------------------------
def rename_run(run: RunFolder, new_name: str) -> RunFolder:
    """The run under its new name (its folder renamed beside itself); refused while it trains."""
    check_run_name(new_name)
    if new_name == run.name:
        return run
    _refuse_live(run, "rename")
    target = run.path.parent / new_name
    try:
        target.mkdir()  # claims the name, so a run created meanwhile is never overwritten
    except FileExistsError:
        raise RunError(f"a run (or file) named {new_name!r} already exists in {run.path.parent}; "
                       "pick another name") from None
    try:
        os.rename(run.path, target)  # replaces only the empty folder just claimed
    except OSError as e:
        target.rmdir()
        raise RunError(f"could not rename {run.path} to {new_name}: {e.strerror or e}") from e
    return RunFolder(target)


def delete_run(run: RunFolder) -> Path:
    """Delete the run's folder and everything in it; refused while it trains. Returns the path.

    Give it a run from `locate`, which refuses links and folders outside the
    runs root. config.json goes first, so a deletion cut short leaves no
    half-run in the list.
    """
    _refuse_live(run, "delete")
    path = run.path
    try:
        (path / CONFIG).unlink()
    except OSError as e:
        raise RunError(f"could not delete {path}: {e.strerror or e}; nothing was deleted") from e
    try:
        shutil.rmtree(path)  # never follows a link inside: links are removed, not entered
    except OSError as e:
        raise RunError(f"deleted {path / CONFIG} but not all of {path}: {e.strerror or e}; "
                       "remove the rest by hand (it no longer shows as a run)") from e
    return path


# --- notes and tags ---------------------------------------------------------------------------
def check_tag(tag: str) -> str:
    tag = str(tag).strip()
    if not TAG.fullmatch(tag):
        raise RunError(f"tag {tag[:60]!r}: a tag is one word of letters, digits, '.', '_', '+' or '-' "
                       "(at most 40), e.g. 'baseline' or 'lr-0.004'")
    return tag


def annotate(run: RunFolder, text: str | None = None, add_tags: Iterable[str] = (),
             remove_tags: Iterable[str] = ()) -> dict:
    """Set the run's notes (when `text` is given), add and remove tags; returns notes.json's content."""
    current = run.notes()
    notes = current["notes"] if text is None else str(text).strip()
    if len(notes) > MAX_NOTES:
        raise RunError(f"the notes are {len(notes):,} characters; keep them under {MAX_NOTES:,}")
    removed = {check_tag(t) for t in remove_tags}
    tags = [t for t in current["tags"] if t not in removed]
    for tag in map(check_tag, add_tags):
        if tag not in tags:
            tags.append(tag)
    run.write_notes(notes, tags)
    return {"notes": notes, "tags": tags}


def set_tags(run: RunFolder, tags: Sequence[str], text: str | None = None) -> dict:
    """Replace the run's tags by `tags` (the app's tag picker gives the whole list), and its notes by `text`."""
    current = run.notes()["tags"]
    return annotate(run, text, add_tags=list(tags), remove_tags=[t for t in current if t not in tags])


# --- choosing and ordering runs ----------------------------------------------------------------
def _accuracy_key(field: str):
    return lambda s: (s.get(field) is None, -(s.get(field) or 0.0), -(s.get("created") or 0.0))


# The orders a list of runs can take; runs without the figure go last.
SORTS = {
    "newest": lambda s: -(s.get("created") or 0.0),
    "oldest": lambda s: s.get("created") or 0.0,
    "test accuracy": _accuracy_key("test_acc"),
    "valid accuracy": _accuracy_key("best_valid_acc"),
    "name": lambda s: s["name"],
}


def sort_runs(summaries: Sequence[Mapping], by: str = "newest") -> list:
    if by not in SORTS:
        raise RunError(f"unknown order {by!r}: use one of {', '.join(SORTS)}")
    return sorted(summaries, key=SORTS[by])


def filter_runs(summaries: Sequence[Mapping], states: Iterable[str] = (), presets: Iterable[str] = (),
                tags: Iterable[str] = (), min_test_acc: float | None = None) -> list:
    """Runs in any of `states`, of any of `presets`, carrying every one of `tags`, with at least
    `min_test_acc` test accuracy; an empty criterion keeps every run."""
    states, presets, tags = set(states), set(presets), set(tags)
    return [s for s in summaries
            if (not states or s.get("state") in states)
            and (not presets or s.get("preset") in presets)
            and tags <= set(s.get("tags") or ())
            and (min_test_acc is None or (s.get("test_acc") is not None and s["test_acc"] >= min_test_acc))]


def comparison_groups(summaries: Sequence[Mapping], sweeps: Sequence[Mapping], newest: int = 8) -> list[dict]:
    """Runs to compare in one choice, the group with the newest run first: each sweep's runs (`sweeps`:
    cinic.sweeps.runner.list_sweeps), and on each data set its `newest` runs made outside sweeps.
    Each group: {"key", "label", "names", "created"}."""
    by_name = {s["name"]: s for s in summaries}
    groups, in_sweeps = [], set()
    for sweep in sweeps:
        names = [name for name in sweep["runs"] if name in by_name]
        in_sweeps.update(names)
        if names:
            groups.append({"key": f"sweep:{sweep['name']}", "label": f"sweep {sweep['name']}: its {len(names)} runs",
                           "names": names, "created": max(by_name[n].get("created") or 0.0 for n in names)})
    alone = sort_runs([s for s in summaries if s["name"] not in in_sweeps])
    for data in dict.fromkeys(s.get("data") for s in alone):
        runs = [s for s in alone if s.get("data") == data][:newest]
        where = Path(data).name if data else "an unknown data set"
        newest_runs = f"the {len(runs)} newest runs" if len(runs) > 1 else "the newest run"
        groups.append({"key": f"data:{data}", "label": f"{newest_runs} on {where} (not in a sweep)",
                       "names": [s["name"] for s in runs], "created": runs[0].get("created") or 0.0})
    return sorted(groups, key=lambda g: -g["created"])


def never_started(summary: Mapping) -> bool:
    """Cancelled before it trained (still queued): nothing to watch or study."""
    return summary.get("state") == "cancelled" and not summary.get("device")


def known_tags(summaries: Sequence[Mapping]) -> list[str]:
    return sorted({t for s in summaries for t in s.get("tags") or ()})
