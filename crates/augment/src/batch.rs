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

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use loev_audio::cache::AudioCache;
use loev_audio::chunks::{CropProbabilities, read_crop_into, sample_crops};
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_core::rng::{Rng, derived_rng};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::chain::{AugmentChain, CropRecord, MixupRecord, ViewPlan, ViewRecord};
use crate::config::{ChainConfig, StretchMethod};

/// Stream tags of [`derived_rng`], so that the generators of different purposes never
/// coincide.
const STREAM_EPOCH: u64 = 1;
const STREAM_VIEW: u64 = 2;
const STREAM_CROP: u64 = 3;
const STREAM_MIXUP: u64 = 4;

/// The MULE-mixup weight distribution, λ ~ Beta(5, 2) (mean 5/7: the view keeps most of
/// itself).
pub const MIXUP_BETA: (f64, f64) = (5.0, 2.0);

/// Where the training audio comes from and how batches are laid out: the `[data]` section of
/// a training configuration, and the batch layout of every [`LoaderConfig`]. One type with one
/// set of defaults (the seed paper's recipe), so the trainer hands it to the loader as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A decode-once cache built by `loev cache build`. When absent, training generates the
    /// built-in synthetic corpus into the run folder.
    pub cache: Option<PathBuf>,
    /// Tracks of the built-in corpus when no cache is given.
    pub corpus_tracks: usize,
    /// Anchor tracks (clips) per batch, N.
    pub anchors: usize,
    /// Views per anchor, M; views of one anchor are positives.
    pub views: usize,
    /// Worker threads of the [`BatchLoader`] (0 = all available cores). Does not change the
    /// batches.
    pub workers: usize,
    /// Finished batches the loader may hold ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// Per-anchor chunk strategy probabilities (same / adjacent / random).
    pub crops: CropProbabilities,
    /// MULE-mixup baseline: mix every view with a random partner view of the batch.
    pub mixup: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            cache: None,
            corpus_tracks: 120,
            anchors: 256,
            views: 4,
            workers: 2,
            prefetch: 4,
            crops: CropProbabilities::default(),
            mixup: false,
        }
    }
}

/// Everything that defines the batch stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Batch layout (the audio source fields are not the loader's business: it is handed an
    /// opened cache).
    pub data: DataConfig,
    /// Seed of every random decision of the batch stream.
    pub seed: u64,
    /// The augmentation chain.
    pub chain: ChainConfig,
    /// The log-mel front end (its `frames · hop_length` is the view length).
    pub frontend: FrontEndConfig,
    /// Render only these views' model inputs (`None`: all). One rank of a multi-process run
    /// computes a slice of every batch; everything else of the batch (anchors, crops, plans,
    /// tracking, records) is still drawn whole, because it is cheap and the loss needs the
    /// labels of every view. With mixup every view is rendered (a view's partner may lie
    /// outside the slice). Where the process runs, not what it learns: never stored.
    #[serde(skip)]
    pub rendered_views: Option<Range<usize>>,
}

impl LoaderConfig {
    /// Checks every part; errors name the key.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if self.data.anchors == 0 {
            return Err(AugmentError::Config("data.anchors must be at least 1".into()));
        }
        if self.data.views == 0 {
            return Err(AugmentError::Config("data.views must be at least 1".into()));
        }
        self.chain.validate()?;
        self.data
            .crops
            .validate()
            .map_err(|e| AugmentError::Config(format!("data.crops: {e}")))?;
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
        if self.data.workers > 0 {
            self.data.workers
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
    /// Model inputs `[R, 1, n_mels, n_frames]` of the views in `rendered` (R of them; all N·M
    /// views, view index = anchor·M + m, unless the loader was given a slice).
    pub inputs: Vec<f32>,
    /// The views whose inputs `inputs` holds, in order (see [`LoaderConfig::rendered_views`]).
    pub rendered: Range<usize>,
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

    /// The model input of view `i`, `[n_mels, n_frames]` (empty for a view outside
    /// `rendered`).
    pub fn input(&self, i: usize) -> &[f32] {
        let size = self.n_mels * self.n_frames;
        if !self.rendered.contains(&i) {
            return &[];
        }
        let j = i - self.rendered.start;
        &self.inputs[j * size..(j + 1) * size]
    }

    /// The tracking row of view `i` (K values).
    pub fn tracking_row(&self, i: usize) -> &[u8] {
        let k = self.variant_names.len();
        &self.tracking[i * k..(i + 1) * k]
    }
}

