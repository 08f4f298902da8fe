//! Equivariance probes (as in the LOEV authors' `train_equivariance.py` and synesis): how
//! well a frozen embedding space predicts the transform applied to a view. An invariant space
//! has forgotten the transform and predicts it poorly; a space that keeps it (LOEV's variant
//! heads, LOEV++'s branches) predicts it well.
//!
//! For each clip and each of `views_per_clip` draws, the clip is pitch-shifted by
//! s ~ U(semitones) or time-stretched by r ~ U(rates). The feature is the difference between
//! the view's track embedding and the clean clip's (per space), and the target is s or r. A
//! ridge regression (features standardised on the training pairs, λ chosen on a split of the
//! training clips) is fitted on half of the clips and scored by R² on the other half. Clips,
//! not pairs, are split, so a clip's identity cannot leak.

use std::path::Path;

use loev_core::rng::derived_rng;
use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::embed::Embedder;
use crate::invariance::{Transform, leading_seconds};
use crate::outcome::Outcome;

/// What to draw and how to fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EquivarianceConfig {
    /// Views per clip and transform.
    pub views_per_clip: usize,
    /// Range of the pitch shifts in semitones, drawn uniformly.
    pub semitones: [f64; 2],
    /// Range of the playback rates, drawn uniformly.
    pub rates: [f64; 2],
    /// Analyse the first this many seconds of each clip (`None` = whole clip).
    pub clip_seconds: Option<f64>,
    /// Seed of the drawn shifts and rates.
    pub seed: u64,
    /// Ridge strengths tried (on standardised features, per training pair).
    pub ridge_grid: Vec<f64>,
}

impl Default for EquivarianceConfig {
    fn default() -> Self {
        Self {
            views_per_clip: 6,
            semitones: [-4.0, 4.0],
            rates: [0.7, 1.3],
            clip_seconds: Some(6.0),
            seed: 0,
            ridge_grid: vec![1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0],
        }
    }
}

/// The R² of one space for one transform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EquivarianceScore {
    /// Model name.
    pub model: String,
    /// Embedding space.
    pub space: String,
    /// The transform whose parameter is predicted.
    pub transform: Transform,
    /// Coefficient of determination on the test clips' pairs (1 = perfect, 0 = the mean,
    /// negative = worse than the mean).
    pub r2: f64,
    /// The ridge strength chosen on the training clips.
    pub ridge: f64,
    /// Training and test pairs.
    pub train_pairs: usize,
    /// Test pairs.
    pub test_pairs: usize,
}

/// Pairs of one space: features and targets, with the clip each pair came from.
struct Pairs {
    features: Vec<Vec<f64>>,
    targets: Vec<f64>,
    clips: Vec<usize>,
}

/// The fewest clips the probes work with: two to fit, two to test.
pub const MIN_CLIPS: usize = 4;

