//! Streaming embedding extraction.
//!
//! A track is cut with MULE's slicer — slices of `frames` (300 = 3 s) log-mel frames centred
//! on every multiple of `hop` (200 frames = 2 s) after 0, each centre clamped so that the slice
//! lies inside the spectrogram; a track shorter than one slice gives one slice padded with
//! silence (exactly [`FrontEnd::slices`]). The slices go through the model in eval mode in
//! batches of `batch_size`; for every embedding space the track gets a timeline `[T × D]` (one
//! row per slice, with its centre time) and its mean over time.
//!
//! **Memory.** Extraction streams every stage: a file is decoded packet by packet, down-mixed
//! and resampled piece by piece ([`MonoStream`]), its log-mel frames are computed as samples
//! arrive ([`MelStream`]), and slices are cut as soon as their frames are there and go through
//! the model `batch_size` at a time ([`Embedder::embed_file`]). Besides the output timeline
//! itself (`T × ΣD` floats, T = one row per 2 s of audio), the process holds at most one batch:
//! `batch_size` slices of `n_mels × frames` floats plus the model's activations for them, one
//! slice plus one hop of spectrogram frames, and a few FFT frames of samples; none of it grows
//! with the track's length ([`EmbedStats::max_slices_in_flight`] records the batch, and the
//! memory test measures a long file). Two settings hold the whole decoded track (16 kHz mono,
//! 64 kB per second) on purpose: time-stretched copies (`stretch_copies`), and a `db`
//! compression with `top_db`, which needs the track's maximum before its first frame.
//!
//! **Spaces.** `v`: the encoder output V (d_E; for LOEV++/MULE++ models V^++, the concatenated
//! branches). `v_<head>`: LOEV++ only, branch embedding V^k of each head. `z_<head>`: the
//! projection z^k of each head (the space the contrastive loss of that head sees).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use loev_artifacts::LoadedModel;
use loev_artifacts::model_file::{load_model_file, load_run_model};
use loev_artifacts::run_folder::CONFIG_FILE;
use loev_audio::AudioError;
use loev_audio::SAMPLE_RATE;
use loev_audio::decode::{MonoStream, load_mono};
use loev_audio::frontend::{FrontEnd, FrontEndConfig, LogMel, MelStream, slice_starts, standardize};
use loev_audio::manifest::Manifest;
use loev_augment::time_stretch;
use loev_core::rng::derived_rng;
use loev_model::{LoevModel, LoevModelConfig, ModelOutput};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::shard::Shard;
use crate::store::{
    EmbeddingFormat, EmbeddingMeta, FORMAT_VERSION, INDEX_FILE, IndexRow, PROGRESS_FILE, SKIPPED_FILE, STRETCHED_FILE,
    ShardRecord, SkippedRow, stretched_columns, track_stem, write_index, write_meta, write_skipped, write_track,
};
pub use crate::store::{SpaceEmbedding, SpaceInfo, TrackEmbedding};
use loev_core::io::atomic_write;

/// Extraction settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedOptions {
    /// Slices per forward pass (bounds the working memory).
    pub batch_size: usize,
    /// Hop between slice centres in seconds (MULE: 2 s).
    pub hop_seconds: f64,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            batch_size: 16,
            hop_seconds: 2.0,
        }
    }
}

/// The embedding spaces a model of `config` produces, in output order.
pub fn model_spaces(config: &LoevModelConfig) -> Vec<SpaceInfo> {
    let mut spaces = vec![SpaceInfo {
        name: "v".into(),
        dim: config.embedding_dim(),
        description: if config.plusplus {
            "V++: concatenated branch embeddings".into()
        } else {
            "V: encoder output".into()
        },
    }];
    if config.plusplus {
        for head in &config.heads {
            spaces.push(SpaceInfo {
                name: format!("v_{head}"),
                dim: config.branch_dim(),
                description: format!("V^{head}: branch of head {head}"),
            });
        }
    }
    let z_dim = config.projection_dims.last().copied().unwrap_or(0);
    for head in &config.heads {
        spaces.push(SpaceInfo {
            name: format!("z_{head}"),
            dim: z_dim,
            description: format!("Z^{head}: projection of head {head}"),
        });
    }
    spaces
}

/// Counters of one extraction (what the memory bound is about).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbedStats {
    /// Slices embedded.
    pub slices: usize,
    /// Forward passes.
    pub batches: usize,
    /// The largest number of slice inputs alive at once.
    pub max_slices_in_flight: usize,
}

