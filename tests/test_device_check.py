"""bench/device_check.sh --dry-run: every step of the GPU check runs on the CPU on tiny inputs and
records its figures in the one JSON the GPU run will write (issue 22, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_dry_run_runs_every_step_and_writes_every_figure(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(ROOT / "bench" / "device_check.sh"), "--dry-run", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "device_check.json").read_text())
    steps = report["steps"]
    assert report["dry_run"] is True
    assert list(steps) == ["environment", "tests", "full_scale", "bench", "sweep", "reproduce"]
    assert steps["environment"]["torch"] and set(steps["environment"]["optional"]) >= {"ray", "captum"}
    assert steps["tests"]["status"] == "ok" and steps["tests"]["passed"] > 0 and "failed" not in steps["tests"]
    assert steps["full_scale"]["images"] == {"train": 100, "valid": 100, "test": 100}
    [(preset, figures)] = steps["bench"]["figures"].items()
    assert preset == "base" and figures["project_over_bare"] > 0 and figures["bare_s_per_epoch"] > 0
    assert steps["bench"]["report"]["results"][0]["gap"]["parts"]
    assert steps["sweep"]["status"] == "ok" and steps["sweep"]["trials"] == 2
    assert steps["sweep"]["spec"]["resources"]["gpus"] == 0  # the GPU run asks for 0.25
    assert steps["reproduce"]["status"] in ("ok", "skipped")
    assert all(step["seconds"] >= 0 for step in steps.values())
