"""cinic/analysis/diff.py: run A against run B image by image, its invariants, the exact McNemar test,
and the refusal to compare runs on different images."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from cinic import cli
from cinic.analysis.diff import DiffError, compare_predictions, compare_runs, mcnemar_p_value, verdict
from cinic.runs.folder import RunFolder

CLASSES = [f"c{i}" for i in range(10)]
JSON_FIELDS = {"n", "accuracy_a", "accuracy_b", "fixed", "broken", "both_right", "both_wrong", "p_value",
               "per_class", "confusion_delta"}


def exact_two_sided_binomial(k: int, n: int) -> float:
    """The exact McNemar p-value from first principles: P(a split at least as uneven as k of n) at 1/2."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2 ** n
    return min(1.0, 2 * tail) if 2 * low != n else 1.0


def assert_invariants(result: dict) -> None:
    n = result["n"]
    assert result["accuracy_b"] - result["accuracy_a"] == pytest.approx(
        100 * (result["fixed"] - result["broken"]) / n, abs=1e-9)
    for row in result["confusion_delta"]:
        assert sum(row) == 0
    assert result["fixed"] + result["broken"] + result["both_right"] + result["both_wrong"] == n
    assert result["p_value"] == pytest.approx(
        exact_two_sided_binomial(result["fixed"], result["fixed"] + result["broken"]), rel=1e-9, abs=1e-300)
    assert sum(r["fixed"] for r in result["per_class"]) == result["fixed"]
    assert sum(r["broken"] for r in result["per_class"]) == result["broken"]
    deltas = [r["delta"] for r in result["per_class"]]
    assert deltas == sorted(deltas, reverse=True)


# --- the figures, from predictions ------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invariants_hold_for_random_predictions(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 700)
    pred_a = np.where(rng.random(700) < 0.5, labels, rng.integers(0, 10, 700))
    pred_b = np.where(rng.random(700) < 0.6, labels, rng.integers(0, 10, 700))
    result = compare_predictions(labels, pred_a, pred_b, CLASSES)
    assert_invariants(result)
    assert result["agreement"] == pytest.approx(100 * np.mean(pred_a == pred_b))


def test_hand_counted_case():
    #            right/right, A only, B only, B only, both wrong (same), both wrong (differ)
    labels = np.array([0, 1, 2, 3, 4, 5])
    pred_a = np.array([0, 1, 0, 0, 9, 9])
    pred_b = np.array([0, 2, 2, 3, 9, 8])
    result = compare_predictions(labels, pred_a, pred_b, CLASSES)
    assert (result["fixed"], result["broken"], result["both_right"], result["both_wrong"]) == (2, 1, 1, 2)
    assert result["accuracy_a"] == pytest.approx(200 / 6) and result["accuracy_b"] == pytest.approx(300 / 6)
    assert result["agreement"] == pytest.approx(200 / 6)  # images 0 and 4
    delta = np.array(result["confusion_delta"])
    assert delta[1, 1] == -1 and delta[1, 2] == +1  # class 1 moved from right to "2"
    assert delta[2, 0] == -1 and delta[2, 2] == +1  # class 2 fixed
    assert delta[5, 9] == -1 and delta[5, 8] == +1  # still wrong, another mistake
    assert np.abs(delta).sum() == 8
    by_class = {r["class"]: r for r in result["per_class"]}
    assert by_class["c1"] == {"class": "c1", "accuracy_a": 100.0, "accuracy_b": 0.0, "delta": -100.0,
                              "fixed": 0, "broken": 1}
    assert result["per_class"][-1]["class"] == "c1"  # the largest loss last
    assert result["p_value"] == 1.0  # 2 against 1 is no evidence at all


def test_p_value_is_the_exact_binomial_value():
    for fixed, broken in [(0, 0), (5, 0), (30, 12), (230, 71), (40, 40), (3, 17)]:
        assert mcnemar_p_value(fixed, broken) == pytest.approx(
            exact_two_sided_binomial(fixed, fixed + broken), rel=1e-9, abs=1e-300)


def test_the_verdict_in_plain_words():
    assert verdict(30, 10, 0.003) == "B is better; a difference this large would arise by chance in 0.3% of cases"
    assert verdict(10, 30, 0.003).startswith("A is better")
    noise = verdict(12, 10, 0.83)
    assert noise.startswith("within noise") and "83%" in noise and "fixed 12" in noise
    assert "fewer than 0.1%" in verdict(230, 71, 1e-20)
    assert verdict(0, 0, 1.0).startswith("within noise")