/// A model ready to embed audio: weights, front end, device and batch settings.
pub struct Embedder {
    model: LoevModel,
    model_config: LoevModelConfig,
    frontend: FrontEnd,
    device: Device,
    options: EmbedOptions,
    spaces: Vec<SpaceInfo>,
    silence: f32,
    source: String,
    model_file: Option<PathBuf>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("source", &self.source)
            .field("spaces", &self.spaces)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// An embedder for a model in memory.
    pub fn new(
        model: LoevModel,
        model_config: LoevModelConfig,
        frontend: FrontEndConfig,
        device: Device,
        options: EmbedOptions,
        source: impl Into<String>,
    ) -> Result<Self, EvalError> {
        if options.batch_size == 0 {
            return Err(EvalError::Invalid("batch size must be at least 1".into()));
        }
        if !(options.hop_seconds.is_finite() && options.hop_seconds > 0.0) {
            return Err(EvalError::Invalid(format!(
                "hop must be a positive number of seconds, got {}",
                options.hop_seconds
            )));
        }
        let frontend = FrontEnd::new(frontend).map_err(|e| EvalError::Invalid(e.to_string()))?;
        let batch_bytes = loev_core::limits::bytes_of(&[
            options.batch_size as u128,
            frontend.input_len() as u128,
            std::mem::size_of::<f32>() as u128,
        ]);
        loev_core::limits::check_memory(
            format_args!("batch size {}", options.batch_size),
            "the batch's model inputs; the model's activations come on top",
            batch_bytes,
        )
        .map_err(|e| EvalError::Invalid(e.to_string()))?;
        let n_fft = frontend.config().n_fft;
        let silence = frontend.log_mel(&vec![0.0; n_fft]).data.first().copied().unwrap_or(0.0);
        let spaces = model_spaces(&model_config);
        Ok(Self {
            model,
            model_config,
            frontend,
            device,
            options,
            spaces,
            silence,
            source: source.into(),
            model_file: None,
        })
    }

    /// The newest valid checkpoint of a run folder, with the model's front end.
    pub fn from_run(run_dir: &Path, device: Device, options: EmbedOptions) -> Result<Self, EvalError> {
        // Say what is wrong with the folder itself, before the run folder's own checks (whose
        // wording is about resuming training).
        if !run_dir.is_dir() {
            return Err(EvalError::Model(format!(
                "{} is not a folder; --run takes a run folder made by `loev pretrain` (e.g. runs/<name>), \
                 --model a model file",
                run_dir.display()
            )));
        }
        if !run_dir.join(CONFIG_FILE).is_file() {
            return Err(EvalError::Model(format!(
                "{} is not a run folder: it has no {CONFIG_FILE}; pass a folder made by `loev pretrain` \
                 (e.g. runs/<name>) to --run, or a model file (model.safetensors) to --model",
                run_dir.display()
            )));
        }
        let loaded =
            load_run_model(run_dir, &device, |w| eprintln!("{w}")).map_err(|e| EvalError::Model(e.to_string()))?;
        Self::from_loaded(loaded, device, options)
    }

    /// A model file: a self-describing one alone, or a checkpoint of an older loev inside its
    /// run folder (whose `config.toml` gives the front end).
    pub fn from_model_file(path: &Path, device: Device, options: EmbedOptions) -> Result<Self, EvalError> {
        let loaded = load_model_file(path, &device).map_err(|e| EvalError::Model(e.to_string()))?;
        Self::from_loaded(loaded, device, options)
    }

    /// A model loaded by `loev_artifacts` (its front end included), on `device`.
    pub fn from_loaded(loaded: LoadedModel, device: Device, options: EmbedOptions) -> Result<Self, EvalError> {
        let mut embedder = Self::new(
            loaded.model,
            loaded.config,
            loaded.frontend,
            device,
            options,
            loaded.path.display().to_string(),
        )?;
        embedder.model_file = Some(loaded.path);
        Ok(embedder)
    }

    /// The file the weights were read from (`None` for a model built in memory): its checksum
    /// tells a rerun or a shard whether it embeds with the same model.
    pub fn model_file(&self) -> Option<&Path> {
        self.model_file.as_deref()
    }

