//! `loev import`: model files from weights that loev did not train.

use std::path::PathBuf;

use anyhow::Context;

/// Subcommands of `loev import`.
#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// MULE weights as saved by mule-torch (a folder with model.safetensors + config.json, e.g.
    /// the published release the user downloaded): every tensor and config value is checked.
    MuleTorch(MuleTorchArgs),
}

/// Arguments of `loev import mule-torch`.
#[derive(clap::Args)]
pub struct MuleTorchArgs {
    /// The mule-torch folder (model.safetensors + config.json).
    pub dir: PathBuf,
    /// The model file to write (use it with `loev embed --model FILE`, `loev.load_model`, HEAR).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Runs `loev import`.
pub fn run(cmd: ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::MuleTorch(args) => {
            let summary = loev_artifacts::mule_torch::import_mule_torch(&args.dir, &args.out)
                .with_context(|| format!("importing {}", args.dir.display()))?;
            let info = &summary.info;
            println!(
                "wrote {}: {} tensors, {} parameters, {} mels × {} frames, embedding space v ({} dimensions)",
                summary.out.display(),
                summary.tensors,
                summary.parameters,
                info.input.mels,
                info.input.frames,
                summary.config.embedding_dim()
            );
            if let Some(source) = &info.source {
                println!(
                    "  weights licence: {} (recorded in the model file; it applies to every embedding made with it)",
                    source.weights_license
                );
            }
            Ok(())
        }
    }
}
