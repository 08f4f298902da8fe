//! GiantSteps key (test) and GiantSteps-MTG-key (train/valid), in their distributed layouts and
//! with the filtering and train/valid split of the LOEV reference code.
//!
//! * GiantSteps key: `annotations/key/<ID>.LOFI.key`, one line `"<Tonic> <mode>"` without a
//!   trailing newline; every track is test.
//! * GiantSteps-MTG-key: `annotations/annotations.txt`, TSV `ID  MANUAL KEY  C` with trailing
//!   spaces and sharp spellings. Kept: confidence `C` == 2, no `/` (multi-key entries such as
//!   `G# minor / B major`), not `-`; sharps map to flats through [`Key`]'s parser. Train/valid
//!   are drawn at random 90/10 (seeded), as LOEV does (not artist-stratified).
//! * In the combined `gs-key` task an MTG-key track whose ID is also a GiantSteps key test
//!   track is excluded, so that no test track is trained on.

use std::collections::HashSet;
use std::path::Path;

use crate::datasets::{DatasetName, require};
use crate::error::DataError;
use crate::labels::Key;
use crate::options::LoadOptions;
use crate::report::LoadReport;
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind, TaskTrack, TrackLabels};
use crate::text::{files_with_suffix, name_without, read_text, split_train_valid};

/// Name of the combined task.
pub const TASK: &str = "gs-key";

/// Reads the GiantSteps key test set as tracks (all test).
fn giantsteps_key_tracks(
    root: &Path,
    audio: &Path,
    task: &str,
    report: &mut LoadReport,
) -> Result<Vec<TaskTrack>, DataError> {
    let dir = require(DatasetName::GiantstepsKey, root.join("annotations").join("key"))?;
    let mut tracks = Vec::new();
    for file in files_with_suffix(&dir, ".key")? {
        let name = name_without(&file, ".key"); // <ID>.LOFI
        let id = name.strip_suffix(".LOFI").unwrap_or(&name).to_string();
        let text = read_text(&file)?;
        match text.trim().parse::<Key>() {
            Ok(key) => tracks.push(TaskTrack {
                id,
                path: audio.join(format!("{name}.mp3")),
                split: Split::Test,
                group: Some("giantsteps-key".into()),
                labels: TrackLabels {
                    key: Some(key),
                    ..Default::default()
                },
            }),
            Err(e) => report.exclude(task, id, "not a major/minor key", e.to_string()),
        }
    }
    Ok(tracks)
}

/// One row of `annotations.txt` that passed the filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MtgKeyRow {
    pub id: String,
    pub key: Key,
}

/// Parses and filters `annotations.txt` (confidence 2, no `/`, not `-`), reporting every
/// row it drops.
pub(crate) fn parse_mtg_key_annotations(
    text: &str,
    origin: &Path,
    task: &str,
    report: &mut LoadReport,
) -> Result<Vec<MtgKeyRow>, DataError> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if !header_seen {
            header_seen = true;
            if fields.first().is_some_and(|f| f.eq_ignore_ascii_case("ID")) {
                continue;
            }
        }
        if fields.len() < 3 {
            return Err(DataError::parse(
                origin,
                i + 1,
                format!("{} fields; expected ID, MANUAL KEY, C (tab-separated)", fields.len()),
            ));
        }
        let (id, label, confidence) = (fields[0], fields[1], fields[2]);
        match confidence.parse::<u8>() {
            Ok(2) => {}
            Ok(c) => {
                report.exclude(
                    task,
                    id,
                    "low confidence",
                    format!("confidence {c} (only 2 is kept): '{label}'"),
                );
                continue;
            }
            Err(_) => {
                return Err(DataError::parse(
                    origin,
                    i + 1,
                    format!("confidence '{confidence}' is not 0, 1 or 2"),
                ));
            }
        }
        if label.contains('/') {
            report.exclude(task, id, "multi-key", format!("'{label}'"));
            continue;
        }
        if label == "-" || label.is_empty() {
            report.exclude(task, id, "no key", format!("'{label}'"));
            continue;
        }
        match label.parse::<Key>() {
            Ok(key) => rows.push(MtgKeyRow {
                id: id.to_string(),
                key,
            }),
            Err(e) => report.exclude(task, id, "not a major/minor key", e.to_string()),
        }
    }
    Ok(rows)
}

