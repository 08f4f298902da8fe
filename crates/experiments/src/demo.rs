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
use loev_artifacts::RunDir;
use loev_audio::cache::AudioCache;
use loev_audio::decode::load_mono;
use loev_audio::manifest::Manifest;
use loev_augment::StretchMethod;
use loev_corpus::CorpusConfig;
use loev_data::{LoadOptions, TaskKind, load_manifest_tasks};
use loev_train::{AnchorMean, TrainOptions, preset};
use serde::{Deserialize, Serialize};

use loev_eval::EvalError;
use loev_eval::embed::{EmbedJob, EmbedOptions, Embedder, embed_to_folder};
use loev_eval::equivariance::{EquivarianceConfig, EquivarianceScore, analyze_equivariance};
use loev_eval::invariance::{InvarianceConfig, InvariancePoint, Transform, analyze, write_csv};
use loev_eval::probe::{ProbeConfig, probe_data, run_probe};
use loev_eval::retrieval::{DEFAULT_KS, evaluate_retrieval, retrieval_items};
use loev_eval::store::EmbeddingSet;
use loev_eval::tables::{ModelResults, table_one_csv, table_one_markdown, table_two_csv, table_two_markdown};
use loev_eval::{plot_invariance, plot_retrieval};

use crate::DemoError;

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
    /// Spaces to probe and retrieve in (those the model has).
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
        }
    }

    /// The CI demo (under 3 minutes): every stage, smaller everything.
    pub fn quick(out: &Path) -> Self {
        Self {
            corpus: CorpusConfig {
                tracks: 120,
                notes: 176,
                seed: 0,
                track_seconds: (6.0, 8.0),
                ..CorpusConfig::default()
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
            ..Self::full(out)
        }
    }
}

fn default_equivariance_clips() -> usize {
    24
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
    /// The central comparison, in words.
    pub verdict: String,
}

fn say(config: &DemoConfig, message: &str) {
    if config.progress {
        eprintln!("[demo] {message}");
    }
}

