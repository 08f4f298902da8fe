//! Tasks from a labelled manifest (the loev manifest convention: `path`, `id`, `split`, `key`,
//! `tempo`, `tags`, `pitch`, `instrument`, `kind`, `group`, `seconds`), and the reverse: a task
//! written as a manifest, so that any benchmark dataset can be embedded or cached by path.
//!
//! One task per label column present with at least one value: `tags` → tagging (classes = the
//! tags present, sorted), `key` → key, `tempo` → tempo, `pitch` → pitch (classes = pitches
//! present). A row with an empty cell is not part of that column's task. A value that cannot be
//! read is an error naming the row and column, because it is a mistake in the user's file. Rows
//! without a split are assigned one with a seeded permutation (the report says so).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loev_audio::manifest::{Manifest, ManifestRow};

use crate::error::DataError;
use crate::labels::{Key, tempo_class};
use crate::options::LoadOptions;
use crate::report::LoadReport;
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind, TaskTrack, TrackLabels};
use crate::text::split_three_ways;
use crate::verify::finalize;

/// The label columns that make tasks, with the task kind and name each gives.
pub const LABEL_COLUMNS: [(&str, TaskKind); 4] = [
    ("tags", TaskKind::Tagging),
    ("key", TaskKind::Key),
    ("tempo", TaskKind::Tempo),
    ("pitch", TaskKind::Pitch),
];

/// The name under which rows that are in no task appear in the report.
pub const UNLABELLED: &str = "unlabelled rows";

/// A field of a row by case-insensitive column name, trimmed; `None` when absent or empty.
fn field<'a>(row: &'a ManifestRow, column: &str) -> Option<&'a str> {
    row.fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(column))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The default id of a row: its path relative to the manifest's folder, without extension.
fn default_id(path: &Path, base: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.with_extension("").to_string_lossy().replace('\\', "/")
}

