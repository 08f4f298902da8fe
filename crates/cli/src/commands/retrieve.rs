//! `loev retrieve`: cosine KNN retrieval among the tracks of an embedding folder.

use std::path::PathBuf;

use anyhow::Context;
use loev_eval::retrieval::retrieval_items;
use loev_eval::retrieval::{DEFAULT_KS, evaluate_retrieval};
use loev_eval::store::{EmbeddingSet, claim_results_folder};
use loev_eval::tables::{ModelResults, table_two_csv, table_two_markdown};

/// Arguments of `loev retrieve`.
#[derive(clap::Args)]
pub struct Args {
    /// An embedding folder written by `loev embed` (its index carries the labels).
    pub embeddings: PathBuf,
    /// Embedding spaces (repeatable; default `v`).
    #[arg(long = "space", default_values_t = vec!["v".to_string()])]
    pub spaces: Vec<String>,
    /// Neighbour counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_KS.to_vec())]
    pub k: Vec<usize>,
    /// Only tracks of this split (`train`, `valid`, `test`); default: every track.
    #[arg(long)]
    pub split: Option<String>,
    /// Relative tolerance of the tempo agreement.
    #[arg(long, default_value_t = 0.04)]
    pub tolerance: f64,
    /// Folder for `retrieval.md` / `retrieval.csv` (default: the embedding folder).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Write into --out even if it holds files that loev did not write.
    #[arg(long)]
    pub force: bool,
}

/// Runs `loev retrieve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.k.iter().all(|&k| k > 0),
        "--k must list neighbour counts of at least 1 (e.g. --k 1,3,5,10), got {:?}",
        args.k
    );
    anyhow::ensure!(
        args.tolerance.is_finite() && args.tolerance >= 0.0,
        "--tolerance must be a relative tempo tolerance of 0 or more (the default is 0.04), got {}",
        args.tolerance
    );
    let set = EmbeddingSet::open(&args.embeddings)?;
    let folder = claim_results_folder(&set, args.out.as_deref(), args.force)?;
    let wanted = args.split.as_deref().map(str::parse::<loev_data::Split>).transpose()?;
    let splits = if wanted.is_some() {
        split_of_ids(&set)?
    } else {
        Default::default()
    };
    let model = super::model_name(&args.embeddings);
    let mut results = Vec::new();
    for space in &args.spaces {
        let mut items = retrieval_items(&set, space)?;
        if let Some(split) = wanted {
            items.retain(|i| splits.get(&i.id) == Some(&split));
        }
        anyhow::ensure!(
            items.len() >= 2,
            "retrieval needs at least two labelled tracks, found {}",
            items.len()
        );
        // A query has `items - 1` neighbours; a k beyond that would silently be scored on fewer
        // neighbours than it says, so it is left out of the table and reported.
        let (ks, beyond): (Vec<usize>, Vec<usize>) = args.k.iter().partition(|&&k| k < items.len());
        if !beyond.is_empty() {
            eprintln!(
                "warning: k = {beyond:?} left out for space {space}: only {} other tracks can be neighbours",
                items.len() - 1
            );
        }
        let retrieval = evaluate_retrieval(&items, &ks, args.tolerance);
        results.push(ModelResults {
            model: model.clone(),
            space: space.clone(),
            probes: Vec::new(),
            retrieval,
        });
    }
    let md = table_two_markdown(&results);
    // The table is printed before it is written, so that a write that fails keeps the results.
    println!("{md}");
    for (name, text) in [("retrieval.md", md.clone()), ("retrieval.csv", table_two_csv(&results))] {
        let path = folder.root().join(name);
        loev_core::io::atomic_write(&path, text.as_bytes())
            .with_context(|| format!("cannot write {} (the table is printed above)", path.display()))?;
    }
    println!(
        "tag precision@k: per tag, the fraction of the k neighbours of each query with that tag that share it, averaged over queries, then over tags; \
         key: mean mir_eval weighted score (query = reference); tempo: Acc1 of the neighbours' tempi. The query itself is excluded."
    );
    Ok(())
}

fn split_of_ids(set: &EmbeddingSet) -> anyhow::Result<std::collections::HashMap<String, loev_data::Split>> {
    let manifest = loev_audio::manifest::Manifest::read(&set.index_path())?;
    Ok(manifest
        .rows
        .into_iter()
        .filter_map(|r| Some((r.fields.get("id")?.clone(), r.fields.get("split")?.parse().ok()?)))
        .collect())
}
