//! The evaluation stages that `loev embed` / `probe` / `retrieve` / `analyze` and the
//! experiments (`loev demo`) are sequences of. Each stage takes an options struct, returns
//! what it measured together with what it left out and why, and holds the policy that front
//! ends must not decide for themselves: which clips are test clips, which k a retrieval can
//! score, which tasks and spaces a probe runs, when the equivariance probes have too few clips.
//! A new experiment is a new short sequence of these calls.
//!
//! | stage | function | options | result |
//! |---|---|---|---|
//! | open a model | [`ModelSource::open`] | [`EmbedOptions`] | [`Embedder`] |
//! | embed | [`crate::embed::embed_to_folder`], [`open_or_embed`] | [`EmbedJob`] | [`EmbedSummary`], [`EmbeddingSet`] |
//! | probe | [`probe_spaces`] | [`ProbeOptions`] | [`ProbeRun`] |
//! | retrieve | [`retrieve_spaces`] | [`RetrieveOptions`] | [`RetrievalRun`] |
//! | choose test clips | [`test_clips`] | [`ClipOptions`] | [`TestClips`] |
//! | invariance | [`crate::invariance::analyze`] | [`crate::invariance::InvarianceConfig`] | [`crate::invariance::InvariancePoint`]s |
//! | equivariance | [`equivariance_probes`] | [`EquivarianceConfig`] | [`EquivarianceRun`] |
//! | write the report | [`crate::report::Report`] | file stems and titles | the files written |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_audio::manifest::Manifest;
use loev_data::labels::TEMPO_TOLERANCE;
use loev_data::{Split, TaskDataset};

use crate::EvalError;
use crate::embed::{EmbedJob, EmbedOptions, EmbedSummary, Embedder, embed_to_folder, list_inputs_and_skipped};
use crate::equivariance::{EquivarianceConfig, EquivarianceScore, analyze_equivariance};
use crate::probe::{ProbeConfig, ProbeData, probe_data, run_probe};
use crate::retrieval::{DEFAULT_KS, evaluate_retrieval, retrieval_items};
use crate::store::EmbeddingSet;
use crate::tables::ModelResults;

/// Where a model's weights come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A run folder made by `loev pretrain`: its newest valid checkpoint.
    Run(PathBuf),
    /// A model file (`loev export` writes one; every checkpoint is one).
    File(PathBuf),
}

impl ModelSource {
    /// The name the model has in tables and plots: the run folder's name, or the model file's
    /// name without its extension.
    pub fn name(&self) -> String {
        match self {
            ModelSource::Run(path) => path.file_name(),
            ModelSource::File(path) => path.file_stem(),
        }
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned())
    }

    /// The model, ready to embed on `device`.
    pub fn open(&self, device: Device, options: EmbedOptions) -> Result<Embedder, EvalError> {
        match self {
            ModelSource::Run(path) => Embedder::from_run(path, device, options),
            ModelSource::File(path) => Embedder::from_model_file(path, device, options),
        }
    }
}

/// The embedding folder `out` of `input`: opened when an earlier call finished it (its
/// `embeddings.json` is written last), else embedded now ([`embed_to_folder`], whose summary is
/// returned). This is what lets an experiment that was stopped continue where it was.
pub fn open_or_embed(
    embedder: &Embedder,
    input: &Path,
    out: &Path,
    job: &EmbedJob,
) -> Result<(EmbeddingSet, Option<EmbedSummary>), EvalError> {
    if let Ok(set) = EmbeddingSet::open(out) {
        return Ok((set, None));
    }
    let summary = embed_to_folder(embedder, input, out, job)?;
    Ok((EmbeddingSet::open(out)?, Some(summary)))
}

/// What [`probe_spaces`] probes.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeOptions {
    /// Embedding spaces, each of which the folder must have.
    pub spaces: Vec<String>,
    /// Only the tasks with these names (empty: every task); a name no task has is an error.
    pub tasks: Vec<String>,
    /// The probe's settings.
    pub config: ProbeConfig,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            spaces: vec!["v".into()],
            tasks: Vec::new(),
            config: ProbeConfig::default(),
        }
    }
}

/// What [`probe_spaces`] measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeRun {
    /// One row per space (in the order asked), with a probe result per task that could be probed.
    pub results: Vec<ModelResults>,
    /// Tasks that could not be probed in a space (e.g. no test track has a label), each with
    /// the reason.
    pub skipped: Vec<String>,
}