/// Splits a `tags` cell on `;`.
pub fn parse_tags(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Loads the tasks of a labelled manifest (see the module doc).
pub fn load_manifest_tasks(manifest: &Path, opts: &LoadOptions) -> Result<(Vec<TaskDataset>, LoadReport), DataError> {
    opts.validate()?;
    let parsed = Manifest::read(manifest)?;
    let base = match manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut report = LoadReport::default();
    let bad = |row: usize, id: &str, column: &str, reason: String| DataError::BadLabel {
        path: manifest.to_path_buf(),
        row,
        id: id.to_string(),
        column: column.to_string(),
        reason,
    };

    // Parse every row once.
    let mut tracks: Vec<TaskTrack> = Vec::with_capacity(parsed.rows.len());
    let mut unsplit: Vec<usize> = Vec::new();
    for (i, row) in parsed.rows.iter().enumerate() {
        let number = i + 1;
        let id = field(row, "id")
            .map(str::to_string)
            .unwrap_or_else(|| default_id(&row.path, &base));
        let split = match field(row, "split") {
            Some(text) => text
                .parse::<Split>()
                .map_err(|e| bad(number, &id, "split", e.to_string()))?,
            None => {
                unsplit.push(i);
                Split::Train
            }
        };
        let key = field(row, "key")
            .map(|t| t.parse::<Key>().map_err(|e| bad(number, &id, "key", e.to_string())))
            .transpose()?;
        let tempo = field(row, "tempo")
            .map(|t| match t.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(bad(
                    number,
                    &id,
                    "tempo",
                    format!("'{t}' is not a tempo in BPM (a non-negative number)"),
                )),
            })
            .transpose()?;
        let pitch = field(row, "pitch")
            .map(|t| match t.parse::<u8>() {
                Ok(p) if p <= 127 => Ok(p),
                _ => Err(bad(
                    number,
                    &id,
                    "pitch",
                    format!("'{t}' is not a MIDI pitch (an integer 0–127)"),
                )),
            })
            .transpose()?;
        let labels = TrackLabels {
            key,
            tempo,
            tags: field(row, "tags").map(parse_tags).unwrap_or_default(),
            pitch,
            instrument: field(row, "instrument").map(str::to_string),
        };
        tracks.push(TaskTrack {
            id,
            path: row.path.clone(),
            split,
            group: field(row, "group").map(str::to_string),
            labels,
        });
    }
    if !unsplit.is_empty() {
        unsplit.sort_by(|&a, &b| tracks[a].id.cmp(&tracks[b].id));
        let splits = split_three_ways(unsplit.len(), opts.manifest_split_fractions, opts.seed, "manifest");
        for (&i, split) in unsplit.iter().zip(splits) {
            tracks[i].split = split;
        }
        report.notes.push(format!(
            "{} rows have no split; assigned train/valid/test {:?} with seed {}",
            unsplit.len(),
            opts.manifest_split_fractions,
            opts.seed
        ));
    }

    // One task per label column with values.
    let has_column = |name: &str| parsed.columns.iter().any(|c| c.eq_ignore_ascii_case(name));
    let mut tasks = Vec::new();
    for (column, kind) in LABEL_COLUMNS {
        if !has_column(column) {
            continue;
        }
        let labelled: Vec<&TaskTrack> = tracks
            .iter()
            .filter(|t| match kind {
                TaskKind::Tagging => !t.labels.tags.is_empty(),
                TaskKind::Key => t.labels.key.is_some(),
                TaskKind::Tempo => t.labels.tempo.is_some(),
                TaskKind::Pitch => t.labels.pitch.is_some(),
            })
            .collect();
        if labelled.is_empty() {
            continue;
        }
        let unlabelled = tracks.len() - labelled.len();
        if unlabelled > 0 {
            report.notes.push(format!(
                "{}: {unlabelled} rows with an empty `{column}` cell are not part of this task",
                kind.as_str()
            ));
        }
        let mut task_tracks = Vec::with_capacity(labelled.len());
        for t in labelled {
            if kind == TaskKind::Tempo
                && let Some(bpm) = t.labels.tempo
                && tempo_class(bpm, opts.tempo_binning).is_none()
            {
                report.exclude(
                    kind.as_str(),
                    &t.id,
                    "tempo out of range",
                    format!("{bpm} BPM is outside the classes 0–299"),
                );
                continue;
            }
            task_tracks.push(t.clone());
        }
        let classes = match kind {
            TaskKind::Tagging => task_tracks
                .iter()
                .flat_map(|t| t.labels.tags.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            TaskKind::Key => TaskDataset::key_classes(),
            TaskKind::Tempo => TaskDataset::tempo_classes(),
            TaskKind::Pitch => task_tracks
                .iter()
                .filter_map(|t| t.labels.pitch)
                .collect::<BTreeSet<_>>()
                .iter()
                .map(u8::to_string)
                .collect(),
        };
        let mut task = TaskDataset::new(kind.as_str(), kind, classes, task_tracks);
        task.tempo_binning = opts.tempo_binning;
        tasks.push(task);
    }
    if tasks.is_empty() {
        report.notes.push(format!(
            "the manifest has no label values in any of the columns {}: no task; its audio was checked",
            LABEL_COLUMNS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        ));
    }
    // Rows that belong to no task are checked too (under a pseudo-task that is then dropped),
    // so that `data check` reports every missing file of the manifest.
    let in_a_task: std::collections::HashSet<&str> = tasks
        .iter()
        .flat_map(|t| t.tracks.iter().map(|x| x.id.as_str()))
        .collect();
    let others: Vec<TaskTrack> = tracks
        .iter()
        .filter(|t| !in_a_task.contains(t.id.as_str()))
        .cloned()
        .collect();
    let task_count = tasks.len();
    if !others.is_empty() {
        tasks.push(TaskDataset::new(UNLABELLED, TaskKind::Tagging, Vec::new(), others));
    }
    let mut tasks = finalize(tasks, &mut report, opts);
    tasks.truncate(task_count);
    Ok((tasks, report))
}

impl TaskDataset {
    /// The task as a labelled manifest (columns `path, id, split, group` and the task's label
    /// column), ready for [`Manifest::write`]: this is how a benchmark dataset is embedded or
    /// cached by path. Fails when a tag contains `;`, which the `tags` column cannot hold.
    pub fn to_manifest(&self) -> Result<Manifest, DataError> {
        let column = LABEL_COLUMNS
            .iter()
            .find(|(_, k)| *k == self.kind)
            .map(|(c, _)| *c)
            .unwrap_or("tags");
        let mut rows = Vec::with_capacity(self.tracks.len());
        for t in &self.tracks {
            let value = match self.kind {
                TaskKind::Tagging => {
                    if let Some(tag) = t.labels.tags.iter().find(|tag| tag.contains(';')) {
                        return Err(DataError::Options(format!(
                            "tag '{tag}' of track {} contains ';', which the manifest's tags column uses as separator",
                            t.id
                        )));
                    }
                    t.labels.tags.join(";")
                }
                TaskKind::Key => t.labels.key.map(|k| k.to_string()).unwrap_or_default(),
                TaskKind::Tempo => t.labels.tempo.map(|b| b.to_string()).unwrap_or_default(),
                TaskKind::Pitch => t.labels.pitch.map(|p| p.to_string()).unwrap_or_default(),
            };
            let mut fields = BTreeMap::new();
            fields.insert("id".to_string(), t.id.clone());
            fields.insert("split".to_string(), t.split.to_string());
            fields.insert("group".to_string(), t.group.clone().unwrap_or_default());
            fields.insert(column.to_string(), value);
            if let Some(instrument) = &t.labels.instrument {
                fields.insert("instrument".to_string(), instrument.clone());
            }
            rows.push(ManifestRow {
                path: t.path.clone(),
                fields,
            });
        }
        let mut columns: Vec<String> = ["path", "id", "split", "group", column]
            .iter()
            .map(|c| c.to_string())
            .collect();
        if self.tracks.iter().any(|t| t.labels.instrument.is_some()) {
            columns.push("instrument".into());
        }
        Ok(Manifest { columns, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_semicolons() {
        assert_eq!(
            parse_tags(" piano; bass ;;style:rock "),
            vec!["piano", "bass", "style:rock"]
        );
        assert!(parse_tags("").is_empty());
    }

    #[test]
    fn default_ids_are_relative_paths_without_extension() {
        assert_eq!(default_id(Path::new("/d/tracks/a.wav"), Path::new("/d")), "tracks/a");
        assert_eq!(default_id(Path::new("/e/b.mp3"), Path::new("/d")), "/e/b");
    }
}
