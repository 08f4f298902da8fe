//! The error type of dataset loading: every variant names the file or option at fault and
//! says what to do.

use std::io;
use std::path::PathBuf;

use loev_audio::manifest::ManifestError;

/// Why a dataset or manifest could not be loaded at all. Problems with individual tracks
/// (missing or corrupt audio, unusable labels) are not errors: they go to the
/// [`LoadReport`](crate::LoadReport) so that one bad item never stops a load.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// An annotation file or folder the dataset needs is not where the layout says.
    #[error("{dataset}: {path} not found; {hint}")]
    NotFound {
        /// The dataset being loaded.
        dataset: String,
        /// The path that was looked for.
        path: PathBuf,
        /// The expected layout and how to get the file.
        hint: String,
    },
    /// An annotation or split file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (or row) number; 0 when the problem is the whole file.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A labelled manifest row holds a value that is not a label of its column.
    #[error("manifest {path}, row {row} (id '{id}'): column `{column}`: {reason}")]
    BadLabel {
        /// The manifest.
        path: PathBuf,
        /// 1-based data row.
        row: usize,
        /// The row's track id.
        id: String,
        /// The column.
        column: String,
        /// What is wrong and the expected format.
        reason: String,
    },
    /// The manifest itself could not be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A dataset name that is not one of the supported datasets.
    #[error("unknown dataset '{name}'; expected one of: {expected}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The supported names.
        expected: String,
    },
    /// Options that contradict each other or the data.
    #[error("invalid options: {0}")]
    Options(String),
}

impl DataError {
    /// Shorthand for an [`DataError::Io`] on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for a [`DataError::Parse`].
    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, reason: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            reason: reason.into(),
        }
    }
}