/// Reads GiantSteps-MTG-key as train/valid tracks, leaving out ids in `exclude_ids`.
fn giantsteps_mtg_key_tracks(
    root: &Path,
    audio: &Path,
    task: &str,
    opts: &LoadOptions,
    exclude_ids: &HashSet<String>,
    report: &mut LoadReport,
) -> Result<Vec<TaskTrack>, DataError> {
    let path = require(
        DatasetName::GiantstepsMtgKey,
        root.join("annotations").join("annotations.txt"),
    )?;
    let mut rows = parse_mtg_key_annotations(&read_text(&path)?, &path, task, report)?;
    rows.retain(|row| {
        let leak = exclude_ids.contains(&row.id);
        if leak {
            report.exclude(
                task,
                &row.id,
                "also a test track",
                "the ID is in the GiantSteps key test set".to_string(),
            );
        }
        !leak
    });
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let splits = split_train_valid(rows.len(), opts.valid_fraction, opts.seed, "giantsteps-mtg-key");
    Ok(rows
        .into_iter()
        .zip(splits)
        .map(|(row, split)| TaskTrack {
            path: audio.join(format!("{}.LOFI.mp3", row.id)),
            id: row.id,
            split,
            group: Some("giantsteps-mtg-key".into()),
            labels: TrackLabels {
                key: Some(row.key),
                ..Default::default()
            },
        })
        .collect())
}

/// A key task named `name` over `tracks`.
fn key_task(name: &str, tracks: Vec<TaskTrack>) -> TaskDataset {
    TaskDataset::new(name, TaskKind::Key, TaskDataset::key_classes(), tracks)
}

/// One part of the key task on its own, as the task of its dataset name: GiantSteps key (every
/// track is test) or GiantSteps-MTG-key (train/valid).
pub(crate) fn load_part(
    part: DatasetName,
    root: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<TaskDataset, DataError> {
    let task = part.as_str();
    let audio = opts.audio_dir.clone().unwrap_or_else(|| root.join("audio"));
    let tracks = if part == DatasetName::GiantstepsKey {
        giantsteps_key_tracks(root, &audio, task, report)?
    } else {
        giantsteps_mtg_key_tracks(root, &audio, task, opts, &HashSet::new(), report)?
    };
    Ok(key_task(task, tracks))
}

/// The LOEV key task: MTG-key train/valid, GiantSteps key test.
pub(crate) fn load_gs_key(root: &Path, opts: &LoadOptions, report: &mut LoadReport) -> Result<TaskDataset, DataError> {
    let (gs, mtg) = (
        root.join("giantsteps-key-dataset"),
        root.join("giantsteps-mtg-key-dataset"),
    );
    let test = giantsteps_key_tracks(&gs, &gs.join("audio"), TASK, report)?;
    let test_ids: HashSet<String> = test.iter().map(|t| t.id.clone()).collect();
    let mut tracks = giantsteps_mtg_key_tracks(&mtg, &mtg.join("audio"), TASK, opts, &test_ids, report)?;
    tracks.extend(test);
    Ok(key_task(TASK, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Mode;

    #[test]
    fn mtg_key_filter_follows_the_protocol() {
        let text = "ID\tMANUAL KEY\tC\n\
                    10\tD# minor\t2\n\
                    11\tC# major \t2\n\
                    12\tG# minor / B major\t2\n\
                    13\t-\t0\n\
                    14\t-\t2\n\
                    15\tA minor\t1\n\
                    16\tF\t2\n";
        let mut report = LoadReport::default();
        let rows = parse_mtg_key_annotations(text, Path::new("annotations.txt"), "t", &mut report).unwrap();
        assert_eq!(
            rows,
            vec![
                MtgKeyRow {
                    id: "10".into(),
                    key: Key::new(3, Mode::Minor)
                },
                MtgKeyRow {
                    id: "11".into(),
                    key: Key::new(1, Mode::Major)
                }
            ]
        );
        let kinds: Vec<(&str, &str)> = report
            .excluded
            .iter()
            .map(|e| (e.id.as_str(), e.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("12", "multi-key"),
                ("13", "low confidence"),
                ("14", "no key"),
                ("15", "low confidence"),
                ("16", "not a major/minor key")
            ]
        );
        assert!(
            parse_mtg_key_annotations(
                "ID\tMANUAL KEY\tC\n17\tC major\thigh\n",
                Path::new("a"),
                "t",
                &mut report
            )
            .is_err()
        );
    }
}
