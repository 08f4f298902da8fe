//! The metrics against reference values computed with mir_eval 0.8.2, scikit-learn 1.9.1 and
//! scipy 1.17.1 (`crates/eval/reference/make_metric_reference.py`, pinned in
//! `crates/eval/reference/requirements.txt`; the output
//! `crates/eval/tests/data/metric_reference.json` is committed).

use loev_data::labels::{KeyLabel, TEMPO_TOLERANCE, key_weighted_score, tempo_acc1, tempo_acc2, tempo_acc2_loev};
use loev_eval::metrics::{
    MacroPolicy, TEMPO_REGRESSION_TOLERANCE, average_precision, macro_mean, roc_auc, spearman, tempo_regression_scores,
};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("data/metric_reference.json");
    serde_json::from_str(text).expect("committed reference JSON parses")
}

fn key_label(text: &str) -> KeyLabel {
    if text.eq_ignore_ascii_case("x") {
        KeyLabel::Unknown
    } else {
        KeyLabel::Key(text.parse().expect("reference keys parse"))
    }
}

#[test]
fn key_weighted_score_matches_mir_eval_on_all_pairs() {
    let data = reference();
    let cases = data["key"].as_array().unwrap();
    assert_eq!(cases.len(), 25 * 25);
    for case in cases {
        let (r, e) = (case["reference"].as_str().unwrap(), case["estimate"].as_str().unwrap());
        let want = case["score"].as_f64().unwrap();
        assert_eq!(key_weighted_score(key_label(r), key_label(e)), want, "{r} vs {e}");
    }
}

fn column(matrix: &Value, j: usize) -> Vec<f64> {
    matrix
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[j].as_f64().unwrap())
        .collect()
}

#[test]
fn roc_auc_and_average_precision_match_scikit_learn() {
    let data = reference();
    for case in data["ranking"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let labels = case["roc_auc"].as_array().unwrap().len();
        let mut aucs = Vec::new();
        let mut aps = Vec::new();
        for j in 0..labels {
            let y: Vec<bool> = column(&case["y_true"], j).iter().map(|&v| v > 0.5).collect();
            let s = column(&case["scores"], j);
            let auc = roc_auc(&y, &s);
            let want_auc = case["roc_auc"][j].as_f64();
            match (auc, want_auc) {
                (Some(a), Some(w)) => assert!((a - w).abs() < 1e-12, "{name} label {j}: AUC {a} vs sklearn {w}"),
                (None, None) => {}
                other => panic!("{name} label {j}: AUC {other:?}"),
            }
            let ap = average_precision(&y, &s);
            let want_ap = case["average_precision"][j].as_f64().unwrap();
            assert!(
                (ap - want_ap).abs() < 1e-12,
                "{name} label {j}: AP {ap} vs sklearn {want_ap}"
            );
            aucs.push(auc);
            aps.push(Some(ap));
        }
        // sklearn's macro: NaN as soon as one label is undefined (our Propagate policy).
        let macro_auc = macro_mean(&aucs, MacroPolicy::Propagate);
        match (macro_auc, case["macro_roc_auc"].as_f64()) {
            (Some(a), Some(w)) => assert!((a - w).abs() < 1e-12, "{name}: macro AUC {a} vs {w}"),
            (None, None) => {}
            other => panic!("{name}: macro AUC {other:?}"),
        }
        let macro_ap = macro_mean(&aps, MacroPolicy::Propagate).unwrap();
        assert!(
            (macro_ap - case["macro_average_precision"].as_f64().unwrap()).abs() < 1e-12,
            "{name}: macro AP"
        );
    }
}

#[test]
fn tempo_accuracies_match_the_reference_definitions() {
    let data = reference();
    for case in data["tempo"].as_array().unwrap() {
        let (r, e) = (case["reference"].as_f64().unwrap(), case["estimate"].as_f64().unwrap());
        let b = |k: &str| case[k].as_bool().unwrap();
        assert_eq!(tempo_acc1(r, e, TEMPO_TOLERANCE), b("acc1"), "acc1 {r} {e}");
        assert_eq!(tempo_acc2(r, e, TEMPO_TOLERANCE), b("acc2"), "acc2 {r} {e}");
        // LOEV's Acc1 is Gouyon's (the tolerance of factor 1 is the same).
        assert_eq!(tempo_acc1(r, e, TEMPO_TOLERANCE), b("loev_acc1"), "loev acc1 {r} {e}");
        assert_eq!(
            tempo_acc2_loev(r, e, TEMPO_TOLERANCE),
            b("loev_acc2"),
            "loev acc2 {r} {e}"
        );
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn tempo_regression_readouts_match_scipy_and_numpy() {
    let data = reference();
    let cases = data["tempo_regression"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (reference, estimate) = (numbers(&case["reference"]), numbers(&case["estimate"]));
        let pairs: Vec<(f64, f64)> = reference.iter().copied().zip(estimate.iter().copied()).collect();
        let scores = tempo_regression_scores(&pairs, TEMPO_REGRESSION_TOLERANCE).unwrap();
        match (scores.spearman, case["spearman"].as_f64()) {
            (Some(got), Some(want)) => assert!((got - want).abs() < 1e-12, "{name}: rho {got} vs scipy {want}"),
            (None, None) => {}
            other => panic!("{name}: rho {other:?}"),
        }
        assert_eq!(spearman(&reference, &estimate), scores.spearman, "{name}");
        let want = case["median_abs_error_percent"].as_f64().unwrap();
        assert!(
            (scores.median_abs_error_percent - want).abs() < 1e-9,
            "{name}: median error {} vs numpy {want}",
            scores.median_abs_error_percent
        );
        let want = case["within_8_percent"].as_f64().unwrap();
        assert!(
            (scores.within_tolerance - want).abs() < 1e-12,
            "{name}: within 8 % {} vs {want}",
            scores.within_tolerance
        );
    }
}
