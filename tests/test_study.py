"""cinic/study/: the reproduce study runs the report's variants as the report ran them, its figures are the
trials' own, its interval is Student's t, and its six verdicts follow the tests (recomputed here with scipy)."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest
from scipy import stats as sp

from cinic.study import claims as C
from cinic.study import reproduce, writeup
from cinic.study.report_figures import (REPORT_CONFUSION_AS_PRINTED, REPORT_PER_CLASS_AS_PRINTED, VARIANTS, classes,
                                        report_confusion)
from cinic.sweeps.spec import parse_spec
from cinic.runs.config import TrainConfig, lr_at_epoch

def configs_by_arm(spec) -> dict:
    """{arm name: [config of each seed]} of a checked study spec."""
    found = {}
    for trial in parse_spec(spec).trials:
        found.setdefault(trial.settings["variant"], []).append(trial.config)
    return found


# --- the schedules, as the report ran them ---------------------------------------------------------------
def test_each_variant_runs_the_reports_schedule(tiny_data):
    arms = configs_by_arm(reproduce.study_spec(tiny_data, seeds=2))
    assert list(arms) == ["base-report", "stepping-report", "best-report", "best-report-nodrop",
                          "base-report-xavier"]
    rates = {name: [lr_at_epoch(TrainConfig.from_dict(c[0]), e) for e in range(1, c[0]["epochs"] + 1)]
             for name, c in arms.items()}
    assert rates["base-report"] == [0.001] * 7 + [0.0001] * 8 + [0.00001]      # 16 epochs: 8 drops, 16 again
    assert rates["stepping-report"] == [0.001] * 9 + [0.0001]                  # 10 epochs
    assert rates["best-report"] == [0.001] * 4 + [0.0001]                      # 5 epochs
    assert rates["best-report-nodrop"] == [0.001] * 5                          # claim 4's arm: no late drop
    assert rates["base-report-xavier"] == rates["base-report"]
    for name, configs in arms.items():
        for seed, c in enumerate(configs):
            assert c["seed"] == seed
            assert (c["recipe"], c["optimizer"], c["batch_size"], c["weight_decay"], c["label_smoothing"],
                    c["flip"], c["crop_pad"], c["warmup_epochs"]) == ("report", "adam", 64, 0.0, 0.0, False, 0, 0.0)
            assert c["preset"] == name.split("-")[0]
    # Claim 5's arm differs from base in its initial weights alone; the others start as PyTorch does.
    base, xavier = arms["base-report"][0]["model"], arms["base-report-xavier"][0]["model"]
    from cinic.model.lenet import PRESETS

    assert base == PRESETS["base"].to_dict() and xavier == {**base, "init": "xavier"}  # the report's plain LeNet-5


def test_augmentor_images_are_the_reports_pipeline_at_a_third_of_the_training_split(tiny_data):
    from cinic.augment.ops import SEED_PIPELINE

    # SEED_PIPELINE is pinned to the list, step by step, in test_augment_ops.py
    for configs in configs_by_arm(reproduce.study_spec(tiny_data, seeds=2, ours=True)).values():
        for c in configs:
            assert c["augment_n"] == round(160 / 3)   # the tiny set's 160 training images; 30,000 of 90,000
            assert c["augment"] == [dict(step) for step in SEED_PIPELINE]
            assert c["augment_name"] == "report"


def test_ours_adds_the_three_variants_with_the_project_recipe_and_no_claims_drops_the_extra_arms(tiny_data):
    arms = configs_by_arm(reproduce.study_spec(tiny_data, seeds=1, ours=True, claims=False))
    assert list(arms) == ["base-report", "stepping-report", "best-report", "base-project", "stepping-project",
                          "best-project"]
    for variant in ("base", "stepping", "best"):
        ours, theirs = arms[f"{variant}-project"][0], arms[f"{variant}-report"][0]
        assert ours["recipe"] == "project" and ours["epochs"] == theirs["epochs"] == VARIANTS[variant]["epochs"]


def test_the_epochs_scale_shrinks_epochs_and_drops_alike(tiny_data):
    arms = configs_by_arm(reproduce.study_spec(tiny_data, seeds=1, epochs_scale=0.25))
    assert (arms["base-report"][0]["epochs"], arms["base-report"][0]["lr_drops"]) == (4, [[2, 0.0001], [4, 0.00001]])
    assert (arms["best-report"][0]["epochs"], arms["best-report"][0]["lr_drops"]) == (1, [[1, 0.0001]])
    with pytest.raises(reproduce.StudyError):
        reproduce.study_spec(tiny_data, epochs_scale=2)


def test_trial_names_are_stable(tiny_data):
    first = [t.name for t in parse_spec(reproduce.study_spec(tiny_data, seeds=2)).trials]
    again = [t.name for t in parse_spec(reproduce.study_spec(tiny_data, seeds=2)).trials]
    assert first == again and len(set(first)) == 10 and first[0] == "reproduce_variant-base-report_seed-0"


# --- the report's figures --------------------------------------------------------------------------------
def test_the_reports_matrix_is_transposed_to_rows_of_true_classes():
    matrix = report_confusion()
    assert all(sum(row) == 9000 for row in matrix)  # each true class has 9,000 test images
    assert matrix[1][9] == REPORT_CONFUSION_AS_PRINTED[9][1] == 1340  # automobile taken for truck
    assert matrix[9][1] == 1646  # truck taken for automobile
    # its "per class accuracy" is the precision of the rows-are-true matrix (column diagonal / column sum)
    _, precision = reproduce._recall_precision(matrix, classes())
    assert precision == pytest.approx(REPORT_PER_CLASS_AS_PRINTED, abs=0.011)
    from cinic.model.lenet import REPORT_RESULTS

    for name, figures in VARIANTS.items():
        assert (figures["test"], figures["valid"], figures["epochs"]) == tuple(REPORT_RESULTS[name].values())


# --- the interval and the verdict in words -----------------------------------------------------------------
def trial(test, valid=50.0, state="finished", curve=None):
    return {"state": state, "test_acc": test, "valid_acc": valid, "path": f"/runs/{test}", "curve": curve,
            "confusion": None}


def test_the_variant_row_is_the_mean_and_students_t_interval_of_its_trials():
    figures = [61.2, 63.9, 62.4]
    arm = {"name": "best-report", "variant": "best", "recipe": "report", "arm": reproduce.AS_RUN}
    row = reproduce._variant_row(arm, [trial(x) for x in figures] + [trial(None, state="running")])
    mean, sem = statistics.mean(figures), statistics.stdev(figures) / math.sqrt(3)
    low, high = sp.t.interval(0.95, 2, loc=mean, scale=sem)
    assert row["n"] == 3 and row["trials_total"] == 4 and len(row["trials"]) == 3
    assert row["test_mean"] == pytest.approx(mean) and row["test_std"] == pytest.approx(statistics.stdev(figures))
    assert row["test_ci95"] == pytest.approx([low, high])
    assert row["diff_to_report"] == pytest.approx(mean - 64.38)
    assert row["verdict"] == "the report's 64.38 lies inside your interval"  # 64.38 < high (65.8)
    tight = reproduce._variant_row(arm, [trial(x) for x in (60.0, 60.2, 60.1)])
    assert tight["verdict"] == "the report's 64.38 lies above your interval"
    assert reproduce._variant_row(arm, [trial(70.0), trial(70.4)])["verdict"].endswith("below your interval")
    empty = reproduce._variant_row(arm, [trial(None, state="queued")])
    assert (empty["n"], empty["test_mean"], empty["test_ci95"], empty["verdict"]) == (0, None, None, None)


def test_the_data_line_says_when_figures_are_not_comparable():
    assert reproduce._data_line("/d", {"train": 90_000})["comparable_to_report"] is True
    line = reproduce._data_line("/d", {"train": 4068})
    assert not line["comparable_to_report"] and line["note"] == (
        "this data set (4,068 training images) is not the report's: compare the ranking and the gaps, "
        "not the figures")


# --- the claims, against scipy ---------------------------------------------------------------------------
def test_welch_matches_scipy_and_its_interval():
    a, b = [55.1, 54.2, 56.3, 55.0], [50.2, 51.9, 49.8]
    w = C.welch(a, b)
    reference = sp.ttest_ind(a, b, equal_var=False)
    assert w["p_value"] == pytest.approx(reference.pvalue) and w["t"] == pytest.approx(reference.statistic)
    assert w["ci95"] == pytest.approx(list(reference.confidence_interval(0.95)))
    assert w["diff"] == pytest.approx(statistics.mean(a) - statistics.mean(b))
    assert C.welch([1.0], b)["p_value"] is None


@pytest.mark.parametrize("better, worse, verdict", [
    ([55.1, 54.2, 56.3], [50.2, 51.9, 49.8], "supported"),
    ([50.2, 51.9, 49.8], [55.1, 54.2, 56.3], "not supported"),
    ([52.0, 50.0, 54.0], [51.0, 53.0, 50.5], "inconclusive"),
])
def test_a_better_claim_follows_welchs_test(better, worse, verdict):
    result = C.better_claim(1, better, worse, ("stepping", "base"))
    p = sp.ttest_ind(better, worse, equal_var=False).pvalue
    assert result["p_value"] == pytest.approx(p) and result["verdict"] == verdict
    assert (result["n_to_settle"] is not None) == (verdict == "inconclusive")
    if verdict == "inconclusive":
        assert result["n_to_settle"] > 3


def test_one_run_a_side_is_compared_by_mcnemar():
    from cinic.analysis.diff import mcnemar_p_value

    pair = {"fixed": 60, "broken": 30, "p_value": mcnemar_p_value(60, 30)}
    result = C.better_claim(4, [61.0], [58.0], ("drop", "no drop"), pair)
    assert result["test"] == C.MCNEMAR and result["verdict"] == "supported"
    assert result["p_value"] == pytest.approx(sp.binomtest(60, 90, 0.5).pvalue)
    even = {"fixed": 31, "broken": 30, "p_value": mcnemar_p_value(31, 30)}
    assert C.better_claim(4, [61.0], [60.9], ("a", "b"), even)["verdict"] == "inconclusive"


@pytest.mark.parametrize("best, stepping, verdict", [
    ([63.0, 64.1, 63.6, 63.3], [53.2, 53.9, 53.5, 54.0], "supported"),       # 9.9 points, tight
    ([58.0, 58.4, 57.8, 58.1], [53.2, 53.9, 53.5, 54.0], "not supported"),   # 4.4 points, tight
    ([55.0, 70.0, 62.0], [53.0, 54.0, 52.0], "inconclusive"),                # 10 inside, interval too wide
    ([58.0, 64.0, 60.0, 63.0], [53.2, 53.9, 53.5, 54.0], "inconclusive"),    # 3.3..11.9: not pinned to 10 +- 5
])
def test_claim_two_holds_the_gain_against_ten_points(best, stepping, verdict):
    result = C.about_ten_claim(best, stepping)
    p = sp.ttest_ind(best, [x + 10 for x in stepping], equal_var=False).pvalue
    interval = sp.ttest_ind(best, stepping, equal_var=False).confidence_interval(0.95)
    assert result["p_value"] == pytest.approx(p) and result["verdict"] == verdict
    assert result["evidence"]["ci95"] == pytest.approx(list(interval))


def test_claim_three_compares_the_most_confused_pairs():
    names = classes()
    same = C.confusion_claim(report_confusion(), report_confusion(), names)
    assert same["verdict"] == "supported"
    assert [p["pair"] for p in same["evidence"]["report_top"]] == [["cat", "dog"], ["automobile", "truck"],
                                                                   ["deer", "dog"]]
    other = [[10 if i == j else 0 for j in range(10)] for i in range(10)]
    other[0][2] = other[2][0] = 9   # airplane/bird, frog/ship, horse/truck: none of the report's
    other[6][8] = 7
    other[7][9] = 5
    assert C.confusion_claim(other, report_confusion(), names)["verdict"] == "not supported"
    other[3][5] = 40                # cat/dog tops it now: one of three shared
    assert C.confusion_claim(other, report_confusion(), names)["verdict"] == "inconclusive"


@pytest.mark.parametrize("xavier, default, verdict", [
    ([55.0, 55.6, 54.8], [51.0, 51.5, 50.7], "not supported"),   # Xavier helped, beyond noise
    ([49.0, 49.3, 48.8], [51.0, 51.5, 50.7], "supported"),       # it hurt
    ([51.0, 51.2, 50.9], [51.0, 51.3, 50.8], "supported"),       # no gain as large as a point
    ([50.0, 53.5, 51.0], [51.0, 51.5, 50.7], "inconclusive"),
])
def test_claim_five_is_a_claim_of_no_help(xavier, default, verdict):
    result = C.no_help_claim(xavier, default)
    assert result["p_value"] == pytest.approx(sp.ttest_ind(xavier, default, equal_var=False).pvalue)
    assert result["verdict"] == verdict


def test_claim_six_counts_epochs_to_reach_bases_final_mean():
    curves = {"base": [30.0, 40.0, 45.0, 50.0], "stepping": [35.0, 44.0, 50.5], "best": [48.0, 52.0]}
    result = C.fewer_epochs_claim(curves)
    assert result["evidence"]["epochs"] == {"base": 4, "stepping": 3, "best": 2} and result["verdict"] == "supported"
    slow = C.fewer_epochs_claim({**curves, "best": [40.0, 45.0]})
    assert slow["evidence"]["epochs"]["best"] is None and slow["verdict"] == "not supported"


# --- a study before any trial finished: readable, nothing made up -----------------------------------------
def test_a_study_reads_before_any_trial_finished_and_writes_up(tiny_data, tmp_path):
    from cinic.sweeps.runner import prepare

    spec = reproduce.study_spec(tiny_data, seeds=2, name="early")
    prepare(parse_spec(spec), tmp_path)
    result = reproduce.study_result("early", tmp_path)
    assert result["state"] == "never started" and result["data"]["train_images"] == 160
    assert [v["variant"] for v in result["variants"]] == ["base", "stepping", "best"]
    assert all(v["n"] == 0 and v["test_mean"] is None and v["verdict"] is None for v in result["variants"])
    assert [c["id"] for c in result["claims"]] == [1, 2, 3, 4, 5, 6]
    assert {c["verdict"] for c in result["claims"]} == {"inconclusive"}
    page = writeup.writeup_html(result)
    assert "<svg" in page and "src='http" not in page and 'src="http' not in page
    table = list(csv.reader(io.StringIO(writeup.table_csv(result))))
    assert table[0][:4] == ["variant", "recipe", "what it changes", "report test %"] and len(table) == 6
    assert writeup.table_markdown(result).startswith("this data set (160 training images) is not the report's")
    with pytest.raises(reproduce.StudyError):
        reproduce.study_result("no-such-study", tmp_path)


def test_the_plan_counts_trainings_and_divides_the_time_by_the_trials_at_once(tiny_data, tmp_path, one_thread):
    spec = reproduce.study_spec(tiny_data, seeds=2, epochs_scale=0.25)
    plan = reproduce.plan(spec, tmp_path, max_concurrent=1)
    assert (plan["trainings"], plan["to_run"], plan["concurrent"]) == (10, 10, 1)
    assert set(plan["s_per_epoch"]) == {"base", "stepping", "best"} and all(s > 0 for s in plan["s_per_epoch"].values())
    epochs = sum(t.config["epochs"] * plan["s_per_epoch"][t.config["preset"]] for t in parse_spec(spec).trials)
    assert plan["estimate_s"] == pytest.approx(epochs)
    assert set(plan["timed_from"].values()) == {"a timing run"}


# --- the whole thing, from the command line ----------------------------------------------------------------
@pytest.mark.slow
def test_reproduce_end_to_end_from_the_cli(tiny_data, tmp_path, capsys):
    """Tiny settings (the tiny data set, 2 seeds, a fifth of the epochs): every figure is the trials' own,
    the p-values are scipy's on the trial figures, and a rerun trains nothing."""
    from cinic.cli import main
    from cinic.runs.folder import RunFolder

    argv = ["reproduce", "--data", str(tiny_data), "--seeds", "2", "--epochs-scale", "0.2", "--runs-root",
            str(tmp_path), "--max-concurrent", "2", "--json", "--out", str(tmp_path / "w.html")]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["state"] == "finished" and result["data"]["comparable_to_report"] is False
    figures = {}
    for v in result["variants"] + result["extra_arms"]:
        tests = [RunFolder(p).evaluation()["accuracy"] for p in v["trials"]]
        figures[v["name"]] = tests
        assert v["n"] == len(tests) == 2 and v["test_mean"] == pytest.approx(statistics.mean(tests))
        if statistics.stdev(tests) > 0:
            sem = statistics.stdev(tests) / math.sqrt(2)
            assert v["test_ci95"] == pytest.approx(list(sp.t.interval(0.95, 1, loc=statistics.mean(tests),
                                                                      scale=sem)))
    claims = {c["id"]: c for c in result["claims"]}
    for number, (a, b, shift) in {1: ("stepping-report", "base-report", 0), 2: ("best-report", "stepping-report", 10),
                                  4: ("best-report", "best-report-nodrop", 0),
                                  5: ("base-report-xavier", "base-report", 0)}.items():
        xs, ys = figures[a], [y + shift for y in figures[b]]
        expected = sp.ttest_ind(xs, ys, equal_var=False).pvalue
        if math.isnan(expected):
            assert claims[number]["p_value"] is None
        else:
            assert claims[number]["p_value"] == pytest.approx(expected)
    summed = [[0] * 10 for _ in range(10)]
    for path in next(v for v in result["variants"] if v["name"] == "best-report")["trials"]:
        for i, row in enumerate(RunFolder(path).evaluation()["confusion"]):
            summed[i] = [x + y for x, y in zip(summed[i], row)]
    assert result["confusion"]["study"] == summed
    assert {c["verdict"] for c in result["claims"]} <= {"supported", "not supported", "inconclusive"}
    page = (tmp_path / "w.html").read_text()
    assert page.count("<svg") >= 3 and "src='http" not in page
    stamps = {p: (RunFolder(p).path / "status.json").stat().st_mtime_ns
              for v in result["variants"] for p in v["trials"]}
    assert main(argv) == 0  # again: nothing retrained
    capsys.readouterr()
    assert stamps == {p: (RunFolder(p).path / "status.json").stat().st_mtime_ns for p in stamps}