    /// The spaces this model produces.
    pub fn spaces(&self) -> &[SpaceInfo] {
        &self.spaces
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &LoevModelConfig {
        &self.model_config
    }

    /// The front end.
    pub fn frontend(&self) -> &FrontEnd {
        &self.frontend
    }

    /// The settings.
    pub fn options(&self) -> &EmbedOptions {
        &self.options
    }

    /// Where the weights came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Hop between slice centres in frames.
    pub fn hop_frames(&self) -> usize {
        let cfg = self.frontend.config();
        ((self.options.hop_seconds * cfg.sample_rate as f64 / cfg.hop_length as f64).round() as usize).max(1)
    }

    /// Embeds a track (16 kHz mono), slice batch by slice batch (see the module doc). The
    /// spectrogram is computed piece by piece ([`MelStream`]), never for the whole track.
    pub fn embed_audio(&self, audio: &[f32]) -> Result<(TrackEmbedding, EmbedStats), EvalError> {
        let Some(mut mel) = MelStream::new(&self.frontend) else {
            return self.embed_log_mel(&self.frontend.log_mel(audio));
        };
        let mut batcher = SliceBatcher::new(self);
        let mut frames = Vec::new();
        for piece in audio.chunks(STREAM_PIECE) {
            frames.clear();
            mel.push(piece, &mut frames);
            batcher.push_frames(&frames)?;
        }
        frames.clear();
        let n_frames = mel.finish(&mut frames);
        batcher.push_frames(&frames)?;
        batcher.finish(n_frames)
    }

    /// Embeds an audio file, streaming it: decoding, resampling, the spectrogram and the
    /// slices all go piece by piece ([`MonoStream`], [`MelStream`]), so memory holds one batch
    /// and the output timeline, whatever the track's length (see the module doc). Returns the
    /// embedding and the track's duration in seconds; the inner `Err` is a file that cannot
    /// be decoded (the caller skips it), the outer one a model failure.
    #[allow(clippy::type_complexity)]
    pub fn embed_file(&self, path: &Path) -> Result<Result<(TrackEmbedding, EmbedStats, f64), AudioError>, EvalError> {
        let Some(mut mel) = MelStream::new(&self.frontend) else {
            // `top_db` clipping needs the track's maximum first: the whole track is held.
            let audio = match load_mono(path) {
                Ok(audio) => audio,
                Err(e) => return Ok(Err(e)),
            };
            let seconds = audio.len() as f64 / SAMPLE_RATE as f64;
            let (track, stats) = self.embed_log_mel(&self.frontend.log_mel(&audio))?;
            return Ok(Ok((track, stats, seconds)));
        };
        let mut stream = match MonoStream::open(path) {
            Ok(stream) => stream,
            Err(e) => return Ok(Err(e)),
        };
        let mut batcher = SliceBatcher::new(self);
        let mut samples = Vec::new();
        let mut frames = Vec::new();
        let mut total = 0usize;
        loop {
            samples.clear();
            let more = match stream.next_chunk(&mut samples) {
                Ok(more) => more,
                Err(e) => return Ok(Err(e)),
            };
            total += samples.len();
            frames.clear();
            mel.push(&samples, &mut frames);
            batcher.push_frames(&frames)?;
            if !more {
                break;
            }
        }
        frames.clear();
        let n_frames = mel.finish(&mut frames);
        batcher.push_frames(&frames)?;
        let (track, stats) = batcher.finish(n_frames)?;
        Ok(Ok((track, stats, total as f64 / SAMPLE_RATE as f64)))
    }

    /// Embeds a log-mel spectrogram (as [`FrontEnd::log_mel`] gives).
    pub fn embed_log_mel(&self, mel: &LogMel) -> Result<(TrackEmbedding, EmbedStats), EvalError> {
        let mut batcher = SliceBatcher::new(self);
        let n_mels = mel.n_mels;
        let mut frames = Vec::new();
        let mut t = 0;
        while t < mel.n_frames {
            let end = (t + STREAM_PIECE / 160).min(mel.n_frames);
            frames.clear();
            for f in t..end {
                frames.extend((0..n_mels).map(|m| mel.data[m * mel.n_frames + f]));
            }
            batcher.push_frames(&frames)?;
            t = end;
        }
        batcher.finish(mel.n_frames)
    }

    /// Runs `n` model inputs (`[n × n_mels × frames]`, already standardised) through the model
    /// in one batch; returns per space the `[n × D]` outputs.
    pub fn embed_inputs(&self, inputs: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>, EvalError> {
        let cfg = self.frontend.config();
        if inputs.len() != n * cfg.n_mels * cfg.frames {
            return Err(EvalError::Invalid(format!(
                "{} input values do not make {n} slices of {} × {}",
                inputs.len(),
                cfg.n_mels,
                cfg.frames
            )));
        }
        let input = Tensor::<4>::from_data(TensorData::new(inputs, [n, 1, cfg.n_mels, cfg.frames]), &self.device); // [n, 1, mels, frames]
        let output: ModelOutput = self.model.encode(input);
        let mut tensors = vec![output.embedding];
        if self.model_config.plusplus {
            tensors.extend(output.branch_embeddings);
        }
        tensors.extend(output.projections);
        tensors
            .into_iter()
            .map(|t| {
                t.into_data()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| EvalError::Model(format!("reading embeddings back: {e:?}")))
            })
            .collect()
    }
}

/// Samples fed to the spectrogram at a time (1 s at 16 kHz).
const STREAM_PIECE: usize = 16_000;

/// Cuts slices out of spectrogram frames that arrive in time order, batches them and runs the
/// model batch by batch. It keeps only the frames later slices can still use (at most one
/// slice plus one hop) and one batch of inputs, so the output timeline is the only part of
/// extraction that grows with the track's length. The slices equal those of
/// [`slice_starts`] on the whole spectrogram: a slice is cut early only when its start can no
/// longer move (its centre is not clamped, whatever the final length).
struct SliceBatcher<'e> {
    embedder: &'e Embedder,
    n_mels: usize,
    frames: usize,
    hop: usize,
    /// Frames kept, frame-major: `ring[(t - ring_base) · n_mels + m]`.
    ring: Vec<f32>,
    ring_base: usize,
    /// Index k ≥ 1 of the next slice centre `k · hop` not cut yet (early cutting only).
    next_centre: usize,
    /// Slices cut so far (their starts, in order).
    starts: Vec<usize>,
    input: Vec<f32>,
    in_batch: usize,
    timelines: Vec<Vec<f32>>,
    stats: EmbedStats,
}

impl<'e> SliceBatcher<'e> {
    fn new(embedder: &'e Embedder) -> Self {
        let cfg = embedder.frontend.config();
        Self {
            embedder,
            n_mels: cfg.n_mels,
            frames: cfg.frames,
            hop: embedder.hop_frames(),
            ring: Vec::new(),
            ring_base: 0,
            next_centre: 1,
            starts: Vec::new(),
            input: Vec::new(),
            in_batch: 0,
            timelines: embedder.spaces.iter().map(|_| Vec::new()).collect(),
            stats: EmbedStats::default(),
        }
    }

    /// Frames received so far.
    fn available(&self) -> usize {
        self.ring_base + self.ring.len() / self.n_mels
    }

