//! `loev pretrain`: contrastive pretraining (MULE, MULE++, LOEV, LOEV++) into a run folder.
//!
//! Started by an MPI launcher (`mpirun -np N loev pretrain …`, `srun --mpi=pmix …`), each
//! process is one rank of a data-parallel job (docs/scale-out.md): the ranks first check that
//! they run the same loev on the same command, then train one model together, and rank 0
//! alone writes the run folder and prints the summary.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use loev_core::checksum::fnv1a64;
use loev_mpi::World;
use loev_train::{PRESET_NAMES, TrainConfig, TrainOptions, TrainSummary, preset};

/// Arguments of `loev pretrain`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  loev pretrain --preset loev-ps:tiny --steps 200\n  loev pretrain --config run.toml --out runs/my-run\n  loev pretrain --resume runs/my-run\n  loev pretrain --preset loev++-psts --print-config > run.toml\n\nUnder MPI (one rank per device; docs/scale-out.md):\n  mpirun -np 4 loev pretrain --config run.toml --out runs/my-run --no-progress\n  mpirun -np 8 bash -c 'exec loev pretrain --resume runs/my-run --device cuda:$OMPI_COMM_WORLD_LOCAL_RANK'"
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
        let command = format!(
            "resume {}\nsteps {:?}\nstop after {:?}",
            run_dir.display(),
            args.steps,
            args.stop_after
        );
        let device = args.device.as_deref().unwrap_or("the run's device");
        let world = join_mpi_job(&command, device)?;
        let result = loev_train::resume_across(&options, world.as_ref())
            .with_context(|| format!("resuming {}", run_dir.display()));
        return finish(world, result);
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
    let world = join_mpi_job(&new_run_command(&config, &run_dir, args.stop_after), &config.device)?;
    let result = loev_train::pretrain_across(&config, &options, world.as_ref())
        .with_context(|| format!("training into {}", run_dir.display()));
    finish(world, result)
}

/// What every rank of a new run must agree on: the resolved configuration without its device
/// (each rank names its own), the run folder and the stop step.
fn new_run_command(config: &TrainConfig, run_dir: &Path, stop_after: Option<u64>) -> String {
    let mut shared = config.resolved();
    shared.device = String::new();
    format!(
        "new run {}\nstop after {stop_after:?}\n{}",
        run_dir.display(),
        shared.to_toml()
    )
}

/// The MPI job this process is a rank of, when an MPI launcher started it (`None` otherwise).
/// The ranks compare their loev build and `command` (a digest of it) before anything else, and
/// each prints its rank, PID and host, so that a process the launcher names by PID can be traced
/// to its rank.
fn join_mpi_job(command: &str, device: &str) -> anyhow::Result<Option<World>> {
    if loev_mpi::detect_launch().is_none() {
        return Ok(None);
    }
    let world = World::init().context("starting MPI")?;
    world.check_consistency(fnv1a64(command.as_bytes()))?;
    // One write, so that the launcher, which merges every rank's stderr, cannot interleave it.
    let line = format!(
        "rank {} of {}: pid {} on {}, device {device}, {}\n",
        world.rank(),
        world.size(),
        std::process::id(),
        world.host(),
        world.library()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    Ok(Some(world))
}

/// Reports a finished run and leaves the MPI job: rank 0 prints the summary, every rank
/// finalizes. A rank that failed prints why and aborts the job, so that no other rank waits for
/// it in a collective.
fn finish(world: Option<World>, result: anyhow::Result<TrainSummary>) -> anyhow::Result<()> {
    let Some(world) = world else {
        return report(&result?);
    };
    match result {
        Ok(summary) => {
            if world.rank() == 0 {
                report(&summary)?;
            }
            world.finalize().context("finishing MPI")
        }
        Err(error) => {
            eprintln!("rank {}: error: {error:#}", world.rank());
            world.abort(1)
        }
    }
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
