//! Small real training fixtures for tests — of this crate and of the crates above it (the
//! CLI's end-to-end tests): a decode-once cache of a few tracks of the built-in corpus and a
//! test-size run configuration that trains in well under a second per step.

use std::path::{Path, PathBuf};

use loev_audio::cache::AudioCache;

use crate::config::{TrainConfig, preset};
use crate::trainer::{TrainError, TrainOptions};

/// Mel bands of [`small_run_config`]'s inputs: small enough for software GPUs, whose shaders
/// stop long loops early (Mesa's llvmpipe caps a loop at 65,535 iterations).
pub const SMALL_MELS: usize = 32;
/// Frames of [`small_run_config`]'s inputs.
pub const SMALL_FRAMES: usize = 64;

/// A decode-once cache of four short (4–5 s) tracks of the built-in corpus at `root/cache`:
/// enough for a few training steps of 2 anchors.
pub fn small_corpus_cache(root: &Path) -> Result<PathBuf, TrainError> {
    let corpus = loev_corpus::CorpusConfig {
        tracks: 4,
        notes: 0,
        seed: 11,
        track_seconds: (4.0, 5.0),
        ..Default::default()
    };
    let tracks = (0..corpus.tracks).map(|index| {
        let track = loev_corpus::generate_track(corpus.seed, index, &corpus);
        (track.id, track.audio, Default::default())
    });
    let cache = root.join("cache");
    AudioCache::build_from_tracks(tracks, &cache).map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(cache)
}

/// The test-size LOEV-PS model on `cache`, 2 anchors × 2 views of [`SMALL_MELS`] ×
/// [`SMALL_FRAMES`] inputs, one worker, `steps` steps with a checkpoint every 2 (the newest 2
/// kept) and a metrics line every step.
pub fn small_run_config(name: &str, cache: &Path, steps: u64) -> Result<TrainConfig, TrainError> {
    let mut config = preset("loev-ps:test")?;
    config.name = name.to_string();
    config.data.cache = Some(cache.to_path_buf());
    config.data.anchors = 2;
    config.data.views = 2;
    config.data.workers = 1;
    config.data.prefetch = 1;
    config.frontend.n_mels = SMALL_MELS;
    config.frontend.frames = SMALL_FRAMES;
    config.train.steps = steps;
    config.train.checkpoint_every = 2;
    config.train.keep_last = 2;
    config.train.keep_every = 0;
    config.train.log_every = 1;
    config.validate()?;
    Ok(config)
}

/// The batch layout of a test run: `anchors` × `views` views of `frames` frames, made by
/// `workers` loader threads.
#[derive(Clone, Copy, Debug)]
pub struct TestBatches {
    /// Anchors per batch.
    pub anchors: usize,
    /// Views per anchor.
    pub views: usize,
    /// Frames per view (MULE's 96 mels).
    pub frames: usize,
    /// Loader threads.
    pub workers: usize,
}

/// Preset `spec` (a `:tiny` preset keeps its augmentations and optimizer) on the test-size
/// encoder with its default projection, named `name`, reading `cache`, with `batches`.
pub fn test_size_config(spec: &str, name: &str, cache: &Path, batches: TestBatches) -> Result<TrainConfig, TrainError> {
    let mut config = preset(spec)?;
    config.name = name.to_string();
    config.data.cache = Some(cache.to_path_buf());
    config.data.anchors = batches.anchors;
    config.data.views = batches.views;
    config.data.workers = batches.workers;
    config.frontend.frames = batches.frames;
    config.model.size = crate::config::ModelSize::Test;
    config.model.projection_dims = None;
    Ok(config)
}

/// Options for training into `run` without a progress bar or messages.
pub fn quiet_options(run: &Path) -> TrainOptions {
    let mut options = TrainOptions::new(run);
    options.progress = false;
    options.verbose = false;
    options
}
