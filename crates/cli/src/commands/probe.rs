//! `loev probe`: MLP probes on the embeddings written by `loev embed`.

use std::path::PathBuf;

use anyhow::Context;

use loev_data::{DatasetName, LoadOptions, load_dataset};
use loev_eval::probe::{ProbeConfig, embedded_tasks, read_probe_config};
use loev_eval::report::Report;
use loev_eval::stages::{ProbeOptions, probe_spaces};
use loev_eval::store::{EmbeddingSet, claim_results_folder};
use loev_eval::tables::table_one_markdown;

/// Arguments of `loev probe`.
#[derive(clap::Args)]
pub struct Args {
    /// An embedding folder written by `loev embed`.
    pub embeddings: PathBuf,
    /// Embedding spaces to probe (repeatable; default `v`, the encoder output).
    #[arg(long = "space", default_values_t = vec!["v".to_string()])]
    pub spaces: Vec<String>,
    /// Tasks from a benchmark dataset on disk (matched to the embeddings by track id) instead
    /// of the label columns of the embedded manifest.
    #[arg(long, requires = "root")]
    pub dataset: Option<String>,
    /// The dataset's root folder.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Only these tasks (by name, repeatable).
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Probe settings (TOML with the fields of `ProbeConfig`); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of seeds (results are mean ± std).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Hidden layer sizes, comma-separated (empty for a linear probe).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Dropout after each hidden layer.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Maximum epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Folder for `probe.md`, `probe.csv` and `probe.json` (default: the embedding folder).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Write into --out even if it holds files that loev did not write.
    #[arg(long)]
    pub force: bool,
}

/// Runs `loev probe`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => read_probe_config(path)?,
        None => ProbeConfig::default(),
    };
    if let Some(v) = args.seeds {
        config.seeds = v;
    }
    if let Some(v) = &args.hidden {
        config.hidden = v.clone();
    }
    if let Some(v) = args.dropout {
        config.dropout = v;
    }
    if let Some(v) = args.epochs {
        config.max_epochs = v;
    }
    config.validate()?;
    let set = EmbeddingSet::open(&args.embeddings)?;
    let out = Report::owned(claim_results_folder(&set, args.out.as_deref(), args.force)?);
    let (tasks, report) = match (&args.dataset, &args.root) {
        (Some(name), Some(root)) => load_dataset(name.parse::<DatasetName>()?, root, &LoadOptions::default())?,
        _ => embedded_tasks(&set)?,
    };
    eprintln!("{report}");
    let options = ProbeOptions {
        spaces: args.spaces,
        tasks: args.tasks,
        config,
    };
    let run = probe_spaces(
        &set,
        &super::model_name(&args.embeddings),
        &tasks,
        &options,
        |space, data| {
            eprintln!(
                "probing {} in {space}: {} training slices, {} validation and {} test tracks",
                data.task,
                data.train.features.len() / data.dim.max(1),
                data.valid.features.len() / data.dim.max(1),
                data.test.features.len() / data.dim.max(1)
            )
        },
    )?;
    for reason in &run.left_out {
        eprintln!("skipped: {reason}");
    }
    // The table is printed before it is written, so that a write that fails keeps the results.
    println!("{}", table_one_markdown(&run.results));
    out.probes("probe", &run.results)
        .and_then(|_| out.json("probe.json", &run.results))
        .context("the table is printed above")?;
    let config = &options.config;
    println!(
        "probe settings: hidden {:?}, dropout {}, lr {}, batch {}, ≤ {} epochs (patience {}), {} seeds; written to {}",
        config.hidden,
        config.dropout,
        config.learning_rate,
        config.batch_size,
        config.max_epochs,
        config.patience,
        config.seeds,
        out.dir().display()
    );
    Ok(())
}
