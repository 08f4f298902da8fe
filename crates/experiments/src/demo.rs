//! `loev demo`: the whole pipeline on the built-in corpus, on the CPU, in one command.
//!
//! 1. Generate the labelled synthetic corpus (`corpus/`: wav files + `manifest.csv`).
//! 2. Pretrain tiny MULE-B, MULE-PS, LOEV-PS, MULE-TS and LOEV-TS (and LOEV++-PSTS when asked)
//!    on the corpus' training tracks (`runs/<model>/`, run folders `loev embed --run` can read).
//! 3. Embed every track and note with each model (`embeddings/<model>/`), plus K time-stretched
//!    copies of the tracks with a tempo, for the tempo probe.
//! 4. Probe tagging, key and tempo on the music tracks and pitch on the notes; retrieve among
//!    the music tracks; measure invariance to pitch shift and time stretch on test tracks.
//! 5. Write `results/` (Table I, and Table II in every space, as Markdown + CSV; `retrieval.png`
//!    in the layout of the seed's Fig. 2; `invariance.csv`, `invariance.png`,
//!    `summary.json`) and print the tables, the verdict on each half of the seed's claim
//!    (pitch: LOEV-PS vs MULE-PS on key; tempo: LOEV-TS vs MULE-TS on tempo) and the plot paths.
//!
//! Stages whose output already exists are reused (a finished run is not retrained), so a
//! second call only redoes the evaluation. Everything is seeded.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use loev_audio::cache::AudioCache;
use loev_augment::StretchMethod;
use loev_corpus::CorpusConfig;
use loev_train::{AnchorMean, RunState, TrainConfig, TrainOptions, preset, pretrain_or_resume};
use serde::{Deserialize, Serialize};

use loev_eval::EvalError;
use loev_eval::embed::{EmbedJob, EmbedOptions};
use loev_eval::equivariance::{EquivarianceConfig, EquivarianceScore, analyze_equivariance};
use loev_eval::invariance::{InvarianceConfig, InvariancePoint, Transform, analyze};
use loev_eval::probe::{ProbeConfig, embedded_tasks};
use loev_eval::report::Report;
use loev_eval::stages::{
    ClipOptions, ModelSource, ProbeOptions, RetrieveOptions, open_or_embed, probe_spaces, retrieve_spaces, test_clips,
};
use loev_eval::store::EmbeddingSet;
use loev_eval::tables::ModelResults;

use crate::DemoError;
use crate::seeds::{self, seeded_name};

/// Everything the demo does, with the sizes that fit its time budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoConfig {
    /// Output folder.
    pub out: PathBuf,
    /// The corpus.
    pub corpus: CorpusConfig,
    /// Presets to pretrain (tiny size), e.g. `mule-b`, `mule-ps`, `loev-ps`.
    pub models: Vec<String>,
    /// Training steps per model.
    pub steps: u64,
    /// Anchors per batch (× `views` views).
    pub anchors: usize,
    /// Views per anchor.
    pub views: usize,
    /// Peak learning rate (cosine schedule with warm-up).
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: u64,
    /// Slices per forward pass when embedding.
    pub embed_batch: usize,
    /// Time-stretched copies per training track for the tempo probe.
    pub stretch_copies: usize,
    /// Spaces to probe in (every model has `v`); retrieval searches every space of each model.
    pub spaces: Vec<String>,
    /// Probe settings.
    pub probe: ProbeConfig,
    /// Invariance settings.
    pub invariance: InvarianceConfig,
    /// Test tracks used for the invariance analysis.
    pub invariance_clips: usize,
    /// Equivariance-probe settings.
    #[serde(default)]
    pub equivariance: EquivarianceConfig,
    /// Test tracks used for the equivariance probes (half fit, half test).
    #[serde(default = "default_equivariance_clips")]
    pub equivariance_clips: usize,
    /// Show progress bars.
    pub progress: bool,
    /// How pretraining renders pitch shift and time stretch (`[augment.stretcher] method`).
    #[serde(default = "StretchMethod::unnamed")]
    pub augment_method: StretchMethod,
    /// How each loss head averages over anchors (`[objective] anchor_mean`; the presets use
    /// the authors' mean over all anchors).
    #[serde(default = "AnchorMean::unnamed")]
    pub anchor_mean: AnchorMean,
    /// Training seeds per model (`--train-seeds`): model `m` is pretrained with the preset's
    /// seed + s for s in `0..train_seeds` (folders `runs/m`, `runs/m-seed1`, …), and the
    /// verdict and `results/seeds.md` give mean ± std over them.
    #[serde(default = "one_training_seed")]
    pub train_seeds: usize,
    /// Every model's fast path this many times wider than the tiny encoder's
    /// (`EncoderConfig::widen_fast_path`; 2 is hypothesis H4's encoder of docs/tempo-half.md).
    #[serde(default = "tiny_fast_path")]
    pub fast_path_width: usize,
}