/// Runs the demo (see the module doc).
pub fn run_demo(config: &DemoConfig) -> Result<DemoReport, DemoError> {
    let out = &config.out;
    std::fs::create_dir_all(out).map_err(EvalError::io("create", out))?;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    // 1. Corpus.
    let corpus_dir = out.join("corpus");
    let manifest = corpus_dir.join(loev_corpus::MANIFEST_NAME);
    let cache_dir = out.join("cache");
    if !manifest.exists() || AudioCache::open(&cache_dir).is_err() {
        say(
            config,
            &format!(
                "generating the corpus: {} tracks, {} notes",
                config.corpus.tracks, config.corpus.notes
            ),
        );
        let corpus = loev_corpus::generate(&config.corpus).map_err(|e| DemoError::Invalid(e.to_string()))?;
        loev_corpus::write_corpus(&corpus, &corpus_dir).map_err(|e| DemoError::Invalid(e.to_string()))?;
        loev_corpus::build_training_cache(corpus, &cache_dir).map_err(|e| DemoError::Invalid(e.to_string()))?;
    } else {
        say(config, &format!("reusing the corpus in {}", corpus_dir.display()));
    }
    lap("corpus", &mut timings);

    // 2. Pretraining.
    for name in &config.models {
        let run_dir = out.join("runs").join(name);
        let mut train = preset(&format!("{name}:tiny")).map_err(|e| DemoError::Invalid(e.to_string()))?;
        train.name = name.clone();
        train.data.cache = Some(std::path::absolute(&cache_dir).unwrap_or(cache_dir.clone()));
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
        let mut options = TrainOptions::new(&run_dir);
        options.progress = config.progress;
        options.verbose = config.progress;
        let finished = RunDir::open(&run_dir)
            .ok()
            .and_then(|r| r.checkpoints().ok())
            .is_some_and(|c| c.iter().any(|(step, _)| *step >= config.steps));
        if run_dir.join("config.toml").exists() {
            refuse_other_recipe(&run_dir, &train)?;
        }
        if finished {
            say(config, &format!("reusing the trained run {}", run_dir.display()));
        } else if run_dir.join("config.toml").exists() {
            say(config, &format!("resuming {}", run_dir.display()));
            loev_train::resume(&options)?;
        } else {
            say(
                config,
                &format!(
                    "pretraining {name} ({} steps of {} × {} views)",
                    config.steps, config.anchors, config.views
                ),
            );
            loev_train::pretrain(&train, &options)?;
        }
        lap(&format!("pretrain {name}"), &mut timings);
    }

    // 3.–4. Per model: embed, probe, retrieve, invariance.
    // Both analyses use the first test tracks: read them once.
    let loaded = test_clips(&manifest, config.invariance_clips.max(config.equivariance_clips))?;
    let clips = &loaded[..config.invariance_clips.min(loaded.len())];
    let equivariance_clips = &loaded[..config.equivariance_clips.min(loaded.len())];
    let mut results = Vec::new();
    let mut retrieval_rows: Vec<ModelResults> = Vec::new();
    let mut invariance = Vec::new();
    let mut equivariance = Vec::new();
    for name in &config.models {
        let embedder = Embedder::from_run(
            &out.join("runs").join(name),
            Device::flex(),
            EmbedOptions {
                batch_size: config.embed_batch,
                ..EmbedOptions::default()
            },
        )?;
        let emb_dir = out.join("embeddings").join(name);
        if EmbeddingSet::open(&emb_dir).is_err() {
            say(config, &format!("embedding the corpus with {name}"));
            let job = EmbedJob {
                stretch_copies: config.stretch_copies,
                progress: config.progress,
                ..EmbedJob::default()
            };
            embed_to_folder(&embedder, &manifest, &emb_dir, &job)?;
        }
        lap(&format!("embed {name}"), &mut timings);
        let set = EmbeddingSet::open(&emb_dir)?;
        let (tasks, _) = load_manifest_tasks(&set.index_path(), &LoadOptions::default()).map_err(EvalError::from)?;
        // Retrieval in every space the model has (V, each head's Z, LOEV++'s V^k): which one
        // retrieves by key or tempo is part of what the seed's Fig. 2 shows.
        for space in &set.meta.spaces {
            let items = retrieval_items(&set, &space.name)?;
            retrieval_rows.push(ModelResults {
                model: name.clone(),
                space: space.name.clone(),
                probes: Vec::new(),
                retrieval: evaluate_retrieval(&items, &DEFAULT_KS, config.probe.tempo_tolerance),
            });
        }
        for space in config.spaces.iter().filter(|s| set.space(s).is_ok()) {
            say(config, &format!("probing {name} / {space}"));
            let mut probes = Vec::new();
            for task in &tasks {
                let data = probe_data(task, &set, space)?;
                match run_probe(&data, space, &config.probe) {
                    Ok(result) => probes.push(result),
                    Err(EvalError::Empty(reason)) => say(config, &format!("skipping a probe: {reason}")),
                    Err(e) => return Err(e.into()),
                }
            }
            let retrieval = retrieval_rows
                .iter()
                .find(|r| &r.model == name && &r.space == space)
                .map(|r| r.retrieval.clone())
                .unwrap_or_default();
            results.push(ModelResults {
                model: name.clone(),
                space: space.clone(),
                probes,
                retrieval,
            });
        }
        lap(&format!("probe+retrieve {name}"), &mut timings);
        say(config, &format!("invariance of {name} on {} clips", clips.len()));
        invariance.extend(analyze(&embedder, name, clips, &config.invariance)?);
        lap(&format!("invariance {name}"), &mut timings);
        say(
            config,
            &format!("equivariance probes of {name} on {} clips", equivariance_clips.len()),
        );
        equivariance.extend(analyze_equivariance(
            &embedder,
            name,
            equivariance_clips,
            &config.equivariance,
        )?);
        lap(&format!("equivariance {name}"), &mut timings);
    }

    // 5. Results.
    let results_dir = out.join("results");
    std::fs::create_dir_all(&results_dir).map_err(EvalError::io("create", &results_dir))?;
    let write = |file: &str, text: &str| {
        let path = results_dir.join(file);
        loev_core::io::atomic_write(&path, text.as_bytes()).map_err(EvalError::io("write", &path))
    };
    let table_one = table_one_markdown(&results);
    let table_two = table_two_markdown(&retrieval_rows);
    write("table1.md", &table_one)?;
    write("table1.csv", &table_one_csv(&results))?;
    write("table2.md", &table_two)?;
    write("table2.csv", &table_two_csv(&retrieval_rows))?;
    let retrieval_plot = results_dir.join("retrieval.png");
    let retrieval_title = "Retrieval among the music tracks against k, every model and space (as the seed's Fig. 2)";
    plot_retrieval(&retrieval_plot, &retrieval_rows, retrieval_title)?;
    plot_retrieval(&results_dir.join("retrieval.svg"), &retrieval_rows, retrieval_title)?;
    write_csv(&results_dir.join("invariance.csv"), &invariance)?;
    let table_equivariance = loev_eval::equivariance::markdown(&equivariance);
    loev_eval::equivariance::write_csv(&results_dir.join("equivariance.csv"), &equivariance)?;
    write("equivariance.md", &table_equivariance)?;
    let plotted: Vec<InvariancePoint> = invariance.iter().filter(|p| p.space == "v").cloned().collect();
    let plot = results_dir.join("invariance.png");
    plot_invariance(
        &plot,
        &plotted,
        "Invariance of the encoder embedding V: 1 - cos(clean, transformed)",
    )?;
    plot_invariance(
        &results_dir.join("invariance.svg"),
        &plotted,
        "Invariance of the encoder embedding V: 1 - cos(clean, transformed)",
    )?;
    lap("results", &mut timings);
    let verdict = verdict(&results, &invariance);
    let report = DemoReport {
        results,
        invariance,
        timings,
        table_one,
        table_two,
        plot,
        retrieval_plot,
        equivariance,
        table_equivariance,
        verdict,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| DemoError::Invalid(e.to_string()))?;
    write("summary.json", &json)?;
    Ok(report)
}

