//! One module per subcommand.

pub mod analyze;
pub mod augment;
pub mod bench;
pub mod cache;
pub mod corpus;
pub mod data;
pub mod demo;
pub mod embed;
pub mod export;
pub mod features;
pub mod pretrain;
pub mod probe;
pub mod retrieve;

/// `--augment-method` / `--method` values: how pitch shift and time stretch are rendered.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MethodArg {
    /// Signalsmith Stretch renders the waveform, then the log-mel.
    Exact,
    /// The log-mel is read from the source span's STFT through a warp (no waveform).
    Spectral,
}

impl From<MethodArg> for loev_augment::StretchMethod {
    fn from(method: MethodArg) -> Self {
        match method {
            MethodArg::Exact => Self::Exact,
            MethodArg::Spectral => Self::Spectral,
        }
    }
}
