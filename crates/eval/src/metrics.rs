//! Evaluation metrics with the semantics of the reference implementations (scikit-learn for
//! ROC-AUC and AP, mir_eval for the key score, Gouyon's definitions for tempo Acc1/Acc2),
//! checked against values computed with scikit-learn 1.9.1 and mir_eval 0.8.2
//! (`crates/eval/tests/metric_reference.rs`).
//!
//! * ROC-AUC and average precision per label follow scikit-learn exactly, ties included: items
//!   are sorted by score and every *distinct* score is one threshold, so tied items enter the
//!   curve together. ROC-AUC is the trapezoid area of that curve; AP is the step sum
//!   Σ (Rₙ − Rₙ₋₁)·Pₙ (not interpolated).
//! * A label with one class only: ROC-AUC is undefined (`None`; scikit-learn returns NaN);
//!   AP is 0 for a label with no positive and 1 for a label with only positives (as sklearn).
//! * The macro mean over labels follows a [`MacroPolicy`]; the reports of this crate use
//!   [`MacroPolicy::SkipUndefined`] (torchmetrics' rule for NaN classes) and say how many labels
//!   were skipped, so that a validation split where a tag has no positive still gives a figure.
//! * Key (mir_eval weighted score, and its mean over pairs, `loev_data::labels::mean_key_score`)
//!   and tempo (Acc1/Acc2) scores are the functions of `loev_data::labels`; this module
//!   aggregates the tempo ones.
//! * Tempo regression ([`tempo_regression_scores`]): Spearman's ρ follows
//!   `scipy.stats.spearmanr` (Pearson's correlation of the ranks, tied items sharing the mean
//!   of their ranks; undefined when either side is constant), the median follows
//!   `numpy.median` (the mean of the two middle values for an even count). Checked against
//!   scipy 1.17.1 and numpy 2.4.6 in the same reference file.

use loev_data::labels::{tempo_acc1, tempo_acc2};

/// How a macro mean treats labels whose metric is undefined (one class present).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MacroPolicy {
    /// Leave undefined labels out of the mean (torchmetrics' handling of NaN classes).
    #[default]
    SkipUndefined,
    /// Any undefined label makes the mean undefined (scikit-learn ≥ 1.6 returns NaN).
    Propagate,
    /// Count undefined labels as 0.
    Zero,
}

/// Cumulative (false positives, true positives) at each distinct score, scores descending.
/// Non-finite scores are ranked last (NaN below −∞), so a bad prediction never panics.
fn threshold_counts(y_true: &[bool], scores: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len().min(y_true.len())).collect();
    let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    order.sort_by(|&a, &b| {
        key(scores[b])
            .total_cmp(&key(scores[a]))
            .then(scores[a].is_nan().cmp(&scores[b].is_nan()))
    });
    let mut points = Vec::new();
    let (mut fp, mut tp) = (0.0, 0.0);
    for (i, &idx) in order.iter().enumerate() {
        if y_true[idx] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last = i + 1 == order.len();
        if last || key(scores[order[i + 1]]).to_bits() != key(scores[idx]).to_bits() {
            points.push((fp, tp));
        }
    }
    points
}

/// ROC-AUC of one label (scikit-learn `roc_auc_score`); `None` when `y_true` holds one class
/// only (or nothing).
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Option<f64> {
    let points = threshold_counts(y_true, scores);
    let &(negatives, positives) = points.last()?;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut area = 0.0;
    let (mut prev_fpr, mut prev_tpr) = (0.0, 0.0);
    for (fp, tp) in points {
        let (fpr, tpr) = (fp / negatives, tp / positives);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_fpr, prev_tpr) = (fpr, tpr);
    }
    Some(area)
}