    /// Takes the next frames (frame-major), cuts every slice that is now final.
    fn push_frames(&mut self, frames: &[f32]) -> Result<(), EvalError> {
        self.ring.extend_from_slice(frames);
        let back = self.frames / 2;
        let forward = self.frames - back;
        let available = self.available();
        if available < self.frames {
            return Ok(());
        }
        loop {
            let centre = self.next_centre * self.hop;
            if centre.max(back) + forward > available {
                break;
            }
            self.cut(centre.max(back) - back, available)?;
            self.next_centre += 1;
        }
        // Frames before the next slice's earliest possible start are no longer needed.
        let next_start = (self.next_centre * self.hop)
            .max(back)
            .saturating_sub(back)
            .min(available.saturating_sub(self.frames));
        // A track of at most one hop gives the single slice from frame 0: keep frame 0 until
        // the track is known to be longer.
        let may_be_single = self.starts.is_empty() && available <= self.hop;
        if next_start > self.ring_base && !may_be_single {
            self.ring.drain(..(next_start - self.ring_base) * self.n_mels);
            self.ring_base = next_start;
        }
        Ok(())
    }

    /// Copies the slice starting at frame `start` into the batch (silence past the end).
    fn cut(&mut self, start: usize, n_frames: usize) -> Result<(), EvalError> {
        let (frames, n_mels) = (self.frames, self.n_mels);
        let slice_len = n_mels * frames;
        let cfg = self.embedder.frontend.config();
        let first = self.input.len();
        self.input.resize(first + slice_len, self.embedder.silence);
        let slice = &mut self.input[first..];
        let available = n_frames.saturating_sub(start).min(frames);
        for j in 0..available {
            let row = (start + j - self.ring_base) * n_mels;
            for m in 0..n_mels {
                slice[m * frames + j] = self.ring[row + m];
            }
        }
        if cfg.standardize {
            standardize(slice, cfg.std_floor);
        }
        self.starts.push(start);
        self.in_batch += 1;
        self.stats.max_slices_in_flight = self.stats.max_slices_in_flight.max(self.in_batch);
        if self.in_batch == self.embedder.options.batch_size {
            self.run_batch()?;
        }
        Ok(())
    }

    fn run_batch(&mut self) -> Result<(), EvalError> {
        if self.in_batch == 0 {
            return Ok(());
        }
        let input = std::mem::take(&mut self.input);
        let outputs = self.embedder.embed_inputs(input, self.in_batch)?;
        for (timeline, output) in self.timelines.iter_mut().zip(outputs) {
            timeline.extend_from_slice(&output);
        }
        self.stats.slices += self.in_batch;
        self.stats.batches += 1;
        self.in_batch = 0;
        Ok(())
    }

    /// Ends the track (`n_frames` frames in all): cuts the remaining slices, whose starts may
    /// be clamped to the end, and returns the embedding.
    fn finish(mut self, n_frames: usize) -> Result<(TrackEmbedding, EmbedStats), EvalError> {
        let starts = slice_starts(n_frames, self.frames, self.hop);
        debug_assert!(starts.starts_with(&self.starts), "slices cut early must be final");
        for &start in &starts[self.starts.len().min(starts.len())..] {
            self.cut(start, n_frames)?;
        }
        self.run_batch()?;
        let cfg = self.embedder.frontend.config();
        let seconds_per_frame = cfg.hop_length as f64 / cfg.sample_rate as f64;
        // Centre of the audio each slice covers (the rule of `FrontEnd::slices`): MULE's centre
        // for a full slice, the middle of the real frames for a padded one.
        let frames = self.frames;
        let back = frames / 2;
        let timestamps = starts
            .iter()
            .map(|&s| {
                let available = n_frames.saturating_sub(s).min(frames);
                let centre = if available == frames {
                    (s + back) as f64
                } else {
                    s as f64 + available as f64 / 2.0
                };
                centre * seconds_per_frame
            })
            .collect();
        let spaces = self
            .embedder
            .spaces
            .iter()
            .zip(self.timelines)
            .map(|(info, timeline)| {
                let mean = mean_rows(&timeline, info.dim);
                SpaceEmbedding {
                    name: info.name.clone(),
                    dim: info.dim,
                    timeline,
                    mean,
                }
            })
            .collect();
        Ok((TrackEmbedding { timestamps, spaces }, self.stats))
    }
}

/// What to embed and how to write it (see [`crate::store`] for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedJob {
    /// Array format of the per-track files.
    pub format: EmbeddingFormat,
    /// Time-stretched copies per track with a tempo label, for the tempo probe's training
    /// augmentation (0 = none). Test tracks get copies too: a track's split depends on the task
    /// (each AllTempo fold holds out another dataset), and the probe only ever trains on the
    /// copies of its own training tracks.
    pub stretch_copies: usize,
    /// Range of the stretch rates (uniform; > 1 = faster, the tempo is scaled by the rate).
    pub stretch_range: (f64, f64),
    /// Seed of the stretch rates.
    pub stretch_seed: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Write into an output folder of other files (`--force`); see [`crate::store::claim_output`].
    pub force: bool,
    /// Embed only this shard of the input (`--shard K/N`, [`crate::shard`]).
    pub shard: Option<Shard>,
}

impl Default for EmbedJob {
    fn default() -> Self {
        Self {
            format: EmbeddingFormat::Safetensors,
            stretch_copies: 0,
            stretch_range: (0.8, 1.2),
            stretch_seed: 123,
            progress: true,
            force: false,
            shard: None,
        }
    }
}