/// Probes every task of `tasks` in every space of `options` on the embeddings of `set`, for the
/// model called `model`. A task that has nothing to test in a space is skipped and reported,
/// never fatal; `on_task` hears of each (space, task) before it is trained.
pub fn probe_spaces(
    set: &EmbeddingSet,
    model: &str,
    tasks: &[TaskDataset],
    options: &ProbeOptions,
    on_task: impl Fn(&str, &ProbeData),
) -> Result<ProbeRun, EvalError> {
    options.config.validate()?;
    let unknown: Vec<&String> = options
        .tasks
        .iter()
        .filter(|name| !tasks.iter().any(|t| &t.name == *name))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        return Err(EvalError::Invalid(format!(
            "unknown task {}: the labels of {} give the tasks {}",
            unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            set.root().display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let tasks: Vec<&TaskDataset> = tasks
        .iter()
        .filter(|t| options.tasks.is_empty() || options.tasks.contains(&t.name))
        .collect();
    if tasks.is_empty() {
        return Err(EvalError::Empty(
            "no task to probe: the labels have no key/tempo/tags/pitch column with values".into(),
        ));
    }
    let mut run = ProbeRun::default();
    for space in &options.spaces {
        set.space(space)?;
        let mut probes = Vec::new();
        for task in &tasks {
            let data = probe_data(task, set, space)?;
            on_task(space, &data);
            match run_probe(&data, space, &options.config) {
                Ok(result) => probes.push(result),
                Err(EvalError::Empty(reason)) => run.skipped.push(reason),
                Err(e) => return Err(e),
            }
        }
        run.results.push(ModelResults {
            model: model.to_string(),
            space: space.clone(),
            probes,
            retrieval: Vec::new(),
        });
    }
    Ok(run)
}

/// What [`retrieve_spaces`] searches and how it scores.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrieveOptions {
    /// Embedding spaces; empty: every space of the folder (V, each head's Z, LOEV++'s V^k).
    pub spaces: Vec<String>,
    /// Neighbour counts.
    pub ks: Vec<usize>,
    /// Relative tolerance of the tempo agreement.
    pub tolerance: f64,
    /// Only the tracks of this split (default: every track).
    pub split: Option<Split>,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        Self {
            spaces: vec!["v".into()],
            ks: DEFAULT_KS.to_vec(),
            tolerance: TEMPO_TOLERANCE,
            split: None,
        }
    }
}

/// Neighbour counts a retrieval could not score: a query has only `neighbours` other tracks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KLeftOut {
    /// The space.
    pub space: String,
    /// The k left out of its table.
    pub ks: Vec<usize>,
    /// Tracks each query can retrieve.
    pub neighbours: usize,
}

/// What [`retrieve_spaces`] measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetrievalRun {
    /// One row per space, with the scores at every k that could be scored.
    pub results: Vec<ModelResults>,
    /// The k left out, per space.
    pub left_out: Vec<KLeftOut>,
}

/// Cosine KNN retrieval among the labelled music tracks of `set` (every split, or
/// `options.split`), in each space of `options`, for the model called `model`. A query has
/// `tracks − 1` neighbours, so a k at or beyond that would silently be scored on fewer
/// neighbours than it says: such a k is left out of the table and reported.
pub fn retrieve_spaces(set: &EmbeddingSet, model: &str, options: &RetrieveOptions) -> Result<RetrievalRun, EvalError> {
    if options.ks.iter().any(|&k| k == 0) {
        return Err(EvalError::Invalid(format!(
            "retrieval: every k must be a neighbour count of at least 1 (e.g. 1,3,5,10), got {:?}",
            options.ks
        )));
    }
    if !(options.tolerance.is_finite() && options.tolerance >= 0.0) {
        return Err(EvalError::Invalid(format!(
            "retrieval: the tempo tolerance must be a relative tolerance of 0 or more ({TEMPO_TOLERANCE} is the \
             benchmark's), got {}",
            options.tolerance
        )));
    }
    let splits = match options.split {
        Some(_) => split_of_ids(set)?,
        None => HashMap::new(),
    };
    let spaces: Vec<String> = if options.spaces.is_empty() {
        set.meta.spaces.iter().map(|s| s.name.clone()).collect()
    } else {
        options.spaces.clone()
    };
    let mut run = RetrievalRun::default();
    for space in spaces {
        let mut items = retrieval_items(set, &space)?;
        if let Some(split) = options.split {
            items.retain(|i| splits.get(&i.id) == Some(&split));
        }
        if items.len() < 2 {
            return Err(EvalError::Empty(format!(
                "retrieval needs at least two labelled tracks, found {} in {}",
                items.len(),
                set.root().display()
            )));
        }
        let (ks, beyond): (Vec<usize>, Vec<usize>) = options.ks.iter().partition(|&&k| k < items.len());
        if !beyond.is_empty() {
            run.left_out.push(KLeftOut {
                space: space.clone(),
                ks: beyond,
                neighbours: items.len() - 1,
            });
        }
        run.results.push(ModelResults {
            model: model.to_string(),
            retrieval: evaluate_retrieval(&items, &ks, options.tolerance),
            space,
            probes: Vec::new(),
        });
    }
    Ok(run)
}