def test_one_run_a_side_in_a_study_is_compared_image_by_image(trained):
    """With one seed, claims 1, 4 and 5 compare the two runs on the same test images (exact McNemar)."""
    run = {"state": "finished", "test_acc": 30.0, "path": str(trained.path), "curve": [30.0], "confusion": None}
    by_arm = {name: [run] for name in ("base-report", "stepping-report", "best-report", "best-report-nodrop",
                                       "base-report-xavier")}
    confusion = {"study": None, "report": report_confusion(), "classes": classes()}
    found = {c["id"]: c for c in reproduce._claims(by_arm, [], confusion, trained.path.parent)}
    for number in (1, 4, 5):
        assert found[number]["test"] == C.MCNEMAR and found[number]["p_value"] == 1.0   # the same run: no image differs
        assert (found[number]["evidence"]["fixed"], found[number]["evidence"]["broken"]) == (0, 0)
        assert found[number]["verdict"] == "inconclusive"


def test_more_seeds_later_keep_the_trials_already_there(tiny_data, tmp_path):
    """--seeds 3 after --seeds 2: the study goes on (its spec grows), seeds 0 and 1 keep their run folders;
    any other change of settings under the same name is still refused."""
    from cinic.sweeps.runner import SweepError, prepare

    two = parse_spec(reproduce.study_spec(tiny_data, seeds=2, name="grow"))
    prepare(two, tmp_path)
    marker = tmp_path / two.trials[0].name / "marker"
    marker.write_text("kept")
    three = parse_spec(reproduce.study_spec(tiny_data, seeds=3, name="grow"))
    reproduce._allow_more_seeds(three, tmp_path)
    prepare(three, tmp_path)
    assert marker.read_text() == "kept" and (tmp_path / three.trials[2].name / "config.json").is_file()
    other = parse_spec(reproduce.study_spec(tiny_data, seeds=4, name="grow", claims=False))
    reproduce._allow_more_seeds(other, tmp_path)
    with pytest.raises(SweepError):
        prepare(other, tmp_path)


@pytest.mark.parametrize("scale, claims, ours", [(1.0, True, False), (0.2, False, True), (0.37, True, True)])
def test_the_command_a_study_records_makes_the_same_study(tiny_data, scale, claims, ours):
    import re

    spec = reproduce.study_spec(tiny_data, seeds=2, name="again", claims=claims, ours=ours, epochs_scale=scale)
    command = reproduce.equivalent_command(spec)
    found = re.search(r"--epochs-scale (\S+)", command)
    rebuilt = reproduce.study_spec(tiny_data, seeds=int(re.search(r"--seeds (\d+)", command).group(1)),
                                   name="again", claims="--no-claims" not in command, ours="--ours" in command,
                                   epochs_scale=float(found.group(1)) if found else 1.0)
    assert rebuilt == spec
