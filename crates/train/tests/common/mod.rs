//! Helpers shared by the training-step tests: a deterministic batch with labels, and closeness
//! checks that report the largest deviation they saw.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};

use loev_core::rng::rng_from_seed;
use loev_model::{EncoderConfig, LoevModelConfig};
use loev_train::{HeadObjective, ViewLabels};
use rand::RngExt;

/// Mel bands and frames of the test inputs: small enough for software GPUs, whose shaders stop
/// long loops early (Mesa's llvmpipe caps a loop at 65,535 iterations).
pub const MELS: usize = 32;
/// See [`MELS`].
pub const FRAMES: usize = 64;

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

/// Largest |a − b| relative to the larger of `floor` and the largest |b|.
pub fn relative_deviation(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
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
