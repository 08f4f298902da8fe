//! `loev bench train`: training throughput (views/s) and the share of time the model waits for
//! data, for presets on this machine. Figures are measured over the steps after a warm-up.

use anyhow::Context;
use loev_train::{TrainOptions, preset};

/// Arguments of `loev bench train`.
#[derive(clap::Args)]
pub struct Args {
    /// Presets to measure (NAME:SIZE), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "loev-psts:tiny,loev-psts:full")]
    presets: Vec<String>,
    /// Timed steps per preset (after the warm-up steps).
    #[arg(long, default_value_t = 20)]
    steps: u64,
    /// Untimed warm-up steps per preset.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Anchors per batch for the full-size presets (the seed's 256 needs a GPU; on a CPU a
    /// small batch measures the per-view cost).
    #[arg(long, default_value_t = 8)]
    full_anchors: usize,
    /// Tracks of the built-in corpus used as training data.
    #[arg(long, default_value_t = 24)]
    tracks: usize,
    /// Device (cpu, cuda:N, vulkan:N, vulkan:cpu, or a list such as cuda:0,1).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Augmentation workers (default: the preset's).
    #[arg(long)]
    workers: Option<usize>,
}

/// Runs `loev bench train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("loev-bench-train-{}", std::process::id()));
    println!(
        "{:<22} {:>8} {:>10} {:>12} {:>10} {:>12}",
        "preset", "views", "params", "views/s", "s/step", "data wait"
    );
    println!(
        "(device {}; data workers: {})",
        args.device,
        args.workers.map_or("the preset's".to_string(), |w| w.to_string())
    );
    for name in &args.presets {
        let mut config = preset(name)?;
        config.device = args.device.clone();
        config.data.corpus_tracks = args.tracks;
        if let Some(workers) = args.workers {
            config.data.workers = workers;
        }
        if config.model.size == loev_train::config::ModelSize::Full {
            config.data.anchors = args.full_anchors;
        }
        config.train.steps = args.warmup + args.steps;
        config.train.log_every = 1;
        config.train.checkpoint_every = config.train.steps;
        let run_dir = scratch.join(name.replace([':', '+'], "_"));
        let _ = std::fs::remove_dir_all(&run_dir);
        let mut options = TrainOptions::new(&run_dir);
        options.progress = false;
        options.verbose = false;
        loev_train::pretrain(&config, &options).with_context(|| format!("benchmark run {name}"))?;
        let metrics =
            std::fs::read_to_string(run_dir.join("metrics.jsonl")).context("reading the benchmark metrics")?;
        let timed: Vec<serde_json::Value> = metrics
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["step"].as_u64().is_some_and(|s| s > args.warmup))
            .collect();
        let views = config.batch_views() as f64;
        let seconds: f64 = timed
            .iter()
            .map(|v| views / v["views_per_s"].as_f64().unwrap_or(f64::NAN))
            .sum();
        let waited: f64 = timed
            .iter()
            .map(|v| {
                v["data_wait_share"].as_f64().unwrap_or(0.0) * views / v["views_per_s"].as_f64().unwrap_or(f64::NAN)
            })
            .sum();
        let steps = timed.len().max(1) as f64;
        let params = loev_model::LoevModel::init(&config.model_config(), &burn::tensor::Device::flex(), 0).num_params();
        println!(
            "{:<22} {:>8} {:>10} {:>12.1} {:>10.3} {:>11.1}%",
            name,
            config.batch_views(),
            params,
            views * steps / seconds,
            seconds / steps,
            100.0 * waited / seconds
        );
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "(threads: RAYON_NUM_THREADS={}; data workers per preset config)",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into())
    );
    Ok(())
}
