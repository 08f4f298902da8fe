//! Streaming embedding extraction (SPEC §2.7).
//!
//! A track is cut with MULE's slicer — slices of `frames` (300 = 3 s) log-mel frames centred
//! on every multiple of `hop` (200 frames = 2 s) after 0, each centre clamped so that the slice
//! lies inside the spectrogram; a track shorter than one slice gives one slice padded with
//! silence (exactly [`FrontEnd::slices`]). The slices go through the model in eval mode in
//! batches of `batch_size`; for every embedding space the track gets a timeline `[T × D]` (one
//! row per slice, with its centre time) and its mean over time.
//!
//! **Memory.** Besides the decoded audio (4 bytes per sample) and its log-mel spectrogram
//! (`n_mels` × 4 bytes per 10 ms frame, i.e. 0.6 × the audio at the defaults) and the output
//! timeline itself (`T × ΣD` floats), extraction holds at most one batch: `batch_size` slices
//! of `n_mels × frames` floats and the model's activations for them. Slices are cut from the
//! spectrogram batch by batch, never all at once, so the working set does not grow with the
//! track's length ([`EmbedStats::max_slices_in_flight`] records it, and the memory test
//! measures it on a 10-minute track).
//!
//! **Spaces.** `v`: the encoder output V (d_E; for LOEV++/MULE++ models V^++, the concatenated
//! branches). `v_<head>`: LOEV++ only, branch embedding V^k of each head. `z_<head>`: the
//! projection z^k of each head (the space the contrastive loss of that head sees).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use loev_audio::SAMPLE_RATE;
use loev_audio::cache::is_audio_file;
use loev_audio::decode::load_mono;
use loev_audio::frontend::{FrontEnd, FrontEndConfig, LogMel, slice_starts, standardize};
use loev_audio::manifest::Manifest;
use loev_audio::rng::derived_rng;
use loev_augment::time_stretch;
use loev_data::Split;
use loev_model::{LoevModel, LoevModelConfig, ModelOutput};
use loev_train::TrainConfig;
use loev_train::rundir::{MODEL_FILE, RunDir};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::store::{
    EmbeddingFormat, EmbeddingMeta, FORMAT_VERSION, INDEX_FILE, IndexRow, STRETCHED_FILE, track_stem, write_index,
    write_meta, write_track,
};

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

/// One embedding space of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceInfo {
    /// Name used in files and tables (`v`, `v_<head>`, `z_<head>`).
    pub name: String,
    /// Dimension.
    pub dim: usize,
    /// What it is, for humans.
    pub description: String,
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

/// One space of one track.
#[derive(Clone, Debug, PartialEq)]
pub struct SpaceEmbedding {
    /// Space name.
    pub name: String,
    /// Dimension D.
    pub dim: usize,
    /// `[T × D]`, row-major (one row per slice).
    pub timeline: Vec<f32>,
    /// `[D]`: mean of the timeline over time (the track embedding).
    pub mean: Vec<f32>,
}

impl SpaceEmbedding {
    /// Row `t` of the timeline.
    pub fn row(&self, t: usize) -> &[f32] {
        &self.timeline[t * self.dim..(t + 1) * self.dim]
    }

