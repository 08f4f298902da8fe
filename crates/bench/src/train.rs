//! `loev bench train`: training throughput (views/s) and the share of time the model waits for
//! data, for presets on this machine. Figures are measured over the steps after a warm-up.

use crate::BenchError;
use loev_train::{TrainOptions, preset};

/// Options of `loev bench train`, which are its command-line flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Presets to measure (NAME:SIZE), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "loev-psts:tiny,loev-psts:full")]
    pub presets: Vec<String>,
    /// Timed steps per preset (after the warm-up steps).
    #[arg(long, default_value_t = 20)]
    pub steps: u64,
    /// Untimed warm-up steps per preset.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Anchors per batch for the full-size presets (the seed's 256 needs a GPU; on a CPU a
    /// small batch measures the per-view cost).
    #[arg(long, default_value_t = 8)]
    pub full_anchors: usize,
    /// Tracks of the built-in corpus used as training data.
    #[arg(long, default_value_t = 24)]
    pub tracks: usize,
    /// Device (cpu, cuda:N, vulkan:N, vulkan:cpu, or a list such as cuda:0,1).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Augmentation workers (default: the preset's).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Runs the benchmark and prints one line per preset.
pub fn run(options: &Options) -> Result<(), BenchError> {
    let scratch = std::env::temp_dir().join(format!("loev-bench-train-{}", std::process::id()));
    println!(
        "{:<22} {:>8} {:>10} {:>12} {:>10} {:>12}",
        "preset", "views", "params", "views/s", "s/step", "data wait"
    );
    println!(
        "(device {}; data workers: {})",
        options.device,
        options.workers.map_or("the preset's".to_string(), |w| w.to_string())
    );
    for name in &options.presets {
        let mut config = preset(name)?;
        config.device = options.device.clone();
        config.data.corpus_tracks = options.tracks;
        if let Some(workers) = options.workers {
            config.data.workers = workers;
        }
        if config.model.size == loev_train::config::ModelSize::Full {
            config.data.anchors = options.full_anchors;
        }
        config.train.steps = options.warmup + options.steps;
        config.train.log_every = 1;
        config.train.checkpoint_every = config.train.steps;
        let run_dir = scratch.join(name.replace([':', '+'], "_"));
        let _ = std::fs::remove_dir_all(&run_dir);
        let mut train_options = TrainOptions::new(&run_dir);
        // A line per step on stderr (loss, views/s): a run cut short by a time limit, as on a
        // borrowed GPU, still shows how far it got and how fast.
        train_options.progress = false;
        train_options.verbose = true;
        loev_train::pretrain(&config, &train_options).map_err(|source| BenchError::Train {
            name: name.clone(),
            source: Box::new(source),
        })?;
        let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).map_err(BenchError::Metrics)?;
        let timed: Vec<serde_json::Value> = metrics
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["step"].as_u64().is_some_and(|s| s > options.warmup))
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