/// What [`embed_to_folder`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbedSummary {
    /// Tracks embedded.
    pub tracks: usize,
    /// Time-stretched copies embedded.
    pub stretched: usize,
    /// Slices embedded in total.
    pub slices: usize,
    /// Audio of all tracks in seconds.
    pub seconds: f64,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Tracks taken over from an unfinished earlier run into the same folder (counted in
    /// `tracks`, not embedded again).
    pub resumed: usize,
}

/// One track to embed.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedInput {
    /// Track id.
    pub id: String,
    /// Audio file.
    pub path: PathBuf,
    /// Columns carried over to the index (labels, split, …).
    pub fields: BTreeMap<String, String>,
}

/// The tracks of a file, a folder (scanned recursively for audio files; ids are relative paths
/// without extension) or a manifest (`.csv` / `.tsv`; ids from its `id` column, else the
/// relative path without extension; every other column is kept). Returns the inputs and the
/// column order of the manifest.
pub fn list_inputs(input: &Path) -> Result<(Vec<EmbedInput>, Vec<String>), EvalError> {
    list_inputs_and_skipped(input).map(|(inputs, columns, _)| (inputs, columns))
}

/// Entries left out of a listing, each with the reason (as in [`loev_audio::walk::FolderWalk`]).
pub type SkippedEntries = Vec<(PathBuf, String)>;

/// Inputs, manifest columns and the entries of a folder that the walk left out
/// ([`loev_audio::walk::find_audio_files`]: looping or dangling links, second names of a file),
/// which [`embed_to_folder`] reports as skipped.
pub fn list_inputs_and_skipped(input: &Path) -> Result<(Vec<EmbedInput>, Vec<String>, SkippedEntries), EvalError> {
    let meta = std::fs::metadata(input).map_err(EvalError::io("read", input))?;
    let relative_id = |path: &Path, base: &Path| {
        path.strip_prefix(base)
            .unwrap_or(path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/")
    };
    if meta.is_dir() {
        let walk = loev_audio::walk::find_audio_files(input).map_err(EvalError::io("read", input))?;
        let skipped = walk.skipped;
        let inputs = walk
            .files
            .into_iter()
            .map(|path| EmbedInput {
                id: relative_id(&path, input),
                path,
                fields: BTreeMap::new(),
            })
            .collect();
        return Ok((inputs, Vec::new(), skipped));
    }
    let is_manifest = input
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv"));
    if !is_manifest {
        let id = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "track".into());
        return Ok((
            vec![EmbedInput {
                id,
                path: input.to_path_buf(),
                fields: BTreeMap::new(),
            }],
            Vec::new(),
            Vec::new(),
        ));
    }
    let manifest = Manifest::read(input).map_err(|e| EvalError::format(input, e.to_string()))?;
    let base = match input.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut seen = std::collections::HashSet::new();
    let mut inputs = Vec::with_capacity(manifest.rows.len());
    for row in manifest.rows {
        let id = row
            .fields
            .get("id")
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| relative_id(&row.path, &base));
        if !seen.insert(id.clone()) {
            return Err(EvalError::format(
                input,
                format!("track id `{id}` appears twice; ids must be unique"),
            ));
        }
        let mut fields = row.fields;
        fields.remove("id");
        inputs.push(EmbedInput {
            id,
            path: row.path,
            fields,
        });
    }
    let columns = manifest
        .columns
        .into_iter()
        .filter(|c| !c.eq_ignore_ascii_case("path") && !c.eq_ignore_ascii_case("id"))
        .collect();
    Ok((inputs, columns, Vec::new()))
}

