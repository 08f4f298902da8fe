#!/usr/bin/env python3
"""Reference values for loev-eval's metrics, computed with mir_eval 0.8.2, scikit-learn 1.9.1 and scipy 1.17.1.

Writes crates/eval/tests/data/metric_reference.json, read by crates/eval/tests/metric_reference.rs:

* `key`: mir_eval.key.weighted_score(reference, estimate) for every pair of the 24 major/minor
  keys plus 'X' (25 x 25 = 625 pairs), default arguments (ascending fifths only).
* `ranking`: per-label sklearn roc_auc_score and average_precision_score, and the macro means,
  on multi-label cases with continuous random scores, heavily tied (quantised) scores, a label
  with no positive, a label with only positives and a label whose scores are all equal.
  sklearn 1.9.1 returns NaN for ROC-AUC when y_true has one class (written as null) and 0.0 for
  AP when a label has no positive.
* `tempo`: Acc1 and Acc2 on edge cases, in Gouyon's form as tempo_eval defines it (tolerance
  relative to the scaled reference ref*f, `<=`, factors 1, 2, 3, 1/2, 1/3) and in the form of
  the LOEV reference code (`|est - gt*f| / gt <= tol`). Neither mir_eval nor scikit-learn has
  Acc1/Acc2, so both are written out here from those definitions.
* `tempo_regression`: the regression probe's readouts on (reference BPM, estimated BPM)
  pairs: scipy.stats.spearmanr (NaN, written as null, when a side is constant), numpy.median
  of the absolute error in percent of the reference, and the fraction within 8 % (Gouyon's
  Acc1 form at tolerance 0.08). Cases: continuous estimates, integer tempi with many ties,
  quantised estimates, a constant estimate, perfect and reversed orders, two pairs.

Run from the repository root:
    python -m venv .venv-metrics && .venv-metrics/bin/pip install -r crates/eval/reference/requirements.txt
    .venv-metrics/bin/python crates/eval/reference/make_metric_reference.py
"""
import json
import pathlib
import warnings

import mir_eval
import numpy as np
import scipy.stats
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/data/metric_reference.json"
TONICS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]


def key_cases():
    keys = [f"{t} major" for t in TONICS] + [f"{t} minor" for t in TONICS] + ["X"]
    return [
        {"reference": r, "estimate": e, "score": float(mir_eval.key.weighted_score(r, e))}
        for r in keys
        for e in keys
    ]


def per_label(fn, y, s):
    out = []
    for j in range(y.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = float(fn(y[:, j], s[:, j]))
        out.append(None if np.isnan(v) else v)
    return out


def macro(fn, y, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = float(fn(y, s, average="macro"))
    return None if np.isnan(v) else v


def ranking_case(name, y, s):
    return {
        "name": name,
        "y_true": y.astype(int).tolist(),
        "scores": s.astype(float).tolist(),
        "roc_auc": per_label(roc_auc_score, y, s),
        "average_precision": per_label(average_precision_score, y, s),
        "macro_roc_auc": macro(roc_auc_score, y, s),
        "macro_average_precision": macro(average_precision_score, y, s),
    }


def ranking_cases():
    rng = np.random.default_rng(20250101)
    cases = []
    # Continuous random scores, 5 labels, 40 items, scores correlated with the labels.
    y = (rng.random((40, 5)) < 0.3).astype(int)
    y[0] = 1  # every label has a positive
    y[1] = 0  # and a negative
    s = y * rng.normal(0.6, 0.5, y.shape) + rng.normal(0.0, 0.5, y.shape)
    cases.append(ranking_case("random", y, s))
    # Heavily tied scores: quantised to 4 levels.
    y = (rng.random((30, 4)) < 0.4).astype(int)
    y[0] = 1
    y[1] = 0
    s = np.round((y * 0.3 + rng.random(y.shape)) * 3) / 3
    cases.append(ranking_case("tied", y, s))
    # scikit-learn's tie example as label 0 (y=[0,1,1,0,1], s=[.5,.5,.9,.1,.5]: AUC = AP = 5/6),
    # plus its mirror as label 1.
    y = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [1, 0]])
    s = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
    cases.append(ranking_case("tie_example", y, s))
    # Degenerate labels: no positive (col 1), only positives (col 2), all scores equal (col 3).
    y = (rng.random((12, 4)) < 0.5).astype(int)
    y[0, 0] = 1
    y[1, 0] = 0
    y[:, 1] = 0
    y[:, 2] = 1
    y[0, 3] = 1
    y[1, 3] = 0
    s = rng.random((12, 4))
    s[:, 3] = 0.25
    cases.append(ranking_case("degenerate", y, s))
    # Perfect and reversed rankings.
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    s = np.array([[0.9, 0.9], [0.8, 0.8], [0.3, 0.3], [0.2, 0.2], [0.1, 0.1]])
    cases.append(ranking_case("perfect_and_reversed", y, s))
    return cases


