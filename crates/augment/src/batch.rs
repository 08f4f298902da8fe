//! Multi-view batches: N anchor tracks × M augmented views → log-mel model inputs, clip
//! indices, the tracking matrix and every view's record.
//!
//! A batch is a pure function of `(seed, batch index)` and the configuration:
//! * anchors: batch `b` of epoch `e = b / B` (B = ⌊tracks / N⌋ batches per epoch) takes
//!   positions `(b mod B)·N …` of a permutation of the tracks seeded by `(seed, e)`, so the
//!   anchors of a batch are distinct tracks whenever the cache holds at least N of them (with
//!   fewer tracks the permutations are concatenated and tracks repeat);
//! * every view draws its plan from a generator derived from `(seed, b, view)`, every anchor
//!   its crops from `(seed, b, anchor)`, and the mixup from `(seed, b)`.
//!
//! Nothing depends on threads, so a resumed run sees exactly the batches it would have seen,
//! and 1 or 2 workers give identical bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use loev_audio::cache::AudioCache;
use loev_audio::chunks::{CropProbabilities, CropStrategy, read_crop_into, sample_crops};
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_audio::rng::{Rng, derived_rng};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::chain::{AugmentChain, CropRecord, MixupRecord, ViewRecord};
use crate::config::ChainConfig;

/// Stream tags of [`derived_rng`], so that the generators of different purposes never
/// coincide.
const STREAM_EPOCH: u64 = 1;
const STREAM_VIEW: u64 = 2;
const STREAM_CROP: u64 = 3;
const STREAM_MIXUP: u64 = 4;

/// The MULE-mixup weight distribution, λ ~ Beta(5, 2) (mean 5/7: the view keeps most of
/// itself).
pub const MIXUP_BETA: (f64, f64) = (5.0, 2.0);

/// Everything that defines the batch stream (TOML section `[loader]` of a training config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Anchor tracks per batch (N).
    pub anchors: usize,
    /// Views per anchor (M); views of one anchor are positives.
    pub views: usize,
    /// Seed of every random decision of the batch stream.
    pub seed: u64,
    /// Worker threads of the [`BatchLoader`] (0 = all available cores). Does not change
    /// the batches.
    pub workers: usize,
    /// Finished batches the loader may hold ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// The augmentation chain.
    pub chain: ChainConfig,
    /// The log-mel front end (its `frames · hop_length` is the view length).
    pub frontend: FrontEndConfig,
    /// Per-anchor chunk strategy probabilities (same / adjacent / random).
    pub crops: CropProbabilities,
    /// MULE-mixup baseline: mix every view with a random partner view of the batch.
    pub mixup: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            anchors: 16,
            views: 4,
            seed: 0,
            workers: 0,
            prefetch: 2,
            chain: ChainConfig::default(),
            frontend: FrontEndConfig::default(),
            crops: CropProbabilities::default(),
            mixup: false,
        }
    }
}

impl LoaderConfig {
    /// Checks every part; errors name the key.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if self.anchors == 0 {
            return Err(AugmentError::Config("loader.anchors must be at least 1".into()));
        }
        if self.views == 0 {
            return Err(AugmentError::Config("loader.views must be at least 1".into()));
        }
        self.chain.validate()?;
        self.crops
            .validate()
            .map_err(|e| AugmentError::Config(format!("loader.crops: {e}")))?;
        FrontEnd::new(self.frontend.clone()).map_err(|e| AugmentError::Config(format!("loader.frontend: {e}")))?;
        if self.frontend.sample_rate != loev_audio::SAMPLE_RATE {
            return Err(AugmentError::Config(format!(
                "loader.frontend.sample_rate = {}: the augmentation chain runs at {} Hz",
                self.frontend.sample_rate,
                loev_audio::SAMPLE_RATE
            )));
        }
        Ok(())
    }

    /// The number of worker threads [`BatchLoader`] uses.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// One training batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Batch index in the stream (0-based).
    pub index: u64,
    /// Anchors (N).
    pub n_anchors: usize,
    /// Views per anchor (M).
    pub n_views: usize,
    /// Mel bands per input.
    pub n_mels: usize,
    /// Frames per input.
    pub n_frames: usize,
    /// Model inputs `[N·M, 1, n_mels, n_frames]`, view index = anchor·M + m.
    pub inputs: Vec<f32>,
    /// Per view: anchor index 0..N (views of one anchor are positives).
    pub clip_ids: Vec<u32>,
    /// Per view: cache track index.
    pub track_ids: Vec<u32>,
    /// The variant transforms, in tracking-column order (K of them).
    pub variant_names: Vec<String>,
    /// `[N·M, K]` row-major: `t_ik = 1` iff variant `k` was applied to view `i`.
    pub tracking: Vec<u8>,
    /// Per view: everything that was applied.
    pub records: Vec<ViewRecord>,
}

