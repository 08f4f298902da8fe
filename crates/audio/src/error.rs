//! The audio error type: every variant names the file and says what to do.

use std::path::{Path, PathBuf};

/// Why a file could not be turned into audio. Every variant names the file (an empty path
/// means in-memory data) and the cause.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be read from disk.
    #[error("cannot read {}: {cause}; check that the file exists and is readable", show(path))]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error. Shown in the message, so deliberately not a chained `source`: a
        /// printer of the error chain would repeat it.
        cause: std::io::Error,
    },
    /// A zero-length file, or a valid file holding no audio samples.
    #[error(
        "{} is empty ({detail}); remove it or replace it with a file that holds audio",
        show(path)
    )]
    Empty {
        /// The file.
        path: PathBuf,
        /// "zero-length file" or "no audio samples".
        detail: String,
    },
    /// Not a recognised audio container.
    #[error(
        "{} is not audio that loev can read ({detail}); supported: wav, flac, mp3, ogg/vorbis",
        show(path)
    )]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// The decoder's finding.
        detail: String,
    },
    /// A recognised container holding a codec that is not supported (e.g. Opus).
    #[error(
        "{} uses an unsupported codec ({detail}); convert it to flac, wav, mp3 or ogg/vorbis (e.g. `ffmpeg -i in out.flac`)",
        show(path)
    )]
    UnsupportedCodec {
        /// The file.
        path: PathBuf,
        /// The decoder's finding.
        detail: String,
    },
    /// The stream is malformed (bad packets, inconsistent parameters, a decoder crash).
    #[error("{} is corrupt ({detail}); re-encode or re-download it", show(path))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The decoder's finding.
        detail: String,
    },
    /// The file ends before the audio its header announces.
    #[error(
        "{} is truncated ({detail}); the download or copy was probably cut off, get the file again",
        show(path)
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was missing.
        detail: String,
    },
    /// The audio holds NaN or infinite samples (a float file written by a broken effect chain,
    /// or an array handed to the Python API). loev refuses such audio everywhere, rather than
    /// read it as silence: see [`crate::decode`].
    #[error(
        "{} holds {count} non-finite sample{} (NaN or infinite) among its {total}, the first at {}; loev does not \
         use audio with NaN or infinite samples: repair it (replace them, e.g. by 0) or export it again",
        show(path),
        if *count == 1 { "" } else { "s" },
        position(*first, *sample_rate)
    )]
    NonFinite {
        /// The file (empty for in-memory audio).
        path: PathBuf,
        /// How many samples are NaN or infinite.
        count: u64,
        /// Samples in all (all channels).
        total: u64,
        /// The first one: its frame in a file, its index in an array.
        first: u64,
        /// The file's sample rate (to give the first one's time), `None` for an array.
        sample_rate: Option<u32>,
    },
    /// Resampling failed (e.g. a sample rate of 0 Hz).
    #[error("cannot resample {} from {from_hz} Hz to {to_hz} Hz: {detail}", show(path))]
    Resample {
        /// The file.
        path: PathBuf,
        /// Source rate.
        from_hz: u32,
        /// Target rate.
        to_hz: u32,
        /// The resampler's finding.
        detail: String,
    },
}

impl AudioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            AudioError::Io { path, .. }
            | AudioError::Empty { path, .. }
            | AudioError::NotAudio { path, .. }
            | AudioError::UnsupportedCodec { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::Truncated { path, .. }
            | AudioError::NonFinite { path, .. }
            | AudioError::Resample { path, .. } => path,
        }
    }

    /// The error with its file set to `path` (for errors raised on in-memory data).
    pub fn with_path(mut self, new_path: &Path) -> Self {
        match &mut self {
            AudioError::Io { path, .. }
            | AudioError::Empty { path, .. }
            | AudioError::NotAudio { path, .. }
            | AudioError::UnsupportedCodec { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::Truncated { path, .. }
            | AudioError::NonFinite { path, .. }
            | AudioError::Resample { path, .. } => *path = new_path.to_path_buf(),
        }
        self
    }

    /// A short cause without the file name, for reports that list the file separately.
    pub fn reason(&self) -> String {
        match self {
            AudioError::Io { cause, .. } => format!("cannot read: {cause}"),
            AudioError::Empty { detail, .. } => format!("empty: {detail}"),
            AudioError::NotAudio { detail, .. } => format!("not audio: {detail}"),
            AudioError::UnsupportedCodec { detail, .. } => format!("unsupported codec: {detail}"),
            AudioError::Corrupt { detail, .. } => format!("corrupt: {detail}"),
            AudioError::Truncated { detail, .. } => format!("truncated: {detail}"),
            AudioError::NonFinite {
                count,
                total,
                first,
                sample_rate,
                ..
            } => format!(
                "non-finite samples: {count} of {total} are NaN or infinite, the first at {}",
                position(*first, *sample_rate)
            ),
            AudioError::Resample {
                from_hz, to_hz, detail, ..
            } => format!("cannot resample {from_hz} Hz -> {to_hz} Hz: {detail}"),
        }
    }
}

fn show(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        "<in-memory audio>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Where a sample is: its time and frame in a file, its index in an array.
fn position(first: u64, sample_rate: Option<u32>) -> String {
    match sample_rate {
        Some(rate) if rate > 0 => format!("{:.3} s (frame {first})", first as f64 / f64::from(rate)),
        _ => format!("index {first}"),
    }
}
