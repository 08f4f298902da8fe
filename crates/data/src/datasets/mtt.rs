//! MagnaTagATune top-50 tagging (25,863 clips of about 29 s in the folders `0`–`f`).
//!
//! * `annotations_final.csv` is tab-separated with one header row: `clip_id`, 188 binary tag
//!   columns (names with spaces), `mp3_path`. Fields may be wrapped in double quotes.
//! * The 50 tag columns are picked by name, in the order of Pons et al.'s
//!   `output_labels_mtt.txt` (shipped in `assets/mtt/top50_tags.txt`), never by recomputed
//!   frequency (ties would reorder them).
//! * Clips 35644, 55753 and 57881 are excluded (missing or unreadable in the distribution).
//! * Pons split: folder `0`–`b` train, `c` valid, `d`–`f` test, clips without a top-50 tag kept.
//!   Won split: the user's `split/mtat/{train,valid,test}.npy` (numpy `<U` strings
//!   `"<row>\t<folder>/<file>.mp3"`), matched by path.

use std::collections::HashMap;
use std::path::Path;

use crate::datasets::{DatasetName, TagRow, require};
use crate::error::DataError;
use crate::options::{LoadOptions, MttSplit};
use crate::report::LoadReport;
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind};
use crate::text::{read_text, word_list};

/// Task name.
pub const TASK: &str = "mtt";

/// Clip ids with missing or unreadable audio in the MTT distribution.
pub const BROKEN_CLIPS: [&str; 3] = ["35644", "55753", "57881"];

/// The 50 tags in the benchmark's order (Pons et al. 2018; MARBLE v2 uses the same).
pub fn top50_tags() -> Vec<String> {
    word_list(include_str!("../../assets/mtt/top50_tags.txt"))
}

/// Column positions found in the header row.
struct Header {
    clip_col: usize,
    path_col: usize,
    tag_cols: Vec<(usize, String)>,
    width: usize,
}

/// Removes quotes that survived CSV unquoting (a field like `"guitar` from odd quoting).
fn clean(field: &str) -> &str {
    field.trim().trim_matches('"').trim()
}

/// Parses `annotations_final.csv` (clip id, `mp3_path`, tags), keeping the tags in `vocabulary`.
pub(crate) fn parse_annotations(text: &str, origin: &Path, vocabulary: &[String]) -> Result<Vec<TagRow>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Option<Header> = None;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            DataError::parse(
                origin,
                e.position().map(|p| p.line() as usize).unwrap_or(0),
                e.to_string(),
            )
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.iter().all(|f| clean(f).is_empty()) {
            continue;
        }
        let Some(Header {
            clip_col,
            path_col,
            tag_cols,
            width,
        }) = &header
        else {
            let names: Vec<&str> = record.iter().map(clean).collect();
            let find = |wanted: &str| names.iter().position(|n| *n == wanted);
            let clip_col = find("clip_id").ok_or_else(|| {
                DataError::parse(
                    origin,
                    line,
                    "the header has no `clip_id` column; is this MTT's annotations_final.csv?",
                )
            })?;
            let path_col = find("mp3_path").ok_or_else(|| {
                DataError::parse(
                    origin,
                    line,
                    "the header has no `mp3_path` column; is this MTT's annotations_final.csv?",
                )
            })?;
            let missing: Vec<&str> = vocabulary
                .iter()
                .filter(|t| find(t).is_none())
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(DataError::parse(
                    origin,
                    line,
                    format!("the header lacks top-50 tag columns {missing:?}"),
                ));
            }
            let tag_cols = vocabulary
                .iter()
                .filter_map(|t| find(t).map(|i| (i, t.clone())))
                .collect();
            header = Some(Header {
                clip_col,
                path_col,
                tag_cols,
                width: names.len(),
            });
            continue;
        };
        if record.len() != *width {
            return Err(DataError::parse(
                origin,
                line,
                format!("{} fields, but the header has {width} columns", record.len()),
            ));
        }
        let mut tags = Vec::new();
        for (col, tag) in tag_cols {
            let value = clean(&record[*col]);
            let on = value.parse::<f64>().map_err(|_| {
                DataError::parse(
                    origin,
                    line,
                    format!("tag `{tag}` has value '{value}', expected 0 or 1"),
                )
            })?;
            if on > 0.0 {
                tags.push(tag.clone());
            }
        }
        rows.push(TagRow {
            id: clean(&record[*clip_col]).to_string(),
            path: clean(&record[*path_col]).to_string(),
            tags,
        });
    }
    if header.is_none() {
        return Err(DataError::parse(origin, 0, "the file is empty"));
    }
    Ok(rows)
}

/// The Pons et al. split of an `mp3_path`: by its hex folder.
pub(crate) fn pons_split(mp3_path: &str) -> Option<Split> {
    let folder = mp3_path.split('/').next()?;
    let mut chars = folder.chars();
    let digit = chars.next()?.to_digit(16)?;
    if chars.next().is_some() {
        return None;
    }
    Some(match digit {
        0..=11 => Split::Train,
        12 => Split::Valid,
        _ => Split::Test,
    })
}

