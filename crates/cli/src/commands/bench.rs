//! `loev bench …`: speed benchmarks (crate `loev-bench`). Each prints its figures and the ratio
//! against the anchor measured in the same run; nothing here is asserted. The flags are the
//! benches' own options (`loev_bench::<bench>::Options`).

/// Subcommands of `loev bench`.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Decode + resample speed (× real time) and front-end speed (slices/s), against librosa.
    Audio(loev_bench::audio::Options),
    /// Augmentation chain + log-mel views/s, against the Python anchor.
    Augment(loev_bench::augment::Options),
    /// Embedding 30 s and 10 min tracks with the full MULE encoder, against mule-torch.
    Embed(loev_bench::embed::Options),
    /// One training step of the encoder + head, against PyTorch.
    Model(loev_bench::model::Options),
    /// Training throughput (views/s) and data-wait share of presets.
    Train(loev_bench::train::Options),
}

/// Runs `loev bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Audio(options) => loev_bench::audio::run(&options)?,
        BenchCommand::Augment(options) => loev_bench::augment::run(&options)?,
        BenchCommand::Embed(options) => loev_bench::embed::run(&options)?,
        BenchCommand::Model(options) => loev_bench::model::run(&options)?,
        BenchCommand::Train(options) => loev_bench::train::run(&options)?,
    }
    Ok(())
}
