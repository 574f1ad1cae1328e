"""What a training records as it goes: metrics.jsonl (a line per logged batch and per epoch) and
eval.json (the test split's evaluation), each read tolerantly: a torn or damaged line is skipped, a
damaged evaluation is named.
"""

from __future__ import annotations

import json

from cinic.runs.files import (EVAL, METRICS, STATUS, RunError, is_number, read_object, whole_number,
                              write_atomically, write_error)

EPOCH_FIGURES = ("train_loss", "train_acc", "valid_loss", "valid_acc")

EPOCH_EXTRAS = ("lr", "seconds", "images_per_s")  # shown when present



class RunRecords:
    """The run folder's records (a part of `cinic.runs.folder.RunFolder`, which gives it `path`)."""

    # --- metrics --------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        try:
            with open(self.path / METRICS, "a") as f:
                f.write(line)
                f.flush()
        except OSError as e:
            raise write_error(self.path / METRICS, e, "Free some disk space and resume the run; "
                                                       "the last checkpoint is intact.") from e

    def metrics(self) -> list[dict]:
        """Every readable record; a line torn by a kill mid-write, or damaged, is skipped."""
        try:
            raw = (self.path / METRICS).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise RunError(f"cannot read {self.path / METRICS}: {e.strerror or e}") from e
        records = []
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # torn or not UTF-8: a torn epoch is redone on resume
            if isinstance(record, dict) and whole_number(record.get("epoch")):
                records.append(record)
        return records

    def epochs(self) -> list[dict]:
        """The last record of each epoch, in order; records missing a figure the curves need are skipped,
        and an optional figure that is not a number is left out."""
        by_epoch = {r["epoch"]: r for r in self.metrics()
                    if r.get("kind") == "epoch" and all(is_number(r.get(k)) for k in EPOCH_FIGURES)}
        return [{k: v for k, v in by_epoch[e].items() if k not in EPOCH_EXTRAS or is_number(v)}
                for e in sorted(by_epoch)]

    def batches(self) -> list[dict]:
        return [r for r in self.metrics() if r.get("kind") == "batch" and is_number(r.get("loss"))
                and whole_number(r.get("step"))]

    def truncate_metrics_after(self, epoch: int) -> None:
        """Drop records of epochs after `epoch` (a resumed run redoes them)."""
        keep = [r for r in self.metrics() if r.get("epoch", 0) <= epoch]
        data = "".join(json.dumps(r) + "\n" for r in keep).encode()
        write_atomically(self.path / METRICS, data)

    # --- evaluation -----------------------------------------------------------
    def evaluation(self) -> dict | None:
        if not (self.path / EVAL).is_file():
            return None
        evaluation = read_object(self.path / EVAL)
        fault = evaluation_fault(evaluation)
        if fault:
            raise RunError(f"{self.path / EVAL} is damaged: {fault}; "
                           "evaluate the run again (`python -m cinic evaluate RUN`)")
        return evaluation

    def write_evaluation(self, evaluation: dict) -> None:
        """eval.json, and its headline figure into status.json, which listing reads alone."""
        write_atomically(self.path / EVAL, json.dumps(evaluation).encode())
        try:
            status = read_object(self.path / STATUS)
        except RunError:
            return
        status["test_acc"] = evaluation["accuracy"]
        write_atomically(self.path / STATUS, json.dumps(status, indent=2).encode())


def evaluation_fault(e: dict) -> str | None:
    """What is wrong with an eval.json object, or None: every field a page, report or CSV reads."""
    classes = e.get("classes")
    if not is_number(e.get("accuracy")) or not whole_number(e.get("n")) or not whole_number(e.get("correct", 0)):
        return "it lacks the accuracy or the number of images"
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        return "its class names are not a list of text"
    confusion = e.get("confusion")
    if not (isinstance(confusion, list) and len(confusion) == len(classes) and all(
            isinstance(row, list) and len(row) == len(classes) and all(map(whole_number, row)) for row in confusion)):
        return "its confusion matrix is not a square of whole numbers, one row per class"
    for key in ("per_class", "precision"):
        value = e.get(key)
        if not isinstance(value, dict) or not all(isinstance(k, str) and is_number(v) for k, v in value.items()):
            return f"{key} is not a number per class"
    for key, fields in (("most_confused", {"true": str, "pred": str, "count": int}),
                        ("misclassified", {"index": int, "file": str, "true": str, "pred": str})):
        rows = e.get(key, [])
        if not isinstance(rows, list) or not all(
                isinstance(r, dict) and all(isinstance(r.get(f), t) and not isinstance(r.get(f), bool)
                                            for f, t in fields.items()) for r in rows):
            return f"{key} is not a list of records with {', '.join(fields)}"
    for row in e.get("misclassified", []):
        if not all(is_number(row.get(f)) for f in ("p_pred", "p_true", "loss") if f in row):
            return "misclassified holds a probability or loss that is not a number"
    origins = e.get("per_origin", {})
    if origins is not None and not (isinstance(origins, dict) and all(
            isinstance(v, dict) and whole_number(v.get("n")) and is_number(v.get("accuracy"))
            for v in origins.values())):
        return "per_origin is not a count and an accuracy per origin"
    return None