impl Batch {
    /// Total views (N·M).
    pub fn len(&self) -> usize {
        self.n_anchors * self.n_views
    }

    /// Whether the batch holds no view (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The model input of view `i`, `[n_mels, n_frames]`.
    pub fn input(&self, i: usize) -> &[f32] {
        let size = self.n_mels * self.n_frames;
        &self.inputs[i * size..(i + 1) * size]
    }

    /// The tracking row of view `i` (K values).
    pub fn tracking_row(&self, i: usize) -> &[u8] {
        let k = self.variant_names.len();
        &self.tracking[i * k..(i + 1) * k]
    }
}

/// MULE-mixup in the waveform domain: every view `i` becomes `λ·x_i + (1−λ)·x_p` with a
/// partner `p ≠ i` drawn uniformly from the other views (using the partner's unmixed audio)
/// and λ ~ Beta(5, 2). Returns one record per view (none when there is a single view).
pub fn mixup(waves: &mut [Vec<f32>], rng: &mut Rng) -> Vec<MixupRecord> {
    let total = waves.len();
    if total < 2 {
        return Vec::new();
    }
    let Ok(beta) = Beta::new(MIXUP_BETA.0, MIXUP_BETA.1) else {
        return Vec::new();
    };
    let mixes: Vec<MixupRecord> = (0..total)
        .map(|v| {
            let draw = rng.random_range(0..total - 1);
            let partner = if draw >= v { draw + 1 } else { draw };
            MixupRecord {
                partner,
                lambda: beta.sample(rng),
            }
        })
        .collect();
    let clean = waves.to_vec();
    for (wave, mix) in waves.iter_mut().zip(&mixes) {
        let (own, other) = (mix.lambda as f32, (1.0 - mix.lambda) as f32);
        for (x, y) in wave.iter_mut().zip(&clean[mix.partner]) {
            *x = own * *x + other * y;
        }
    }
    mixes
}

/// The anchor tracks of batch `index` (see the module doc).
pub fn anchor_tracks(n_tracks: usize, anchors: usize, seed: u64, index: u64) -> Vec<u32> {
    if n_tracks == 0 || anchors == 0 {
        return Vec::new();
    }
    let permutation = |epoch: u64| {
        let mut order: Vec<u32> = (0..n_tracks as u32).collect();
        order.shuffle(&mut derived_rng(seed, &[STREAM_EPOCH, epoch]));
        order
    };
    if n_tracks >= anchors {
        let per_epoch = (n_tracks / anchors) as u64;
        let (epoch, within) = (index / per_epoch, (index % per_epoch) as usize);
        permutation(epoch)[within * anchors..(within + 1) * anchors].to_vec()
    } else {
        // Fewer tracks than anchors: walk the concatenated permutations.
        let first = index * anchors as u64;
        let mut tracks = Vec::with_capacity(anchors);
        let mut cached: Option<(u64, Vec<u32>)> = None;
        for position in first..first + anchors as u64 {
            let epoch = position / n_tracks as u64;
            if cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                cached = Some((epoch, permutation(epoch)));
            }
            if let Some((_, order)) = &cached {
                tracks.push(order[(position % n_tracks as u64) as usize]);
            }
        }
        tracks
    }
}

fn strategy_name(strategy: CropStrategy) -> &'static str {
    match strategy {
        CropStrategy::Same => "same",
        CropStrategy::Adjacent => "adjacent",
        CropStrategy::Random => "random",
    }
}