/// Measures every space of `embedder` on `clips` (16 kHz mono): the R² per space and
/// transform. With fewer than [`MIN_CLIPS`] clips the probes do not run, and the outcome says
/// why.
pub fn analyze_equivariance(
    embedder: &Embedder,
    model: &str,
    clips: &[Vec<f32>],
    config: &EquivarianceConfig,
) -> Result<Outcome<EquivarianceScore>, EvalError> {
    if clips.len() < MIN_CLIPS {
        return Ok(Outcome {
            results: Vec::new(),
            left_out: vec![format!(
                "the equivariance probes need at least {MIN_CLIPS} clips (2 to fit, 2 to test), {} given",
                clips.len()
            )],
        });
    }
    let spaces: Vec<String> = embedder.spaces().iter().map(|s| s.name.clone()).collect();
    let transforms = [Transform::PitchShift, Transform::TimeStretch];
    // pairs[transform][space]
    let mut pairs: Vec<Vec<Pairs>> = transforms
        .iter()
        .map(|_| {
            spaces
                .iter()
                .map(|_| Pairs {
                    features: Vec::new(),
                    targets: Vec::new(),
                    clips: Vec::new(),
                })
                .collect()
        })
        .collect();
    for (c, clip) in clips.iter().enumerate() {
        let clip = leading_seconds(clip, config.clip_seconds);
        // One clean embedding per clip, shared by both transforms.
        let (clean, _) = embedder.embed_audio(clip)?;
        for (transform, pairs) in transforms.iter().copied().zip(pairs.iter_mut()) {
            let mut rng = derived_rng(config.seed, &[transform as u64, c as u64]);
            let [low, high] = match transform {
                Transform::PitchShift => config.semitones,
                Transform::TimeStretch => config.rates,
            };
            let parameters: Vec<f64> = (0..config.views_per_clip)
                .map(|_| low + (high - low) * rng.random::<f64>())
                .collect();
            let views: Vec<Vec<f32>> = parameters
                .par_iter()
                .map(|&p| transform.apply(clip, p, c))
                .collect::<Result<_, _>>()?;
            for (view, &parameter) in views.iter().zip(&parameters) {
                let (moved, _) = embedder.embed_audio(view)?;
                for (space_pairs, (a, b)) in pairs.iter_mut().zip(clean.spaces.iter().zip(&moved.spaces)) {
                    let difference = b.mean.iter().zip(&a.mean).map(|(x, y)| f64::from(x - y)).collect();
                    space_pairs.features.push(difference);
                    space_pairs.targets.push(parameter);
                    space_pairs.clips.push(c);
                }
            }
        }
    }
    let mut scores = Outcome::default();
    for (transform, pairs) in transforms.iter().copied().zip(&pairs) {
        for (space, pairs) in spaces.iter().zip(pairs) {
            let (r2, ridge, train_pairs, test_pairs) = fit_and_score(pairs, &config.ridge_grid);
            scores.results.push(EquivarianceScore {
                model: model.to_string(),
                space: space.clone(),
                transform,
                r2,
                ridge,
                train_pairs,
                test_pairs,
            });
        }
    }
    Ok(scores)
}

/// Even clips fit, odd clips test. λ is chosen by fitting on the training clips ≡ 0 (mod 4)
/// and scoring on those ≡ 2 (mod 4), then the model is refitted on all training clips.
fn fit_and_score(pairs: &Pairs, grid: &[f64]) -> (f64, f64, usize, usize) {
    let select = |keep: &dyn Fn(usize) -> bool| -> Vec<usize> {
        (0..pairs.targets.len()).filter(|&i| keep(pairs.clips[i])).collect()
    };
    let train = select(&|c| c % 2 == 0);
    let test = select(&|c| c % 2 == 1);
    let inner_fit = select(&|c| c % 4 == 0);
    let inner_test = select(&|c| c % 4 == 2);
    let ridge = grid
        .iter()
        .copied()
        .map(|l| (l, r_squared(pairs, &inner_fit, &inner_test, l)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(l, _)| l);
    (r_squared(pairs, &train, &test, ridge), ridge, train.len(), test.len())
}

/// R² on `test` of a ridge regression fitted on `fit` with strength `ridge` (per pair, on
/// standardised features).
fn r_squared(pairs: &Pairs, fit: &[usize], test: &[usize], ridge: f64) -> f64 {
    if fit.is_empty() || test.is_empty() {
        return f64::NAN;
    }
    let dim = pairs.features[0].len();
    let n = fit.len() as f64;
    let mean: Vec<f64> = (0..dim)
        .map(|d| fit.iter().map(|&i| pairs.features[i][d]).sum::<f64>() / n)
        .collect();
    let std: Vec<f64> = (0..dim)
        .map(|d| {
            let var = fit
                .iter()
                .map(|&i| (pairs.features[i][d] - mean[d]).powi(2))
                .sum::<f64>()
                / n;
            var.sqrt().max(1e-12)
        })
        .collect();
    let standard = |i: usize| -> Vec<f64> { (0..dim).map(|d| (pairs.features[i][d] - mean[d]) / std[d]).collect() };
    let target_mean = fit.iter().map(|&i| pairs.targets[i]).sum::<f64>() / n;
    // Normal equations (XᵀX + λ·n·I) w = Xᵀy on centred targets.
    let mut gram = vec![vec![0.0; dim]; dim];
    let mut rhs = vec![0.0; dim];
    for &i in fit {
        let x = standard(i);
        let y = pairs.targets[i] - target_mean;
        for ((row, r), &xa) in gram.iter_mut().zip(rhs.iter_mut()).zip(&x) {
            *r += xa * y;
            for (g, &xb) in row.iter_mut().zip(&x) {
                *g += xa * xb;
            }
        }
    }
    for (a, row) in gram.iter_mut().enumerate() {
        row[a] += ridge * n;
    }
    let Some(weights) = solve(gram, rhs) else {
        return f64::NAN;
    };
    let predictions: Vec<f64> = test
        .iter()
        .map(|&i| target_mean + standard(i).iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>())
        .collect();
    let actual: Vec<f64> = test.iter().map(|&i| pairs.targets[i]).collect();
    let actual_mean = actual.iter().sum::<f64>() / actual.len() as f64;
    let residual: f64 = actual.iter().zip(&predictions).map(|(a, p)| (a - p).powi(2)).sum();
    let total: f64 = actual.iter().map(|a| (a - actual_mean).powi(2)).sum();
    if total <= 0.0 { f64::NAN } else { 1.0 - residual / total }
}

/// Solves the symmetric positive-definite system `a x = b` by Cholesky; `None` if `a` is not
/// positive definite (cannot happen with a positive ridge, but stays total).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for j in 0..n {
        let diagonal = a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>();
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        a[j][j] = diagonal.sqrt();
        for i in j + 1..n {
            a[i][j] = (a[i][j] - (0..j).map(|k| a[i][k] * a[j][k]).sum::<f64>()) / a[j][j];
        }
    }
    for i in 0..n {
        b[i] = (b[i] - (0..i).map(|k| a[i][k] * b[k]).sum::<f64>()) / a[i][i];
    }
    for i in (0..n).rev() {
        b[i] = (b[i] - (i + 1..n).map(|k| a[k][i] * b[k]).sum::<f64>()) / a[i][i];
    }
    Some(b)
}