def test_nothing_to_compare_is_refused():
    with pytest.raises(DiffError, match="no test images"):
        compare_predictions(np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=int), CLASSES)


# --- two real runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, train_finished, tiny_data):
    """base and stepping, one epoch each on the tiny demo set (a second or two each)."""
    root, cache = tmp_path_factory.mktemp("diff-runs"), tmp_path_factory.mktemp("diff-cache")
    for preset in ("base", "stepping"):
        train_finished(tiny_data, preset, root, cache, preset=preset, batch_size=16)
    return root


def test_diff_of_two_runs_from_the_command_line(two_runs, capsys):
    assert cli.main(["diff", "base", "stepping", "--runs-root", str(two_runs), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert JSON_FIELDS <= set(result)
    assert result["n"] == 60
    assert_invariants(result)
    assert set(result["per_class"][0]) == {"class", "accuracy_a", "accuracy_b", "delta", "fixed", "broken"}
    assert np.array(result["confusion_delta"]).shape == (10, 10)
    # The same accuracies as each run's own evaluation (float32, the same answer everywhere).
    for key, name in (("accuracy_a", "base"), ("accuracy_b", "stepping")):
        assert round(result[key], 2) == RunFolder(two_runs / name).evaluation()["accuracy"]

    assert cli.main(["diff", "base", "stepping", "--runs-root", str(two_runs), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert f"B fixed {result['fixed']} images and broke {result['broken']}" in text


def test_the_images_behind_every_cell_and_the_galleries(two_runs):
    pair = compare_runs(RunFolder(two_runs / "base"), RunFolder(two_runs / "stepping"))
    result = pair.summary()
    for t, true_class in enumerate(pair.classes):
        for p, predicted in enumerate(pair.classes):
            moved = pair.moved(true_class, predicted)
            assert len(moved["into"]) - len(moved["out_of"]) == result["confusion_delta"][t][p]
            assert all(r["true"] == true_class and r["pred_b"] == predicted != r["pred_a"] for r in moved["into"])
    fixed, broken = pair.changed("fixed"), pair.changed("broken")
    assert (len(fixed), len(broken)) == (result["fixed"], result["broken"])
    assert all(r["pred_b"] == r["true"] != r["pred_a"] for r in fixed)
    assert all(r["pred_a"] == r["true"] != r["pred_b"] for r in broken)
    one = pair.classes[3]
    assert pair.changed("fixed", one) == [r for r in fixed if r["true"] == one]
    assert [r["p_b"] for r in fixed] == sorted((r["p_b"] for r in fixed), reverse=True)
    with pytest.raises(DiffError, match="unknown class"):
        pair.moved("kitten", "dog")


def other_data_run(two_runs, tmp_path, data) -> RunFolder:
    """A copy of `stepping` that says it was trained on `data`."""
    shutil.copytree(two_runs / "stepping", tmp_path / "runs" / "elsewhere")
    run = RunFolder(tmp_path / "runs" / "elsewhere")
    run.update_config(data=str(data))
    return run


def test_runs_on_different_data_are_refused_with_the_reason(two_runs, tmp_path, capsys):
    from cinic.data.demo import make_demo_dataset

    other = make_demo_dataset(tmp_path / "other", per_class=(4, 2, 3), seed=9)
    b = other_data_run(two_runs, tmp_path, other)
    with pytest.raises(DiffError, match="different data") as caught:
        compare_runs(RunFolder(two_runs / "base"), b)
    message = str(caught.value)
    assert "60 test images" in message and "30" in message and str(other) in message and "--data" in message

    assert cli.main(["diff", str(two_runs / "base"), str(b.path), "--json"]) == 2
    said = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]  # after the decoding bar
    assert said.startswith("error: ") and "different data" in said

    # Evaluating both on A's data is the way out.
    pair = compare_runs(RunFolder(two_runs / "base"), b, data=RunFolder(two_runs / "base").config()["data"])
    assert pair.summary()["n"] == 60


def test_a_copy_of_the_same_data_set_counts_as_the_same_images(two_runs, tiny_data, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_data, copy)
    b = other_data_run(two_runs, tmp_path, copy)
    assert compare_runs(RunFolder(two_runs / "base"), b).summary()["n"] == 60