/// A run folder left by an earlier demo is reused only if it was trained with the same
/// augmentation chain and objective (e.g. not with the other pitch/stretch method or anchor
/// mean).
fn refuse_other_recipe(run_dir: &Path, wanted: &loev_train::TrainConfig) -> Result<(), DemoError> {
    let path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(EvalError::io("read", &path))?;
    let saved = loev_train::TrainConfig::from_toml(&text, &path.display().to_string())
        .map_err(|e| EvalError::format(&path, e.to_string()))?;
    if saved.augment != wanted.augment || saved.objective != wanted.objective {
        let recipe = |c: &loev_train::TrainConfig| {
            format!(
                "pitch/stretch method {}, anchor mean {:?}",
                c.augment.stretcher.method.name(),
                c.objective.anchor_mean
            )
        };
        return Err(DemoError::Invalid(format!(
            "{} was trained with another recipe ({}; this demo asks for {}); give the demo \
             another --out folder or remove that run",
            run_dir.display(),
            recipe(&saved),
            recipe(wanted)
        )));
    }
    Ok(())
}

/// The first `n` test tracks of the corpus (audio), for the invariance and equivariance analyses.
fn test_clips(manifest: &Path, n: usize) -> Result<Vec<Vec<f32>>, DemoError> {
    let parsed = Manifest::read(manifest).map_err(|e| EvalError::format(manifest, e.to_string()))?;
    parsed
        .rows
        .iter()
        .filter(|r| {
            r.fields.get("kind").is_some_and(|k| k == "track") && r.fields.get("split").is_some_and(|s| s == "test")
        })
        .take(n)
        .map(|r| {
            load_mono(&r.path).map_err(|e| {
                DemoError::from(EvalError::Audio {
                    path: r.path.clone(),
                    reason: e.to_string(),
                })
            })
        })
        .collect()
}

