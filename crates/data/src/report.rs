//! What a load left out and why: missing and corrupt audio, excluded items, notes. Nothing is
//! ever dropped without an entry here.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::split::Split;
use crate::task::SplitCounts;

/// An audio file that is missing or unreadable. One entry per file, even when several tasks
/// use it (AllTempo's four leave-one-out tasks share their tracks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileProblem {
    /// Track id.
    pub id: String,
    /// The file as the dataset lists it.
    pub path: PathBuf,
    /// Every (task, split) the track was listed in.
    pub uses: Vec<(String, Split)>,
    /// What is wrong ("not found", or the probe's or decoder's finding).
    pub reason: String,
}

/// An annotated item left out of a task on purpose (a known broken clip, an ambiguous key, a
/// tempo outside the classes, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    /// The dataset or task it was excluded from.
    pub dataset: String,
    /// The item's id.
    pub id: String,
    /// A short category, used to group the report (e.g. `low confidence`, `multi-key`).
    pub kind: String,
    /// The specific finding (e.g. the annotation text).
    pub detail: String,
}

/// Everything a load did not turn into a usable track, plus notes on deliberate choices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Listed audio files that do not exist (also whole sub-dataset folders that are absent).
    pub missing: Vec<FileProblem>,
    /// Audio files that exist but failed the header probe or the decode check.
    pub corrupt: Vec<FileProblem>,
    /// Items excluded by the dataset's protocol, with reasons.
    pub excluded: Vec<Excluded>,
    /// Deliberate choices worth knowing (0-BPM items kept, converted audio found, …).
    pub notes: Vec<String>,
}

impl LoadReport {
    /// Records an excluded item.
    pub fn exclude(&mut self, dataset: &str, id: impl Into<String>, kind: &str, detail: impl Into<String>) {
        self.excluded.push(Excluded {
            dataset: dataset.to_string(),
            id: id.into(),
            kind: kind.to_string(),
            detail: detail.into(),
        });
    }

    /// True when no listed audio is missing or corrupt.
    pub fn audio_complete(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }

    /// Missing files per task and split (a file used by several tasks counts in each).
    pub fn missing_per_task(&self) -> BTreeMap<String, SplitCounts> {
        per_task(&self.missing)
    }

    /// Corrupt files per task and split.
    pub fn corrupt_per_task(&self) -> BTreeMap<String, SplitCounts> {
        per_task(&self.corrupt)
    }

    /// Excluded items per (dataset, kind).
    pub fn excluded_counts(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for e in &self.excluded {
            *counts.entry((e.dataset.clone(), e.kind.clone())).or_insert(0) += 1;
        }
        counts
    }

    /// Appends another report (loaders of pooled datasets merge their parts).
    pub fn merge(&mut self, other: LoadReport) {
        self.missing.extend(other.missing);
        self.corrupt.extend(other.corrupt);
        self.excluded.extend(other.excluded);
        self.notes.extend(other.notes);
    }
}

fn per_task(problems: &[FileProblem]) -> BTreeMap<String, SplitCounts> {
    let mut counts: BTreeMap<String, SplitCounts> = BTreeMap::new();
    for p in problems {
        for (task, split) in &p.uses {
            counts.entry(task.clone()).or_default().add(*split);
        }
    }
    counts
}

impl fmt::Display for LoadReport {
    /// Every missing and corrupt file (never truncated: the point is to list them), excluded
    /// items counted by reason (listed one by one with the alternate flag, `{:#}`), and the
    /// notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (title, problems, per) in [
            ("missing", &self.missing, self.missing_per_task()),
            ("corrupt", &self.corrupt, self.corrupt_per_task()),
        ] {
            writeln!(f, "{title} audio files: {}", problems.len())?;
            for (task, counts) in &per {
                writeln!(f, "  {task}: {counts}")?;
            }
            for p in problems.iter() {
                writeln!(f, "  {title}: {} (id {}): {}", p.path.display(), p.id, p.reason)?;
            }
        }
        let counts = self.excluded_counts();
        writeln!(f, "excluded items: {}", self.excluded.len())?;
        for ((dataset, kind), n) in &counts {
            writeln!(f, "  {dataset}: {n} × {kind}")?;
            if f.alternate() {
                for e in self
                    .excluded
                    .iter()
                    .filter(|e| &e.dataset == dataset && &e.kind == kind)
                {
                    writeln!(f, "    {}: {}", e.id, e.detail)?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