impl DemoConfig {
    /// The full demo (about 17 minutes on an idle 2-core CPU).
    pub fn full(out: &Path) -> Self {
        Self {
            out: out.to_path_buf(),
            // Multiples of 120 tracks (5 per key) so every key is in train, valid and test; 4 notes
            // per pitch so most test pitches also occur in training.
            corpus: CorpusConfig {
                tracks: 240,
                notes: 352,
                seed: 0,
                track_seconds: (15.0, 20.0),
                ..CorpusConfig::default()
            },
            // One pair per half of the seed's claim: pitch (PS) and tempo (TS), each LOEV
            // against the MULE that is made invariant to the same transform.
            models: ["mule-b", "mule-ps", "loev-ps", "mule-ts", "loev-ts"]
                .map(String::from)
                .to_vec(),
            steps: 240,
            anchors: 16,
            views: 4,
            learning_rate: 1e-3,
            warmup_steps: 20,
            embed_batch: 16,
            stretch_copies: 2,
            spaces: vec!["v".into()],
            probe: ProbeConfig {
                seeds: 3,
                max_epochs: 100,
                patience: 15,
                ..ProbeConfig::default()
            },
            invariance: InvarianceConfig {
                semitones: (-6..=6).map(|s| f64::from(2 * s)).collect(),
                clip_seconds: Some(9.0),
                ..InvarianceConfig::default()
            },
            invariance_clips: 6,
            equivariance: EquivarianceConfig::default(),
            equivariance_clips: default_equivariance_clips(),
            progress: true,
            augment_method: StretchMethod::Spectral,
            anchor_mean: AnchorMean::AllAnchors,
            train_seeds: one_training_seed(),
            fast_path_width: 1,
        }
    }

    /// The CI demo (under 3 minutes): every stage, smaller everything.
    pub fn quick(out: &Path) -> Self {
        let full = Self::full(out);
        Self {
            // Still 5 tracks per key and 4 notes per pitch (see `full`).
            corpus: CorpusConfig {
                tracks: 120,
                notes: 176,
                track_seconds: (6.0, 8.0),
                ..full.corpus
            },
            steps: 12,
            anchors: 8,
            warmup_steps: 4,
            stretch_copies: 1,
            probe: ProbeConfig {
                seeds: 1,
                max_epochs: 40,
                patience: 8,
                ..ProbeConfig::default()
            },
            invariance: InvarianceConfig {
                semitones: vec![-12.0, -6.0, -2.0, 0.0, 2.0, 6.0, 12.0],
                rates: vec![0.5, 0.8, 1.0, 1.2, 1.5],
                clip_seconds: Some(6.0),
            },
            invariance_clips: 2,
            equivariance: EquivarianceConfig {
                views_per_clip: 3,
                clip_seconds: Some(4.0),
                ..EquivarianceConfig::default()
            },
            equivariance_clips: 4,
            ..full
        }
    }
}

fn default_equivariance_clips() -> usize {
    24
}

fn one_training_seed() -> usize {
    1
}

/// The tiny encoder's own fast path (no widening).
fn tiny_fast_path() -> usize {
    1
}

impl DemoConfig {
    /// Every trained model as (its name, its preset, its training seed), seed by seed, so that
    /// the models of the first seed are finished first.
    fn trained_models(&self) -> Vec<(String, &str, usize)> {
        (0..self.train_seeds.max(1))
            .flat_map(|seed| {
                self.models
                    .iter()
                    .map(move |model| (seeded_name(model, seed), model.as_str(), seed))
            })
            .collect()
    }
}

