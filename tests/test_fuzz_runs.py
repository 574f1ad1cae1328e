"""Fuzz: random bytes and wrongly typed JSON in each file of a copy of a finished run (seeded).

Whatever lands in a run's files, `runs`, `evaluate`, `train --resume` and `export` answer with a result
or one `error:` line (never a traceback), every app page draws without one, and the other run stays listed.
The CLI is called in-process (cinic.cli.main) and the run is trained once per session, so the cases stay cheap.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from ui import app_ui
from cinic import cli, paths
from cinic.data import choice as datasets
from cinic.runs.folder import RunFolder

PROJECT = Path(__file__).resolve().parents[1]
FILES = ("config.json", "status.json", "metrics.jsonl", "eval.json", "notes.json", "best.pt", "last.pt")
WRONG_VALUES = (None, True, -1, 0, 2 ** 70, 1e308, float("nan"), "", "ten", [], [1, "x"], {}, {"a": 1})
CLI_CASES, PAGE_CASES = 240, 24

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def finished(train_finished, tiny_data) -> RunFolder:
    """One finished one-epoch run on the tiny data set, trained once for the session."""
    run = train_finished(tiny_data, "done", recipe="report", batch_size=64)
    run.write_notes("a note", ["fuzz"])
    return run


def damage(rng: random.Random, path: Path) -> str:
    """Write one kind of damage into `path`; returns what was done, for the failure message."""
    original = path.read_bytes() if path.exists() else b""
    kind = rng.choice(["random bytes", "truncated", "wrong type", "wrong type", "missing field", "deleted"]
                      if path.suffix == ".json" else ["random bytes", "truncated", "deleted", "flipped bytes"])
    if kind == "random bytes":
        path.write_bytes(rng.randbytes(rng.choice([0, 1, 2, 17, 300, 5000])))
    elif kind == "truncated":
        path.write_bytes(original[:rng.randrange(len(original) + 1)])
    elif kind == "flipped bytes":
        data = bytearray(original)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
    elif kind == "deleted":
        path.unlink(missing_ok=True)
    elif path.name == "metrics.jsonl":
        lines = [json.loads(line) for line in original.splitlines()]
        record = rng.choice(lines)
        record[rng.choice(list(record))] = rng.choice(WRONG_VALUES)
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    else:
        value = json.loads(original)
        target, key = _somewhere(rng, value)
        if kind == "missing field":
            target.pop(key, None) if isinstance(target, dict) else target.pop(key)
        else:
            target[key] = rng.choice(WRONG_VALUES)
        path.write_text(json.dumps(value))
        kind += f" at {key!r}"
    return f"{path.name}: {kind}"


def _somewhere(rng: random.Random, value):
    """A (container, key) inside `value`, at any depth."""
    target = value
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = rng.choice(keys)
        if isinstance(target[key], (dict, list)) and target[key] and rng.random() < 0.5:
            target = target[key]
            continue
        return target, key


def damaged_root(finished: RunFolder, tmp_path: Path, rng: random.Random) -> tuple[Path, str]:
    root = tmp_path / f"runs-{rng.random()}"
    shutil.copytree(finished.path, root / "b-bad")
    shutil.copytree(finished.path, root / "a-other")
    return root, damage(rng, root / "b-bad" / rng.choice(FILES))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_cli_commands_answer_every_damaged_run_in_one_line(finished, tmp_path, monkeypatch):
    monkeypatch.setenv("CINIC_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    rng = random.Random(13)
    for case in range(CLI_CASES):
        root, what = damaged_root(finished, tmp_path, rng)
        code, out, err = run_cli(["runs", "--json", "--runs-root", root])
        listed = {r["name"]: r for r in json.loads(out)}
        assert code == 0 and listed["a-other"]["state"] == "finished", (case, what, err)
        assert listed["a-other"]["test_acc"] is not None, (case, what)
        assert "b-bad" in listed or what == "config.json: deleted", (case, what)  # no config.json: no run
        for argv in (["evaluate", "b-bad", "--device", "cpu"], ["export", "b-bad", "--out", tmp_path / "m.st"],
                     ["train", "--resume", "b-bad", "--no-progress"]):
            code, out, err = run_cli([*argv, "--runs-root", root])
            assert code in (0, 2), (case, what, argv, code, err)
            if code == 2:
                assert "error: " in err and "Traceback" not in err, (case, what, argv, err)
        shutil.rmtree(root)


def test_every_page_draws_with_a_damaged_run_beside_a_good_one(finished, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "demo_root", lambda: tmp_path / "demo")
    monkeypatch.setenv("CINIC_CACHE", str(tmp_path / "cache"))
    datasets.remember_data_root(tiny_data)
    rng = random.Random(11)
    for case in range(PAGE_CASES):
        root, what = damaged_root(finished, tmp_path, rng)
        monkeypatch.setenv("CINIC_RUNS", str(root))
        for entry in app_ui.MENU:
            at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=60)
            at.query_params["run"] = "b-bad"
            at.run()
            if entry.file != "app.py":
                at.switch_page(entry.file).run()
            assert not at.exception, (case, what, entry.title, [e.value for e in at.exception])
        shutil.rmtree(root)
