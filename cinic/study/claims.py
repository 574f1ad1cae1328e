"""The course report's six conclusions as claims, each tested on what the study measured.

A claim gets a verdict: "supported", "not supported" or "inconclusive", the
p-value of its test where it has one, the evidence, and, where inconclusive,
`n_to_settle`: about how many seeds per arm would settle it (80 % power at
the 5 % level for the difference observed, a normal approximation).

Accuracy differences are tested over seeds with Welch's t test (each arm's
runs are independent; their spreads may differ); where each arm has one run
only, the pair is compared image by image with the exact McNemar test
(`cinic.analysis.diff`), given here as its counts. Every function takes plain
figures (lists of test accuracies in percent, matrices, mean curves), so a test
can recompute each verdict with scipy from the trial figures.
"""

from __future__ import annotations

import math
import warnings

from cinic.study.report_figures import CONCLUSIONS

ALPHA = 0.05        # the conventional level
POWER = 0.8         # what n_to_settle aims for
ABOUT = 5.0         # claim 2's "about ten points": the gain pinned within 10 +- 5
MEANINGFUL = 1.0    # claim 5: a gain smaller than a point is no help
TOP_PAIRS = 3       # claim 3 compares the three most confused pairs

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
WELCH = "Welch's t test over seeds (test accuracy)"
MCNEMAR = "exact McNemar test on the test images (one run of each)"


# --- the statistics -----------------------------------------------------------------------------------
def welch(a, b, shift: float = 0.0) -> dict:
    """mean(a) - mean(b) with its Welch 95 % interval, and the two-sided p-value of "the difference is
    `shift`" (scipy.stats.ttest_ind(a, b + shift, equal_var=False)). p and the interval are None with
    fewer than two values on a side, or no spread at all."""
    from scipy import stats

    a, b = [float(x) for x in a], [float(x) for x in b]
    out = {"n_a": len(a), "n_b": len(b), "mean_a": _mean(a), "mean_b": _mean(b), "diff": None,
           "ci95": None, "t": None, "df": None, "p_value": None}
    if a and b:
        out["diff"] = out["mean_a"] - out["mean_b"]
    if len(a) < 2 or len(b) < 2:
        return out
    va, vb = _var(a) / len(a), _var(b) / len(b)
    if va + vb == 0:
        return out
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(va + vb)
    with warnings.catch_warnings():  # one arm's seeds may agree to the last image: scipy warns, the test holds
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, [x + shift for x in b], equal_var=False)
    out.update(ci95=[out["diff"] - half, out["diff"] + half], t=float(result.statistic), df=df,
               p_value=float(result.pvalue))
    return out


def _mean(xs):
    return math.fsum(xs) / len(xs) if xs else None


def _var(xs):
    m = _mean(xs)
    return math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def seeds_to_detect(a, b, gap: float) -> int | None:
    """Seeds per arm for a two-sided Welch test at ALPHA to find a difference of `gap` points with
    POWER, given the spreads seen; None where there is no spread or no gap to find."""
    from scipy.stats import norm

    if len(a) < 2 or len(b) < 2 or not gap:
        return None
    sd = math.sqrt((_var(a) + _var(b)) / 2)
    if sd == 0:
        return None
    z = float(norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER))
    return max(math.ceil(2 * (z * sd / abs(gap)) ** 2), len(a) + 1, len(b) + 1)


def seeds_for_width(a, b, half_width: float) -> int | None:
    """Seeds per arm for the difference's 95 % interval to be narrower than +- `half_width`."""
    from scipy.stats import norm

    if len(a) < 2 or len(b) < 2 or half_width <= 0:
        return None
    spread = math.sqrt(_var(a) + _var(b))
    if spread == 0:
        return None
    return max(math.ceil((float(norm.ppf(0.975)) * spread / half_width) ** 2) + 1, len(a) + 1, len(b) + 1)