/// Track id → split, from the folder's index.
fn split_of_ids(set: &EmbeddingSet) -> Result<HashMap<String, Split>, EvalError> {
    let index = set.index_path();
    let manifest = Manifest::read(&index).map_err(|e| EvalError::format(&index, e.to_string()))?;
    Ok(manifest
        .rows
        .into_iter()
        .filter_map(|r| Some((r.fields.get("id")?.clone(), r.fields.get("split")?.parse().ok()?)))
        .collect())
}

/// Which clips [`test_clips`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipOptions {
    /// At most this many clips.
    pub max_clips: usize,
}

/// The clips an analysis runs on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestClips {
    /// 16 kHz mono audio, in listing order.
    pub clips: Vec<Vec<f32>>,
    /// Files left out (not decodable, no samples, or left out by the folder walk), with the
    /// reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The clips of `input` (a file, a folder or a manifest) that the invariance and equivariance
/// analyses run on: the music tracks (rows whose `kind`, where a manifest has that column, is
/// `track`), of the test split when any of them is in it (a manifest's `split` column), in
/// listing order, up to `max_clips` that decode to samples. A file that cannot be decoded is
/// skipped and reported; no usable clip at all is an error.
pub fn test_clips(input: &Path, options: &ClipOptions) -> Result<TestClips, EvalError> {
    let (inputs, _, skipped) = list_inputs_and_skipped(input)?;
    let field = |fields: &std::collections::BTreeMap<String, String>, key: &str| {
        fields.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    };
    let tracks: Vec<_> = inputs
        .iter()
        .filter(|i| field(&i.fields, "kind").is_none_or(|k| k == "track"))
        .collect();
    let in_test = |i: &&crate::embed::EmbedInput| field(&i.fields, "split").is_some_and(|s| s == "test");
    let has_test = tracks.iter().any(in_test);
    let mut out = TestClips {
        clips: Vec::new(),
        skipped,
    };
    for track in tracks.into_iter().filter(|i| !has_test || in_test(i)) {
        if out.clips.len() >= options.max_clips {
            break;
        }
        match loev_audio::decode::load_mono(&track.path) {
            Ok(audio) if !audio.is_empty() => out.clips.push(audio),
            Ok(_) => out.skipped.push((track.path.clone(), "no samples".into())),
            Err(e) => out.skipped.push((track.path.clone(), e.reason())),
        }
    }
    if out.clips.is_empty() && options.max_clips > 0 {
        return Err(EvalError::Empty(format!(
            "no usable clip in {}{}",
            input.display(),
            out.skipped
                .first()
                .map(|(p, r)| format!(" (first left out: {}: {r})", p.display()))
                .unwrap_or_default()
        )));
    }
    Ok(out)
}

/// The fewest clips the equivariance probes work with: two to fit, two to test.
pub const EQUIVARIANCE_MIN_CLIPS: usize = 4;

/// What [`equivariance_probes`] measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EquivarianceRun {
    /// R² per space and transform.
    pub scores: Vec<EquivarianceScore>,
    /// Why the probes did not run, when they did not.
    pub skipped: Option<String>,
}

/// The equivariance probes of the model called `model` on `clips`
/// ([`analyze_equivariance`]); with fewer than [`EQUIVARIANCE_MIN_CLIPS`] clips they are
/// skipped and the reason reported.
pub fn equivariance_probes(
    embedder: &Embedder,
    model: &str,
    clips: &[Vec<f32>],
    config: &EquivarianceConfig,
) -> Result<EquivarianceRun, EvalError> {
    if clips.len() < EQUIVARIANCE_MIN_CLIPS {
        return Ok(EquivarianceRun {
            scores: Vec::new(),
            skipped: Some(format!(
                "the equivariance probes need at least {EQUIVARIANCE_MIN_CLIPS} clips (2 to fit, 2 to test), {} given",
                clips.len()
            )),
        });
    }
    Ok(EquivarianceRun {
        scores: analyze_equivariance(embedder, model, clips, config)?,
        skipped: None,
    })
}