    /// Number of rows T.
    pub fn len(&self) -> usize {
        self.timeline.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when the timeline has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every space of one track.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackEmbedding {
    /// Centre time of each slice in seconds.
    pub timestamps: Vec<f64>,
    /// One entry per space, in [`model_spaces`] order.
    pub spaces: Vec<SpaceEmbedding>,
}

impl TrackEmbedding {
    /// The space called `name`.
    pub fn space(&self, name: &str) -> Option<&SpaceEmbedding> {
        self.spaces.iter().find(|s| s.name == name)
    }
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
        })
    }

    /// The newest valid checkpoint of a run folder, with the run's front end.
    pub fn from_run(run_dir: &Path, device: Device, options: EmbedOptions) -> Result<Self, EvalError> {
        let run = RunDir::open(run_dir).map_err(|e| EvalError::Model(e.to_string()))?;
        let config = TrainConfig::from_file(&run.config_path()).map_err(|e| EvalError::Model(e.to_string()))?;
        let checkpoint = run
            .latest_valid_checkpoint(|w| eprintln!("{w}"))
            .map_err(|e| EvalError::Model(e.to_string()))?
            .ok_or_else(|| {
                EvalError::Model(format!(
                    "run {} has no usable checkpoint yet: train it first (loev pretrain)",
                    run_dir.display()
                ))
            })?;
        let path = checkpoint.path.join(MODEL_FILE);
        let (model, model_config) = LoevModel::load(&path, &device).map_err(|e| EvalError::Model(e.to_string()))?;
        Self::new(
            model,
            model_config,
            config.frontend,
            device,
            options,
            path.display().to_string(),
        )
    }

    /// A model file. The front end comes from the `config.toml` of the run the file belongs
    /// to (`<run>/checkpoints/step-N/model.safetensors`) when there is one, else MULE's default.
    pub fn from_checkpoint(path: &Path, device: Device, options: EmbedOptions) -> Result<Self, EvalError> {
        let (model, model_config) = LoevModel::load(path, &device).map_err(|e| EvalError::Model(e.to_string()))?;
        let frontend = run_config_of(path).map(|c| c.frontend).unwrap_or_default();
        Self::new(
            model,
            model_config,
            frontend,
            device,
            options,
            path.display().to_string(),
        )
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

    /// Embeds a track (16 kHz mono), slice batch by slice batch (see the module doc).
    pub fn embed_audio(&self, audio: &[f32]) -> Result<(TrackEmbedding, EmbedStats), EvalError> {
        let mel = self.frontend.log_mel(audio);
        self.embed_log_mel(&mel)
    }

    /// Embeds a log-mel spectrogram (as [`FrontEnd::log_mel`] gives).
    pub fn embed_log_mel(&self, mel: &LogMel) -> Result<(TrackEmbedding, EmbedStats), EvalError> {
        let cfg = self.frontend.config();
        let frames = cfg.frames;
        let n_mels = mel.n_mels;
        let seconds_per_frame = cfg.hop_length as f64 / cfg.sample_rate as f64;
        let starts = slice_starts(mel.n_frames, frames, self.hop_frames());
        let mut timelines: Vec<Vec<f32>> = self
            .spaces
            .iter()
            .map(|s| Vec::with_capacity(starts.len() * s.dim))
            .collect();
        let mut stats = EmbedStats::default();
        let slice_len = n_mels * frames;
        for batch in starts.chunks(self.options.batch_size) {
            let mut input = vec![self.silence; batch.len() * slice_len];
            for (b, &start) in batch.iter().enumerate() {
                let slice = &mut input[b * slice_len..(b + 1) * slice_len];
                let available = mel.n_frames.saturating_sub(start).min(frames);
                for m in 0..n_mels {
                    let src = &mel.data[m * mel.n_frames + start..m * mel.n_frames + start + available];
                    slice[m * frames..m * frames + available].copy_from_slice(src);
                }
                if cfg.standardize {
                    standardize(slice, cfg.std_floor);
                }
            }
            stats.max_slices_in_flight = stats.max_slices_in_flight.max(batch.len());
            let outputs = self.embed_inputs(input, batch.len())?;
            for (timeline, output) in timelines.iter_mut().zip(outputs) {
                timeline.extend_from_slice(&output);
            }
            stats.slices += batch.len();
            stats.batches += 1;
        }
        // Centre of the audio each slice covers (the rule of `FrontEnd::slices`): MULE's centre
        // for a full slice, the middle of the real frames for a padded one.
        let back = frames / 2;
        let timestamps = starts
            .iter()
            .map(|&s| {
                let available = mel.n_frames.saturating_sub(s).min(frames);
                let centre = if available == frames {
                    (s + back) as f64
                } else {
                    s as f64 + available as f64 / 2.0
                };
                centre * seconds_per_frame
            })
            .collect();
        let spaces = self
            .spaces
            .iter()
            .zip(timelines)
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
        Ok((TrackEmbedding { timestamps, spaces }, stats))
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

/// What to embed and how to write it (see [`crate::store`] for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedJob {
    /// Array format of the per-track files.
    pub format: EmbeddingFormat,
    /// Time-stretched copies per non-test track with a tempo label, for the tempo probe's
    /// training augmentation (0 = none).
    pub stretch_copies: usize,
    /// Range of the stretch rates (uniform; > 1 = faster, the tempo is scaled by the rate).
    pub stretch_range: (f64, f64),
    /// Seed of the stretch rates.
    pub stretch_seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for EmbedJob {
    fn default() -> Self {
        Self {
            format: EmbeddingFormat::Safetensors,
            stretch_copies: 0,
            stretch_range: (0.8, 1.2),
            stretch_seed: 123,
            progress: true,
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
    let meta = std::fs::metadata(input).map_err(EvalError::io("read", input))?;
    let relative_id = |path: &Path, base: &Path| {
        path.strip_prefix(base)
            .unwrap_or(path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/")
    };
    if meta.is_dir() {
        let mut files = Vec::new();
        scan_audio(input, &mut files)?;
        files.sort();
        let inputs = files
            .into_iter()
            .map(|path| EmbedInput {
                id: relative_id(&path, input),
                path,
                fields: BTreeMap::new(),
            })
            .collect();
        return Ok((inputs, Vec::new()));
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
    Ok((inputs, columns))
}

fn scan_audio(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    for entry in std::fs::read_dir(dir).map_err(EvalError::io("read", dir))? {
        let path = entry.map_err(EvalError::io("read", dir))?.path();
        if path.is_dir() {
            scan_audio(&path, files)?;
        } else if is_audio_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Embeds every track of `input` (see [`list_inputs`]) into the folder `out` (layout in
/// [`crate::store`]). A file that cannot be decoded is skipped and reported, never fatal.
pub fn embed_to_folder(
    embedder: &Embedder,
    input: &Path,
    out: &Path,
    job: &EmbedJob,
) -> Result<EmbedSummary, EvalError> {
    let (inputs, columns) = list_inputs(input)?;
    if inputs.is_empty() {
        return Err(EvalError::Empty(format!(
            "{} holds no audio file to embed",
            input.display()
        )));
    }
    let (lo, hi) = job.stretch_range;
    if job.stretch_copies > 0 && !(lo.is_finite() && hi.is_finite() && 0.25 <= lo && lo <= hi && hi <= 4.0) {
        return Err(EvalError::Invalid(format!(
            "stretch range ({lo}, {hi}) must satisfy 0.25 <= min <= max <= 4"
        )));
    }
    std::fs::create_dir_all(out).map_err(EvalError::io("create", out))?;
    let bar = if job.progress {
        progress_bar(inputs.len() as u64, "embedding")
    } else {
        ProgressBar::hidden()
    };
    let mut summary = EmbedSummary::default();
    let mut rows = Vec::with_capacity(inputs.len());
    let mut stretched_rows = Vec::new();
    for (index, item) in inputs.iter().enumerate() {
        bar.set_message(item.id.clone());
        let audio = match load_mono(&item.path) {
            Ok(audio) if !audio.is_empty() => audio,
            Ok(_) => {
                summary.skipped.push((item.path.clone(), "no audio samples".into()));
                bar.inc(1);
                continue;
            }
            Err(e) => {
                summary.skipped.push((item.path.clone(), e.to_string()));
                bar.inc(1);
                continue;
            }
        };
        let (track, stats) = embedder.embed_audio(&audio)?;
        let file = write_track(out, &track_stem(index, &item.id), &track, job.format)?;
        let seconds = audio.len() as f64 / SAMPLE_RATE as f64;
        let mut fields = item.fields.clone();
        fields.insert("id".into(), item.id.clone());
        fields.insert("audio".into(), item.path.display().to_string());
        fields.insert("slices".into(), stats.slices.to_string());
        fields.insert("seconds".into(), format!("{seconds:.3}"));
        rows.push(IndexRow { path: file, fields });
        summary.tracks += 1;
        summary.slices += stats.slices;
        summary.seconds += seconds;

        let tempo = item
            .fields
            .get("tempo")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0);
        let is_test = item
            .fields
            .get("split")
            .is_some_and(|s| s.trim().parse::<Split>().is_ok_and(|s| s == Split::Test));
        if let (Some(tempo), false) = (tempo, is_test) {
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
                stretched_rows.push(IndexRow { path: file, fields });
                summary.stretched += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if summary.tracks == 0 {
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
        let columns: Vec<String> = ["id", "source", "rate", "tempo", "split", "slices"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        write_index(&out.join(STRETCHED_FILE), &columns, &stretched_rows)?;
    }
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
        },
    )?;
    Ok(summary)
}

/// A progress bar in the style of the other loev commands.
pub(crate) fn progress_bar(len: u64, prefix: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style).with_prefix(prefix.to_string())
}

/// The run config of a checkpoint file at `<run>/checkpoints/<step>/model.safetensors`.
fn run_config_of(model_file: &Path) -> Option<TrainConfig> {
    let run: PathBuf = model_file.parent()?.parent()?.parent()?.to_path_buf();
    TrainConfig::from_file(&run.join("config.toml")).ok()
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
