//! `loev analyze`: invariance of the embeddings to pitch shift and time stretch.

use std::path::PathBuf;

use anyhow::Context;
use loev_eval::embed::{EmbedOptions, Embedder, list_inputs_and_skipped};
use loev_eval::equivariance::{EquivarianceConfig, analyze_equivariance};
use loev_eval::invariance::{InvarianceConfig, analyze, write_csv};
use loev_eval::plot_invariance;
use loev_model::open_device;

/// Arguments of `loev analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Audio to transform: a file, a folder or a manifest (a manifest's `split` column, when
    /// present, restricts the clips to the test split).
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
    let (inputs, _, skipped) = list_inputs_and_skipped(&args.input)?;
    let folder = loev_core::output::OutputFolder::claim(
        &args.out,
        "analysis",
        &[],
        &loev_core::output::Protected::input(&args.input),
        args.force,
    )?;
    for (path, reason) in &skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    let has_test = inputs
        .iter()
        .any(|i| i.fields.get("split").is_some_and(|s| s == "test"));
    let mut clips = Vec::new();
    for input in inputs
        .iter()
        .filter(|i| !has_test || i.fields.get("split").is_some_and(|s| s == "test"))
    {
        if clips.len() >= args.max_clips {
            break;
        }
        match loev_audio::decode::load_mono(&input.path) {
            Ok(audio) if !audio.is_empty() => clips.push(audio),
            Ok(_) => eprintln!("skipping {}: no samples", input.path.display()),
            Err(e) => eprintln!("skipping {}: {e}", input.path.display()),
        }
    }
    anyhow::ensure!(!clips.is_empty(), "no usable clip in {}", args.input.display());
    let mut points = Vec::new();
    let run_equivariance = args.equivariance_views > 0 && clips.len() >= 4;
    if args.equivariance_views > 0 && !run_equivariance {
        eprintln!(
            "note: skipping the equivariance probes: they need at least 4 clips (2 to fit, 2 to test), {} given",
            clips.len()
        );
    }
    let mut scores = Vec::new();
    let models = args
        .runs
        .iter()
        .map(|r| (r, true))
        .chain(args.models.iter().map(|c| (c, false)));
    for (path, is_run) in models {
        let options = EmbedOptions::default();
        let embedder = if is_run {
            Embedder::from_run(path, device.clone(), options)?
        } else {
            Embedder::from_model_file(path, device.clone(), options)?
        };
        let name = if is_run { path.file_name() } else { path.file_stem() }
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        eprintln!("analysing {name} on {} clips", clips.len());
        points.extend(analyze(&embedder, &name, &clips, &config).with_context(|| format!("model {}", path.display()))?);
        if run_equivariance {
            let equivariance_config = EquivarianceConfig {
                views_per_clip: args.equivariance_views,
                clip_seconds: args.clip_seconds.or(EquivarianceConfig::default().clip_seconds),
                ..EquivarianceConfig::default()
            };
            scores.extend(
                analyze_equivariance(&embedder, &name, &clips, &equivariance_config)
                    .with_context(|| format!("equivariance of model {}", path.display()))?,
            );
        }
    }
    write_csv(&folder.root().join("invariance.csv"), &points)?;
    if run_equivariance {
        loev_eval::equivariance::write_csv(&args.out.join("equivariance.csv"), &scores)?;
        let table = loev_eval::equivariance::markdown(&scores);
        let path = args.out.join("equivariance.md");
        loev_core::io::atomic_write(&path, table.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("equivariance: R² of the applied transform from the embedding difference view − clean\n{table}");
    }
    let plotted: Vec<_> = points
        .iter()
        .filter(|p| args.plot_spaces.contains(&p.space))
        .cloned()
        .collect();
    let title = "Invariance: 1 - cos(clean, transformed) track embedding";
    plot_invariance(&args.out.join("invariance.png"), &plotted, title)?;
    plot_invariance(&args.out.join("invariance.svg"), &plotted, title)?;
    println!("model,space,transform,parameter,mean_distance");
    for p in &plotted {
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
        args.out.join("invariance.csv").display()
    );
    Ok(())
}
