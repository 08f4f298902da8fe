//! `loev retrieve`: cosine KNN retrieval among the tracks of an embedding folder.

use std::path::PathBuf;

use anyhow::Context;

use loev_eval::report::Report;
use loev_eval::retrieval::DEFAULT_KS;
use loev_eval::stages::{RetrieveOptions, retrieve_spaces};
use loev_eval::store::{EmbeddingSet, claim_results_folder};
use loev_eval::tables::table_two_markdown;

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
    #[arg(long, default_value_t = loev_data::labels::TEMPO_TOLERANCE)]
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
    let set = EmbeddingSet::open(&args.embeddings)?;
    let options = RetrieveOptions {
        spaces: args.spaces,
        ks: args.k,
        tolerance: args.tolerance,
        split: args.split.as_deref().map(str::parse::<loev_data::Split>).transpose()?,
    };
    options.validate()?;
    let out = Report::owned(claim_results_folder(&set, args.out.as_deref(), args.force)?);
    let run = retrieve_spaces(&set, &super::model_name(&args.embeddings), &options)?;
    for left_out in &run.left_out {
        eprintln!(
            "warning: k = {:?} left out for space {}: only {} other tracks can be neighbours",
            left_out.ks, left_out.space, left_out.neighbours
        );
    }
    // The table is printed before it is written, so that a write that fails keeps the results.
    println!("{}", table_two_markdown(&run.results));
    out.retrieval("retrieval", &run.results)
        .context("the table is printed above")?;
    println!(
        "tag precision@k: per tag, the fraction of the k neighbours of each query with that tag that share it, averaged over queries, then over tags; \
         key: mean mir_eval weighted score (query = reference); tempo: Acc1 of the neighbours' tempi. The query itself is excluded."
    );
    Ok(())
}
