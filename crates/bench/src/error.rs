//! The errors of the benchmarks. A missing Python anchor is not one of them: the benchmarks
//! report it and print loev's own figures alone.

use std::path::PathBuf;

/// Everything that can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option cannot work; the message names the flag.
    #[error("{0}")]
    Invalid(String),
    /// The working folder could not be created.
    #[error("cannot create {}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A generated file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The metrics of a training benchmark run could not be read.
    #[error("reading the benchmark metrics")]
    Metrics(#[source] std::io::Error),
    /// The global thread pool could not be sized.
    #[error("cannot set the thread count")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    /// A training benchmark run failed.
    #[error("benchmark run {name}")]
    Train {
        /// The preset (NAME:SIZE).
        name: String,
        /// Why the run failed.
        source: Box<loev_train::TrainError>,
    },
    /// Audio could not be decoded.
    #[error(transparent)]
    Audio(#[from] loev_audio::AudioError),
    /// The front end's configuration is invalid.
    #[error(transparent)]
    FrontEnd(#[from] loev_audio::frontend::FrontEndError),
    /// The audio cache could not be built or opened.
    #[error(transparent)]
    Cache(#[from] loev_audio::cache::CacheError),
    /// The augmentation chain or loader failed.
    #[error(transparent)]
    Augment(#[from] loev_augment::AugmentError),
    /// The model or device failed.
    #[error(transparent)]
    Model(#[from] loev_model::ModelError),
    /// A training preset is unknown or invalid.
    #[error(transparent)]
    Config(#[from] loev_train::ConfigError),
}
