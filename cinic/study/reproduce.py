"""The reproduce study: the course report's three variants as the report ran them, over seeds, as one
sweep, and its result beside the report's own figures with the report's six conclusions tested.

The study is an ordinary sweep (cinic.sweeps) whose spec lists explicit
variants crossed with seeds (`study_spec`): its trials are ordinary run
folders, a second launch resumes it and finds the finished trials, and stopping
it is the sweep's stop (`cinic.sweeps.runner.stop_sweep`). Each variant is run
as the report's Tables 1-3 give it: Adam at 0.001 with its own epochs and
learning-rate drops, batch 64, no weight decay, label smoothing, flips or
crops, and Augmentor images made with the report's pipeline, one for every
three training images (the report's 30,000 for CINIC-10's 90,000), drawn per
seed. Two extra arms test conclusions 4 and 5 (best without its late drop;
base with Xavier weights); `ours=True` adds the three variants with the
project's recipe. `study_result` reads it back, live or finished.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cinic import paths
from cinic.analysis import stats
from cinic.errors import CinicError
from cinic.study import claims as claim_tests
from cinic.study.report_figures import (CINIC_TRAIN_IMAGES, REPORT_BATCH, REPORT_CURVES, REPORT_LR, VARIANTS,
                                        classes, report_confusion)

PRESETS = ("base", "stepping", "best")
AS_RUN, NO_DROP, XAVIER = "as run", "without the late drop", "Xavier init"
STUDY = "study.json"  # in the sweep folder: how the study was started (command, data's split sizes)
TIMING_BATCHES = 6   # training steps timed per preset when no finished run tells the time of an epoch


class StudyError(CinicError):
    """A study that cannot be planned, started or read: the message says why and what to do."""


# --- the arms: (variant, recipe, arm) <-> the name of the spec's variant --------------------------
def arm_name(variant: str, recipe: str, arm: str = AS_RUN) -> str:
    suffix = {AS_RUN: "", NO_DROP: "-nodrop", XAVIER: "-xavier"}[arm]
    return f"{variant}-{recipe}{suffix}"


def arms(claims: bool = True, ours: bool = False) -> list[dict]:
    """The study's arms in order: {"name", "variant", "recipe", "arm"}."""
    chosen = [(v, "report", AS_RUN) for v in PRESETS]
    if claims:
        chosen += [("best", "report", NO_DROP), ("base", "report", XAVIER)]
    if ours:
        chosen += [(v, "project", AS_RUN) for v in PRESETS]
    return [{"name": arm_name(*c), "variant": c[0], "recipe": c[1], "arm": c[2]} for c in chosen]


def _arm_of(name: str) -> dict | None:
    return next((a for a in arms(claims=True, ours=True) if a["name"] == name), None)


# --- the spec --------------------------------------------------------------------------------------------
def study_spec(data, seeds: int = 3, name: str = "reproduce", claims: bool = True, ours: bool = False,
               epochs_scale: float = 1.0) -> dict:
    """The study as a sweep spec (explicit variants x seeds 0..seeds-1) that `parse_spec` accepts.

    `epochs_scale` shrinks every variant's epochs and learning-rate drops alike (rounded, at least 1), for
    a quick look or a test; at 1.0 (the default) the schedules are the report's, and anything else is not
    the report's schedule."""
    from cinic.augment.ops import SEED_PIPELINE
    from cinic.sweeps.spec import AUGMENT_THIRD

    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise StudyError(f"seeds must be a whole number 1..100, got {seeds!r}")
    if not isinstance(epochs_scale, (int, float)) or not 0 < epochs_scale <= 1:
        raise StudyError(f"the epochs scale must be in (0, 1], got {epochs_scale!r}")
    variants = []
    for arm in arms(claims, ours):
        figures = VARIANTS[arm["variant"]]
        epochs = _scaled(figures["epochs"], epochs_scale)
        settings = {"name": arm["name"], "preset": arm["variant"], "recipe": arm["recipe"], "epochs": epochs,
                    "batch_size": REPORT_BATCH, "augment": [dict(step) for step in SEED_PIPELINE],
                    "augment_name": "report", "augment_n": AUGMENT_THIRD}
        if arm["recipe"] == "report":  # the report's tables, said explicitly rather than left to the recipe
            drops = {} if arm["arm"] == NO_DROP else {
                _scaled(epoch, epochs_scale): lr for epoch, lr in figures["lr_drops"]}
            settings.update(optimizer="adam", lr=REPORT_LR, schedule="step",
                            lr_drops=[[epoch, lr] for epoch, lr in drops.items()], weight_decay=0.0,
                            warmup_epochs=0.0, label_smoothing=0.0, flip=False, crop_pad=0)
        if arm["arm"] == XAVIER:
            from cinic.model.lenet import get_preset

            settings["model"] = {**get_preset("base").to_dict(), "init": "xavier"}
        variants.append(settings)
    return {"name": name, "data": str(data), "variants": variants, "seeds": list(range(seeds)),
            "resources": {"cpus": 1, "gpus": 0.25}}