def gouyon_equal(ref, est, tol, factor):
    target = ref * factor
    return bool(ref > 0 and abs(target - est) <= target * tol)


def tempo_cases():
    tol = 0.04
    pairs = [
        (100.0, 100.0), (100.0, 104.0), (100.0, 104.1), (100.0, 96.0), (100.0, 95.9),
        (100.0, 200.0), (100.0, 207.0), (100.0, 208.0), (100.0, 208.5), (100.0, 300.0),
        (100.0, 311.0), (100.0, 313.0), (100.0, 50.0), (100.0, 52.0), (100.0, 53.5),
        (100.0, 33.0), (100.0, 34.6), (100.0, 38.0), (90.0, 30.0), (120.0, 60.0),
        (120.0, 125.0), (127.0, 63.0), (0.0, 0.0), (0.0, 5.0), (60.0, 180.0), (75.0, 149.0),
        (150.0, 49.0), (150.0, 56.0), (299.0, 149.0), (1.0, 3.0),
    ]
    out = []
    for ref, est in pairs:
        acc1 = gouyon_equal(ref, est, tol, 1.0)
        acc2 = any(gouyon_equal(ref, est, tol, f) for f in (1.0, 2.0, 3.0, 0.5, 1.0 / 3.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            loev_acc1 = bool(np.abs(est - ref) / ref <= tol)
            loev_acc2 = bool(min(np.abs(est - ref * f) / ref for f in (0.5, 1.0, 2.0, 3.0, 1.0 / 3.0)) <= tol)
        out.append({"reference": ref, "estimate": est, "acc1": acc1, "acc2": acc2, "loev_acc1": loev_acc1, "loev_acc2": loev_acc2})
    return out


def regression_case(name, reference, estimate):
    reference = np.asarray(reference, dtype=float)
    estimate = np.asarray(estimate, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(scipy.stats.spearmanr(reference, estimate).statistic)
    errors = 100.0 * np.abs(estimate - reference) / reference
    within = [gouyon_equal(r, e, 0.08, 1.0) for r, e in zip(reference, estimate)]
    return {
        "name": name,
        "reference": reference.tolist(),
        "estimate": estimate.tolist(),
        "spearman": None if np.isnan(rho) else rho,
        "median_abs_error_percent": float(np.median(errors)),
        "within_8_percent": float(np.mean(within)),
    }


def tempo_regression_cases():
    rng = np.random.default_rng(20261207)
    cases = []
    # Uniform integer tempi (ties likely), estimates with a log-normal error of spread 0.2.
    ref = rng.integers(60, 181, 37)
    est = ref * np.exp(rng.normal(0.0, 0.2, ref.shape))
    cases.append(regression_case("continuous", ref, est))
    # Few distinct tempi (heavy ties on the reference) and estimates quantised to 10 BPM.
    ref = rng.choice([80, 100, 120, 140], 24)
    est = np.round(ref * np.exp(rng.normal(0.0, 0.15, ref.shape)) / 10.0) * 10.0
    cases.append(regression_case("tied", ref, est))
    # A probe that predicts the same tempo for every track: rho undefined.
    ref = rng.integers(60, 181, 10)
    cases.append(regression_case("constant_estimate", ref, np.full(ref.shape, 117.5)))
    # Even count with exact 8 % boundaries: 100 -> 108 and 150 -> 138 are within, 108.1 is not.
    cases.append(regression_case("boundaries", [100, 150, 100, 90], [108, 138, 108.1, 90]))
    cases.append(regression_case("perfect", [60, 90, 120, 150, 180], [61, 88, 125, 149, 181]))
    cases.append(regression_case("reversed", [60, 90, 120, 150, 180], [181, 149, 125, 88, 61]))
    cases.append(regression_case("two_pairs", [70, 140], [150, 100]))
    return cases


def main():
    data = {
        "versions": {"mir_eval": mir_eval.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "key": key_cases(),
        "ranking": ranking_cases(),
        "tempo": tempo_cases(),
        "tempo_regression": tempo_regression_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(
        f"wrote {OUT}: {len(data['key'])} key pairs, {len(data['ranking'])} ranking cases, "
        f"{len(data['tempo'])} tempo cases, {len(data['tempo_regression'])} tempo regression cases"
    )


if __name__ == "__main__":
    main()
