//! Probes on frozen embeddings: a shallow ReLU MLP per task, trained with Adam on
//! the *slice* embeddings of the training tracks, early-stopped on the validation tracks'
//! loss, and tested on the *track means* of the test tracks; repeated over several seeds.
//!
//! * Tagging: multi-label, binary cross-entropy on logits; macro ROC-AUC and AP over the tags
//!   ([`crate::metrics::tagging_scores`]; tags with one class only in the test split are left
//!   out and counted).
//! * Key: 24 classes, cross-entropy; mir_eval weighted score (and accuracy).
//! * Pitch: the pitches present, cross-entropy; accuracy.
//! * Tempo: 300 classes (integer BPM 0–299), cross-entropy; Acc1 / Acc2 (4 %, factors 1, 2, 3,
//!   ½, ⅓) of the predicted class (as BPM) against the annotated tempo. Training tracks are
//!   augmented by their time-stretched copies from `loev embed --stretch-copies K`, whose tempo
//!   is scaled by the rate (U(0.8, 1.2) by default): every epoch trains on one copy of each
//!   track, drawn afresh ([`ProbeConfig::fresh_copy_per_epoch`]), as the seed's probe stretches
//!   every track anew each epoch.
//!
//! * Tempo, regression ([`ProbeConfig::tempo_regression`]): beside the classes, the same MLP
//!   with one output is trained by mean squared error on the standardised log₂ BPM of the same
//!   slices and stretched copies; it reports Spearman's ρ, the median absolute error in % and
//!   the accuracy within 8 % ([`crate::metrics::tempo_regression_scores`]). Acc1 at 4 % over
//!   300 classes cannot see partial tempo knowledge; these can.
//!
//! Validation uses track means too (as the test), so early stopping sees what the test sees;
//! it watches the task's main metric by default ([`Monitor`]; the regression's is ρ).
//! Features are standardised with the training slices' mean and standard deviation (an
//! option). Every random draw (weights, shuffling, dropout) comes from the probe seed, so a
//! run is repeatable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Int, Tensor, TensorData};
use loev_core::rng::{Rng, derive_seed, rng_from_seed};
use loev_data::labels::{Key, TEMPO_TOLERANCE, mean_key_score, tempo_class};
use loev_data::{LoadOptions, LoadReport, Split, Target, TaskDataset, TaskKind, TaskTrack, load_manifest_tasks};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::metrics::{
    TEMPO_REGRESSION_TOLERANCE, accuracy, argmax, spearman, tagging_scores, tempo_regression_scores, tempo_scores,
};
use crate::store::EmbeddingSet;

/// Probe hyper-parameters (TOML; unknown keys are errors). Defaults follow MARBLE's probe
/// (one hidden layer of 512, dropout 0.2, Adam 1e-3, batch 64) with early stopping patience 10.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Hidden layer sizes (empty = a linear probe).
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer, in [0, 1).
    pub dropout: f64,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// L2 penalty added to the loss (0 = none).
    pub weight_decay: f64,
    /// Slices per optimisation step.
    pub batch_size: usize,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// What early stopping watches on the validation tracks.
    pub monitor: Monitor,
    /// Number of seeds (runs) per task; results are mean ± std over them.
    pub seeds: usize,
    /// Base seed; run r uses `derive_seed(seed, [r])`.
    pub seed: u64,
    /// Standardise features with the training slices' statistics.
    pub standardize: bool,
    /// Relative tolerance of tempo Acc1/Acc2.
    pub tempo_tolerance: f64,
    /// Tempo tasks with time-stretched copies (`loev embed --stretch-copies K`): every epoch
    /// trains on one copy per training track, drawn afresh, as the seed's probe stretches each
    /// track anew every epoch. `false` trains on the track and all its copies every epoch.
    pub fresh_copy_per_epoch: bool,
    /// Tempo tasks also train the log₂-BPM regression probe (same seeds) and report its
    /// metrics ([`TEMPO_REGRESSION_METRICS`]) beside Acc1/Acc2.
    pub tempo_regression: bool,
}

/// The metrics the tempo regression probe adds to a tempo task's result, in order, all
/// fractions like every probe metric: Spearman's ρ between predicted and annotated tempo (0
/// when the probe predicts one tempo for every test track: a constant ranks nothing), the
/// median absolute error as a fraction of the annotated tempo, and the fraction of test
/// tracks within 8 % of it.
pub const TEMPO_REGRESSION_METRICS: [&str; 3] = ["tempo_rho", "tempo_median_error", "tempo_within_8pct"];

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512],
            dropout: 0.2,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            batch_size: 64,
            max_epochs: 100,
            patience: 10,
            monitor: Monitor::Metric,
            seeds: 5,
            seed: 123,
            standardize: true,
            tempo_tolerance: TEMPO_TOLERANCE,
            fresh_copy_per_epoch: true,
            tempo_regression: true,
        }
    }
}

impl ProbeConfig {
    /// Checks the ranges, naming the key.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |m: String| Err(EvalError::Invalid(format!("probe config: {m}")));
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout = {} must be in [0, 1)", self.dropout));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("learning_rate = {} must be positive", self.learning_rate));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!("weight_decay = {} must be non-negative", self.weight_decay));
        }
        if self.batch_size == 0 || self.max_epochs == 0 || self.seeds == 0 {
            return bad("batch_size, max_epochs and seeds must be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return bad(format!("hidden = {:?}: sizes must be positive", self.hidden));
        }
        Ok(())
    }
}