/// Embeds every track of `input` (see [`list_inputs`]), or of its shard `job.shard`, into the
/// folder `out` (layout in [`crate::store`]). A file that cannot be decoded is skipped and
/// reported, never fatal; a shard also lists it in `skipped.csv`, for `loev embed merge`. The
/// folder of an unsharded run holds the same files as before sharding existed.
///
/// The folder is claimed first ([`crate::store::claim_output`]: loev's own, empty or
/// `job.force`; locked; never the input). After the run it holds exactly the tracks its index
/// lists, and `embeddings.json`, written last, tells a finished folder from one whose run was
/// killed. **Resuming:** each finished track is recorded in `progress.jsonl` after its files are
/// written; a rerun into an unfinished folder with the same input, model, front end and
/// settings ([`RunIdentity`]) takes those tracks over instead of embedding them again (a
/// finished folder is embedded again from the start, as before). With a model built in memory
/// (no model file to checksum) nothing is recorded.
pub fn embed_to_folder(
    embedder: &Embedder,
    input: &Path,
    out: &Path,
    job: &EmbedJob,
) -> Result<EmbedSummary, EvalError> {
    let (inputs, columns, walk_skipped) = list_inputs_and_skipped(input)?;
    if inputs.is_empty() {
        return Err(EvalError::Empty(format!(
            "{} holds no audio file to embed{}",
            input.display(),
            walk_skipped
                .first()
                .map(|(p, r)| format!(" (left out: {}: {r})", p.display()))
                .unwrap_or_default()
        )));
    }
    let (lo, hi) = job.stretch_range;
    if job.stretch_copies > 0 && !(lo.is_finite() && hi.is_finite() && 0.25 <= lo && lo <= hi && hi <= 4.0) {
        return Err(EvalError::Invalid(format!(
            "stretch range ({lo}, {hi}) must satisfy 0.25 <= min <= max <= 4"
        )));
    }
    let identity = RunIdentity::new(embedder, &inputs, &columns, job)?;
    if job.shard.is_some() && identity.is_none() {
        return Err(EvalError::Invalid(
            "a shard must be embedded with a model read from a file (--model or --run), whose checksum \
             `loev embed merge` compares"
                .into(),
        ));
    }
    let mut protected = loev_core::output::Protected::input(input);
    if protected.files.iter().any(|f| f == input) {
        protected.files.extend(inputs.iter().map(|i| i.path.clone()));
    }
    let folder = crate::store::claim_output(out, &protected, job.force)?;
    if let Some(pid) = folder.taken_over_from() {
        eprintln!(
            "warning: {} was being written by process {pid}, which is gone; its unfinished output is replaced",
            out.display()
        );
    }
    let mut progress = Progress::open(out, identity.as_ref())?;
    let positions: Vec<usize> = (0..inputs.len())
        .filter(|&p| job.shard.is_none_or(|s| s.holds(p)))
        .collect();
    let bar = if job.progress {
        progress_bar(positions.len() as u64, "embedding")
    } else {
        ProgressBar::hidden()
    };
    let mut summary = EmbedSummary::default();
    let mut skipped: Vec<SkippedRow> = walk_skipped
        .into_iter()
        .map(|(path, reason)| SkippedRow {
            path,
            track: None,
            reason,
        })
        .collect();
    let mut rows = Vec::with_capacity(positions.len());
    let mut stretched_rows = Vec::new();
    for &index in &positions {
        let item = &inputs[index];
        bar.set_message(item.id.clone());
        let done = match progress.take(index) {
            Some(done) => {
                summary.resumed += 1;
                done
            }
            None => match embed_track(embedder, out, index, item, job)? {
                Ok(done) => {
                    progress.record(&done)?;
                    done
                }
                Err(reason) => {
                    skipped.push(SkippedRow {
                        path: item.path.clone(),
                        track: Some((item.id.clone(), index)),
                        reason,
                    });
                    bar.inc(1);
                    continue;
                }
            },
        };
        summary.tracks += 1;
        summary.slices += done.slices;
        summary.seconds += done.seconds;
        summary.stretched += done.stretched.len();
        rows.push(done.row.to_index_row(out));
        stretched_rows.extend(done.stretched.iter().map(|r| r.to_index_row(out)));
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.skipped = skipped.iter().map(|s| (s.path.clone(), s.reason.clone())).collect();
    if summary.tracks == 0 && job.shard.is_none() {
        return Err(EvalError::Empty(format!(
            "no track of {} could be decoded (first problem: {})",
            input.display(),
            summary
                .skipped
                .first()
                .map(|(p, r)| format!("{}: {r}", p.display()))
                .unwrap_or_default()
        )));
    }
    let mut index_columns: Vec<String> = vec!["id".into(), "audio".into(), "slices".into(), "seconds".into()];
    for column in columns {
        if !index_columns.contains(&column) {
            index_columns.push(column);
        }
    }
    write_index(&out.join(INDEX_FILE), &index_columns, &rows)?;
    if !stretched_rows.is_empty() {
        write_index(&out.join(STRETCHED_FILE), &stretched_columns(), &stretched_rows)?;
    }
    if job.shard.is_some() && !skipped.is_empty() {
        write_skipped(&out.join(SKIPPED_FILE), &skipped)?;
    }
    crate::store::prune_tracks(&folder, rows.iter().chain(&stretched_rows))?;
    let shard = match (job.shard, &identity) {
        (Some(shard), Some(identity)) => Some(ShardRecord {
            index: shard.index,
            count: shard.count,
            tracks: positions.len(),
            input_tracks: inputs.len(),
            input_checksum: identity.input_checksum.clone(),
            model_checksum: identity.model_checksum.clone(),
            frontend_checksum: identity.frontend_checksum.clone(),
        }),
        _ => None,
    };
    let cfg = embedder.frontend().config();
    write_meta(
        out,
        &EmbeddingMeta {
            format_version: FORMAT_VERSION,
            model: embedder.source().to_string(),
            spaces: embedder.spaces().to_vec(),
            format: job.format,
            slice_seconds: (cfg.frames * cfg.hop_length) as f64 / cfg.sample_rate as f64,
            hop_seconds: embedder.hop_frames() as f64 * cfg.hop_length as f64 / cfg.sample_rate as f64,
            sample_rate: cfg.sample_rate,
            input: input.display().to_string(),
            stretch_copies: job.stretch_copies,
            stretch_range: job.stretch_range,
            stretch_seed: job.stretch_seed,
            shard,
        },
    )?;
    folder.remove(PROGRESS_FILE).map_err(crate::store::output_error)?;
    Ok(summary)
}

/// Embeds the track at input position `index` (and its time-stretched copies) into `out`. The
/// inner `Err` is the reason a file that cannot be decoded is skipped.
fn embed_track(
    embedder: &Embedder,
    out: &Path,
    index: usize,
    item: &EmbedInput,
    job: &EmbedJob,
) -> Result<Result<FinishedTrack, String>, EvalError> {
    let (track, stats, seconds) = match embedder.embed_file(&item.path)? {
        Ok(done) => done,
        Err(e) => return Ok(Err(e.reason())),
    };
    let file = write_track(out, &track_stem(index, &item.id), &track, job.format)?;
    let mut fields = item.fields.clone();
    fields.insert("id".into(), item.id.clone());
    fields.insert("audio".into(), item.path.display().to_string());
    fields.insert("slices".into(), stats.slices.to_string());
    fields.insert("seconds".into(), format!("{seconds:.3}"));
    let mut done = FinishedTrack {
        position: index,
        slices: stats.slices,
        seconds,
        row: JournalRow::new(out, &file, fields)?,
        stretched: Vec::new(),
    };
    let tempo = item
        .fields
        .get("tempo")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0);
    if let (Some(tempo), true) = (tempo, job.stretch_copies > 0) {
        let (lo, hi) = job.stretch_range;
        // Time stretching works on the whole track, so only stretched copies hold the
        // decoded track in memory (16 kHz mono, 64 kB per second).
        let audio = load_mono(&item.path).map_err(|e| EvalError::Audio {
            path: item.path.clone(),
            reason: e.reason(),
        })?;
        for copy in 0..job.stretch_copies {
            let mut rng = derived_rng(job.stretch_seed, &[index as u64, copy as u64]);
            let rate = if hi > lo { rng.random_range(lo..hi) } else { lo };
            let stretched = time_stretch(&audio, rate).map_err(|e| EvalError::Audio {
                path: item.path.clone(),
                reason: e.to_string(),
            })?;
            let (track, stats) = embedder.embed_audio(&stretched)?;
            let id = format!("{}@stretch{copy}", item.id);
            let file = write_track(
                out,
                &track_stem(index, &format!("{}_stretch{copy}", item.id)),
                &track,
                job.format,
            )?;
            let mut fields = BTreeMap::new();
            fields.insert("id".into(), id);
            fields.insert("source".into(), item.id.clone());
            fields.insert("rate".into(), format!("{rate:.6}"));
            fields.insert("tempo".into(), format!("{:.4}", tempo * rate));
            fields.insert("split".into(), item.fields.get("split").cloned().unwrap_or_default());
            fields.insert("slices".into(), stats.slices.to_string());
            done.stretched.push(JournalRow::new(out, &file, fields)?);
        }
    }
    Ok(Ok(done))
}

