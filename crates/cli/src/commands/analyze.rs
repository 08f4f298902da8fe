//! `loev analyze`: invariance of the embeddings to pitch shift and time stretch, and, for run
//! folders, what each loss head did at the end of training (its loss per anchor with a
//! positive and a leave-out head's separation, from `metrics.jsonl`).

use std::path::PathBuf;

use anyhow::Context;
use loev_eval::embed::EmbedOptions;
use loev_eval::equivariance::{EquivarianceConfig, analyze_equivariance};
use loev_eval::invariance::{InvarianceConfig, analyze};
use loev_eval::report::Report;
use loev_eval::stages::{ClipOptions, ModelSource, test_clips};
use loev_model::open_device;

/// Arguments of `loev analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Audio to transform: a file, a folder or a manifest (a manifest's music tracks, of its test
    /// split when it has one: `loev_eval::stages::test_clips`).
    pub input: PathBuf,
    /// Run folders to compare (repeatable; the curve is named after the folder).
    #[arg(long = "run")]
    pub runs: Vec<PathBuf>,
    /// Model files to compare (repeatable; `loev export` writes one, every checkpoint is one).
    #[arg(long = "model", alias = "checkpoint")]
    pub models: Vec<PathBuf>,
    /// Output folder: `invariance.csv`, `invariance.png`, `invariance.svg`.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Pitch shifts in semitones, comma-separated (default −12 … +12).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub semitones: Option<Vec<f64>>,
    /// Time-stretch rates, comma-separated (default 0.5, 0.6 … 1.5).
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<f64>>,
    /// Use the first this many seconds of each clip (default: the whole clip).
    #[arg(long)]
    pub clip_seconds: Option<f64>,
    /// At most this many clips.
    #[arg(long, default_value_t = 20)]
    pub max_clips: usize,
    /// Views per clip and transform of the equivariance probes (ridge R² of the applied
    /// pitch shift and stretch rate per space; needs at least 4 clips); 0 skips them.
    #[arg(long, default_value_t = 6)]
    pub equivariance_views: usize,
    /// Spaces drawn in the plot (repeatable; default `v`); the CSV has every space.
    #[arg(long = "plot-space", default_values_t = vec!["v".to_string()])]
    pub plot_spaces: Vec<String>,
    /// `cpu`, `cuda:N`, `vulkan:N`, `vulkan:cpu` or `opengl:cpu` (GPU backends need a build with
    /// `--features vulkan` or `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Write into --out even if it holds files that loev did not write (never into the input).
    #[arg(long)]
    pub force: bool,
    /// The training diagnostics of each --run average its metrics lines of this many last
    /// steps (60: the last quarter of the demo's 240).
    #[arg(long, default_value_t = 60)]
    pub last_steps: u64,
}

/// Runs `loev analyze`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.runs.is_empty() || !args.models.is_empty(),
        "give at least one --run DIR or --model FILE"
    );
    let (_, device) = open_device(&args.device, false)?;
    let mut config = InvarianceConfig::default();
    if let Some(s) = &args.semitones {
        config.semitones = s.clone();
    }
    if let Some(r) = &args.rates {
        config.rates = r.clone();
    }
    config.clip_seconds = args.clip_seconds;
    let equivariance_config = EquivarianceConfig {
        views_per_clip: args.equivariance_views,
        clip_seconds: args.clip_seconds.or(EquivarianceConfig::default().clip_seconds),
        ..EquivarianceConfig::default()
    };
    let out = Report::owned(loev_core::output::OutputFolder::claim(
        &args.out,
        "analysis",
        &[],
        &loev_core::output::Protected::input(&args.input),
        args.force,
    )?);
    let chosen = test_clips(
        &args.input,
        &ClipOptions {
            max_clips: args.max_clips,
        },
    )?;
    for (path, reason) in &chosen.left_out {
        eprintln!("skipped {}: {reason}", path.display());
    }
    training_diagnostics(&args.runs, args.last_steps, &out)?;
    let sources = args
        .runs
        .into_iter()
        .map(ModelSource::Run)
        .chain(args.models.into_iter().map(ModelSource::File));
    let clips = chosen.results;
    let (mut points, mut scores) = (Vec::new(), Vec::new());
    for source in sources {
        let embedder = source.open(device.clone(), EmbedOptions::default())?;
        let name = source.name();
        eprintln!("analysing {name} on {} clips", clips.len());
        points.extend(analyze(&embedder, &name, &clips, &config).with_context(|| format!("model {name}"))?);
        if args.equivariance_views > 0 {
            let run = analyze_equivariance(&embedder, &name, &clips, &equivariance_config)
                .with_context(|| format!("equivariance of model {name}"))?;
            for reason in &run.left_out {
                eprintln!("note: skipping the equivariance probes of {name}: {reason}");
            }
            scores.extend(run.results);
        }
    }
    if !scores.is_empty() {
        let table = out.equivariance(&scores)?;
        println!("equivariance: R² of the applied transform from the embedding difference view − clean\n{table}");
    }
    let title = "Invariance: 1 - cos(clean, transformed) track embedding";
    out.invariance(&points, |p| args.plot_spaces.contains(&p.space), title)?;
    println!("model,space,transform,parameter,mean_distance");
    for p in points.iter().filter(|p| args.plot_spaces.contains(&p.space)) {
        println!(
            "{},{},{},{},{:.4}",
            p.model,
            p.space,
            p.transform.name(),
            p.parameter,
            p.mean_distance
        );
    }
    println!(
        "wrote {} and invariance.png / .svg",
        out.dir().join("invariance.csv").display()
    );
    Ok(())
}

/// Prints and writes (`training.csv`) each run's head diagnostics over its last `last_steps`
/// logged steps: the loss per anchor with a positive, and for a leave-out head its separation
/// (mean cosine of sibling views its augmentation left alone minus that of siblings of which it
/// changed one: near 0 when the head does not tell them apart).
fn training_diagnostics(runs: &[PathBuf], last_steps: u64, out: &Report) -> anyhow::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    let mut csv = String::from("run,head,first_step,last_step,lines,loss,loss_per_anchor_with_positive,separation\n");
    for run in runs {
        let name = ModelSource::Run(run.clone()).name();
        let diagnostics = loev_artifacts::RunDir::at(run)
            .head_diagnostics(last_steps)
            .with_context(|| format!("run {}", run.display()))?;
        if diagnostics.is_empty() {
            eprintln!("note: {} has logged no metrics", run.display());
        }
        for d in diagnostics {
            csv.push_str(&format!(
                "{name},{},{},{},{},{:.4},{},{}\n",
                d.head,
                d.steps.0,
                d.steps.1,
                d.lines,
                d.loss,
                number(d.loss_per_anchor_with_positive),
                number(d.separation)
            ));
        }
    }
    println!("training diagnostics (metrics.jsonl, mean of the lines of the last {last_steps} steps):\n{csv}");
    let path = out.dir().join("training.csv");
    loev_core::io::atomic_write(&path, csv.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
