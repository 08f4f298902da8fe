//! `loev demo`: the built-in corpus, five tiny pretrainings, embeddings, probes, retrieval
//! and the invariance plot, on the CPU, in one command.

use std::path::PathBuf;

use anyhow::Context;

use loev_experiments::demo::{DemoConfig, run_demo};

/// Arguments of `loev demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The CI version: a smaller corpus, fewer steps and one probe seed (under 3 minutes on
    /// 2 cores); every stage still runs end to end.
    #[arg(long)]
    pub quick: bool,
    /// Output folder (everything the demo writes goes here; a second run reuses finished
    /// stages).
    #[arg(short, long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Also pretrain and evaluate LOEV++-PSTS (adds several minutes).
    #[arg(long)]
    pub plusplus: bool,
    /// No progress bars or stage messages.
    #[arg(long)]
    pub quiet: bool,
    /// How pretraining renders pitch shift and time stretch: `spectral` (read from the STFT;
    /// about 4× faster) or `exact` (Signalsmith waveform). Use a separate --out per method:
    /// runs trained with the other method are not reused.
    #[arg(long, default_value = "spectral")]
    pub augment_method: loev_augment::StretchMethod,
    /// How each loss head averages over anchors: `all-anchors` (an anchor without a positive
    /// counts 0, as in the authors' code) or `with-positives` (such anchors are left out).
    #[arg(long, value_enum, default_value = "all-anchors")]
    pub anchor_mean: AnchorMeanArg,
    /// Pretrain every model with N training seeds (the preset's seed + 0 … N−1; about
    /// N × 17 min on 2 cores) and give the verdict and `results/seeds.md` as mean ± std over
    /// them. The runs of seed 0 are those of a one-seed demo, so they are reused.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub train_seeds: u16,
    /// Pretrain and evaluate only these presets (comma-separated, e.g. `mule-ps,loev-ps` for
    /// the pitch half alone) instead of the five. A half's verdict needs both of its models,
    /// the tempo half also MULE-B.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Give every model a fast path this many times wider than the tiny encoder's (2: the
    /// encoder of hypothesis H4 in docs/tempo-half.md). Use a separate --out.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub fast_path_width: u16,
    /// Pretraining steps per model instead of the demo's (for diagnostics such as the
    /// random-weight reference: `--steps 1 --learning-rate 1e-9`). Use a separate --out.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Peak learning rate instead of the demo's 1e-3 (see --steps).
    #[arg(long)]
    pub learning_rate: Option<f64>,
}

/// `--anchor-mean` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AnchorMeanArg {
    /// Divide by every anchor (the authors' code).
    AllAnchors,
    /// Divide by the anchors with a positive.
    WithPositives,
}

/// Runs `loev demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = if args.quick {
        DemoConfig::quick(&args.out)
    } else {
        DemoConfig::full(&args.out)
    };
    if !args.models.is_empty() {
        for model in &args.models {
            loev_train::preset(&format!("{model}:tiny")).with_context(|| {
                format!("--models: `{model}` is not a preset (`loev pretrain --list-presets` lists them)")
            })?;
        }
        config.models = args.models.clone();
    }
    if args.plusplus {
        config.models.push("loev++-psts".into());
    }
    config.progress = !args.quiet;
    config.train_seeds = usize::from(args.train_seeds);
    config.fast_path_width = usize::from(args.fast_path_width);
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    if let Some(rate) = args.learning_rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--learning-rate {rate}: give a positive learning rate"
        );
        config.learning_rate = rate;
    }
    config.augment_method = args.augment_method;
    config.anchor_mean = match args.anchor_mean {
        AnchorMeanArg::AllAnchors => loev_train::AnchorMean::AllAnchors,
        AnchorMeanArg::WithPositives => loev_train::AnchorMean::WithPositives,
    };
    let started = std::time::Instant::now();
    let report = run_demo(&config)?;
    println!(
        "\nTable I — probes on the built-in corpus (%, mean ± std over {} probe seeds; embedding space V):\n",
        config.probe.seeds
    );
    println!("{}", report.table_one);
    println!("Table II — retrieval among the music tracks (%):\n");
    println!("{}", report.table_two);
    println!(
        "Equivariance — R² of the applied pitch shift (semitones) and stretch rate, regressed from \
         the embedding difference view − clean (ridge; half the clips fit, half test):\n"
    );
    println!("{}", report.table_equivariance);
    if config.train_seeds > 1 {
        println!(
            "Over {} training seeds — V, mean ± std over the training seeds of each model's probe \
             means (mean probe-seed std in brackets):\n",
            config.train_seeds
        );
        println!("{}", report.table_seeds);
    }
    println!("{}\n", report.verdict);
    println!("invariance plot: {}", report.plot.display());
    println!("retrieval plot: {}", report.retrieval_plot.display());
    println!("all results: {}", config.out.join("results").display());
    let stages: Vec<String> = report
        .timings
        .iter()
        .map(|(name, s)| format!("{name} {s:.0}s"))
        .collect();
    println!(
        "took {:.1} min ({})",
        started.elapsed().as_secs_f64() / 60.0,
        stages.join(", ")
    );
    Ok(())
}