/// What makes two runs into one folder interchangeable, track by track: the input's track
/// list, the model file, the front end, the shard and every setting that changes a track's
/// files or index row. A journal whose first line differs is ignored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunIdentity {
    /// The loev version (another version may embed differently).
    pub version: String,
    /// FNV-1a 64 of the ordered track list (ids, paths, label columns), 16 hex digits.
    pub input_checksum: String,
    /// FNV-1a 64 of the model file's bytes.
    pub model_checksum: String,
    /// FNV-1a 64 of the front end's settings (as JSON).
    pub frontend_checksum: String,
    /// The shard, if any.
    pub shard: Option<Shard>,
    /// Array format.
    pub format: EmbeddingFormat,
    /// Hop between slices in frames.
    pub hop_frames: usize,
    /// Stretched copies per track with a tempo.
    pub stretch_copies: usize,
    /// Range of the stretch rates.
    pub stretch_range: (f64, f64),
    /// Seed of the stretch rates.
    pub stretch_seed: u64,
}

impl RunIdentity {
    /// The identity of embedding `inputs` with `embedder` as `job` says; `None` when the model
    /// has no file to checksum.
    pub fn new(
        embedder: &Embedder,
        inputs: &[EmbedInput],
        columns: &[String],
        job: &EmbedJob,
    ) -> Result<Option<Self>, EvalError> {
        let Some(model_file) = embedder.model_file() else {
            return Ok(None);
        };
        let frontend = serde_json::to_vec(embedder.frontend().config())
            .map_err(|e| EvalError::Invalid(format!("front end settings: {e}")))?;
        Ok(Some(Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            input_checksum: hex(input_checksum(inputs, columns)),
            model_checksum: hex(file_checksum(model_file)?),
            frontend_checksum: hex(loev_core::checksum::fnv1a64(&frontend)),
            shard: job.shard,
            format: job.format,
            hop_frames: embedder.hop_frames(),
            stretch_copies: job.stretch_copies,
            stretch_range: job.stretch_range,
            stretch_seed: job.stretch_seed,
        }))
    }
}

fn hex(checksum: u64) -> String {
    format!("{checksum:016x}")
}

/// FNV-1a 64 of the ordered track list: every column name, then each track's id, audio path
/// and label fields, with separators so that no two lists hash the same text.
pub fn input_checksum(inputs: &[EmbedInput], columns: &[String]) -> u64 {
    let mut hasher = loev_core::checksum::Fnv1a64::new();
    for column in columns {
        hasher.update(column.as_bytes());
        hasher.update(&[0]);
    }
    for item in inputs {
        hasher.update(&[1]);
        hasher.update(item.id.as_bytes());
        hasher.update(&[0]);
        hasher.update(item.path.as_os_str().as_encoded_bytes());
        for (key, value) in &item.fields {
            hasher.update(&[0]);
            hasher.update(key.as_bytes());
            hasher.update(&[0]);
            hasher.update(value.as_bytes());
        }
    }
    hasher.finish()
}

/// FNV-1a 64 of a file's bytes, read in blocks of 1 MiB.
fn file_checksum(path: &Path) -> Result<u64, EvalError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(EvalError::io("read", path))?;
    let mut hasher = loev_core::checksum::Fnv1a64::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(EvalError::io("read", path))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&block[..n]);
    }
}