def _scaled(epochs: int, scale: float) -> int:
    return max(1, round(epochs * scale))


def _checked(spec: dict):
    from cinic.sweeps.spec import parse_spec

    if not isinstance(spec, dict):
        raise StudyError("a study spec is a JSON object, as study_spec makes it")
    return parse_spec(spec, default_name=spec.get("name") or "reproduce", source="the study spec")


# --- before it starts: how many trainings, and how long ------------------------------------------------
def plan(spec: dict, runs_root=None, max_concurrent: int | None = None) -> dict:
    """{"trainings", "to_run", "concurrent", "s_per_epoch": {preset: s}, "estimate_s", "timed_from"}:
    the estimate is each unfinished trial's epochs times its preset's seconds per epoch on this data
    and device, divided by the trials that run at once. Seconds per epoch come from finished runs on
    the same data and device, else from a short timing run (`timed_from` says which, per preset)."""
    from cinic.runs.folder import RunFolder
    from cinic.workers import usable_cores

    checked = _checked(spec)
    root = Path(runs_root or paths.runs_root())
    todo = [t for t in checked.trials if not _finished(RunFolder(root / t.name))]
    threads = max(1, int(checked.resources["cpus"]))
    concurrent = max(1, min(max_concurrent or usable_cores(), max(1, usable_cores() // threads), len(todo) or 1))
    counts = _split_counts(checked.data)
    images = {t.config["preset"]: counts["train"] + t.config["augment_n"] for t in checked.trials}
    s_per_epoch, timed_from = {}, {}
    for preset, n_train in images.items():
        s_per_image = _measured_s_per_image(root, checked.data, counts, preset, threads)
        timed_from[preset] = "finished runs" if s_per_image else "a timing run"
        if s_per_image:
            s_per_epoch[preset] = s_per_image * (n_train + counts["valid"])
        else:
            s_per_epoch[preset] = _timing_run(checked.data, preset, threads, n_train, counts["valid"])
    total = sum(t.config["epochs"] * s_per_epoch[t.config["preset"]] for t in todo)
    return {"trainings": len(checked.trials), "to_run": len(todo), "concurrent": concurrent,
            "s_per_epoch": s_per_epoch, "estimate_s": total / concurrent, "timed_from": timed_from}


def _finished(run) -> bool:
    return (run.path / "config.json").is_file() and run.status()["state"] == "finished"


def _split_counts(root: str) -> dict:
    from cinic.data import dataset

    report = dataset.validate_root(root)
    return {split: sum(report["counts"].get(split, {}).values()) for split in ("train", "valid", "test")}


def _device_key(description: str | None) -> str:
    """"cpu (1 threads" from "cpu (1 threads, bf16)": the device and its threads, what sets the pace."""
    return (description or "").split(",")[0].rstrip(")")


def _this_device_key(threads: int) -> str:
    from cinic.model.device import choose_device, describe_device

    device = choose_device("auto")
    return f"cpu ({threads} threads" if device.type == "cpu" else _device_key(describe_device(device))


def _measured_s_per_image(root: Path, data: str, counts: dict, preset: str, threads: int) -> float | None:
    """Median seconds per image (trained and validated) of an epoch, over finished runs of `preset` on
    `data` and this device with as many threads as a trial gets; None when there is none."""
    import statistics

    from cinic.runs.folder import RunError, RunFolder, list_runs

    key, rates = _this_device_key(threads), []
    for summary in list_runs(root):
        if summary.get("state") != "finished":
            continue
        try:
            run = RunFolder(summary["path"])
            config, status = run.config(), run.status()
        except (RunError, KeyError):
            continue
        if config.get("preset") != preset or str(Path(config.get("data", "")).resolve()) != data \
                or _device_key(status.get("device")) != key or not status.get("s_per_epoch"):
            continue
        rates.append(status["s_per_epoch"] / (counts["train"] + config.get("augment_n", 0) + counts["valid"]))
    return statistics.median(rates) if rates else None


def _timing_run(data: str, preset: str, threads: int, n_train: int, n_valid: int) -> float:
    """Seconds per epoch of `preset` from a few real training steps on the data's own images (and a
    validation pass over some), with the threads a trial gets."""
    import torch

    from cinic.data.dataset import load_split
    from cinic.model.lenet import build_model, get_preset
    from cinic.model.device import choose_device

    device = choose_device("auto")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        train = load_split(data, "train")
        model = build_model(get_preset(preset)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=REPORT_LR)
        batches = [(train.images[i:i + REPORT_BATCH].to(device).float() / 255, train.labels[i:i + REPORT_BATCH]
                    .to(device)) for i in range(0, REPORT_BATCH * (TIMING_BATCHES + 1), REPORT_BATCH)]

        def step(x, y):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()

        step(*batches[0])  # the first step pays for allocations
        started = time.perf_counter()
        for x, y in batches[1:]:
            step(x, y)
        _sync(device)
        per_train = (time.perf_counter() - started) / sum(len(y) for _, y in batches[1:])
        with torch.no_grad():
            model.eval()
            x = torch.cat([x for x, _ in batches])
            started = time.perf_counter()
            model(x)
            _sync(device)
            per_valid = (time.perf_counter() - started) / len(x)
        return per_train * n_train + per_valid * n_valid
    finally:
        torch.set_num_threads(before)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- running it ---------------------------------------------------------------------------------------------
def launch_study(spec: dict, runs_root=None, max_concurrent: int | None = None) -> Path:
    """Start the study in the background (`python -m cinic sweep` on its spec, as the Sweeps page
    does) and return its sweep folder at once; a second call resumes it (finished trials are kept).
    Stop it with `cinic.sweeps.runner.stop_sweep(folder)`."""
    from cinic.sweeps.runner import launch_sweep

    checked = _checked(spec)
    _allow_more_seeds(checked, runs_root)
    folder = launch_sweep(spec, runs_root, max_concurrent=max_concurrent)
    _record(folder, checked.data, equivalent_command(checked.to_dict()) + "  (launched from the app)")
    return folder


def run_study(spec: dict, runs_root=None, address: str | None = None, max_concurrent: int | None = None,
              log=print, command: str | None = None) -> dict:
    """Run the study here, to the end (the CLI): every unfinished trial on Ray; the sweep's summary.
    `command`: the line that started it, kept for the write-up."""
    from cinic.sweeps.runner import check_reachable, prepare, run_sweep

    checked = _checked(spec)
    if address:
        check_reachable(address)  # before any folder is made, as a sweep does
    _allow_more_seeds(checked, runs_root)
    _record(prepare(checked, runs_root), checked.data, command or equivalent_command(checked.to_dict()))
    return run_sweep(checked, root=runs_root, address=address, max_concurrent=max_concurrent, log=log)


def _allow_more_seeds(checked, runs_root) -> None:
    """The same study with more seeds goes on from the trials it has: its stored spec is replaced when
    the new one differs from it only by adding seeds (a sweep refuses any other change of spec), and
    the seeds it ran already keep their run folders (their names and configs are the same)."""
    from cinic.sweeps.runner import SPEC, _identity, sweep_folder, sweep_state

    folder = sweep_folder(checked.name, runs_root)
    stored_path = folder / SPEC
    if sweep_state(folder)["state"] in ("queued", "running"):
        return  # the running sweep keeps its spec; starting it again is refused as it would be anyway
    try:
        stored = json.loads(stored_path.read_bytes())
    except (OSError, ValueError):
        return
    new = checked.to_dict()
    if not isinstance(stored, dict) or not isinstance(stored.get("seeds"), list):
        return
    same_but_seeds = _identity({**stored, "seeds": None}) == _identity({**new, "seeds": None})
    if same_but_seeds and set(stored["seeds"]) < set(new["seeds"]):
        stored_path.unlink()


def _record(folder: Path, data: str, command: str) -> None:
    """study.json beside the sweep's files: the command that started it and the data's split sizes,
    counted once (the result is read often while the study runs)."""
    from cinic.runs.folder import write_atomically

    write_atomically(folder / STUDY, json.dumps({"command": command, "split_images": _split_counts(data)}).encode())


def _recorded(folder: Path) -> dict:
    try:
        record = json.loads((folder / STUDY).read_bytes())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


# --- the result --------------------------------------------------------------------------------------------
def study_result(name: str, runs_root=None) -> dict:
    """The study's result beside the report's figures, readable while it runs (n counts finished
    trials); the keys are STUDY_CONTRACT.md's. A figure that cannot be had is None, never made up."""
    from cinic.sweeps.runner import SweepError, spec_dict, sweep_folder, sweep_state, trial_rows

    root = Path(runs_root or paths.runs_root())
    folder = sweep_folder(name, root)
    try:
        spec = spec_dict(folder)
    except SweepError:
        raise StudyError(f"there is no study named {name!r} under {root}; start it with "
                         f"`python -m cinic reproduce --name {name}`") from None
    trials = _trials_with_figures(trial_rows(folder, root), root)
    by_arm = {}
    for trial in trials:
        by_arm.setdefault(trial["settings"].get("variant"), []).append(trial)
    arm_list = [a for a in (_arm_of(v.get("name")) for v in spec.get("variants", [])) if a]
    record = _recorded(folder)
    counts = record.get("split_images") if isinstance(record.get("split_images"), dict) \
        else _split_counts_or_none(spec.get("data", ""))
    rows = [_variant_row(a, by_arm.get(a["name"], [])) for a in arm_list]
    curves = [_curve(a, by_arm.get(a["name"], [])) for a in arm_list]
    confusion = _confusion(by_arm.get(arm_name("best", "report"), []))
    writeup = folder / "writeup.html"
    return {
        "study": name, "path": str(folder), "state": sweep_state(folder)["state"],
        "data": _data_line(spec.get("data"), counts),
        "variants": [r for r, a in zip(rows, arm_list) if a["arm"] == AS_RUN],
        "extra_arms": [r for r, a in zip(rows, arm_list) if a["arm"] != AS_RUN],
        "curves": [c for c in curves if c["arm"] == AS_RUN],
        "extra_curves": [c for c in curves if c["arm"] != AS_RUN],
        "confusion": confusion,
        "claims": _claims(by_arm, curves, confusion, root),
        "trials": [{k: t[k] for k in ("name", "path", "settings", "state", "test_acc", "valid_acc", "epoch",
                                      "epochs", "error")} for t in trials],
        "made": _how_made(spec, trials, counts, record.get("command")),
        "writeup": str(writeup) if writeup.is_file() else None,
    }


def _trials_with_figures(rows: list[dict], root: Path) -> list[dict]:
    """Each trial row with, when finished, its test accuracy from eval.json, its validation curve and
    its confusion matrix (rows = true class)."""
    from cinic.runs.folder import RunError, RunFolder

    for row in rows:
        row.update(curve=None, confusion=None, device=None)
        if row["state"] != "finished":
            continue
        run = RunFolder(row["path"])
        try:
            evaluation = run.evaluation()
            row.update(curve=[e["valid_acc"] for e in run.epochs()], device=run.status().get("device"))
        except RunError:
            row["state"] = "damaged"
            continue
        if evaluation is None:
            row["state"] = "not evaluated"
            continue
        row.update(test_acc=evaluation["accuracy"], confusion=evaluation["confusion"])
    return rows


def _split_counts_or_none(data: str) -> dict | None:
    try:
        return _split_counts(data)
    except CinicError:
        return None


def _data_line(root, counts) -> dict:
    train = counts["train"] if counts else None
    comparable = train == CINIC_TRAIN_IMAGES
    if train is None:
        note = f"the data set {root} cannot be read now: its size is unknown, so compare nothing but the ranking"
    elif comparable:
        note = f"CINIC-10 at full size ({train:,} training images): the figures are comparable with the report's"
    else:
        note = (f"this data set ({train:,} training images) is not the report's: compare the ranking and the "
                "gaps, not the figures")
    return {"root": root, "train_images": train, "comparable_to_report": comparable, "note": note}


def _variant_row(arm: dict, trials: list[dict]) -> dict:
    done = [t for t in trials if t["state"] == "finished"]
    test = stats.summarize(t["test_acc"] for t in done)
    valid = stats.summarize(t["valid_acc"] for t in done)
    figures = VARIANTS[arm["variant"]]
    diff = test["mean"] - figures["test"] if test["mean"] is not None else None
    return {"variant": arm["variant"], "recipe": arm["recipe"], "arm": arm["arm"], "name": arm["name"],
            "label": _label(arm), "changes": figures["changes"],
            "report": {"test": figures["test"], "valid": figures["valid"], "epochs": figures["epochs"]},
            "n": test["n"], "trials_total": len(trials), "test_mean": test["mean"], "test_std": test["std"],
            "test_ci95": test["ci95"], "valid_mean": valid["mean"], "valid_std": valid["std"],
            "diff_to_report": diff, "verdict": _verdict(figures["test"], test),
            "trials": [t["path"] for t in done]}


def _label(arm: dict) -> str:
    recipe = "the report's recipe" if arm["recipe"] == "report" else "the project's recipe"
    extra = "" if arm["arm"] == AS_RUN else f", {arm['arm']}"
    return f"{VARIANTS[arm['variant']]['name']}, {recipe}{extra}"


def _verdict(report_test: float, test: dict) -> str | None:
    """Where the report's test figure lies against this study's 95 % interval, in words."""
    if test["n"] == 0:
        return None
    if test["ci95"] is None:
        return f"one seed: no interval to hold the report's {report_test:.2f} against"
    low, high = test["ci95"]
    if low <= report_test <= high:
        return f"the report's {report_test:.2f} lies inside your interval"
    return f"the report's {report_test:.2f} lies {'above' if report_test > high else 'below'} your interval"


def _curve(arm: dict, trials: list[dict]) -> dict:
    """Mean and sample std of validation accuracy per epoch over the finished trials."""
    curves = [t["curve"] for t in trials if t["state"] == "finished" and t["curve"]]
    length = min((len(c) for c in curves), default=0)
    per_epoch = [stats.summarize(c[i] for c in curves) for i in range(length)]
    return {"variant": arm["variant"], "recipe": arm["recipe"], "arm": arm["arm"], "label": _label(arm),
            "n": len(curves), "epochs": list(range(1, length + 1)), "valid_mean": [s["mean"] for s in per_epoch],
            "valid_std": [s["std"] for s in per_epoch], "report_points": REPORT_CURVES[arm["variant"]]}


def _confusion(trials: list[dict]) -> dict:
    """best's matrices (report recipe) summed over its finished seeds, beside the report's; both rows =
    true class, with recall and precision per class."""
    names = classes()
    matrices = [t["confusion"] for t in trials if t["state"] == "finished" and t["confusion"]]
    study = [[sum(m[i][j] for m in matrices) for j in range(len(names))] for i in range(len(names))] \
        if matrices else None
    report = report_confusion()
    study_recall, study_precision = _recall_precision(study, names)
    report_recall, report_precision = _recall_precision(report, names)
    return {"classes": names, "n": len(matrices), "study": study, "report": report,
            "study_recall": study_recall, "study_precision": study_precision,
            "report_recall": report_recall, "report_precision": report_precision,
            "note": "The report's matrix is shown transposed: it was built with confusion_matrix(predicted, real), "
                    "so its rows were predictions and its \"per class accuracy\" was per-class precision."}


def _recall_precision(matrix, names) -> tuple[dict, dict]:
    if matrix is None:
        return {n: None for n in names}, {n: None for n in names}
    recall, precision = {}, {}
    for i, name in enumerate(names):
        row, column = sum(matrix[i]), sum(r[i] for r in matrix)
        recall[name] = 100.0 * matrix[i][i] / row if row else None
        precision[name] = 100.0 * matrix[i][i] / column if column else None
    return recall, precision


def _claims(by_arm: dict, curves: list[dict], confusion: dict, root: Path) -> list[dict]:
    def figures(variant, arm=AS_RUN):
        return [t["test_acc"] for t in by_arm.get(arm_name(variant, "report", arm), []) if t["state"] == "finished"]

    def pair(worse, better):  # one run a side: the exact McNemar test on their test images
        a, b = (by_arm.get(arm_name(*x), []) for x in (worse, better))
        a, b = ([t for t in runs if t["state"] == "finished"] for runs in (a, b))
        return _mcnemar_pair(a[0]["path"], b[0]["path"]) if len(a) == 1 and len(b) == 1 else None

    report_curves = {c["variant"]: c["valid_mean"] for c in curves if c["recipe"] == "report" and c["arm"] == AS_RUN}
    results = [
        claim_tests.better_claim(1, figures("stepping"), figures("base"), ("stepping", "base"),
                                 pair(("base", "report"), ("stepping", "report"))),
        claim_tests.about_ten_claim(figures("best"), figures("stepping")),
        claim_tests.confusion_claim(confusion["study"], confusion["report"], confusion["classes"])
        if confusion["study"] else claim_tests.claim(3, claim_tests.INCONCLUSIVE, "no finished run of best yet",
                                                     None, {}),
    ]
    if arm_name("best", "report", NO_DROP) in by_arm:
        results.append(claim_tests.better_claim(
            4, figures("best"), figures("best", NO_DROP), ("best, late drop", "best, no drop"),
            pair(("best", "report", NO_DROP), ("best", "report"))))
    else:
        results.append(_skipped(4))
    if arm_name("base", "report", XAVIER) in by_arm:
        results.append(claim_tests.no_help_claim(figures("base", XAVIER), figures("base"),
                                                 pair(("base", "report"), ("base", "report", XAVIER))))
    else:
        results.append(_skipped(5))
    results.append(claim_tests.fewer_epochs_claim(report_curves))
    return results


def _skipped(number: int) -> dict:
    return claim_tests.claim(number, claim_tests.INCONCLUSIVE, "not tested: the study ran without its extra arm "
                             "(--no-claims)", None, {})


def _mcnemar_pair(path_a: str, path_b: str) -> dict | None:
    """fixed, broken and the exact McNemar p of run B against run A on the same test images."""
    from cinic.analysis.diff import compare_runs
    from cinic.runs.folder import RunFolder

    try:
        summary = compare_runs(RunFolder(path_a), RunFolder(path_b)).summary()
    except CinicError:
        return None
    return {"fixed": summary["fixed"], "broken": summary["broken"], "p_value": summary["p_value"]}


def _how_made(spec: dict, trials: list[dict], counts, command: str | None) -> dict:
    return {"data": spec.get("data"), "split_images": counts, "seeds": spec.get("seeds"),
            "device": sorted({t["device"] for t in trials if t.get("device")}),
            "versions": library_versions(), "command": command or equivalent_command(spec),
            "epochs": {v["name"]: v.get("epochs") for v in spec.get("variants", [])}}


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for package in ("torch", "numpy", "scipy", "Augmentor", "ray"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def equivalent_command(spec: dict) -> str:
    """The CLI line that makes this study's spec (what the write-up says it was made with)."""
    names = {v.get("name") for v in spec.get("variants", [])}
    scale = _epochs_scale_of(spec)
    parts = ["python -m cinic reproduce", f"--data {spec.get('data')}", f"--seeds {len(spec.get('seeds') or [])}",
             f"--name {spec.get('name')}"]
    parts += [] if arm_name("best", "report", NO_DROP) in names else ["--no-claims"]
    parts += ["--ours"] if arm_name("best", "project") in names else []
    parts += [] if scale == 1.0 else [f"--epochs-scale {scale:g}" if scale else "(with epochs of its own)"]
    return " ".join(parts)


def _epochs_scale_of(spec: dict) -> float | None:
    """The roundest epochs scale (tenths, then hundredths) that gives each variant the epochs the spec
    holds; None when none does (a spec edited by hand)."""
    epochs = {v.get("name"): v.get("epochs") for v in spec.get("variants", [])}
    wanted = {n: VARIANTS[a["variant"]]["epochs"] for n in epochs if (a := _arm_of(n))}
    for scale in [k / 10 for k in range(10, 0, -1)] + [k / 100 for k in range(100, 0, -1)]:
        if all(_scaled(full, scale) == epochs[n] for n, full in wanted.items()):
            return scale
    return None

