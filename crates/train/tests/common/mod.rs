//! Helpers shared by the training tests: a deterministic batch with labels, one training step of
//! the LOEV++ test model on it, closeness checks that report the largest deviation they saw, and
//! small runs in scratch folders.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_augment::Batch;
use loev_core::rng::rng_from_seed;
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};
use loev_train::step::StepError;
use loev_train::{AnchorMean, HeadObjective, LossSettings, StepBatch, StepGradients, TrainConfig, ViewLabels};
use rand::RngExt;

/// Mel bands and frames of the test inputs: small enough for software GPUs, whose shaders stop
/// long loops early (Mesa's llvmpipe caps a loop at 65,535 iterations).
pub const MELS: usize = 32;
/// See [`MELS`].
pub const FRAMES: usize = 64;

/// The presets' loss: temperature 0.1, mean over all anchors.
pub const SETTINGS: LossSettings = LossSettings {
    temperature: 0.1,
    anchor_mean: AnchorMean::AllAnchors,
};

/// The LOEV++ test model with an invariant head and pitch / tempo leave-out heads.
pub fn loev_plusplus_test_config() -> LoevModelConfig {
    LoevModelConfig::new(
        EncoderConfig::test(),
        vec!["invariant".into(), "pitch_shift".into(), "time_stretch".into()],
    )
    .with_projection_dims(vec![64, 32])
    .with_plusplus(true)
}

/// The heads' positive rules, in the order of [`loev_plusplus_test_config`].
pub fn loev_objectives() -> Vec<HeadObjective> {
    vec![
        HeadObjective::Invariant,
        HeadObjective::LeaveOut { variant: 0 },
        HeadObjective::LeaveOut { variant: 1 },
    ]
}

/// A batch of `clips` × `views_per_clip` views: each clip a sum of sinusoids over (mel, frame)
/// with its own frequencies, each view that pattern plus its own noise; tracking drawn at random
/// over two variants. Structured inputs matter: pure noise pools to near-identical embeddings.
pub fn batch(clips: usize, views_per_clip: usize, seed: u64) -> (Vec<f32>, ViewLabels) {
    let mut rng = rng_from_seed(seed);
    let views = clips * views_per_clip;
    let mut inputs = Vec::with_capacity(views * MELS * FRAMES);
    let mut clip_ids = Vec::with_capacity(views);
    let mut tracking = Vec::with_capacity(views * 2);
    for clip in 0..clips {
        let (fm, ft) = (0.2 + 0.15 * clip as f32, 0.05 + 0.07 * clip as f32);
        for _ in 0..views_per_clip {
            for m in 0..MELS {
                for t in 0..FRAMES {
                    let pattern = (fm * m as f32).sin() * (ft * t as f32).cos();
                    inputs.push(pattern + 0.3 * rng.random_range(-1.0f32..1.0));
                }
            }
            clip_ids.push(clip as u32);
            tracking.push(u8::from(rng.random_bool(0.5)));
            tracking.push(u8::from(rng.random_bool(0.5)));
        }
    }
    let labels = ViewLabels {
        clip_ids,
        tracking,
        n_variants: 2,
    };
    (inputs, labels)
}

/// `inputs` (views of [`MELS`] × [`FRAMES`]) with their labels, as one training step reads them.
pub fn step_batch<'a>(inputs: &'a [f32], labels: &'a ViewLabels) -> StepBatch<'a> {
    StepBatch {
        inputs,
        first_input: 0,
        n_mels: MELS,
        n_frames: FRAMES,
        labels,
    }
}

/// One training step of `model` (of [`loev_plusplus_test_config`]) on `inputs` with `labels`,
/// split over `devices`: the losses and gradients of [`loev_objectives`] with [`SETTINGS`],
/// stochastic depth drawn from `seed`.
pub fn plusplus_step(
    model: &LoevModel,
    inputs: &[f32],
    labels: &ViewLabels,
    devices: &[Device],
    seed: u64,
) -> Result<StepGradients, StepError> {
    let step_batch = step_batch(inputs, labels);
    loev_train::step_gradients(model, step_batch, devices, &loev_objectives(), SETTINGS, seed)
}

/// The labels of a loader batch, as the trainer builds them.
pub fn batch_labels(batch: &Batch) -> ViewLabels {
    ViewLabels {
        clip_ids: batch.clip_ids.clone(),
        tracking: batch.tracking.clone(),
        n_variants: batch.variant_names.len(),
    }
}

/// A loader batch with its `labels` (see [`batch_labels`]), as the trainer hands it to a step.
pub fn loader_step_batch<'a>(batch: &'a Batch, labels: &'a ViewLabels) -> StepBatch<'a> {
    StepBatch {
        inputs: &batch.inputs,
        first_input: 0,
        n_mels: batch.n_mels,
        n_frames: batch.n_frames,
        labels,
    }
}

/// Largest |a − b| relative to the larger of `floor` and the largest |b|.
pub fn relative_deviation(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// The largest [`relative_deviation`] of `actual[i]` from `expected[i]` (the same number of
/// tensors); fails when one exceeds `tolerance`, naming it by `what(i)`.
pub fn worst_deviation<A: AsRef<[f32]>, E: AsRef<[f32]>>(
    actual: &[A],
    expected: &[E],
    floor: f32,
    tolerance: f32,
    what: impl Fn(usize) -> String,
) -> f32 {
    assert_eq!(actual.len(), expected.len(), "tensor counts differ");
    let mut worst = 0.0f32;
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let deviation = relative_deviation(a.as_ref(), e.as_ref(), floor);
        assert!(deviation <= tolerance, "{} deviates by {deviation:e}", what(i));
        worst = worst.max(deviation);
    }
    worst
}

/// The values of named tensors (parameter ids or names), in order.
pub fn tensors<K>(named: &[(K, Vec<f32>)]) -> Vec<&[f32]> {
    named.iter().map(|(_, values)| values.as_slice()).collect()
}

/// The largest |gradient| of any parameter.
pub fn gradient_scale(gradients: &[(u64, Vec<f32>)]) -> f32 {
    gradients
        .iter()
        .flat_map(|(_, g)| g.iter())
        .fold(0.0f32, |m, v| m.max(v.abs()))
}

/// A fresh, empty folder under the system temp dir, unique to this test process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-train-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// [`loev_train::fixtures::small_corpus_cache`], which cannot fail in a test.
pub fn small_cache(root: &Path) -> PathBuf {
    loev_train::fixtures::small_corpus_cache(root).expect("cache")
}

/// [`loev_train::fixtures::small_run_config`], which cannot fail in a test.
pub fn small_config(name: &str, cache: &Path, steps: u64) -> TrainConfig {
    loev_train::fixtures::small_run_config(name, cache, steps).expect("valid test config")
}
