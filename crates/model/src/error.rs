//! Errors of the model crate.

use std::path::PathBuf;

/// What can go wrong when building, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The configuration cannot describe a valid network (e.g. a width not divisible by its
    /// group width); the message names the field and what to change.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),

    /// A device cannot be opened (no driver, no such GPU): one line with the cause and what
    /// the backend needs.
    #[error("{0}")]
    Device(String),

    /// Reading or writing a weights file failed.
    #[error("cannot {action} weights file {path}: {source}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file is a model file cut short (an interrupted copy, download or write).
    #[error(
        "weights file {path} is truncated: {detail}; the copy or download was cut off, or the write was \
         interrupted: copy the file again, or write it again from its run with `loev export RUN -o FILE`"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How much is there and how much its header announces.
        detail: String,
    },

    /// The file is not a valid safetensors file, or lacks loev metadata.
    #[error("weights file {path} is not a loev model file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The file's tensors do not fit the configuration it is loaded into.
    #[error("weights file {path} does not match the model configuration: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The first tensor that does not fit, with both shapes.
        reason: String,
    },
}
