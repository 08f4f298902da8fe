//! `loev export`: a self-describing model file from a run.

use std::path::PathBuf;

use anyhow::Context;
use loev_artifacts::HeadRole;

/// Arguments of `loev export`.
#[derive(clap::Args)]
pub struct Args {
    /// The run folder (made by `loev pretrain`); its newest valid checkpoint is exported.
    pub run: PathBuf,
    /// The model file to write (safetensors; its header carries the front end, the heads and
    /// their objectives, the run, preset and step, so `loev embed --model FILE` needs nothing else).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace an existing file at --out even if it is not a loev model file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `loev export`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let summary = loev_train::export_model(&args.run, &args.out, args.force, |w| eprintln!("{w}"))
        .with_context(|| format!("exporting {}", args.run.display()))?;
    let info = &summary.info;
    println!(
        "wrote {} from {} (step {}, {} mels × {} frames)",
        summary.out.display(),
        summary.checkpoint.display(),
        info.step,
        info.input.mels,
        info.input.frames
    );
    for head in &info.heads {
        let role = match &head.objective {
            HeadRole::Invariant => "invariant".to_string(),
            HeadRole::LeaveOut { transform } => format!("leaves out {transform}"),
        };
        println!("  head {}: {role}", head.name);
    }
    Ok(())
}
