//! The evaluation stages that `loev embed` / `probe` / `retrieve` / `analyze` and the
//! experiments (`loev demo`) are sequences of. Each stage takes an options struct, returns
//! what it measured together with what it left out and why (an [`Outcome`]), and holds the
//! policy that front ends must not decide for themselves: which clips are test clips, which k
//! a retrieval can score, which tasks and spaces a probe runs. The invariance and equivariance
//! analyses are stages of their own modules (the equivariance one reports when it has too few
//! clips). A new experiment is a new short sequence of these calls.
//!
//! | stage | function | options | result |
//! |---|---|---|---|
//! | open a model | [`ModelSource::open`] | [`EmbedOptions`] | [`Embedder`] |
//! | embed | [`crate::embed::embed_to_folder`], [`open_or_embed`] | [`EmbedJob`] | [`EmbedSummary`], [`EmbeddingSet`] |
//! | probe | [`probe_spaces`] | [`ProbeOptions`] | [`ModelResults`] per space, skipped tasks |
//! | retrieve | [`retrieve_spaces`] | [`RetrieveOptions`] | [`ModelResults`] per space, [`KLeftOut`] |
//! | choose test clips | [`test_clips`] | [`ClipOptions`] | clips, files left out |
//! | invariance | [`crate::invariance::analyze`] | [`crate::invariance::InvarianceConfig`] | [`crate::invariance::InvariancePoint`]s |
//! | equivariance | [`crate::equivariance::analyze_equivariance`] | [`crate::equivariance::EquivarianceConfig`] | [`crate::equivariance::EquivarianceScore`]s, or why none |
//! | write the report | [`crate::report::Report`] | file stems and titles | the files written |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_audio::manifest::Manifest;
use loev_data::labels::TEMPO_TOLERANCE;
use loev_data::{Split, TaskDataset};

use crate::EvalError;
use crate::embed::{EmbedJob, EmbedOptions, EmbedSummary, Embedder, embed_to_folder, list_inputs_and_skipped};
pub use crate::outcome::Outcome;
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeOptions {
    /// Embedding spaces, each of which the folder must have; empty: every space of the folder.
    pub spaces: Vec<String>,
    /// Only the tasks with these names (empty: every task); a name no task has is an error.
    pub tasks: Vec<String>,
    /// The probe's settings.
    pub config: ProbeConfig,
}

/// Probes every task of `tasks` in every space of `options` on the embeddings of `set`, for the
/// model called `model`: one row per space. A task that has nothing to test in a space (e.g. no
/// test track has a label) is left out with the reason, never fatal; `on_task` hears of each
/// (space, task) before it is trained.
pub fn probe_spaces(
    set: &EmbeddingSet,
    model: &str,
    tasks: &[TaskDataset],
    options: &ProbeOptions,
    on_task: impl Fn(&str, &ProbeData),
) -> Result<Outcome<ModelResults>, EvalError> {
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
    let mut run = Outcome::default();
    for space in spaces(set, &options.spaces) {
        set.space(&space)?;
        let mut probes = Vec::new();
        for task in &tasks {
            let data = probe_data(task, set, &space)?;
            on_task(&space, &data);
            match run_probe(&data, &space, &options.config) {
                Ok(result) => probes.push(result),
                Err(EvalError::Empty(reason)) => run.left_out.push(reason),
                Err(e) => return Err(e),
            }
        }
        run.results.push(ModelResults {
            model: model.to_string(),
            space,
            probes,
            retrieval: Vec::new(),
        });
    }
    Ok(run)
}

/// `asked`, or every space of `set` when nothing is asked.
fn spaces(set: &EmbeddingSet, asked: &[String]) -> Vec<String> {
    if asked.is_empty() {
        set.meta.spaces.iter().map(|s| s.name.clone()).collect()
    } else {
        asked.to_vec()
    }
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
            spaces: Vec::new(),
            ks: DEFAULT_KS.to_vec(),
            tolerance: TEMPO_TOLERANCE,
            split: None,
        }
    }
}

impl RetrieveOptions {
    /// Checks the neighbour counts and the tolerance, so that a front end can refuse them before
    /// it creates its output folder.
    pub fn validate(&self) -> Result<(), EvalError> {
        let options = self;
        if options.ks.contains(&0) {
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
        Ok(())
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

/// Cosine KNN retrieval among the labelled music tracks of `set` (every split, or
/// `options.split`), in each space of `options`, for the model called `model`: one row per
/// space, with the scores at every k that could be scored. A query has
/// `tracks − 1` neighbours, so a k at or beyond that would silently be scored on fewer
/// neighbours than it says: such a k is left out of the table and reported.
pub fn retrieve_spaces(
    set: &EmbeddingSet,
    model: &str,
    options: &RetrieveOptions,
) -> Result<Outcome<ModelResults, KLeftOut>, EvalError> {
    options.validate()?;
    let splits = match options.split {
        Some(_) => split_of_ids(set)?,
        None => HashMap::new(),
    };
    let mut run = Outcome::default();
    for space in spaces(set, &options.spaces) {
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

/// The clips of `input` (a file, a folder or a manifest) that the invariance and equivariance
/// analyses run on: the music tracks (rows whose `kind`, where a manifest has that column, is
/// `track`), of the test split when any of them is in it (a manifest's `split` column), in
/// listing order, up to `max_clips` that decode to samples (16 kHz mono). A file that cannot be
/// decoded, has no samples or was left out by the folder walk is reported with the reason; no
/// usable clip at all is an error.
pub fn test_clips(input: &Path, options: &ClipOptions) -> Result<Outcome<Vec<f32>, (PathBuf, String)>, EvalError> {
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
    let mut out = Outcome {
        results: Vec::new(),
        left_out: skipped,
    };
    for track in tracks.into_iter().filter(|i| !has_test || in_test(i)) {
        if out.results.len() >= options.max_clips {
            break;
        }
        match loev_audio::decode::load_mono(&track.path) {
            Ok(audio) if !audio.is_empty() => out.results.push(audio),
            Ok(_) => out.left_out.push((track.path.clone(), "no samples".into())),
            Err(e) => out.left_out.push((track.path.clone(), e.reason())),
        }
    }
    if out.results.is_empty() && options.max_clips > 0 {
        return Err(EvalError::Empty(format!(
            "no usable clip in {}{}",
            input.display(),
            out.left_out
                .first()
                .map(|(p, r)| format!(" (first left out: {}: {r})", p.display()))
                .unwrap_or_default()
        )));
    }
    Ok(out)
}