/// Writes the scores as CSV (`model,space,transform,r2,ridge,train_pairs,test_pairs`).
pub fn write_csv(path: &Path, scores: &[EquivarianceScore]) -> Result<(), EvalError> {
    crate::tables::write_csv_records(path, scores)
}

/// The scores as a Markdown table: one row per model and space, R² per transform.
pub fn markdown(scores: &[EquivarianceScore]) -> String {
    let mut text = String::from("| Model | Space | R² pitch shift | R² time stretch |\n|---|---|---:|---:|\n");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for s in scores {
        if !seen.contains(&(s.model.as_str(), s.space.as_str())) {
            seen.push((&s.model, &s.space));
        }
    }
    for (model, space) in seen {
        let r2 = |t: Transform| {
            scores
                .iter()
                .find(|s| s.model == model && s.space == space && s.transform == t)
                .map_or("–".to_string(), |s| format!("{:.3}", s.r2))
        };
        text.push_str(&format!(
            "| {model} | {space} | {} | {} |\n",
            r2(Transform::PitchShift),
            r2(Transform::TimeStretch)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ridge regression recovers a linear target exactly (R² ≈ 1) and scores noise near or
    /// below 0: the R² can fail.
    #[test]
    fn ridge_r2_is_one_for_a_linear_target_and_low_for_noise() {
        let mut rng = derived_rng(5, &[]);
        let n = 80;
        let features: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..6).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
            .collect();
        let linear: Vec<f64> = features.iter().map(|x| 3.0 * x[0] - 2.0 * x[3] + 0.5).collect();
        let noise: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let clips: Vec<usize> = (0..n).map(|i| i / 4).collect();
        let grid = [1e-6, 1e-3, 1.0];
        let fit = |targets: Vec<f64>| {
            fit_and_score(
                &Pairs {
                    features: features.clone(),
                    targets,
                    clips: clips.clone(),
                },
                &grid,
            )
        };
        let (r2, _, train, test) = fit(linear);
        assert!(r2 > 0.999, "{r2}");
        assert_eq!(train + test, n);
        let (r2, _, _, _) = fit(noise);
        assert!(r2 < 0.2, "{r2}");
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let x = solve(a, vec![2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
        assert!(solve(vec![vec![0.0]], vec![1.0]).is_none());
    }
}