# --- the claims ------------------------------------------------------------------------------------------
def claim(number: int, verdict: str, test: str, p_value, evidence: dict, n_to_settle=None) -> dict:
    return {"id": number, "claim": CONCLUSIONS[number], "verdict": verdict, "p_value": p_value, "test": test,
            "evidence": evidence, "n_to_settle": n_to_settle if verdict == INCONCLUSIVE else None}


def better_claim(number: int, better: list, worse: list, names: tuple[str, str], pair: dict | None = None) -> dict:
    """Claims 1 and 4: arm `better` beats arm `worse`. Welch over seeds; McNemar on one pair of runs."""
    if len(better) == 1 and len(worse) == 1 and pair is not None:
        return _mcnemar_claim(number, pair, names, better, worse)
    w = welch(better, worse)
    evidence = {"a": names[0], "b": names[1], **w}
    if w["p_value"] is None:
        return claim(number, INCONCLUSIVE, WELCH, None, evidence, _more_seeds(better, worse))
    if w["p_value"] < ALPHA:
        return claim(number, SUPPORTED if w["diff"] > 0 else NOT_SUPPORTED, WELCH, w["p_value"], evidence)
    return claim(number, INCONCLUSIVE, WELCH, w["p_value"], evidence, seeds_to_detect(better, worse, w["diff"]))


def _mcnemar_claim(number: int, pair: dict, names, better, worse) -> dict:
    """`pair`: {"fixed": images the better arm gets right and the other wrong, "broken": the reverse,
    "p_value": exact McNemar}."""
    evidence = {"a": names[0], "b": names[1], "mean_a": float(better[0]), "mean_b": float(worse[0]),
                "diff": float(better[0]) - float(worse[0]), "fixed": pair["fixed"], "broken": pair["broken"]}
    p = pair["p_value"]
    if p < ALPHA:
        return claim(number, SUPPORTED if pair["fixed"] > pair["broken"] else NOT_SUPPORTED, MCNEMAR, p, evidence)
    return claim(number, INCONCLUSIVE, MCNEMAR, p, evidence, None)


def _more_seeds(a, b) -> int | None:
    """With one seed a side (and no image-by-image pair), the spread is unknown: two more per arm
    at least."""
    return 3 if len(a) < 2 or len(b) < 2 else None


def about_ten_claim(best: list, stepping: list) -> dict:
    """Claim 2: best - stepping is about 10 points. Welch's interval of the difference against 10:
    not supported when 10 lies outside it (p < ALPHA for "the gain is 10"); supported when 10 lies
    inside and the interval sits within 10 +- ABOUT; else inconclusive."""
    w = welch(best, stepping, shift=10.0)
    evidence = {"a": "best", "b": "stepping", "claimed_gain": 10.0, "about": ABOUT, **w}
    if w["p_value"] is None:
        return claim(2, INCONCLUSIVE, WELCH + ", against a gain of 10", None, evidence, _more_seeds(best, stepping))
    low, high = w["ci95"]
    if w["p_value"] < ALPHA:
        return claim(2, NOT_SUPPORTED, WELCH + ", against a gain of 10", w["p_value"], evidence)
    if 10 - ABOUT <= low and high <= 10 + ABOUT:
        return claim(2, SUPPORTED, WELCH + ", against a gain of 10", w["p_value"], evidence)
    need = (seeds_for_width(best, stepping, ABOUT - abs(w["diff"] - 10)) if abs(w["diff"] - 10) < ABOUT
            else seeds_to_detect(best, stepping, w["diff"] - 10))  # enough to tell the gap seen from 10
    return claim(2, INCONCLUSIVE, WELCH + ", against a gain of 10", w["p_value"], evidence, need)


def confused_pairs(matrix, classes, k: int = TOP_PAIRS) -> list[dict]:
    """The k pairs of classes most often taken for each other (both directions), most first:
    {"pair": [a, b], "count", "share": % of all mistakes}."""
    n = len(classes)
    mistakes = sum(matrix[i][j] for i in range(n) for j in range(n) if i != j)
    pairs = [{"pair": [classes[i], classes[j]], "count": int(matrix[i][j] + matrix[j][i])}
             for i in range(n) for j in range(i + 1, n)]
    pairs.sort(key=lambda p: -p["count"])
    for p in pairs:
        p["share"] = 100.0 * p["count"] / mistakes if mistakes else None
    return pairs[:k]