/// One half of the seed's claim: LOEV keeps what its variant head leaves out, where the MULE
/// trained with the same augmentation loses it, at no cost to the tags; and that MULE is more
/// invariant to the transform than MULE-B.
struct Half {
    loev: &'static str,
    mule: &'static str,
    kind: TaskKind,
    metric: &'static str,
    label: &'static str,
    transform: Transform,
    invariance_label: &'static str,
}

/// The two halves: pitch shift (key) and time stretch (tempo).
const HALVES: [Half; 2] = [
    Half {
        loev: "loev-ps",
        mule: "mule-ps",
        kind: TaskKind::Key,
        metric: "key_weighted",
        label: "key weighted score",
        transform: Transform::PitchShift,
        invariance_label: "pitch-shift invariance (V, mean cosine distance over the shifts)",
    },
    Half {
        loev: "loev-ts",
        mule: "mule-ts",
        kind: TaskKind::Tempo,
        metric: "acc1",
        label: "tempo Acc1",
        transform: Transform::TimeStretch,
        invariance_label: "time-stretch invariance (V, mean cosine distance over the rates)",
    },
];

/// The seed paper's central comparison in words, one line per half (LOEV-PS against MULE-PS
/// on key, LOEV-TS against MULE-TS on tempo, each with the tags), and MULE-PS / MULE-TS
/// against MULE-B on invariance to pitch shift / time stretch.
pub fn verdict(results: &[ModelResults], invariance: &[InvariancePoint]) -> String {
    let find = |model: &str| results.iter().find(|r| r.model == model && r.space == "v");
    let mut lines = Vec::new();
    for half in &HALVES {
        let (Some(loev), Some(mule)) = (find(half.loev), find(half.mule)) else {
            continue;
        };
        let target = (loev.mean(half.kind, half.metric), mule.mean(half.kind, half.metric));
        let tags = (
            loev.mean(TaskKind::Tagging, "roc_auc"),
            mule.mean(TaskKind::Tagging, "roc_auc"),
        );
        if let ((Some(lk), Some(mk)), (Some(lt), Some(mt))) = (target, tags) {
            let dk = 100.0 * (lk - mk);
            let dt = 100.0 * (lt - mt);
            let holds = dk >= 10.0 && dt.abs() <= 2.0;
            lines.push(format!(
                "{} vs {} (V): {} {:.1} vs {:.1} ({dk:+.1} points), tag ROC-AUC {:.1} vs {:.1} ({dt:+.1} points): the seed's effect (≥ +10, tags within ±2) {}",
                half.loev.to_uppercase(),
                half.mule.to_uppercase(),
                half.label,
                100.0 * lk,
                100.0 * mk,
                100.0 * lt,
                100.0 * mt,
                if holds { "HOLDS" } else { "does NOT hold" }
            ));
        }
    }
    let mean_distance = |model: &str, transform: Transform| {
        let d: Vec<f64> = invariance
            .iter()
            .filter(|p| {
                p.model == model && p.space == "v" && p.transform == transform && p.parameter != transform.identity()
            })
            .map(|p| p.mean_distance)
            .collect();
        (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
    };
    for half in &HALVES {
        let mule = half.mule.to_uppercase();
        if let (Some(trained), Some(b)) = (
            mean_distance(half.mule, half.transform),
            mean_distance("mule-b", half.transform),
        ) {
            lines.push(format!(
                "{}: {mule} {trained:.4} vs MULE-B {b:.4}: {mule} is {}",
                half.invariance_label,
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