/// What the demo measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// Probe and retrieval results per model/space.
    pub results: Vec<ModelResults>,
    /// Invariance points of every model and space.
    pub invariance: Vec<InvariancePoint>,
    /// Seconds per stage.
    pub timings: Vec<(String, f64)>,
    /// Table I (Markdown).
    pub table_one: String,
    /// Table II (Markdown).
    pub table_two: String,
    /// The invariance plot.
    pub plot: PathBuf,
    /// The retrieval plot (tags, key and tempo against k, every model and space).
    #[serde(default)]
    pub retrieval_plot: PathBuf,
    /// Equivariance R² per model, space and transform.
    #[serde(default)]
    pub equivariance: Vec<EquivarianceScore>,
    /// The equivariance table (Markdown).
    #[serde(default)]
    pub table_equivariance: String,
    /// Table I over the training seeds (Markdown; `results/seeds.md`).
    #[serde(default)]
    pub table_seeds: String,
    /// The central comparison, in words.
    pub verdict: String,
}

fn say(config: &DemoConfig, message: &str) {
    if config.progress {
        eprintln!("[demo] {message}");
    }
}

/// Seconds per stage, in order.
struct Laps {
    timings: Vec<(String, f64)>,
    clock: Instant,
}

impl Laps {
    fn new() -> Self {
        Self {
            timings: Vec::new(),
            clock: Instant::now(),
        }
    }

    /// Ends the stage `name`.
    fn lap(&mut self, name: &str) {
        self.timings
            .push((name.to_string(), self.clock.elapsed().as_secs_f64()));
        self.clock = Instant::now();
    }
}

/// What the evaluation of every model gathered.
#[derive(Default)]
struct Gathered {
    results: Vec<ModelResults>,
    retrieval: Vec<ModelResults>,
    invariance: Vec<InvariancePoint>,
    equivariance: Vec<EquivarianceScore>,
}

/// Runs the demo (see the module doc).
pub fn run_demo(config: &DemoConfig) -> Result<DemoReport, DemoError> {
    let out = &config.out;
    std::fs::create_dir_all(out).map_err(EvalError::io("create", out))?;
    let mut laps = Laps::new();
    let (manifest, cache) = corpus(config)?;
    laps.lap("corpus");
    let trained = config.trained_models();
    for (name, model, seed) in &trained {
        pretrain(config, name, model, *seed, &cache)?;
        laps.lap(&format!("pretrain {name}"));
    }
    // Both analyses use the first test tracks: read them once.
    let wanted = config.invariance_clips.max(config.equivariance_clips);
    let clips = test_clips(&manifest, &ClipOptions { max_clips: wanted })?;
    for (path, reason) in &clips.left_out {
        say(
            config,
            &format!("left out of the analyses: {}: {reason}", path.display()),
        );
    }
    let clips = clips.results;
    let mut gathered = Gathered::default();
    for (name, _, _) in &trained {
        evaluate(config, name, &manifest, &clips, &mut gathered, &mut laps)?;
    }
    write_results(config, gathered, &mut laps)
}

/// Stage 1: the corpus's wav files and manifest, and the cache of its training split (reused
/// when both are there). Returns the manifest and the cache folder.
fn corpus(config: &DemoConfig) -> Result<(PathBuf, PathBuf), DemoError> {
    let corpus_dir = config.out.join("corpus");
    let manifest = corpus_dir.join(loev_corpus::MANIFEST_NAME);
    let cache_dir = config.out.join("cache");
    if manifest.exists() && AudioCache::open(&cache_dir).is_ok() {
        say(config, &format!("reusing the corpus in {}", corpus_dir.display()));
        return Ok((manifest, cache_dir));
    }
    say(
        config,
        &format!(
            "generating the corpus: {} tracks, {} notes",
            config.corpus.tracks, config.corpus.notes
        ),
    );
    let invalid = |e: loev_corpus::CorpusError| DemoError::Invalid(e.to_string());
    let corpus = loev_corpus::generate(&config.corpus).map_err(invalid)?;
    loev_corpus::write_corpus(&corpus, &corpus_dir).map_err(invalid)?;
    loev_corpus::build_training_cache(corpus, &cache_dir).map_err(invalid)?;
    Ok((manifest, cache_dir))
}

