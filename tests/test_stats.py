"""cinic/analysis/stats.py: mean, sample std and Student-t 95% interval, against numpy and scipy by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cinic.analysis.stats import summarize


@pytest.mark.parametrize("values", [[51.2, 53.9, 49.3], [60.0, 61.5], [10.0, 12.0, 11.0, 15.5, 9.25]])
def test_summary_matches_numpy(values):
    s = summarize(values)
    mean, std, n = np.mean(values), np.std(values, ddof=1), len(values)
    half = scipy_stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    assert s["n"] == n
    assert s["mean"] == pytest.approx(mean, abs=1e-12)
    assert s["std"] == pytest.approx(std, abs=1e-12)
    assert s["ci95"] == pytest.approx([mean - half, mean + half], abs=1e-9)


def test_the_interval_is_student_t_not_normal():
    # Three seeds: t(2) = 4.303, far wider than the normal 1.96.
    s = summarize([50.0, 52.0, 54.0])
    assert (s["ci95"][1] - s["mean"]) / (s["std"] / math.sqrt(3)) == pytest.approx(4.3027, abs=1e-3)


def test_one_value_has_no_spread_and_missing_values_are_left_out():
    assert summarize([42.0, None]) == {"n": 1, "mean": 42.0, "std": None, "ci95": None}
    assert summarize([]) == {"n": 0, "mean": None, "std": None, "ci95": None}