/// What early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monitor {
    /// The task's main metric on the validation tracks (ROC-AUC, weighted key score,
    /// accuracy, Acc1), ties broken by the loss (MARBLE monitors the metric too). With few
    /// validation tracks and many classes the loss rises long before the metric stops
    /// improving, which stops training far too early.
    Metric,
    /// The validation loss.
    Loss,
}

/// The targets of a set of items.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Multi-hot rows `[n × classes]` (tagging).
    MultiHot(Vec<f32>),
    /// Class indices (key, pitch, tempo).
    Class(Vec<usize>),
}

impl Targets {
    fn len(&self, classes: usize) -> usize {
        match self {
            Targets::MultiHot(v) => v.len().checked_div(classes).unwrap_or(0),
            Targets::Class(v) => v.len(),
        }
    }
}

/// Features and targets of one split.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitData {
    /// `[n × dim]` features.
    pub features: Vec<f32>,
    /// The targets.
    pub targets: Targets,
    /// Annotated tempo (BPM) per item, tempo tasks only (the reference of Acc1/Acc2).
    pub tempi: Vec<f64>,
    /// Annotated key per item, key tasks only.
    pub keys: Vec<Key>,
}

impl SplitData {
    fn empty(kind: TaskKind) -> Self {
        let targets = if kind == TaskKind::Tagging {
            Targets::MultiHot(Vec::new())
        } else {
            Targets::Class(Vec::new())
        };
        Self {
            features: Vec::new(),
            targets,
            tempi: Vec::new(),
            keys: Vec::new(),
        }
    }

    fn push(&mut self, features: &[f32], target: &Target, track: Option<(&TaskTrack, f64)>) {
        self.features.extend_from_slice(features);
        match (&mut self.targets, target) {
            (Targets::MultiHot(v), Target::MultiHot(hot)) => v.extend_from_slice(hot),
            (Targets::Class(v), Target::Class(c)) => v.push(*c),
            _ => {}
        }
        if let Some((track, rate)) = track {
            if let Some(t) = track.labels.tempo {
                self.tempi.push(t * rate);
            }
            if let Some(k) = track.labels.key {
                self.keys.push(k);
            }
        }
    }
}

/// Everything a probe needs for one task in one embedding space.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeData {
    /// Task name.
    pub task: String,
    /// Task kind.
    pub kind: TaskKind,
    /// The benchmark the task is a fold of ([`TaskDataset::fold_of`]).
    pub fold_of: Option<String>,
    /// Output classes.
    pub classes: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Training slices (of the training tracks and their stretched copies).
    pub train: SplitData,
    /// Per training slice, `(training track, version)`: version 0 is the track itself, 1…K its
    /// time-stretched copies. Empty when no track has a copy (every slice serves every epoch).
    pub train_versions: Vec<(u32, u32)>,
    /// Validation track means.
    pub valid: SplitData,
    /// Test track means.
    pub test: SplitData,
    /// Tracks without a usable target or embedding, left out.
    pub skipped: usize,
}

/// The tasks of an embedding folder: the label columns of its `index.csv`.
///
/// `index.csv` is a manifest whose `path` column lists the *embedding* files, so the manifest
/// loader's "missing audio file (nor a converted copy)" would point the user at audio that
/// probing never reads, and the track would silently drop out of the probes. A missing
/// embedding file is therefore an error that names the file, its track and the fix.
pub fn embedded_tasks(set: &EmbeddingSet) -> Result<(Vec<TaskDataset>, LoadReport), EvalError> {
    let index = set.index_path();
    let (tasks, report) = load_manifest_tasks(&index, &LoadOptions::default())?;
    if let Some(reason) = missing_embeddings(&report, set) {
        return Err(EvalError::format(&index, reason));
    }
    Ok((tasks, report))
}