def confusion_claim(study, report, classes) -> dict:
    """Claim 3: the study's most confused pairs are the report's. Supported when at least two of its
    top three are among the report's top three, not supported when none is, else inconclusive."""
    ours, theirs = confused_pairs(study, classes), confused_pairs(report, classes)
    shared = [p["pair"] for p in ours if p["count"] and any(set(p["pair"]) == set(q["pair"]) for q in theirs)]
    evidence = {"study_top": ours, "report_top": theirs, "shared": shared}
    test = f"the {TOP_PAIRS} most confused pairs of best's matrix, against the report's"
    if not any(p["count"] for p in ours):
        return claim(3, INCONCLUSIVE, test, None, evidence)
    verdict = SUPPORTED if len(shared) >= 2 else NOT_SUPPORTED if not shared else INCONCLUSIVE
    return claim(3, verdict, test, None, evidence)


def no_help_claim(xavier: list, default: list, pair: dict | None = None) -> dict:
    """Claim 5: Xavier weights did not help base. Not supported when Xavier is better beyond noise;
    supported when it is worse beyond noise, or when the interval rules out a gain of MEANINGFUL points;
    else inconclusive."""
    names = ("base, Xavier init", "base, PyTorch's default init")
    if len(xavier) == 1 and len(default) == 1 and pair is not None:
        flipped = _mcnemar_claim(5, pair, names, xavier, default)
        if flipped["verdict"] == INCONCLUSIVE:
            return flipped
        return {**flipped, "verdict": NOT_SUPPORTED if flipped["verdict"] == SUPPORTED else SUPPORTED}
    w = welch(xavier, default)
    evidence = {"a": names[0], "b": names[1], "meaningful_gain": MEANINGFUL, **w}
    if w["p_value"] is None:
        return claim(5, INCONCLUSIVE, WELCH, None, evidence, _more_seeds(xavier, default))
    if w["p_value"] < ALPHA:
        return claim(5, NOT_SUPPORTED if w["diff"] > 0 else SUPPORTED, WELCH, w["p_value"], evidence)
    if w["ci95"][1] < MEANINGFUL:
        return claim(5, SUPPORTED, WELCH, w["p_value"], evidence)
    need = (seeds_for_width(xavier, default, MEANINGFUL - w["diff"]) if w["diff"] < MEANINGFUL
            else seeds_to_detect(xavier, default, w["diff"]))
    return claim(5, INCONCLUSIVE, WELCH, w["p_value"], evidence, need)


def epochs_to_reach(curve, target: float) -> int | None:
    """The first epoch (from 1) at which a mean validation curve reaches `target`; None if it never does."""
    return next((i + 1 for i, value in enumerate(curve) if value is not None and value >= target), None)


def fewer_epochs_claim(curves: dict) -> dict:
    """Claim 6: best (the most weights) reaches base's final mean validation accuracy in fewer epochs
    than base does. `curves`: {"base"|"stepping"|"best": [mean valid % per epoch]}, report recipe."""
    test = "first epoch at which each mean validation curve reaches base's final mean"
    base, best = curves.get("base") or [], curves.get("best") or []
    if not base or not best:
        return claim(6, INCONCLUSIVE, test, None, {"target": None, "epochs": {}})
    target = base[-1]
    epochs = {name: epochs_to_reach(curve, target) for name, curve in curves.items() if curve}
    evidence = {"target": target, "epochs": epochs, "trained": {k: len(v) for k, v in curves.items() if v}}
    sooner = epochs["best"] is not None and epochs["best"] < epochs["base"]
    return claim(6, SUPPORTED if sooner else NOT_SUPPORTED, test, None, evidence)