/// One row of a finished track in the journal: its file (relative to the folder) and columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct JournalRow {
    file: PathBuf,
    fields: BTreeMap<String, String>,
}

impl JournalRow {
    fn new(out: &Path, file: &Path, fields: BTreeMap<String, String>) -> Result<Self, EvalError> {
        let relative = file
            .strip_prefix(out)
            .map_err(|_| EvalError::format(file, format!("is not inside {}", out.display())))?;
        Ok(Self {
            file: relative.to_path_buf(),
            fields,
        })
    }

    fn to_index_row(&self, out: &Path) -> IndexRow {
        IndexRow {
            path: out.join(&self.file),
            fields: self.fields.clone(),
        }
    }
}

/// A track whose files are written: one line of `progress.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FinishedTrack {
    position: usize,
    slices: usize,
    seconds: f64,
    row: JournalRow,
    stretched: Vec<JournalRow>,
}

/// The journal of a run (`progress.jsonl`): the identity on its first line, then one finished
/// track per line, appended after the track's files are written (and synced), so a line
/// always names complete files. A torn last line (a kill mid-write) is ignored.
struct Progress {
    file: Option<std::fs::File>,
    path: PathBuf,
    earlier: HashMap<usize, FinishedTrack>,
}

impl Progress {
    /// Reads the tracks an earlier run with the same identity finished (whose files are all
    /// still there), and starts the journal afresh with them. `None`: no journal.
    fn open(out: &Path, identity: Option<&RunIdentity>) -> Result<Self, EvalError> {
        let path = out.join(PROGRESS_FILE);
        let Some(identity) = identity else {
            return Ok(Self {
                file: None,
                path,
                earlier: HashMap::new(),
            });
        };
        let header = serde_json::to_string(identity).map_err(|e| EvalError::format(&path, e.to_string()))?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(EvalError::io("read", &path)(e)),
        };
        let mut lines = text.lines();
        let mut earlier = HashMap::new();
        let mut kept = format!("{header}\n");
        if lines.next() == Some(header.as_str()) {
            for line in lines {
                let Ok(done) = serde_json::from_str::<FinishedTrack>(line) else {
                    continue;
                };
                let complete = std::iter::once(&done.row)
                    .chain(&done.stretched)
                    .all(|row| out.join(&row.file).is_file());
                if complete {
                    kept.push_str(line);
                    kept.push('\n');
                    earlier.insert(done.position, done);
                }
            }
        }
        atomic_write(&path, kept.as_bytes()).map_err(EvalError::io("write", &path))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(EvalError::io("open", &path))?;
        Ok(Self {
            file: Some(file),
            path,
            earlier,
        })
    }

    /// The earlier run's track at `position`, if it finished it.
    fn take(&mut self, position: usize) -> Option<FinishedTrack> {
        self.earlier.remove(&position)
    }

    /// Appends a finished track.
    fn record(&mut self, done: &FinishedTrack) -> Result<(), EvalError> {
        use std::io::Write;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let mut line = serde_json::to_string(done).map_err(|e| EvalError::format(&self.path, e.to_string()))?;
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(EvalError::io("write", &self.path))
    }
}

/// A progress bar in the style of the other loev commands.
pub(crate) fn progress_bar(len: u64, prefix: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style).with_prefix(prefix.to_string())
}

/// Mean of the rows of a `[T × dim]` matrix (zeros for T = 0).
pub fn mean_rows(matrix: &[f32], dim: usize) -> Vec<f32> {
    let mut mean = vec![0.0f64; dim];
    let rows = matrix.len().checked_div(dim).unwrap_or(0);
    for row in matrix.chunks_exact(dim.max(1)).take(rows) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.into_iter()
        .map(|m| if rows > 0 { (m / rows as f64) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedder_for_test() -> Embedder {
        let config = LoevModelConfig::new(loev_model::EncoderConfig::test(), vec!["invariant".into()])
            .with_projection_dims(vec![8]);
        let model = LoevModel::init(&config, &Device::flex(), 1);
        Embedder::new(
            model,
            config,
            FrontEndConfig::default(),
            Device::flex(),
            EmbedOptions::default(),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn slice_starts_match_the_front_end_slicer() {
        let fe = FrontEnd::new(FrontEndConfig::default()).unwrap();
        for seconds in [0.5, 2.0, 3.0, 3.01, 5.0, 7.3, 12.0] {
            let audio: Vec<f32> = (0..(seconds * 16000.0) as usize)
                .map(|i| ((i as f32) * 0.01).sin())
                .collect();
            let mel = fe.log_mel(&audio);
            let reference = fe.slices(&mel, 200);
            let starts = slice_starts(mel.n_frames, 300, 200);
            assert_eq!(starts.len(), reference.len(), "{seconds} s");
            let (track, _) = embedder_for_test().embed_log_mel(&mel).unwrap();
            for ((start, (time, _)), stamp) in starts.iter().zip(&reference).zip(&track.timestamps) {
                assert!((stamp - time).abs() < 1e-9, "{seconds} s: slice at frame {start}");
            }
        }
    }

    #[test]
    fn mean_rows_averages_columns() {
        assert_eq!(mean_rows(&[1.0, 2.0, 3.0, 6.0], 2), vec![2.0, 4.0]);
        assert_eq!(mean_rows(&[], 3), vec![0.0; 3]);
    }
}
