//! `loev bench …`: speed benchmarks. Each prints its figures and the ratio against the
//! anchor measured in the same run; nothing here is asserted.

/// Subcommands of `loev bench`.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Decode + resample speed (× real time) and front-end speed (slices/s), against librosa.
    Audio(super::bench_audio::Args),
    /// Augmentation chain + log-mel views/s, against the Python anchor.
    Augment(super::bench_augment::Args),
    /// One training step of the encoder + head, against PyTorch.
    Model(super::bench_model::Args),
    /// Training throughput (views/s) and data-wait share of presets.
    Train(super::bench_train::Args),
}

/// Runs `loev bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Audio(args) => super::bench_audio::run(args),
        BenchCommand::Augment(args) => super::bench_augment::run(args),
        BenchCommand::Model(args) => super::bench_model::run(args),
        BenchCommand::Train(args) => super::bench_train::run(args),
    }
}
