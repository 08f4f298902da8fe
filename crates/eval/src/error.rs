//! The errors of the evaluation suite: each names the file or setting and what to do.

use std::path::PathBuf;

/// Everything that can stop an evaluation step.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file or folder could not be read or written.
    // The I/O error is part of the message, not a chained source, so that it is printed once.
    #[error("cannot {action} {path}: {cause}")]
    Io {
        /// What was attempted ("read", "write", "create").
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A file exists but its content is not what this suite wrote or expects.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option or configuration value cannot work.
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// Audio could not be decoded or transformed.
    #[error("audio {path}: {reason}")]
    Audio {
        /// The audio file (or a description of in-memory audio).
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The model could not be loaded or run.
    #[error("model: {0}")]
    Model(String),
    /// A dataset or manifest could not be loaded.
    #[error(transparent)]
    Data(#[from] loev_data::DataError),
    /// An output folder cannot be written (not loev's, locked, the input itself).
    #[error("{0}")]
    Output(String),
    /// Nothing to evaluate: e.g. a task whose test split is empty.
    #[error("{0}")]
    Empty(String),
}

impl EvalError {
    /// A closure turning an I/O error on `path` into [`EvalError::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EvalError {
        let path = path.into();
        move |cause| EvalError::Io { action, path, cause }
    }

    /// A format error on `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> EvalError {
        EvalError::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