/// The message for embedding files listed in `index.csv` that are gone, if any.
fn missing_embeddings(report: &LoadReport, set: &EmbeddingSet) -> Option<String> {
    let problems: Vec<_> = report.missing.iter().chain(&report.corrupt).collect();
    let first = problems.first()?;
    let more = match problems.len() {
        1 => String::new(),
        n => format!(
            " (and {} more: {})",
            n - 1,
            problems[1..]
                .iter()
                .take(5)
                .map(|p| format!("`{}`", p.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Some(format!(
        "the embedding file of track `{}`, {}, is missing{more}; it was written by `loev embed` and \
         probing reads the embeddings, not the audio. Run `loev embed` into {} again to rewrite the \
         folder, or delete the track's row from index.csv to probe without it",
        first.id,
        first.path.display(),
        set.root().display(),
    ))
}

/// Reads track `id`'s `space` embedding from `file`; a missing file names the track and what
/// to do rather than only failing to open it.
fn read_track_space(
    set: &EmbeddingSet,
    id: &str,
    file: &Path,
    space: &str,
) -> Result<crate::embed::SpaceEmbedding, EvalError> {
    if !file.exists() {
        return Err(EvalError::format(
            file,
            format!(
                "the embedding file of track `{id}` is missing (listed in {}). Run `loev embed` into {} again \
                 to rewrite it, or delete the track's row from index.csv to probe without it",
                set.index_path().display(),
                set.root().display()
            ),
        ));
    }
    set.read_space(file, space)
}

/// Gathers the probe data of `task` in `space` from an embedding folder. Tracks are matched
/// to embedding files by id; a tempo task also uses the time-stretched copies of its training
/// tracks (`stretched.csv`).
pub fn probe_data(task: &TaskDataset, set: &EmbeddingSet, space: &str) -> Result<ProbeData, EvalError> {
    let info = set.space(space)?.clone();
    let files = set.files_by_id()?;
    let mut copies: HashMap<String, Vec<(f64, PathBuf)>> = HashMap::new();
    if task.kind == TaskKind::Tempo {
        for copy in set.stretched()? {
            copies.entry(copy.source).or_default().push((copy.rate, copy.path));
        }
    }
    let mut data = ProbeData {
        task: task.name.clone(),
        kind: task.kind,
        fold_of: task.fold_of.clone(),
        classes: task.classes.len(),
        dim: info.dim,
        train: SplitData::empty(task.kind),
        train_versions: Vec::new(),
        valid: SplitData::empty(task.kind),
        test: SplitData::empty(task.kind),
        skipped: 0,
    };
    let mut train_tracks = 0u32;
    for track in &task.tracks {
        let target = task.target(track);
        let Some(file) = files.get(&track.id) else {
            data.skipped += 1;
            continue;
        };
        if matches!(target, Target::None) {
            data.skipped += 1;
            continue;
        }
        let embedding = read_track_space(set, &track.id, file, space)?;
        match track.split {
            Split::Train => {
                for t in 0..embedding.len() {
                    data.train.push(embedding.row(t), &target, Some((track, 1.0)));
                    data.train_versions.push((train_tracks, 0));
                }
                let mut version = 0;
                for (rate, path) in copies.get(&track.id).map(Vec::as_slice).unwrap_or(&[]) {
                    let Some(class) = track
                        .labels
                        .tempo
                        .and_then(|bpm| tempo_class(bpm * rate, task.tempo_binning))
                    else {
                        continue;
                    };
                    version += 1;
                    let copy = read_track_space(set, &track.id, path, space)?;
                    for t in 0..copy.len() {
                        data.train
                            .push(copy.row(t), &Target::Class(class), Some((track, *rate)));
                        data.train_versions.push((train_tracks, version));
                    }
                }
                train_tracks += 1;
            }
            Split::Valid => data.valid.push(&embedding.mean, &target, Some((track, 1.0))),
            Split::Test => data.test.push(&embedding.mean, &target, Some((track, 1.0))),
        }
    }
    if data.train_versions.iter().all(|&(_, version)| version == 0) {
        data.train_versions.clear();
    }
    Ok(data)
}

/// The number of time-stretched copies of every training track, from the rows' versions.
fn copies_per_track(versions: &[(u32, u32)]) -> Vec<u32> {
    let n_tracks = versions.iter().map(|&(track, _)| track as usize + 1).max().unwrap_or(0);
    let mut copies = vec![0u32; n_tracks];
    for &(track, version) in versions {
        copies[track as usize] = copies[track as usize].max(version);
    }
    copies
}

/// The training rows of one epoch when tracks have time-stretched copies (`copies` from
/// [`copies_per_track`]): for every training track, the slices of one of its copies drawn
/// uniformly (the track itself when it has none).
fn fresh_copy_rows(versions: &[(u32, u32)], copies: &[u32], rng: &mut Rng) -> Vec<usize> {
    let chosen: Vec<u32> = copies
        .iter()
        .map(|&k| if k > 0 { 1 + rng.random_range(0..k) } else { 0 })
        .collect();
    versions
        .iter()
        .enumerate()
        .filter(|(_, (track, version))| *version == chosen[*track as usize])
        .map(|(row, _)| row)
        .collect()
}

/// One metric over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name (`roc_auc`, `average_precision`, `key_weighted`, `key_accuracy`,
    /// `accuracy`, `acc1`, `acc2`, and the [`TEMPO_REGRESSION_METRICS`]).
    pub name: String,
    /// Mean over seeds.
    pub mean: f64,
    /// Population standard deviation over seeds.
    pub std: f64,
    /// Per-seed values.
    pub values: Vec<f64>,
}

impl MetricSummary {
    /// The mean and population standard deviation of the per-seed `values`.
    pub fn of(name: impl Into<String>, values: Vec<f64>) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        Self {
            name: name.into(),
            mean,
            std,
            values,
        }
    }
}

/// The result of one task in one space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Task name.
    pub task: String,
    /// Task kind.
    pub kind: TaskKind,
    /// The benchmark the task is a fold of ([`TaskDataset::fold_of`]): tables show the mean
    /// over its folds.
    #[serde(default)]
    pub fold_of: Option<String>,
    /// Embedding space.
    pub space: String,
    /// Metrics, mean ± std over seeds.
    pub metrics: Vec<MetricSummary>,
    /// Epochs trained per seed (the best epoch is what is tested).
    pub best_epochs: Vec<usize>,
    /// Training slices, validation tracks, test tracks.
    pub counts: (usize, usize, usize),
    /// Labels undefined in the test split (tagging), left out of the macro means.
    pub undefined_labels: usize,
}

impl ProbeResult {
    /// The metric called `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricSummary> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// The MLP: linear layers with ReLU and dropout between them.
#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(dims: &[usize], rng: &mut Rng, device: &Device) -> Self {
        let layers = dims
            .windows(2)
            .map(|w| {
                let (d_in, d_out) = (w[0], w[1]);
                // PyTorch's nn.Linear initialisation: U(−1/√fan_in, 1/√fan_in).
                let bound = 1.0 / (d_in as f64).sqrt();
                let weight: Vec<f32> = (0..d_in * d_out)
                    .map(|_| rng.random_range(-bound..bound) as f32)
                    .collect();
                let bias: Vec<f32> = (0..d_out).map(|_| rng.random_range(-bound..bound) as f32).collect();
                Linear {
                    weight: Param::from_data(TensorData::new(weight, [d_in, d_out]), device),
                    bias: Some(Param::from_data(TensorData::new(bias, [d_out]), device)),
                }
            })
            .collect();
        Self { layers }
    }

    /// `masks[i]` multiplies the output of hidden layer i (inverted dropout) when training.
    fn forward(&self, x: Tensor<2>, masks: Option<&[Tensor<2>]>) -> Tensor<2> {
        let mut h = x;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
                if let Some(masks) = masks {
                    h = h * masks[i].clone();
                }
            }
        }
        h
    }
}

