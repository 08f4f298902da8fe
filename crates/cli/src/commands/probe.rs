//! `loev probe`: MLP probes on the embeddings written by `loev embed`.

use std::path::PathBuf;

use anyhow::Context;
use loev_data::{DatasetName, LoadOptions, load_dataset};
use loev_eval::EvalError;
use loev_eval::probe::{ProbeConfig, embedded_tasks, probe_data, read_probe_config, run_probe};
use loev_eval::store::{EmbeddingSet, claim_results_folder};
use loev_eval::tables::{ModelResults, table_one_csv, table_one_markdown};

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
    let folder = claim_results_folder(&set, args.out.as_deref(), args.force)?;
    let opts = LoadOptions::default();
    let (tasks, report) = match (&args.dataset, &args.root) {
        (Some(name), Some(root)) => load_dataset(name.parse::<DatasetName>()?, root, &opts)?,
        _ => embedded_tasks(&set)?,
    };
    eprintln!("{report}");
    let unknown: Vec<&String> = args
        .tasks
        .iter()
        .filter(|name| !tasks.iter().any(|t| &t.name == *name))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        anyhow::bail!(
            "unknown --task {}: the labels of {} give the tasks {}",
            unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            args.embeddings.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let tasks: Vec<_> = tasks
        .into_iter()
        .filter(|t| args.tasks.is_empty() || args.tasks.contains(&t.name))
        .collect();
    anyhow::ensure!(
        !tasks.is_empty(),
        "no task to probe: the labels have no key/tempo/tags/pitch column with values, or --task matched none"
    );
    let model = super::model_name(&args.embeddings);
    let mut results = Vec::new();
    for space in &args.spaces {
        let mut probes = Vec::new();
        for task in &tasks {
            let data = probe_data(task, &set, space).with_context(|| format!("task {} in space {space}", task.name))?;
            eprintln!(
                "probing {} in {space}: {} training slices, {} validation and {} test tracks",
                task.name,
                data.train.features.len() / data.dim.max(1),
                data.valid.features.len() / data.dim.max(1),
                data.test.features.len() / data.dim.max(1)
            );
            match run_probe(&data, space, &config) {
                Ok(result) => probes.push(result),
                Err(EvalError::Empty(reason)) => eprintln!("skipped: {reason}"),
                Err(e) => return Err(e.into()),
            }
        }
        results.push(ModelResults {
            model: model.clone(),
            space: space.clone(),
            probes,
            retrieval: Vec::new(),
        });
    }
    let out = folder.root();
    let md = table_one_markdown(&results);
    // The table is printed before it is written, so that a write that fails keeps the results.
    println!("{md}");
    let files = [
        ("probe.md", md.clone()),
        ("probe.csv", table_one_csv(&results)),
        ("probe.json", serde_json::to_string_pretty(&results)?),
    ];
    for (name, text) in files {
        let path = out.join(name);
        loev_core::io::atomic_write(&path, text.as_bytes())
            .with_context(|| format!("cannot write {} (the table is printed above)", path.display()))?;
    }
    println!(
        "probe settings: hidden {:?}, dropout {}, lr {}, batch {}, ≤ {} epochs (patience {}), {} seeds; written to {}",
        config.hidden,
        config.dropout,
        config.learning_rate,
        config.batch_size,
        config.max_epochs,
        config.patience,
        config.seeds,
        out.display()
    );
    Ok(())
}
