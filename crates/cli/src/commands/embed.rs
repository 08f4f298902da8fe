//! `loev embed`: per-track embedding timelines and track means of every embedding space of a
//! model, for a file, a folder or a manifest; `--shard K/N` embeds one shard of it, and
//! `loev embed merge` joins the shards (docs/scale-out.md).

use std::path::PathBuf;

use anyhow::Context;
use loev_eval::embed::{EmbedJob, EmbedOptions, embed_to_folder};
use loev_eval::shard::{Shard, merge_shards};
use loev_eval::stages::ModelSource;
use loev_eval::store::EmbeddingFormat;
use loev_model::open_device;

/// Arguments of `loev embed`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// `merge`: join shard folders (the arguments above are then not given).
    #[command(subcommand)]
    pub command: Option<EmbedCommand>,
    /// An audio file, a folder (scanned recursively) or a manifest (.csv/.tsv with a `path`
    /// column; its label columns are carried over to the index).
    #[arg(required = true)]
    pub input: Option<PathBuf>,
    /// A run folder: its newest valid checkpoint is used.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub run: Option<PathBuf>,
    /// A model file (`loev export` writes one; every checkpoint is one): it carries its front
    /// end, so nothing else is needed. A checkpoint of an older loev is read with its run folder.
    #[arg(long, alias = "checkpoint")]
    pub model: Option<PathBuf>,
    /// Output folder: `index.csv`, `embeddings.json` and `tracks/` (see the README's layout).
    /// A rerun into an unfinished folder takes over the tracks it already has.
    #[arg(short, long, required = true)]
    pub out: Option<PathBuf>,
    /// Embed only shard K of N (K from 0 to N-1, e.g. `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`):
    /// the tracks at input positions p with p mod N = K. `loev embed merge` joins the N shard
    /// folders into the folder one unsharded run writes.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Array format of the per-track files: `safetensors` (one file per track, tensors
    /// `timestamps`, `<space>/timeline`, `<space>/mean`) or `npy` (one folder per track).
    #[arg(long, default_value = "safetensors")]
    pub format: String,
    /// Slices per forward pass (bounds memory: the working set is one batch).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Hop between slice centres in seconds (slices are 3 s; MULE: 2 s).
    #[arg(long, default_value_t = 2.0)]
    pub hop: f64,
    /// Time-stretched copies (rates U(0.8, 1.2), tempo scaled) of every track that has a tempo
    /// label, for the tempo probe's training augmentation (a fresh copy per epoch); tracks
    /// without a tempo get none. 0 turns it off.
    #[arg(long, default_value_t = 2)]
    pub stretch_copies: usize,
    /// Seed of the stretch rates.
    #[arg(long, default_value_t = 123)]
    pub stretch_seed: u64,
    /// `cpu`, `cuda:N`, `vulkan:N`, `vulkan:cpu` or `opengl:cpu` (GPU backends need a build with
    /// `--features vulkan` or `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Write into --out even if it holds files that loev did not write (never into the input).
    #[arg(long)]
    pub force: bool,
}

/// `loev embed` subcommands.
#[derive(clap::Subcommand)]
pub enum EmbedCommand {
    /// Joins the folders of `loev embed --shard K/N` (all N of them, in any order) into one
    /// embedding folder, equal byte for byte to an unsharded `loev embed` of the same input.
    Merge(MergeArgs),
}

/// Arguments of `loev embed merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shard folders.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Output folder (an embedding folder, as `loev embed -o` writes).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Write into --out even if it holds files that loev did not write.
    #[arg(long)]
    pub force: bool,
}

/// Runs `loev embed merge`.
fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let summary = merge_shards(&args.shards, &args.out, args.force).with_context(|| {
        format!(
            "merging {} shard folders into {}",
            args.shards.len(),
            args.out.display()
        )
    })?;
    println!(
        "merged {} shards: {} tracks{}{} into {}",
        summary.shards,
        summary.tracks,
        if summary.stretched > 0 {
            format!(", {} time-stretched copies", summary.stretched)
        } else {
            String::new()
        },
        if summary.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped files", summary.skipped.len())
        },
        args.out.display()
    );
    if !summary.skipped.is_empty() {
        println!("skipped {} files:", summary.skipped.len());
        for (path, reason) in &summary.skipped {
            println!("  {}: {reason}", path.display());
        }
    }
    Ok(())
}

/// Runs `loev embed`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(EmbedCommand::Merge(merge_args)) = args.command {
        return merge(merge_args);
    }
    let (Some(input), Some(out)) = (args.input, args.out) else {
        anyhow::bail!("give the INPUT to embed and -o OUT");
    };
    let shard = args.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1 slice, got 0");
    anyhow::ensure!(
        args.hop.is_finite() && args.hop > 0.0,
        "--hop must be a positive number of seconds (the default is 2), got {}",
        args.hop
    );
    let (_, device) = open_device(&args.device, false)?;
    let options = EmbedOptions {
        batch_size: args.batch,
        hop_seconds: args.hop,
    };
    let source = match (args.run, args.model) {
        (Some(run), _) => ModelSource::Run(run),
        (None, Some(file)) => ModelSource::File(file),
        (None, None) => anyhow::bail!("give --run DIR or --model FILE"),
    };
    let embedder = source.open(device, options)?;
    let job = EmbedJob {
        format: args.format.parse::<EmbeddingFormat>()?,
        stretch_copies: args.stretch_copies,
        stretch_seed: args.stretch_seed,
        progress: !args.quiet,
        force: args.force,
        shard,
        ..EmbedJob::default()
    };
    let summary =
        embed_to_folder(&embedder, &input, &out, &job).with_context(|| format!("embedding {}", input.display()))?;
    println!(
        "embedded {} tracks{} ({:.1} min of audio, {} slices{}{}) with {} into {}",
        summary.tracks,
        shard
            .map(|s| format!(" of shard {}/{}", s.index, s.count))
            .unwrap_or_default(),
        summary.seconds / 60.0,
        summary.slices,
        if summary.stretched > 0 {
            format!(", plus {} time-stretched copies", summary.stretched)
        } else {
            String::new()
        },
        if summary.resumed > 0 {
            format!(
                "; {} of them taken over from the unfinished earlier run",
                summary.resumed
            )
        } else {
            String::new()
        },
        embedder.source(),
        out.display()
    );
    println!(
        "spaces: {}",
        embedder
            .spaces()
            .iter()
            .map(|s| format!("{} ({})", s.name, s.dim))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !summary.skipped.is_empty() {
        println!("skipped {} files:", summary.skipped.len());
        for (path, reason) in &summary.skipped {
            println!("  {}: {reason}", path.display());
        }
    }
    Ok(())
}