fn tensor2(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

fn to_vec(t: Tensor<2>) -> Result<Vec<f32>, EvalError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| EvalError::Model(format!("reading probe output: {e:?}")))
}

/// What a probe's outputs are fitted to on one split.
#[derive(Clone, Copy)]
enum Fit<'a> {
    /// The task's targets: one output per class or tag.
    Task(&'a Targets),
    /// One value per item (the standardised log₂ BPM): one output, squared error.
    Value(&'a [f32]),
}

/// Loss of outputs `[n × C]` against the fitted targets of `rows`, averaged over items.
fn loss(outputs: Tensor<2>, fit: Fit, rows: &[usize], classes: usize, device: &Device) -> Tensor<1> {
    let targets = match fit {
        Fit::Task(targets) => targets,
        Fit::Value(values) => {
            let y: Vec<f32> = rows.iter().map(|&r| values[r]).collect();
            let y = tensor2(y, rows.len(), 1, device);
            return (outputs - y).powi_scalar(2).mean();
        }
    };
    let logits = outputs;
    match targets {
        Targets::MultiHot(v) => {
            let y: Vec<f32> = rows
                .iter()
                .flat_map(|&r| v[r * classes..(r + 1) * classes].iter().copied())
                .collect();
            let y = tensor2(y, rows.len(), classes, device);
            // Stable BCE with logits: max(x, 0) − x·y + log(1 + e^(−|x|)).
            let bce = relu(logits.clone()) - logits.clone() * y + logits.abs().neg().exp().log1p();
            bce.mean()
        }
        Targets::Class(v) => {
            let y: Vec<i64> = rows.iter().map(|&r| v[r] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [rows.len()]), device)
                .one_hot::<2>(classes)
                .float();
            (log_softmax(logits, 1) * y).sum_dim(1).mean().neg()
        }
    }
}

/// Standardisation statistics (mean, std floored at 1e-6) of the columns of `[n × dim]`.
fn column_stats(features: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = features.len() / dim.max(1);
    let mut mean = vec![0.0f64; dim];
    let mut sq = vec![0.0f64; dim];
    for row in features.chunks_exact(dim) {
        for j in 0..dim {
            mean[j] += row[j] as f64;
            sq[j] += (row[j] as f64).powi(2);
        }
    }
    let n = n.max(1) as f64;
    let m: Vec<f32> = mean.iter().map(|s| (s / n) as f32).collect();
    let s: Vec<f32> = mean
        .iter()
        .zip(&sq)
        .map(|(s, q)| ((q / n - (s / n).powi(2)).max(0.0).sqrt().max(1e-6)) as f32)
        .collect();
    (m, s)
}

fn apply_stats(features: &[f32], stats: &(Vec<f32>, Vec<f32>)) -> Vec<f32> {
    let dim = stats.0.len();
    features
        .iter()
        .enumerate()
        .map(|(i, &x)| (x - stats.0[i % dim]) / stats.1[i % dim])
        .collect()
}

/// The stream (under the probe seed and the run index) of the regression probe's runs.
const REGRESSION_STREAM: u64 = 1;

/// One seed's trained probe: predictions on the test split and the best epoch.
struct SeedRun {
    test_outputs: Vec<f32>,
    best_epoch: usize,
}

/// What one probe run predicts: the task's classes or tags, or the log₂ tempo.
enum Objective<'a> {
    /// The task's own targets, scored by [`score`].
    Task,
    /// The regression probe's targets per training slice and validation track.
    LogTempo(&'a LogTempo),
}

/// Standardised log₂-BPM targets of a tempo task: `(log₂ BPM − mean) / std` with the
/// training slices' mean and std, so that one learning rate suits every dataset.
struct LogTempo {
    train: Vec<f32>,
    valid: Vec<f32>,
    mean: f64,
    std: f64,
}

impl LogTempo {
    /// The targets of `data`, which must have one annotated tempo per training slice and per
    /// validation track.
    fn of(data: &ProbeData) -> Result<Self, EvalError> {
        let n_train = data.train.targets.len(data.classes);
        let n_valid = data.valid.targets.len(data.classes);
        let n_test = data.test.targets.len(data.classes);
        let counts = (data.train.tempi.len(), data.valid.tempi.len(), data.test.tempi.len());
        if counts != (n_train, n_valid, n_test) {
            return Err(EvalError::Invalid(format!(
                "task {}: tempo regression needs one annotated tempo per item; found {counts:?} for \
                 {n_train} training slices, {n_valid} validation and {n_test} test tracks",
                data.task
            )));
        }
        let log = |bpm: &f64| bpm.max(f64::MIN_POSITIVE).log2();
        let train_log: Vec<f64> = data.train.tempi.iter().map(log).collect();
        let n = train_log.len().max(1) as f64;
        let mean = train_log.iter().sum::<f64>() / n;
        let std = (train_log.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-6);
        let standardise = |v: f64| ((v - mean) / std) as f32;
        Ok(Self {
            train: train_log.into_iter().map(standardise).collect(),
            valid: data.valid.tempi.iter().map(|b| standardise(log(b))).collect(),
            mean,
            std,
        })
    }

    /// The BPM of a standardised output.
    fn bpm(&self, output: f32) -> f64 {
        (output as f64 * self.std + self.mean).exp2()
    }
}