/// Draws the MULE-mixup of `total` views: for every view a partner `p ≠ i` drawn uniformly
/// from the other views and λ ~ Beta(5, 2). None when there is a single view.
pub fn draw_mixup(total: usize, rng: &mut Rng) -> Vec<MixupRecord> {
    if total < 2 {
        return Vec::new();
    }
    let Ok(beta) = Beta::new(MIXUP_BETA.0, MIXUP_BETA.1) else {
        return Vec::new();
    };
    (0..total)
        .map(|v| {
            let draw = rng.random_range(0..total - 1);
            let partner = if draw >= v { draw + 1 } else { draw };
            MixupRecord {
                partner,
                lambda: beta.sample(rng),
            }
        })
        .collect()
}

/// MULE-mixup of the spectral method, on uncompressed mel power (`rows` of `row_len` values,
/// one per view): view `i` becomes `λ²·P_i + (1−λ)²·P_p`, the expected power of the waveform
/// mix `λ·x_i + (1−λ)·x_p` of two unrelated signals (the cross term averages out). Partners
/// contribute their unmixed power.
fn mix_power_rows(rows: &mut [f32], row_len: usize, mixes: &[MixupRecord]) {
    let clean = rows.to_vec();
    for (row, mix) in rows.chunks_mut(row_len).zip(mixes) {
        let (own, other) = ((mix.lambda * mix.lambda) as f32, ((1.0 - mix.lambda).powi(2)) as f32);
        let partner = &clean[mix.partner * row_len..(mix.partner + 1) * row_len];
        for (x, y) in row.iter_mut().zip(partner) {
            *x = own * *x + other * y;
        }
    }
}

/// MULE-mixup in the waveform domain: every view `i` becomes `λ·x_i + (1−λ)·x_p` with the
/// partner and λ of [`draw_mixup`] (using the partner's unmixed audio). Returns one record
/// per view (none when there is a single view).
pub fn mixup(waves: &mut [Vec<f32>], rng: &mut Rng) -> Vec<MixupRecord> {
    let mixes = draw_mixup(waves.len(), rng);
    mix_waves(waves, &mixes);
    mixes
}

/// Applies drawn mixes to waveforms (partners contribute their unmixed audio).
fn mix_waves(waves: &mut [Vec<f32>], mixes: &[MixupRecord]) {
    if mixes.is_empty() {
        return;
    }
    let clean = waves.to_vec();
    for (wave, mix) in waves.iter_mut().zip(mixes) {
        let (own, other) = (mix.lambda as f32, (1.0 - mix.lambda) as f32);
        for (x, y) in wave.iter_mut().zip(&clean[mix.partner]) {
            *x = own * *x + other * y;
        }
    }
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
    if cfg.data.anchors == 0 || cfg.data.views == 0 {
        return Err(AugmentError::Config(
            "data.anchors and data.views must be at least 1".into(),
        ));
    }
    let (n_anchors, n_views) = (cfg.data.anchors, cfg.data.views);
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
        let (strategy, anchor_crops) = sample_crops(track_len, &lengths, &cfg.data.crops, &mut rng);
        for (m, crop) in anchor_crops.into_iter().enumerate() {
            records[a * n_views + m].crop = Some(CropRecord {
                track,
                strategy: strategy.name().to_string(),
                start: crop.start,
                len: crop.len,
            });
            crops.push(crop);
        }
    }

    let source = |v: usize| {
        let track = cache.track(anchors[v / n_views] as usize);
        let mut source = vec![0.0f32; crops[v].len];
        read_crop_into(track, &crops[v], &mut source);
        source
    };
    let mixes = if cfg.data.mixup {
        draw_mixup(total, &mut derived_rng(cfg.seed, &[STREAM_MIXUP, index]))
    } else {
        Vec::new()
    };
    let rendered = match &cfg.rendered_views {
        Some(views) if mixes.is_empty() => views.start.min(total)..views.end.min(total),
        _ => 0..total,
    };
    let first = rendered.start;
    let inputs = render_view_inputs(chain, frontend, &plans[rendered.clone()], |v| source(first + v), &mixes);
    for (record, mix) in records.iter_mut().zip(mixes) {
        record.mixup = Some(mix);
    }

    let variant_names = chain.variant_names().to_vec();
    let tracking = records.iter().flat_map(|r| r.tracking(&variant_names)).collect();
    Ok(Batch {
        index,
        n_anchors,
        n_views,
        n_mels,
        n_frames,
        inputs,
        rendered,
        clip_ids: (0..total).map(|v| (v / n_views) as u32).collect(),
        track_ids: (0..total).map(|v| anchors[v / n_views]).collect(),
        variant_names,
        tracking,
        records,
    })
}