/// The run configuration of model `name`: the tiny preset `model` with the demo's batch,
/// schedule, stretch method and anchor mean, on the corpus cache, and the preset's seed moved
/// by the training seed `seed`.
fn recipe(config: &DemoConfig, name: &str, model: &str, seed: usize, cache: &Path) -> Result<TrainConfig, DemoError> {
    let mut train = preset(&format!("{model}:tiny")).map_err(|e| DemoError::Invalid(e.to_string()))?;
    train.name = name.to_string();
    train.seed += seed as u64;
    train.data.cache = Some(std::path::absolute(cache).unwrap_or(cache.to_path_buf()));
    train.data.anchors = config.anchors;
    train.data.views = config.views;
    train.optimizer.learning_rate = config.learning_rate;
    train.optimizer.schedule = loev_train::config::Schedule::Cosine {
        warmup_steps: config.warmup_steps,
        final_lr: config.learning_rate / 10.0,
    };
    train.train.steps = config.steps;
    train.train.checkpoint_every = config.steps.max(1);
    train.train.log_every = (config.steps / 20).max(1);
    train.augment.stretcher.method = config.augment_method;
    train.objective.anchor_mean = config.anchor_mean;
    if config.fast_path_width > 1 {
        train.model.encoder = Some(train.encoder().widen_fast_path(config.fast_path_width));
        // The projection follows V's new width.
        train.model.projection_dims = None;
    }
    Ok(train)
}

/// Stage 2: pretrains model `name` (preset `model`, training seed `seed`) into `runs/<name>`,
/// resuming an unfinished run and reusing a finished one (trained with the same recipe).
fn pretrain(config: &DemoConfig, name: &str, model: &str, seed: usize, cache: &Path) -> Result<(), DemoError> {
    let run_dir = config.out.join("runs").join(name);
    let mut options = TrainOptions::new(&run_dir);
    options.progress = config.progress;
    options.verbose = config.progress;
    pretrain_or_resume(&recipe(config, name, model, seed, cache)?, &options, |state| {
        let message = match state {
            RunState::Finished => format!("reusing the trained run {}", run_dir.display()),
            RunState::Unfinished => format!("resuming {}", run_dir.display()),
            RunState::New => format!(
                "pretraining {name} ({} steps of {} × {} views)",
                config.steps, config.anchors, config.views
            ),
        };
        say(config, &message)
    })?;
    Ok(())
}

/// Stages 3–4 for model `name`: embed the corpus, retrieve in every space, probe, and measure
/// invariance and equivariance on the test clips.
fn evaluate(
    config: &DemoConfig,
    name: &str,
    manifest: &Path,
    clips: &[Vec<f32>],
    gathered: &mut Gathered,
    laps: &mut Laps,
) -> Result<(), DemoError> {
    let options = EmbedOptions {
        batch_size: config.embed_batch,
        ..EmbedOptions::default()
    };
    let embedder = ModelSource::Run(config.out.join("runs").join(name)).open(Device::flex(), options)?;
    let job = EmbedJob {
        stretch_copies: config.stretch_copies,
        progress: config.progress,
        ..EmbedJob::default()
    };
    let emb_dir = config.out.join("embeddings").join(name);
    if EmbeddingSet::open(&emb_dir).is_err() {
        say(config, &format!("embedding the corpus with {name}"));
    }
    let (set, _) = open_or_embed(&embedder, manifest, &emb_dir, &job)?;
    laps.lap(&format!("embed {name}"));
    // Retrieval in every space the model has (V, each head's Z, LOEV++'s V^k): which one
    // retrieves by key or tempo is part of what the seed's Fig. 2 shows.
    let retrieval = retrieve_spaces(
        &set,
        name,
        &RetrieveOptions {
            tolerance: config.probe.tempo_tolerance,
            ..RetrieveOptions::default()
        },
    )?;
    for left_out in &retrieval.left_out {
        say(
            config,
            &format!("retrieval in {}: k = {:?} left out", left_out.space, left_out.ks),
        );
    }
    let (tasks, _) = embedded_tasks(&set)?;
    let probe_options = ProbeOptions {
        spaces: config.spaces.clone(),
        tasks: Vec::new(),
        config: config.probe.clone(),
    };
    let probes = probe_spaces(&set, name, &tasks, &probe_options, |space, data| {
        say(config, &format!("probing {name} / {space}: {}", data.task))
    })?;
    for reason in &probes.left_out {
        say(config, &format!("skipping a probe: {reason}"));
    }
    gathered.results.extend(
        probes
            .results
            .into_iter()
            .map(|r| r.with_retrieval_of(&retrieval.results)),
    );
    gathered.retrieval.extend(retrieval.results);
    laps.lap(&format!("probe+retrieve {name}"));
    let invariance_clips = &clips[..config.invariance_clips.min(clips.len())];
    say(
        config,
        &format!("invariance of {name} on {} clips", invariance_clips.len()),
    );
    gathered
        .invariance
        .extend(analyze(&embedder, name, invariance_clips, &config.invariance)?);
    laps.lap(&format!("invariance {name}"));
    let equivariance_clips = &clips[..config.equivariance_clips.min(clips.len())];
    say(
        config,
        &format!("equivariance probes of {name} on {} clips", equivariance_clips.len()),
    );
    let equivariance = analyze_equivariance(&embedder, name, equivariance_clips, &config.equivariance)?;
    for reason in &equivariance.left_out {
        say(config, &format!("skipping the equivariance probes: {reason}"));
    }
    gathered.equivariance.extend(equivariance.results);
    laps.lap(&format!("equivariance {name}"));
    Ok(())
}

