//! Invariance analysis (the seed paper's Fig. 3; synesis' `covariate_shift`): the
//! cosine distance d = 1 − cos(z, z*) between the track embedding of a clean clip and that of
//! the same clip pitch-shifted by s semitones (−12 … +12) or time-stretched by rate r
//! (0.5 … 1.5), averaged over clips, per embedding space. Distances are computed per item
//! (never over the whole batch: synesis' `covariate_shift` takes its l1/l2 norms over the whole
//! batch, `torch.norm` without `dim`, and that mistake is not repeated here).

use std::path::Path;

use loev_augment::{pitch_shift, time_stretch};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::embed::Embedder;
use crate::retrieval::cosine_similarity;

/// Which transforms at which sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvarianceConfig {
    /// Pitch shifts in semitones.
    pub semitones: Vec<f64>,
    /// Time-stretch playback rates (> 1 = faster).
    pub rates: Vec<f64>,
    /// Analyse the first this many seconds of each clip (`None` = whole clip).
    pub clip_seconds: Option<f64>,
}

impl Default for InvarianceConfig {
    fn default() -> Self {
        Self {
            semitones: (-12..=12).map(f64::from).collect(),
            rates: (5..=15).map(|tenths| f64::from(tenths) / 10.0).collect(),
            clip_seconds: None,
        }
    }
}

/// A transform of the analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Pitch shift; the parameter is in semitones.
    PitchShift,
    /// Time stretch; the parameter is the playback rate.
    TimeStretch,
}

impl Transform {
    /// Name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Transform::PitchShift => "pitch_shift",
            Transform::TimeStretch => "time_stretch",
        }
    }

    /// The parameter that leaves a clip unchanged: 0 semitones, rate 1.
    pub fn identity(self) -> f64 {
        match self {
            Transform::PitchShift => 0.0,
            Transform::TimeStretch => 1.0,
        }
    }

    /// `clip` transformed by `parameter` (semitones or rate); the [identity](Self::identity)
    /// returns the clip unchanged. `c` names the clip in the error.
    pub fn apply(self, clip: &[f32], parameter: f64, c: usize) -> Result<Vec<f32>, EvalError> {
        if parameter == self.identity() {
            return Ok(clip.to_vec());
        }
        match self {
            Transform::PitchShift => pitch_shift(clip, parameter),
            Transform::TimeStretch => time_stretch(clip, parameter),
        }
        .map_err(|e| EvalError::Audio {
            path: format!("clip {c}").into(),
            reason: e.to_string(),
        })
    }
}

/// The first `seconds` of a 16 kHz clip (the whole clip when `None` or shorter).
pub fn leading_seconds(clip: &[f32], seconds: Option<f64>) -> &[f32] {
    match seconds {
        Some(s) => &clip[..clip.len().min((s * loev_audio::SAMPLE_RATE as f64) as usize)],
        None => clip,
    }
}

/// Mean distance at one transform size in one space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvariancePoint {
    /// Model name.
    pub model: String,
    /// Embedding space.
    pub space: String,
    /// Transform.
    pub transform: Transform,
    /// Semitones or rate.
    pub parameter: f64,
    /// Mean cosine distance over clips.
    pub mean_distance: f64,
    /// Standard deviation over clips.
    pub std_distance: f64,
    /// Clips.
    pub clips: usize,
}

/// Measures every space of `embedder` on `clips` (16 kHz mono).
pub fn analyze(
    embedder: &Embedder,
    model: &str,
    clips: &[Vec<f32>],
    config: &InvarianceConfig,
) -> Result<Vec<InvariancePoint>, EvalError> {
    let spaces: Vec<String> = embedder.spaces().iter().map(|s| s.name.clone()).collect();
    let cases: Vec<(Transform, f64)> = config
        .semitones
        .iter()
        .map(|&s| (Transform::PitchShift, s))
        .chain(config.rates.iter().map(|&r| (Transform::TimeStretch, r)))
        .collect();
    // distances[case][space] = per-clip distances
    let mut distances = vec![vec![Vec::with_capacity(clips.len()); spaces.len()]; cases.len()];
    for (c, clip) in clips.iter().enumerate() {
        let clip = leading_seconds(clip, config.clip_seconds);
        let (clean, _) = embedder.embed_audio(clip)?;
        let transformed: Vec<Vec<f32>> = cases
            .par_iter()
            .map(|&(t, p)| t.apply(clip, p, c))
            .collect::<Result<_, _>>()?;
        for (i, audio) in transformed.iter().enumerate() {
            let (moved, _) = embedder.embed_audio(audio)?;
            for (s, (a, b)) in clean.spaces.iter().zip(&moved.spaces).enumerate() {
                // Rounding can put the cosine of identical vectors a hair above 1.
                distances[i][s].push((1.0 - cosine_similarity(&a.mean, &b.mean)).max(0.0));
            }
        }
    }
    let mut points = Vec::new();
    for (s, space) in spaces.iter().enumerate() {
        for (i, &(transform, parameter)) in cases.iter().enumerate() {
            let d = &distances[i][s];
            let n = d.len().max(1) as f64;
            let mean = d.iter().sum::<f64>() / n;
            let std = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            points.push(InvariancePoint {
                model: model.to_string(),
                space: space.clone(),
                transform,
                parameter,
                mean_distance: mean,
                std_distance: std,
                clips: d.len(),
            });
        }
    }
    Ok(points)
}

/// Writes the points as CSV (`model,space,transform,parameter,mean_distance,std_distance,clips`).
pub fn write_csv(path: &Path, points: &[InvariancePoint]) -> Result<(), EvalError> {
    crate::tables::write_csv_records(path, points)
}