/// The model inputs `[views × n_mels × frames]` of the views planned by `plans`, view `v`
/// read from its source span `source(v)` (which should hold `plans[v].source_len(view
/// samples)` samples) and mixed by `mixes` (empty: no mixup), rendered by the chain's
/// `[stretcher] method`:
///
/// * exact: each view's waveform (Signalsmith Stretch, then the base chain), mixed as
///   waveforms, then the front end;
/// * spectral: each view's mel power read through its warp from the span after the base chain,
///   mixed as power, then compressed and standardised.
///
/// This is the one rendering of log-mel views: the trainer's batches ([`build_batch`]) and the
/// standalone views of a clip ([`crate::views::clip_view_inputs`], the Python `Augmenter`) both
/// call it, so they give the same inputs for the same plans and crops.
pub fn render_view_inputs(
    chain: &AugmentChain,
    frontend: &FrontEnd,
    plans: &[ViewPlan],
    source: impl Fn(usize) -> Vec<f32> + Sync,
    mixes: &[MixupRecord],
) -> Vec<f32> {
    let total = plans.len();
    let view_len = frontend.view_samples();
    let size = frontend.input_len();
    let mut inputs = vec![0.0f32; total * size];
    match chain.method() {
        StretchMethod::Exact => {
            let mut waves: Vec<Vec<f32>> = (0..total)
                .into_par_iter()
                .map(|v| chain.render(&plans[v], &source(v), view_len))
                .collect();
            mix_waves(&mut waves, mixes);
            inputs
                .par_chunks_mut(size)
                .zip(waves.par_iter())
                .for_each(|(out, wave)| frontend.view_input(wave, out));
        }
        StretchMethod::Spectral => {
            inputs
                .par_chunks_mut(size)
                .enumerate()
                .for_each(|(v, out)| chain.render_spectral_power(&plans[v], source(v), frontend, out));
            if !mixes.is_empty() {
                mix_power_rows(&mut inputs, size, mixes);
            }
            inputs.par_chunks_mut(size).for_each(|out| frontend.finish_input(out));
        }
    }
    inputs
}

/// Builds batches ahead of the consumer. Each of `workers` threads claims the next batch
/// index and builds the whole batch on its own (views one after the other), so workers
/// never wait for each other: no barrier per batch, no shared lock while rendering, and the
/// throughput grows with the workers until the cores run out. At most
/// `prefetch + workers` batches are claimed beyond the consumer's position. Batches come out
/// in index order and equal [`build_batch`]'s, whatever the number of workers.
pub struct BatchLoader {
    shared: Arc<LoaderShared>,
    workers: Vec<JoinHandle<()>>,
    next_index: u64,
}

/// What the workers and the consumer share.
struct LoaderShared {
    state: Mutex<LoaderState>,
    /// Signalled when a batch is finished or a worker exits.
    finished: Condvar,
    /// Signalled when the consumer takes a batch or the loader stops.
    room: Condvar,
}

struct LoaderState {
    /// The next index a worker will claim.
    next_claim: u64,
    /// The next index the consumer takes.
    next_take: u64,
    /// Finished batches not yet taken, by index.
    finished: BTreeMap<u64, Result<Batch, AugmentError>>,
    /// Set by the consumer's drop or after an error: workers claim nothing more.
    stopped: bool,
    /// Workers still running.
    alive: usize,
    /// The consumer has been handed an error: every later call is `LoaderStopped`.
    failed: bool,
    /// A worker panicked (a bug): the batch it held will never come.
    panicked: bool,
}

/// Decrements the live-worker count when a worker ends, and stops the loader when it ends by
/// a panic, so that the consumer never waits for a batch nobody builds.
struct WorkerExit<'a>(&'a LoaderShared);

impl Drop for WorkerExit<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.alive -= 1;
        if std::thread::panicking() {
            state.panicked = true;
            state.stopped = true;
        }
        drop(state);
        self.0.finished.notify_all();
        self.0.room.notify_all();
    }
}