/// Stage 5: the tables, plots, verdict and `summary.json` in `results/`.
fn write_results(config: &DemoConfig, gathered: Gathered, laps: &mut Laps) -> Result<DemoReport, DemoError> {
    let report = Report::create(&config.out.join("results"))?;
    let table_one = report.probes("table1", &gathered.results)?;
    let table_two = report.retrieval("table2", &gathered.retrieval)?;
    // The plots show the models of the first training seed: one curve per model and space.
    let first_seed = |model: &str| config.models.iter().any(|m| m == model);
    let plotted_retrieval: Vec<ModelResults> = gathered
        .retrieval
        .iter()
        .filter(|r| first_seed(&r.model))
        .cloned()
        .collect();
    let retrieval_plot = report.retrieval_plot(
        "retrieval",
        &plotted_retrieval,
        "Retrieval among the music tracks against k, every model and space (as the seed's Fig. 2)",
    )?;
    let table_equivariance = report.equivariance(&gathered.equivariance)?;
    let plot = report.invariance(
        &gathered.invariance,
        |p| p.space == "v" && first_seed(&p.model),
        "Invariance of the encoder embedding V: 1 - cos(clean, transformed)",
    )?;
    let seeds_count = config.train_seeds.max(1);
    let table_seeds = seeds::table_markdown(&gathered.results, &config.models, seeds_count);
    report.text("seeds.md", &table_seeds)?;
    laps.lap("results");
    let verdict = verdict(&gathered.results, &gathered.invariance, seeds_count);
    let summary = DemoReport {
        results: gathered.results,
        invariance: gathered.invariance,
        timings: std::mem::take(&mut laps.timings),
        table_one,
        table_two,
        plot,
        retrieval_plot,
        equivariance: gathered.equivariance,
        table_equivariance,
        table_seeds,
        verdict,
    };
    report.json("summary.json", &summary)?;
    Ok(summary)
}

/// The transforms whose invariance MULE-PS and MULE-TS are trained for, each against MULE-B.
const INVARIANCES: [(&str, Transform, &str); 2] = [
    (
        "mule-ps",
        Transform::PitchShift,
        "pitch-shift invariance (V, mean cosine distance over the shifts)",
    ),
    (
        "mule-ts",
        Transform::TimeStretch,
        "time-stretch invariance (V, mean cosine distance over the rates)",
    ),
];

/// The seed paper's central comparison in words: one line per half by the rule of
/// `docs/tempo-half.md` over training seeds `0..seeds` (LOEV-PS against MULE-PS on key;
/// LOEV-TS against MULE-TS on tempo, gated on MULE-B; each with the tags), then MULE-PS /
/// MULE-TS against MULE-B on invariance to pitch shift / time stretch (mean over the shifts
/// or rates and over the training seeds).
pub fn verdict(results: &[ModelResults], invariance: &[InvariancePoint], seeds: usize) -> String {
    let mut lines = seeds::verdict(results, seeds);
    let mean_distance = |model: &str, transform: Transform| {
        let names: Vec<String> = (0..seeds).map(|seed| seeded_name(model, seed)).collect();
        let d: Vec<f64> = invariance
            .iter()
            .filter(|p| {
                names.contains(&p.model)
                    && p.space == "v"
                    && p.transform == transform
                    && p.parameter != transform.identity()
            })
            .map(|p| p.mean_distance)
            .collect();
        (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
    };
    for (model, transform, label) in INVARIANCES {
        let mule = model.to_uppercase();
        if let (Some(trained), Some(b)) = (mean_distance(model, transform), mean_distance("mule-b", transform)) {
            lines.push(format!(
                "{label}: {mule} {trained:.4} vs MULE-B {b:.4}: {mule} is {}",
                if trained < b {
                    "MORE invariant, as expected"
                } else {
                    "NOT more invariant"
                }
            ));
        }
    }
    lines.join("\n")
}