/// Reads the Won et al. split files: mp3 path → split.
pub(crate) fn read_won_split(dir: &Path) -> Result<HashMap<String, Split>, DataError> {
    let mut map = HashMap::new();
    for (file, split) in [
        ("train.npy", Split::Train),
        ("valid.npy", Split::Valid),
        ("test.npy", Split::Test),
    ] {
        let path = require(DatasetName::Mtt, dir.join(file))?;
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let npy =
            npyz::NpyFile::new(&bytes[..]).map_err(|e| DataError::parse(&path, 0, format!("not a .npy file: {e}")))?;
        let entries: Vec<String> = npy
            .into_vec::<String>()
            .map_err(|e| DataError::parse(&path, 0, format!("expected a numpy array of strings (<U): {e}")))?;
        for entry in entries {
            let mp3_path = entry
                .split_once('\t')
                .map(|(_, p)| p)
                .unwrap_or(&entry)
                .trim()
                .to_string();
            map.insert(mp3_path, split);
        }
    }
    Ok(map)
}

/// The split of `row` (by its hex folder, or by the Won split files when given), or why it is
/// excluded, as (kind, detail): a known broken clip, a folder outside `0`–`f`, a path the Won
/// split does not list.
fn split_of(row: &TagRow, won: Option<&HashMap<String, Split>>) -> Result<Split, (&'static str, String)> {
    if BROKEN_CLIPS.contains(&row.id.as_str()) {
        return Err((
            "known broken clip",
            format!("{} is missing or unreadable in the MTT distribution", row.path),
        ));
    }
    match won {
        None => {
            pons_split(&row.path).ok_or_else(|| ("unknown folder", format!("{} is not in a hex folder 0–f", row.path)))
        }
        Some(map) => map
            .get(&row.path)
            .copied()
            .ok_or_else(|| ("not in the Won split", row.path.clone())),
    }
}

/// Loads the MTT top-50 task.
pub(crate) fn load(root: &Path, opts: &LoadOptions, report: &mut LoadReport) -> Result<TaskDataset, DataError> {
    let annotations = require(DatasetName::Mtt, root.join("annotations_final.csv"))?;
    let vocabulary = top50_tags();
    let rows = parse_annotations(&read_text(&annotations)?, &annotations, &vocabulary)?;
    let won = match opts.mtt_split {
        MttSplit::Pons => None,
        MttSplit::Won => Some(read_won_split(
            &opts
                .mtt_won_split_dir
                .clone()
                .unwrap_or_else(|| root.join("split").join("mtat")),
        )?),
    };
    let audio_root = opts.audio_dir.clone().unwrap_or_else(|| root.to_path_buf());
    let mut tracks = Vec::new();
    let mut untagged = 0usize;
    for row in rows {
        let split = match split_of(&row, won.as_ref()) {
            Ok(split) => split,
            Err((kind, detail)) => {
                report.exclude(TASK, &row.id, kind, detail);
                continue;
            }
        };
        if row.tags.is_empty() {
            untagged += 1;
        }
        let audio = audio_root.join(&row.path);
        tracks.push(row.into_track(audio, split));
    }
    // With the Won split, every track is a row its files list.
    if let Some(map) = &won
        && tracks.len() < map.len()
    {
        report.notes.push(format!(
            "mtt: {} entries of the Won split files match no row of annotations_final.csv",
            map.len() - tracks.len()
        ));
    }
    if untagged > 0 {
        report.notes.push(format!(
            "mtt: {untagged} clips have none of the top-50 tags and are kept (as in the Pons split and LOEV)"
        ));
    }
    Ok(TaskDataset::new(TASK, TaskKind::Tagging, vocabulary, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top50_is_the_pons_order() {
        let tags = top50_tags();
        assert_eq!(tags.len(), 50);
        assert_eq!(&tags[..3], ["guitar", "classical", "slow"]);
        assert_eq!(tags[49], "choral");
        assert_eq!(tags[44], "no voice");
    }

    #[test]
    fn pons_split_by_hex_folder() {
        assert_eq!(pons_split("0/a.mp3"), Some(Split::Train));
        assert_eq!(pons_split("b/a.mp3"), Some(Split::Train));
        assert_eq!(pons_split("c/a.mp3"), Some(Split::Valid));
        assert_eq!(pons_split("D/a.mp3"), Some(Split::Test));
        assert_eq!(pons_split("f/a.mp3"), Some(Split::Test));
        assert_eq!(pons_split("g/a.mp3"), None);
        assert_eq!(pons_split("10/a.mp3"), None);
    }

    #[test]
    fn parses_quoted_tab_separated_rows_by_column_name() {
        let vocab = vec!["no voice".to_string(), "rock".to_string()];
        let text = "\"clip_id\"\t\"rock\"\t\"singer\"\t\"no voice\"\t\"mp3_path\"\r\n\"2\"\t\"1\"\t\"1\"\t\"0\"\t\"f/a-b-01-c-0-29.mp3\"\r\n3\t0\t1\t1\tc/x.mp3\n\n";
        let rows = parse_annotations(text, Path::new("a.csv"), &vocab).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            TagRow {
                id: "2".into(),
                path: "f/a-b-01-c-0-29.mp3".into(),
                tags: vec!["rock".into()]
            }
        );
        assert_eq!(rows[1].tags, vec!["no voice".to_string()]);
        let err = parse_annotations("clip_id\trock\tmp3_path\n", Path::new("a.csv"), &vocab)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no voice"), "{err}");
        let err = parse_annotations(
            "clip_id\trock\tno voice\tmp3_path\n2\t1\t0\n",
            Path::new("a.csv"),
            &vocab,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