impl BatchLoader {
    /// Validates `cfg` and starts the workers at batch `first_index` (a resumed run passes
    /// the number of batches already consumed).
    pub fn new(cache: Arc<AudioCache>, cfg: LoaderConfig, first_index: u64) -> Result<Self, AugmentError> {
        cfg.validate()?;
        if cache.is_empty() {
            return Err(AugmentError::EmptyCache);
        }
        let chain = Arc::new(AugmentChain::new(cfg.chain.clone())?);
        let frontend = Arc::new(
            FrontEnd::new(cfg.frontend.clone()).map_err(|e| AugmentError::Config(format!("loader.frontend: {e}")))?,
        );
        let n_workers = cfg.worker_threads();
        let window = (cfg.data.prefetch.max(1) + n_workers) as u64;
        let shared = Arc::new(LoaderShared {
            state: Mutex::new(LoaderState {
                next_claim: first_index,
                next_take: first_index,
                finished: BTreeMap::new(),
                stopped: false,
                alive: n_workers,
                failed: false,
                panicked: false,
            }),
            finished: Condvar::new(),
            room: Condvar::new(),
        });
        let cfg = Arc::new(cfg);
        let mut workers = Vec::with_capacity(n_workers);
        for w in 0..n_workers {
            // A one-thread pool: `build_batch`'s parallel loops run on this worker alone.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(move |_| format!("loev-augment-{w}"))
                .build()
                .map_err(|e| AugmentError::Workers(e.to_string()))?;
            let (worker_shared, cache, cfg, chain, frontend) = (
                Arc::clone(&shared),
                Arc::clone(&cache),
                Arc::clone(&cfg),
                Arc::clone(&chain),
                Arc::clone(&frontend),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("loev-batch-worker-{w}"))
                .spawn(move || {
                    let shared = worker_shared;
                    let _exit = WorkerExit(&shared);
                    while let Some(index) = claim(&shared, window) {
                        let result = pool.install(|| build_batch(&cache, &cfg, &chain, &frontend, index));
                        let failed = result.is_err();
                        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                        state.finished.insert(index, result);
                        if failed {
                            // Later batches would not be delivered after an error anyway.
                            state.stopped = true;
                        }
                        drop(state);
                        shared.finished.notify_all();
                        shared.room.notify_all();
                    }
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    stop(&shared);
                    shared.state.lock().unwrap_or_else(PoisonError::into_inner).alive -= n_workers - w;
                    for handle in workers {
                        let _ = handle.join();
                    }
                    return Err(AugmentError::Workers(e.to_string()));
                }
            }
        }
        Ok(Self {
            shared,
            workers,
            next_index: first_index,
        })
    }

    /// The next batch, in index order (waits until it is built). After an error, every
    /// later call returns [`AugmentError::LoaderStopped`].
    pub fn next_batch(&mut self) -> Result<Batch, AugmentError> {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed {
            return Err(AugmentError::LoaderStopped);
        }
        let wanted = state.next_take;
        let result = loop {
            if let Some(result) = state.finished.remove(&wanted) {
                break result;
            }
            if state.alive == 0 || state.panicked || (state.stopped && state.next_claim <= wanted) {
                return Err(AugmentError::LoaderStopped);
            }
            state = self.shared.finished.wait(state).unwrap_or_else(PoisonError::into_inner);
        };
        state.next_take = wanted + 1;
        if result.is_err() {
            // Report the error once; the workers stop claiming.
            state.stopped = true;
            state.failed = true;
            state.finished.clear();
        }
        drop(state);
        self.shared.room.notify_all();
        let batch = result?;
        self.next_index = batch.index + 1;
        Ok(batch)
    }

    /// Index of the batch [`Self::next_batch`] returns next.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }
}

/// Claims the next batch index once it lies within `window` of the consumer; `None` when the
/// loader stops.
fn claim(shared: &LoaderShared, window: u64) -> Option<u64> {
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if state.stopped {
            return None;
        }
        if state.next_claim < state.next_take + window {
            let index = state.next_claim;
            state.next_claim += 1;
            return Some(index);
        }
        state = shared.room.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
}

/// Tells the workers to claim nothing more and wakes them.
fn stop(shared: &LoaderShared) {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner).stopped = true;
    shared.room.notify_all();
    shared.finished.notify_all();
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        stop(&self.shared);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