/// Average precision of one label (scikit-learn `average_precision_score`): 0 when the label
/// has no positive, the step sum Σ (Rₙ − Rₙ₋₁)·Pₙ otherwise.
pub fn average_precision(y_true: &[bool], scores: &[f64]) -> f64 {
    let points = threshold_counts(y_true, scores);
    let Some(&(_, positives)) = points.last() else {
        return 0.0;
    };
    if positives == 0.0 {
        return 0.0;
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (fp, tp) in points {
        let recall = tp / positives;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    ap.max(0.0)
}

/// The mean of per-label values under `policy`; `None` when no label is defined (or, with
/// [`MacroPolicy::Propagate`], when any is undefined).
pub fn macro_mean(values: &[Option<f64>], policy: MacroPolicy) -> Option<f64> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for v in values {
        match (v, policy) {
            (Some(x), _) => {
                sum += x;
                n += 1;
            }
            (None, MacroPolicy::SkipUndefined) => {}
            (None, MacroPolicy::Propagate) => return None,
            (None, MacroPolicy::Zero) => n += 1,
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Multi-label scores of a tagging task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaggingScores {
    /// Per-label ROC-AUC (`None`: one class present).
    pub roc_auc: Vec<Option<f64>>,
    /// Per-label average precision.
    pub average_precision: Vec<f64>,
    /// Macro ROC-AUC under [`MacroPolicy::SkipUndefined`].
    pub macro_roc_auc: Option<f64>,
    /// Macro AP over the labels with at least one positive (a label without positives has no
    /// ranking to judge; sklearn would count it as 0).
    pub macro_average_precision: Option<f64>,
    /// Labels left out of the macro means because one class only is present.
    pub undefined_labels: usize,
}

/// Scores `predictions` (items × labels, row-major) against multi-hot `targets` (same shape).
pub fn tagging_scores(targets: &[f32], predictions: &[f32], labels: usize) -> TaggingScores {
    let items = targets.len().min(predictions.len()).checked_div(labels).unwrap_or(0);
    let mut roc = Vec::with_capacity(labels);
    let mut ap = Vec::with_capacity(labels);
    let mut ap_defined = Vec::with_capacity(labels);
    for j in 0..labels {
        let y: Vec<bool> = (0..items).map(|i| targets[i * labels + j] > 0.5).collect();
        let s: Vec<f64> = (0..items).map(|i| predictions[i * labels + j] as f64).collect();
        let auc = roc_auc(&y, &s);
        let a = average_precision(&y, &s);
        ap_defined.push(auc.map(|_| a));
        roc.push(auc);
        ap.push(a);
    }
    let undefined = roc.iter().filter(|v| v.is_none()).count();
    TaggingScores {
        macro_roc_auc: macro_mean(&roc, MacroPolicy::SkipUndefined),
        macro_average_precision: macro_mean(&ap_defined, MacroPolicy::SkipUndefined),
        roc_auc: roc,
        average_precision: ap,
        undefined_labels: undefined,
    }
}

/// Index of the largest value; ties go to the lowest index (torch's `argmax`). NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

/// Fraction of items whose predicted class equals the target; `None` for no items.
pub fn accuracy(targets: &[usize], predicted: &[usize]) -> Option<f64> {
    let n = targets.len().min(predicted.len());
    (n > 0).then(|| targets.iter().zip(predicted).filter(|(t, p)| t == p).count() as f64 / n as f64)
}

/// Tempo accuracies of (reference BPM, estimated BPM) pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoScores {
    /// Acc1: within the tolerance of the reference.
    pub acc1: f64,
    /// Acc2 (Gouyon): within the tolerance of the reference × {1, 2, 3, ½, ⅓}.
    pub acc2: f64,
}

/// Acc1 / Acc2 with relative `tolerance` (4 % in the benchmark); `None` for no pairs.
pub fn tempo_scores(pairs: &[(f64, f64)], tolerance: f64) -> Option<TempoScores> {
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let acc1 = pairs.iter().filter(|&&(r, e)| tempo_acc1(r, e, tolerance)).count() as f64 / n as f64;
    let acc2 = pairs.iter().filter(|&&(r, e)| tempo_acc2(r, e, tolerance)).count() as f64 / n as f64;
    Some(TempoScores { acc1, acc2 })
}

/// Ranks of `values` from 1, tied values sharing the mean of their ranks (scipy's
/// `rankdata(method="average")`). NaN ranks above every number, as in a sort by
/// `total_cmp`, so a bad prediction never panics.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]].total_cmp(&values[order[start]]).is_eq() {
            end += 1;
        }
        // Positions start..end (0-based) share the mean of ranks start+1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson's correlation of two equally long series; `None` for fewer than 2 items or when
/// either series is constant (no spread to correlate).
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's rank correlation of `x` and `y` (`scipy.stats.spearmanr`): Pearson's correlation
/// of their average ranks. `None` (scipy: NaN) for fewer than 2 pairs or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    pearson(&average_ranks(&x[..n]), &average_ranks(&y[..n]))
}

/// The median (`numpy.median`: the mean of the two middle values for an even count); `None`
/// for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The relative tolerance of the regression probe's "accuracy within 8 %".
pub const TEMPO_REGRESSION_TOLERANCE: f64 = 0.08;

/// How well continuous tempo estimates follow the reference tempi: readouts that see partial
/// tempo knowledge, which Acc1 at 4 % cannot (an embedding that explains 60 % of the variance
/// of log-tempo on a uniform 60–180 BPM prior still scores about 15 % Acc1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoRegressionScores {
    /// Spearman's ρ between reference and estimate; `None` when either is constant.
    pub spearman: Option<f64>,
    /// Median of |estimate − reference| / reference, in percent.
    pub median_abs_error_percent: f64,
    /// Fraction of estimates within `tolerance` of the reference (Acc1 at that tolerance).
    pub within_tolerance: f64,
}