/// Builds batch `index`: a pure function of `(cfg.seed, index)`, the cache and the config.
/// Views are rendered in parallel on the current rayon pool.
pub fn build_batch(
    cache: &AudioCache,
    cfg: &LoaderConfig,
    chain: &AugmentChain,
    frontend: &FrontEnd,
    index: u64,
) -> Result<Batch, AugmentError> {
    if cache.is_empty() {
        return Err(AugmentError::EmptyCache);
    }
    if cache.sample_rate() != loev_audio::SAMPLE_RATE {
        return Err(AugmentError::Config(format!(
            "the cache at {} holds {} Hz audio; the chain needs {} Hz",
            cache.dir().display(),
            cache.sample_rate(),
            loev_audio::SAMPLE_RATE
        )));
    }
    if cfg.anchors == 0 || cfg.views == 0 {
        return Err(AugmentError::Config(
            "loader.anchors and loader.views must be at least 1".into(),
        ));
    }
    let (n_anchors, n_views) = (cfg.anchors, cfg.views);
    let total = n_anchors * n_views;
    let view_len = frontend.view_samples();
    let fe = frontend.config();
    let (n_mels, n_frames) = (fe.n_mels, fe.frames);

    let anchors = anchor_tracks(cache.len(), n_anchors, cfg.seed, index);
    let plans: Vec<_> = (0..total)
        .map(|v| chain.plan(&mut derived_rng(cfg.seed, &[STREAM_VIEW, index, v as u64])))
        .collect();
    let mut records: Vec<ViewRecord> = plans.iter().map(|p| p.record(view_len)).collect();
    let mut crops = Vec::with_capacity(total);
    for (a, &track) in anchors.iter().enumerate() {
        let lengths: Vec<usize> = plans[a * n_views..(a + 1) * n_views]
            .iter()
            .map(|p| p.source_len(view_len))
            .collect();
        let track_len = cache.track(track as usize).len();
        let mut rng = derived_rng(cfg.seed, &[STREAM_CROP, index, a as u64]);
        let (strategy, anchor_crops) = sample_crops(track_len, &lengths, &cfg.crops, &mut rng);
        for (m, crop) in anchor_crops.into_iter().enumerate() {
            records[a * n_views + m].crop = Some(CropRecord {
                track,
                strategy: strategy_name(strategy).to_string(),
                start: crop.start,
                len: crop.len,
            });
            crops.push(crop);
        }
    }

    let mut waves: Vec<Vec<f32>> = (0..total)
        .into_par_iter()
        .map(|v| {
            let track = cache.track(anchors[v / n_views] as usize);
            let mut source = vec![0.0f32; crops[v].len];
            read_crop_into(track, &crops[v], &mut source);
            chain.render(&plans[v], &source, view_len)
        })
        .collect();

    if cfg.mixup {
        let mut rng = derived_rng(cfg.seed, &[STREAM_MIXUP, index]);
        for (record, mix) in records.iter_mut().zip(mixup(&mut waves, &mut rng)) {
            record.mixup = Some(mix);
        }
    }

    let size = n_mels * n_frames;
    let mut inputs = vec![0.0f32; total * size];
    inputs
        .par_chunks_mut(size)
        .zip(waves.par_iter())
        .for_each(|(out, wave)| frontend.view_input(wave, out));
    drop(std::mem::take(&mut waves));

    let variant_names = chain.variant_names().to_vec();
    let tracking = records.iter().flat_map(|r| r.tracking(&variant_names)).collect();
    Ok(Batch {
        index,
        n_anchors,
        n_views,
        n_mels,
        n_frames,
        inputs,
        clip_ids: (0..total).map(|v| (v / n_views) as u32).collect(),
        track_ids: (0..total).map(|v| anchors[v / n_views]).collect(),
        variant_names,
        tracking,
        records,
    })
}

/// Builds batches ahead of the consumer: a producer thread builds batch after batch (views
/// in parallel on a private pool of `workers` threads) into a bounded queue of `prefetch`
/// batches. Batches come out in index order and equal [`build_batch`]'s.
pub struct BatchLoader {
    receiver: Option<Receiver<Result<Batch, AugmentError>>>,
    stop: Arc<AtomicBool>,
    producer: Option<JoinHandle<()>>,
    next_index: u64,
}

impl BatchLoader {
    /// Validates `cfg` and starts the workers at batch `first_index` (a resumed run passes
    /// the number of batches already consumed).
    pub fn new(cache: Arc<AudioCache>, cfg: LoaderConfig, first_index: u64) -> Result<Self, AugmentError> {
        cfg.validate()?;
        if cache.is_empty() {
            return Err(AugmentError::EmptyCache);
        }
        let chain = AugmentChain::new(cfg.chain.clone())?;
        let frontend =
            FrontEnd::new(cfg.frontend.clone()).map_err(|e| AugmentError::Config(format!("loader.frontend: {e}")))?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.worker_threads())
            .thread_name(|i| format!("loev-augment-{i}"))
            .build()
            .map_err(|e| AugmentError::Workers(e.to_string()))?;
        let (sender, receiver) = sync_channel(cfg.prefetch.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let producer = std::thread::Builder::new()
            .name("loev-batch-producer".into())
            .spawn(move || {
                let mut index = first_index;
                while !stop_flag.load(Ordering::Relaxed) {
                    let result = pool.install(|| build_batch(&cache, &cfg, &chain, &frontend, index));
                    let failed = result.is_err();
                    if sender.send(result).is_err() || failed {
                        break;
                    }
                    index += 1;
                }
            })
            .map_err(|e| AugmentError::Workers(e.to_string()))?;
        Ok(Self {
            receiver: Some(receiver),
            stop,
            producer: Some(producer),
            next_index: first_index,
        })
    }

    /// The next batch, in index order (waits until it is built).
    pub fn next_batch(&mut self) -> Result<Batch, AugmentError> {
        let receiver = self.receiver.as_ref().ok_or(AugmentError::LoaderStopped)?;
        let batch = receiver.recv().map_err(|_| AugmentError::LoaderStopped)??;
        self.next_index = batch.index + 1;
        Ok(batch)
    }

    /// Index of the batch [`Self::next_batch`] returns next.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes a producer blocked on a full queue.
        drop(self.receiver.take());
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}
