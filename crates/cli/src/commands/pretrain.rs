//! `loev pretrain`: contrastive pretraining (MULE, MULE++, LOEV, LOEV++) into a run folder.

use std::path::PathBuf;

use anyhow::{Context, bail};
use loev_train::{PRESET_NAMES, TrainConfig, TrainOptions, preset};

/// Arguments of `loev pretrain`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  loev pretrain --preset loev-ps:tiny --steps 200\n  loev pretrain --config run.toml --out runs/my-run\n  loev pretrain --resume runs/my-run\n  loev pretrain --preset loev++-psts --print-config > run.toml"
)]
pub struct Args {
    /// A TOML run configuration (see `--print-config` for every key).
    #[arg(long, conflicts_with_all = ["preset", "resume"])]
    config: Option<PathBuf>,
    /// A preset of the seed paper's Table I, optionally with a size: NAME[:full|:tiny]
    /// (mule-mixup, mule-b, mule-ps, mule-ts, mule-psts, mule++-psts, loev-ps, loev-ts,
    /// loev-psts, loev++-psts).
    #[arg(long, conflicts_with = "resume")]
    preset: Option<String>,
    /// Continue the run in this folder from its newest valid checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Run folder for a new run (default: runs/<name>). A folder whose run never trained (no
    /// checkpoint, no metrics) is reused.
    #[arg(long, short, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Train on this decode-once cache (`loev cache build`) instead of the built-in corpus.
    #[arg(long, conflicts_with = "resume")]
    cache: Option<PathBuf>,
    /// Override the number of optimisation steps. With --resume, the run's total: a finished
    /// run is extended to this many steps (recorded in its config.toml).
    #[arg(long)]
    steps: Option<u64>,
    /// Override the seed (a resumed run keeps its own).
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Override the device: cpu, cuda:N, vulkan:N, vulkan:cpu, opengl:cpu, or a list such as
    /// cuda:0,1 (data parallel). With --resume, the run continues on this device.
    #[arg(long)]
    device: Option<String>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long, conflicts_with = "resume")]
    print_config: bool,
    /// List the presets and exit.
    #[arg(long)]
    list_presets: bool,
    /// Stop after this many steps in total (the run stays resumable).
    #[arg(long, hide = true)]
    stop_after: Option<u64>,
    /// No progress bar: a line per logged step instead (for logs and CI).
    #[arg(long)]
    no_progress: bool,
}

/// Runs `loev pretrain`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list_presets {
        for name in PRESET_NAMES {
            println!("{name}");
        }
        return Ok(());
    }
    let progress = !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Some(run_dir) = &args.resume {
        let mut options = TrainOptions::new(run_dir);
        options.progress = progress;
        options.stop_after = args.stop_after;
        options.device = args.device.clone();
        options.steps = args.steps;
        let summary = loev_train::resume(&options).with_context(|| format!("resuming {}", run_dir.display()))?;
        return report(&summary);
    }
    let mut config = match (&args.config, &args.preset) {
        (Some(path), _) => TrainConfig::from_file(path)?,
        (None, Some(name)) => preset(name)?,
        (None, None) => bail!("give --config FILE, --preset NAME or --resume RUN_DIR (see --help)"),
    };
    if let Some(cache) = args.cache {
        config.data.cache = Some(cache);
    }
    if let Some(steps) = args.steps {
        config.train.steps = steps;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(device) = args.device {
        config.device = device;
    }
    config.validate()?;
    if args.print_config {
        print!("{}", config.resolved().to_toml());
        return Ok(());
    }
    let run_dir = args.out.unwrap_or_else(|| PathBuf::from("runs").join(&config.name));
    let mut options = TrainOptions::new(&run_dir);
    options.progress = progress;
    options.stop_after = args.stop_after;
    let summary =
        loev_train::pretrain(&config, &options).with_context(|| format!("training into {}", run_dir.display()))?;
    report(&summary)
}

/// Prints what the run did. A run that trained no step (it was already complete) says so
/// instead of printing losses and a throughput it does not have.
fn report(summary: &loev_train::TrainSummary) -> anyhow::Result<()> {
    println!("run folder: {}", summary.run_dir.display());
    println!("steps: {}", summary.steps);
    if summary.steps_trained == 0 {
        if summary.steps >= summary.total_steps {
            println!(
                "the run is complete ({} of {} steps); nothing to train. To train it further, pass --steps N \
                 with N above {}",
                summary.steps, summary.total_steps, summary.steps
            );
        } else {
            println!("no step trained (stopped at step {})", summary.steps);
        }
        if let Some(path) = &summary.last_checkpoint {
            println!("last checkpoint: {}", path.display());
        }
        return Ok(());
    }
    for (k, head) in summary.heads.iter().enumerate() {
        let first = summary.first_losses.get(k).copied().unwrap_or(f64::NAN);
        let last = summary.last_losses.get(k).copied().unwrap_or(f64::NAN);
        println!("loss[{head}]: {first:.4} -> {last:.4}");
    }
    println!(
        "throughput: {:.1} views/s, data wait {:.1} %",
        summary.views_per_second,
        100.0 * summary.data_wait_share
    );
    if let Some(path) = &summary.last_checkpoint {
        println!("last checkpoint: {}", path.display());
    }
    Ok(())
}
