//! `loev data check`: load a benchmark dataset or a labelled manifest and report what is
//! usable and what is missing, corrupt or excluded. The per-file verification every loader
//! ends with is [`crate::verify`].

use std::fmt;
use std::path::Path;

use crate::datasets::{DatasetName, load_dataset};
use crate::error::DataError;
use crate::manifest_tasks::load_manifest_tasks;
use crate::options::{AudioCheck, LoadOptions};
use crate::report::LoadReport;
use crate::task::{DatasetSummary, TaskDataset};

/// The outcome of `loev data check`: what loaded, and every missing, corrupt and excluded item.
/// `Display` prints it all; the alternate form (`{:#}`) lists excluded items one by one.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    /// What was checked (dataset name and root, or manifest path).
    pub source: String,
    /// How thoroughly the audio was checked.
    pub audio_check: AudioCheck,
    /// The usable tasks, summarised.
    pub summaries: Vec<DatasetSummary>,
    /// Missing, corrupt and excluded items.
    pub report: LoadReport,
}

impl CheckReport {
    /// True when every listed audio file is present and passed the check.
    pub fn is_complete(&self) -> bool {
        self.report.audio_complete()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.audio_check {
            AudioCheck::Exists => "existence only",
            AudioCheck::Probe => "header probe",
            AudioCheck::Decode => "full decode",
        };
        writeln!(f, "checked {} (audio: {how})", self.source)?;
        for summary in &self.summaries {
            write!(f, "{summary}")?;
        }
        if f.alternate() {
            write!(f, "{:#}", self.report)?;
        } else {
            write!(f, "{}", self.report)?;
        }
        if self.is_complete() {
            writeln!(f, "complete: every listed audio file is usable")
        } else {
            writeln!(
                f,
                "INCOMPLETE: {} missing, {} corrupt audio files",
                self.report.missing.len(),
                self.report.corrupt.len()
            )
        }
    }
}

/// Loads a benchmark dataset and reports on its completeness (what `loev data check` prints).
pub fn check_dataset(name: DatasetName, root: &Path, opts: &LoadOptions) -> Result<CheckReport, DataError> {
    let (tasks, report) = load_dataset(name, root, opts)?;
    Ok(CheckReport {
        source: format!("{name} at {}", root.display()),
        audio_check: opts.audio_check,
        summaries: tasks.iter().map(TaskDataset::summary).collect(),
        report,
    })
}

/// Loads a labelled manifest and reports on its completeness (`loev data check manifest`).
pub fn check_manifest(manifest: &Path, opts: &LoadOptions) -> Result<CheckReport, DataError> {
    let (tasks, report) = load_manifest_tasks(manifest, opts)?;
    Ok(CheckReport {
        source: format!("manifest {}", manifest.display()),
        audio_check: opts.audio_check,
        summaries: tasks.iter().map(TaskDataset::summary).collect(),
        report,
    })
}