/// Scores (reference BPM, estimated BPM) pairs; `None` for no pairs.
pub fn tempo_regression_scores(pairs: &[(f64, f64)], tolerance: f64) -> Option<TempoRegressionScores> {
    if pairs.is_empty() {
        return None;
    }
    let (reference, estimate): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let errors: Vec<f64> = pairs.iter().map(|&(r, e)| 100.0 * (e - r).abs() / r).collect();
    let within = pairs.iter().filter(|&&(r, e)| tempo_acc1(r, e, tolerance)).count() as f64 / pairs.len() as f64;
    Some(TempoRegressionScores {
        spearman: spearman(&reference, &estimate),
        median_abs_error_percent: median(&errors)?,
        within_tolerance: within,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_one_threshold() {
        // scikit-learn's tie example: y=[0,1,1,0,1], s=[.5,.5,.9,.1,.5] → AUC = AP = 0.8333.
        let y = [false, true, true, false, true];
        let s = [0.5, 0.5, 0.9, 0.1, 0.5];
        assert!((roc_auc(&y, &s).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert!((average_precision(&y, &s) - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), 0.0);
        assert_eq!(average_precision(&[true, true], &[0.1, 0.2]), 1.0);
        // NaN scores rank last instead of panicking.
        assert_eq!(roc_auc(&[true, false], &[0.3, f64::NAN]), Some(1.0));
    }

    #[test]
    fn macro_policies_differ_only_on_undefined_labels() {
        let v = [Some(0.5), None, Some(1.0)];
        assert_eq!(macro_mean(&v, MacroPolicy::SkipUndefined), Some(0.75));
        assert_eq!(macro_mean(&v, MacroPolicy::Propagate), None);
        assert_eq!(macro_mean(&v, MacroPolicy::Zero), Some(0.5));
        assert_eq!(macro_mean(&[None], MacroPolicy::SkipUndefined), None);
    }

    /// Hand-computed cases, ties included (the scipy reference is in
    /// `tests/metric_reference.rs`).
    #[test]
    fn ranks_and_spearman_by_hand() {
        assert_eq!(average_ranks(&[10.0, 30.0, 20.0, 20.0]), vec![1.0, 4.0, 2.5, 2.5]);
        assert_eq!(average_ranks(&[5.0, 5.0, 5.0]), vec![2.0, 2.0, 2.0]);
        // Any increasing map of x: ρ = 1; reversed: −1.
        let x = [60.0, 75.0, 90.0, 150.0, 180.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.log2()).collect();
        assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        let reversed: Vec<f64> = y.iter().map(|v| -v).collect();
        assert!((spearman(&x, &reversed).unwrap() + 1.0).abs() < 1e-12);
        // Ties: x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]: ρ = 4.5 / sqrt(4.5 · 5).
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((rho - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12, "{rho}");
        // A constant side has no rank order to correlate.
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[7.0, 7.0, 7.0]), None);
        assert_eq!(spearman(&[1.0], &[2.0]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn tempo_regression_scores_by_hand() {
        // Errors 0 %, 5 %, 10 %, 20 %: median 7.5 %; within 8 %: 2 of 4.
        let pairs = [(100.0, 100.0), (100.0, 105.0), (120.0, 108.0), (150.0, 180.0)];
        let s = tempo_regression_scores(&pairs, TEMPO_REGRESSION_TOLERANCE).unwrap();
        assert!((s.median_abs_error_percent - 7.5).abs() < 1e-9, "{s:?}");
        assert_eq!(s.within_tolerance, 0.5);
        // Reference ranks [1.5, 1.5, 3, 4], estimate ranks [1, 2, 3, 4].
        let want = pearson(&[1.5, 1.5, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((s.spearman.unwrap() - want).abs() < 1e-12);
        assert_eq!(tempo_regression_scores(&[], 0.08), None);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.2]), 1);
        assert_eq!(accuracy(&[1, 2, 3], &[1, 0, 3]), Some(2.0 / 3.0));
    }
}