/// The regression probe's metrics on `split` (outputs `[n × 1]`), named as in
/// [`TEMPO_REGRESSION_METRICS`].
fn regression_score(split: &SplitData, outputs: &[f32], targets: &LogTempo) -> Vec<(String, f64)> {
    let pairs: Vec<(f64, f64)> = split
        .tempi
        .iter()
        .zip(outputs)
        .map(|(&r, &o)| (r, targets.bpm(o)))
        .collect();
    let Some(s) = tempo_regression_scores(&pairs, TEMPO_REGRESSION_TOLERANCE) else {
        return Vec::new();
    };
    let [rho, error, within] = TEMPO_REGRESSION_METRICS.map(String::from);
    vec![
        (rho, s.spearman.unwrap_or(0.0)),
        (error, s.median_abs_error_percent / 100.0),
        (within, s.within_tolerance),
    ]
}

fn train_seed(
    data: &ProbeData,
    config: &ProbeConfig,
    seed: u64,
    objective: &Objective,
    train_x: &[f32],
    valid_x: &[f32],
    test_x: &[f32],
) -> Result<SeedRun, EvalError> {
    let device = Device::flex().autodiff();
    let mut rng = rng_from_seed(seed);
    let (outputs, train_fit, valid_fit) = match objective {
        Objective::Task => (
            data.classes,
            Fit::Task(&data.train.targets),
            Fit::Task(&data.valid.targets),
        ),
        Objective::LogTempo(t) => (1, Fit::Value(&t.train), Fit::Value(&t.valid)),
    };
    let mut dims = vec![data.dim];
    dims.extend(&config.hidden);
    dims.push(outputs);
    let mut model = Mlp::new(&dims, &mut rng, &device);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let n_train = data.train.targets.len(data.classes);
    let n_valid = data.valid.targets.len(data.classes);
    let mut order: Vec<usize> = (0..n_train).collect();
    let valid_rows: Vec<usize> = (0..n_valid).collect();
    let valid_input = (n_valid > 0).then(|| tensor2(valid_x.to_vec(), n_valid, data.dim, &device));
    let mut best: Option<((f64, f64), Mlp, usize)> = None;
    let mut since_best = 0;
    let keep = 1.0 - config.dropout;
    let fresh_copies = (config.fresh_copy_per_epoch && !data.train_versions.is_empty())
        .then(|| copies_per_track(&data.train_versions));
    for epoch in 1..=config.max_epochs {
        if let Some(copies) = &fresh_copies {
            order = fresh_copy_rows(&data.train_versions, copies, &mut rng);
        }
        order.shuffle(&mut rng);
        for batch in order.chunks(config.batch_size) {
            let x: Vec<f32> = batch
                .iter()
                .flat_map(|&r| train_x[r * data.dim..(r + 1) * data.dim].iter().copied())
                .collect();
            let x = tensor2(x, batch.len(), data.dim, &device);
            let masks: Vec<Tensor<2>> = config
                .hidden
                .iter()
                .map(|&h| {
                    let m: Vec<f32> = (0..batch.len() * h)
                        .map(|_| {
                            if rng.random_bool(keep) {
                                (1.0 / keep) as f32
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    tensor2(m, batch.len(), h, &device)
                })
                .collect();
            let logits = model.forward(x, (config.dropout > 0.0).then_some(masks.as_slice()));
            let mut l = loss(logits, train_fit, batch, data.classes, &device);
            if config.weight_decay > 0.0 {
                for layer in &model.layers {
                    l = l + layer
                        .weight
                        .val()
                        .powi_scalar(2)
                        .sum()
                        .mul_scalar(config.weight_decay / 2.0);
                }
            }
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
        }
        let Some(valid_input) = &valid_input else {
            best = Some(((0.0, 0.0), model.clone(), epoch));
            continue;
        };
        let logits = model.forward(valid_input.clone(), None).detach();
        let valid_loss =
            loss(logits.clone(), valid_fit, &valid_rows, data.classes, &device).into_scalar::<f32>() as f64;
        // Lower is better: the negated main metric (when monitored and defined), then the loss.
        let criterion = match config.monitor {
            Monitor::Metric => {
                let outputs = to_vec(logits)?;
                let metric = match objective {
                    Objective::Task => score(data, &data.valid, &outputs, config.tempo_tolerance)
                        .0
                        .first()
                        .map(|(_, v)| *v),
                    // The outputs rank as the tempi they stand for.
                    Objective::LogTempo(_) => {
                        let predicted: Vec<f64> = outputs.iter().map(|&o| o as f64).collect();
                        spearman(&data.valid.tempi, &predicted)
                    }
                };
                (metric.map_or(0.0, |m| -m), valid_loss)
            }
            Monitor::Loss => (0.0, valid_loss),
        };
        let better = best
            .as_ref()
            .is_none_or(|(b, _, _)| criterion.0 < b.0 || (criterion.0 == b.0 && criterion.1 < b.1));
        if better {
            best = Some((criterion, model.clone(), epoch));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience {
                break;
            }
        }
    }
    let (_, model, best_epoch) = best.ok_or_else(|| EvalError::Empty("the probe trained no epoch".into()))?;
    let n_test = data.test.targets.len(data.classes);
    let outputs = to_vec(
        model
            .forward(tensor2(test_x.to_vec(), n_test, data.dim, &device), None)
            .detach(),
    )?;
    Ok(SeedRun {
        test_outputs: outputs,
        best_epoch,
    })
}

/// The metrics of outputs `[n × C]` (logits) on `split`; the first is the task's main metric.
fn score(data: &ProbeData, split: &SplitData, outputs: &[f32], tolerance: f64) -> (Vec<(String, f64)>, usize) {
    let c = data.classes;
    match &split.targets {
        Targets::MultiHot(y) => {
            let s = tagging_scores(y, outputs, c);
            let mut out = Vec::new();
            if let Some(v) = s.macro_roc_auc {
                out.push(("roc_auc".to_string(), v));
            }
            if let Some(v) = s.macro_average_precision {
                out.push(("average_precision".to_string(), v));
            }
            (out, s.undefined_labels)
        }
        Targets::Class(y) => {
            let predicted: Vec<usize> = outputs.chunks_exact(c.max(1)).map(argmax).collect();
            let mut out = Vec::new();
            match data.kind {
                TaskKind::Key => {
                    let pairs: Vec<(Key, Key)> = split
                        .keys
                        .iter()
                        .zip(&predicted)
                        .filter_map(|(&r, &p)| Key::from_class_index(p).ok().map(|e| (r, e)))
                        .collect();
                    if let Some(v) = mean_key_score(pairs) {
                        out.push(("key_weighted".to_string(), v));
                    }
                    if let Some(v) = accuracy(y, &predicted) {
                        out.push(("key_accuracy".to_string(), v));
                    }
                }
                TaskKind::Tempo => {
                    let pairs: Vec<(f64, f64)> = split
                        .tempi
                        .iter()
                        .zip(&predicted)
                        .map(|(&r, &p)| (r, p as f64))
                        .collect();
                    if let Some(s) = tempo_scores(&pairs, tolerance) {
                        out.push(("acc1".to_string(), s.acc1));
                        out.push(("acc2".to_string(), s.acc2));
                    }
                }
                _ => {
                    if let Some(v) = accuracy(y, &predicted) {
                        out.push(("accuracy".to_string(), v));
                    }
                }
            }
            (out, 0)
        }
    }
}

/// Trains and tests the probe of `data` with `config.seeds` seeds.
pub fn run_probe(data: &ProbeData, space: &str, config: &ProbeConfig) -> Result<ProbeResult, EvalError> {
    config.validate()?;
    let n_train = data.train.targets.len(data.classes);
    let n_test = data.test.targets.len(data.classes);
    if n_train == 0 || n_test == 0 || data.classes == 0 {
        // Test-only benchmarks (GiantSteps, Hainsworth, ACM-Mirum) are probed through the
        // combined exports that add a training split, which the hint names.
        let hint = if n_train == 0 {
            "; a test-only dataset is probed through a combined export with a training split \
             (`loev data export gs-key` or `alltempo`)"
        } else if n_test == 0 {
            "; give some tracks split `test` in the manifest"
        } else {
            ""
        };
        return Err(EvalError::Empty(format!(
            "task {}: {n_train} training slices, {n_test} test tracks and {} classes: a probe needs all three{hint}",
            data.task, data.classes
        )));
    }
    let stats = config.standardize.then(|| column_stats(&data.train.features, data.dim));
    let prepare = |x: &[f32]| stats.as_ref().map_or_else(|| x.to_vec(), |s| apply_stats(x, s));
    let (train_x, valid_x, test_x) = (
        prepare(&data.train.features),
        prepare(&data.valid.features),
        prepare(&data.test.features),
    );
    let log_tempo = (config.tempo_regression && data.kind == TaskKind::Tempo)
        .then(|| LogTempo::of(data))
        .transpose()?;
    let mut per_metric: Vec<(String, Vec<f64>)> = Vec::new();
    let mut record = |values: Vec<(String, f64)>| {
        for (name, v) in values {
            match per_metric.iter_mut().find(|(n, _)| *n == name) {
                Some((_, list)) => list.push(v),
                None => per_metric.push((name, vec![v])),
            }
        }
    };
    let mut best_epochs = Vec::new();
    let mut undefined = 0;
    for run in 0..config.seeds {
        let seed = derive_seed(config.seed, &[run as u64]);
        let result = train_seed(data, config, seed, &Objective::Task, &train_x, &valid_x, &test_x)?;
        let (values, undefined_labels) = score(data, &data.test, &result.test_outputs, config.tempo_tolerance);
        undefined = undefined_labels;
        record(values);
        best_epochs.push(result.best_epoch);
    }
    if let Some(targets) = &log_tempo {
        for run in 0..config.seeds {
            // Its own stream per seed, so adding the regression leaves the classes' runs as
            // they were.
            let seed = derive_seed(config.seed, &[run as u64, REGRESSION_STREAM]);
            let objective = Objective::LogTempo(targets);
            let result = train_seed(data, config, seed, &objective, &train_x, &valid_x, &test_x)?;
            record(regression_score(&data.test, &result.test_outputs, targets));
        }
    }
    let metrics = per_metric
        .into_iter()
        .map(|(name, values)| MetricSummary::of(name, values))
        .collect();
    Ok(ProbeResult {
        task: data.task.clone(),
        kind: data.kind,
        fold_of: data.fold_of.clone(),
        space: space.to_string(),
        metrics,
        best_epochs,
        counts: (n_train, data.valid.targets.len(data.classes), n_test),
        undefined_labels: undefined,
    })
}

/// Reads a probe config from TOML.
pub fn read_probe_config(path: &Path) -> Result<ProbeConfig, EvalError> {
    let text = std::fs::read_to_string(path).map_err(EvalError::io("read", path))?;
    let config: ProbeConfig = toml::from_str(&text).map_err(|e| EvalError::format(path, e.to_string()))?;
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items of `classes` Gaussian clusters in `dim` dimensions (cluster c centred on 3·e_c).
    fn clusters(n_per_class: usize, classes: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = rng_from_seed(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for c in 0..classes {
            for _ in 0..n_per_class {
                for j in 0..dim {
                    let centre = if j == c { 3.0 } else { 0.0 };
                    x.push(centre + rng.random_range(-1.0..1.0f32));
                }
                y.push(c);
            }
        }
        (x, y)
    }

    fn split(x: Vec<f32>, y: Vec<usize>) -> SplitData {
        SplitData {
            features: x,
            targets: Targets::Class(y),
            tempi: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// An embedding folder of four key-labelled tracks (one per split plus one), as `loev embed`
    /// writes it; returns the folder and each track's embedding file.
    fn embedding_folder(name: &str) -> (PathBuf, Vec<PathBuf>) {
        use crate::embed::{SpaceEmbedding, SpaceInfo, TrackEmbedding};
        use crate::store::{EmbeddingFormat, EmbeddingMeta, FORMAT_VERSION, IndexRow};
        let dir = std::env::temp_dir().join(format!("loev-probe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let space = SpaceInfo {
            name: "v".into(),
            dim: 2,
            description: "test".into(),
        };
        let mut rows = Vec::new();
        let mut files = Vec::new();
        for (i, split) in ["train", "train", "valid", "test"].iter().enumerate() {
            let id = format!("track_{i}");
            let track = TrackEmbedding {
                timestamps: vec![1.5],
                spaces: vec![SpaceEmbedding {
                    name: "v".into(),
                    dim: 2,
                    timeline: vec![i as f32, 1.0],
                    mean: vec![i as f32, 1.0],
                }],
            };
            let stem = crate::store::track_stem(i, &id);
            let file = crate::store::write_track(&dir, &stem, &track, EmbeddingFormat::Safetensors).unwrap();
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("id".to_string(), id);
            fields.insert("split".to_string(), split.to_string());
            fields.insert("key".to_string(), "C major".to_string());
            rows.push(IndexRow {
                path: file.clone(),
                fields,
            });
            files.push(file);
        }
        let columns = ["id", "split", "key"].map(String::from);
        crate::store::write_index(&dir.join("index.csv"), &columns, &rows).unwrap();
        crate::store::write_meta(
            &dir,
            &EmbeddingMeta {
                format_version: FORMAT_VERSION,
                model: "test".into(),
                spaces: vec![space],
                format: EmbeddingFormat::Safetensors,
                slice_seconds: 3.0,
                hop_seconds: 2.0,
                sample_rate: 16_000,
                input: "test".into(),
                stretch_copies: 0,
                stretch_range: (1.0, 1.0),
                stretch_seed: 0,
                shard: None,
            },
        )
        .unwrap();
        (dir, files)
    }

    #[test]
    fn a_deleted_embedding_file_is_named_with_its_track_and_the_fix() {
        let (dir, files) = embedding_folder("deleted");
        let set = EmbeddingSet::open(&dir).unwrap();
        let (tasks, _) = embedded_tasks(&set).unwrap();
        assert_eq!(tasks[0].tracks.len(), 4);
        std::fs::remove_file(&files[1]).unwrap();
        // Through the index: an error, not a silently smaller probe or a word about audio.
        let message = embedded_tasks(&set).unwrap_err().to_string();
        for needle in [
            "track `track_1`",
            "00001_track_1.safetensors",
            "loev embed",
            "index.csv",
        ] {
            assert!(message.contains(needle), "`{needle}` not in: {message}");
        }
        assert!(!message.contains("converted copy"), "{message}");
        // Through a task from elsewhere (`--dataset`): reading the embedding names the track.
        let message = probe_data(&tasks[0], &set, "v").unwrap_err().to_string();
        for needle in ["track `track_1`", "00001_track_1.safetensors", "loev embed"] {
            assert!(message.contains(needle), "`{needle}` not in: {message}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn probe_learns_separable_classes_and_not_random_labels() {
        let (classes, dim) = (4, 8);
        let config = ProbeConfig {
            seeds: 2,
            max_epochs: 30,
            patience: 5,
            hidden: vec![32],
            ..ProbeConfig::default()
        };
        let (tx, ty) = clusters(40, classes, dim, 1);
        let (vx, vy) = clusters(5, classes, dim, 2);
        let (sx, sy) = clusters(10, classes, dim, 3);
        let data = ProbeData {
            task: "pitch".into(),
            kind: TaskKind::Pitch,
            fold_of: None,
            classes,
            dim,
            train: split(tx.clone(), ty.clone()),
            train_versions: Vec::new(),
            valid: split(vx.clone(), vy),
            test: split(sx.clone(), sy.clone()),
            skipped: 0,
        };
        let result = run_probe(&data, "v", &config).unwrap();
        let acc = result.metric("accuracy").unwrap();
        assert_eq!(acc.values.len(), 2);
        assert!(acc.mean > 0.95, "separable clusters: accuracy {}", acc.mean);
        // Same features, every test label moved to the next class: the probe is always wrong.
        let mut shuffled = sy.clone();
        shuffled.rotate_left(10); // every test item now carries the next class's label
        let data = ProbeData {
            test: split(sx, shuffled),
            ..data
        };
        let chance = run_probe(&data, "v", &config).unwrap().metric("accuracy").unwrap().mean;
        assert!(chance < 0.1, "mismatched labels: accuracy {chance}");
    }

    /// With copies, an epoch takes exactly one copy of every training track (never the track
    /// itself), drawn afresh per epoch; a track without copies keeps its own slices.
    #[test]
    fn every_epoch_trains_on_one_fresh_copy_per_track() {
        // Track 0: itself and 3 copies of 2 slices each; track 1: no copy, 3 slices.
        let mut versions = Vec::new();
        for version in 0..4 {
            versions.extend([(0, version), (0, version)]);
        }
        versions.extend([(1, 0), (1, 0), (1, 0)]);
        let mut rng = rng_from_seed(4);
        let copies = copies_per_track(&versions);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let rows = fresh_copy_rows(&versions, &copies, &mut rng);
            let of_track_0: Vec<u32> = rows
                .iter()
                .filter(|&&r| versions[r].0 == 0)
                .map(|&r| versions[r].1)
                .collect();
            assert_eq!(of_track_0.len(), 2, "{rows:?}");
            assert!(of_track_0[0] == of_track_0[1] && of_track_0[0] >= 1, "{of_track_0:?}");
            seen.insert(of_track_0[0]);
            assert_eq!(rows.iter().filter(|&&r| versions[r].0 == 1).count(), 3);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            vec![1, 2, 3],
            "every copy is drawn some epoch"
        );
    }

    #[test]
    fn multi_label_probe_ranks_present_tags_first() {
        let (labels, dim) = (3, 6);
        let mut rng = rng_from_seed(9);
        let mut make = |n: usize| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for i in 0..n {
                let hot: Vec<f32> = (0..labels).map(|l| ((i >> l) & 1) as f32).collect();
                for j in 0..dim {
                    let signal = hot.get(j).map_or(0.0, |h| 2.0 * h);
                    x.push(signal + rng.random_range(-0.5..0.5f32));
                }
                y.extend(hot);
            }
            SplitData {
                features: x,
                targets: Targets::MultiHot(y),
                tempi: Vec::new(),
                keys: Vec::new(),
            }
        };
        let data = ProbeData {
            task: "tags".into(),
            kind: TaskKind::Tagging,
            fold_of: None,
            classes: labels,
            dim,
            train: make(200),
            train_versions: Vec::new(),
            valid: make(16),
            test: make(32),
            skipped: 0,
        };
        let config = ProbeConfig {
            seeds: 1,
            max_epochs: 30,
            hidden: vec![16],
            ..ProbeConfig::default()
        };
        let result = run_probe(&data, "v", &config).unwrap();
        assert!(result.metric("roc_auc").unwrap().mean > 0.95, "{:?}", result.metrics);
        assert!(
            result.metric("average_precision").unwrap().mean > 0.9,
            "{:?}",
            result.metrics
        );
    }

    /// A tempo task whose features carry log₂ BPM in one dimension (plus noise) when
    /// `informative`, or noise only.
    fn tempo_task(informative: bool) -> ProbeData {
        let dim = 6;
        let mut rng = rng_from_seed(17);
        let mut make = |n: usize| {
            let mut split = SplitData::empty(TaskKind::Tempo);
            for _ in 0..n {
                let bpm = rng.random_range(60..=180) as f64;
                let signal = if informative {
                    2.0 * (bpm.log2() - 6.9) as f32
                } else {
                    0.0
                };
                let x: Vec<f32> = (0..dim)
                    .map(|j| if j == 0 { signal } else { 0.0 } + rng.random_range(-0.2..0.2f32))
                    .collect();
                split.features.extend(x);
                if let Targets::Class(v) = &mut split.targets {
                    v.push(bpm as usize);
                }
                split.tempi.push(bpm);
            }
            split
        };
        let (train, valid, test) = (make(300), make(30), make(40));
        ProbeData {
            task: "tempo".into(),
            kind: TaskKind::Tempo,
            fold_of: None,
            classes: 300,
            dim,
            train,
            train_versions: Vec::new(),
            valid,
            test,
            skipped: 0,
        }
    }

    #[test]
    fn the_tempo_regression_sees_tempo_where_it_is_and_not_where_it_is_not() {
        let config = ProbeConfig {
            seeds: 2,
            max_epochs: 40,
            hidden: vec![32],
            ..ProbeConfig::default()
        };
        let result = run_probe(&tempo_task(true), "v", &config).unwrap();
        let metric = |r: &ProbeResult, name: &str| r.metric(name).unwrap_or_else(|| panic!("no {name}")).mean;
        assert_eq!(result.metric("tempo_rho").unwrap().values.len(), 2);
        assert!(metric(&result, "tempo_rho") > 0.9, "{:?}", result.metrics);
        // The features fix log₂ BPM to about ±0.06 (±4 %).
        assert!(metric(&result, "tempo_median_error") < 0.1, "{:?}", result.metrics);
        assert!(metric(&result, "tempo_within_8pct") > 0.5, "{:?}", result.metrics);
        let blind = run_probe(&tempo_task(false), "v", &config).unwrap();
        assert!(metric(&blind, "tempo_rho").abs() < 0.4, "{:?}", blind.metrics);
        assert!(metric(&blind, "tempo_median_error") > 0.1, "{:?}", blind.metrics);
        // The classes' runs are the same with or without the regression beside them.
        let without = ProbeConfig {
            tempo_regression: false,
            ..config.clone()
        };
        let classes_only = run_probe(&tempo_task(true), "v", &without).unwrap();
        assert!(classes_only.metric("tempo_rho").is_none());
        assert_eq!(classes_only.metric("acc1"), result.metric("acc1"));
        // A tempo missing for an item is named, not silently misaligned.
        let mut broken = tempo_task(true);
        broken.valid.tempi.pop();
        let err = run_probe(&broken, "v", &config).unwrap_err().to_string();
        assert!(err.contains("tempo regression") && err.contains("tempo"), "{err}");
    }

    #[test]
    fn bad_settings_are_named() {
        let err = ProbeConfig {
            dropout: 1.0,
            ..ProbeConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("dropout"), "{err}");
        let err = toml::from_str::<ProbeConfig>("hiden = [3]").unwrap_err().to_string();
        assert!(err.contains("hiden"), "{err}");
    }
}
