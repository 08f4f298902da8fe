//! MTG-Jamendo top-50 tagging, split 0 of the official splits (`MTG/mtg-jamendo-dataset`).
//!
//! * `data/splits/split-<k>/autotagging_top50tags-{train,validation,test}.tsv`: header
//!   `TRACK_ID  ARTIST_ID  ALBUM_ID  PATH  DURATION  TAGS`, tab-separated, CRLF line ends, one
//!   tag per trailing column (a variable number of them from column 5 on).
//! * `PATH` is `NN/ID.mp3`; the low-quality file used by MARBLE and LOEV is `NN/ID.low.mp3`.
//! * The vocabulary is `data/tags/top50.txt` (alphabetical, shipped in
//!   `assets/mtg_jamendo/top50_tags.txt`). Class order does not change macro metrics.

use std::path::{Path, PathBuf};

use crate::datasets::{DatasetName, TagRow, require};
use crate::error::DataError;
use crate::options::{LoadOptions, MtgAudio};
use crate::report::LoadReport;
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind};
use crate::text::{read_text, word_list};

/// Task name.
pub const TASK: &str = "mtg-jamendo";

/// The 50 tags of the top-50 task (`data/tags/top50.txt` of MTG/mtg-jamendo-dataset).
pub fn top50_tags() -> Vec<String> {
    word_list(include_str!("../../assets/mtg_jamendo/top50_tags.txt"))
}

/// Parses one split TSV (header, CRLF, variable tag columns): track id, `PATH`, tags.
pub(crate) fn parse_split_file(text: &str, origin: &Path) -> Result<Vec<TagRow>, DataError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if fields[0] == "TRACK_ID" {
            continue;
        }
        if fields.len() < 5 {
            return Err(DataError::parse(
                origin,
                i + 1,
                format!(
                    "{} fields; expected TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, then tags",
                    fields.len()
                ),
            ));
        }
        let tags = fields[5..]
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.to_string())
            .collect();
        rows.push(TagRow {
            id: fields[0].to_string(),
            path: fields[3].to_string(),
            tags,
        });
    }
    Ok(rows)
}

/// The audio file of a listed `PATH` for the chosen quality.
fn audio_path(audio_root: &Path, listed: &str, quality: MtgAudio) -> PathBuf {
    match (quality, listed.strip_suffix(".mp3")) {
        (MtgAudio::Low, Some(stem)) if !stem.ends_with(".low") => audio_root.join(format!("{stem}.low.mp3")),
        _ => audio_root.join(listed),
    }
}

/// Loads the MTG-Jamendo top-50 task.
pub(crate) fn load(root: &Path, opts: &LoadOptions, report: &mut LoadReport) -> Result<TaskDataset, DataError> {
    let split_dir = root
        .join("data")
        .join("splits")
        .join(format!("split-{}", opts.mtg_split));
    let audio_root = opts.audio_dir.clone().unwrap_or_else(|| root.join("audio"));
    let vocabulary = top50_tags();
    let mut tracks = Vec::new();
    let mut unknown_tags = 0usize;
    for (file, split) in [
        ("train", Split::Train),
        ("validation", Split::Valid),
        ("test", Split::Test),
    ] {
        let path = require(
            DatasetName::MtgJamendo,
            split_dir.join(format!("autotagging_top50tags-{file}.tsv")),
        )?;
        for mut row in parse_split_file(&read_text(&path)?, &path)? {
            let listed = row.tags.len();
            row.tags.retain(|t| vocabulary.contains(t));
            unknown_tags += listed - row.tags.len();
            let audio = audio_path(&audio_root, &row.path, opts.mtg_audio);
            tracks.push(row.into_track(audio, split));
        }
    }
    if unknown_tags > 0 {
        report.notes.push(format!(
            "{TASK}: {unknown_tags} tag occurrences outside the top-50 vocabulary were ignored"
        ));
    }
    Ok(TaskDataset::new(TASK, TaskKind::Tagging, vocabulary, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_rows_with_variable_tag_columns() {
        let text = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n\
                    track_0000241\tartist_000005\talbum_000033\t41/241.mp3\t340.1\tgenre---rock\r\n\
                    track_0000382\tartist_000020\talbum_000052\t82/382.mp3\t220.3\tgenre---pop\tinstrument---guitar\tmood/theme---happy\r\n";
        let rows = parse_split_file(text, Path::new("x.tsv")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].tags, vec!["genre---rock"]);
        assert_eq!(
            rows[1].tags,
            vec!["genre---pop", "instrument---guitar", "mood/theme---happy"]
        );
        assert!(parse_split_file("track_1\ta\tb\n", Path::new("x.tsv")).is_err());
    }

    #[test]
    fn low_quality_paths_and_vocabulary() {
        let root = Path::new("/a");
        assert_eq!(
            audio_path(root, "41/241.mp3", MtgAudio::Low),
            PathBuf::from("/a/41/241.low.mp3")
        );
        assert_eq!(
            audio_path(root, "41/241.mp3", MtgAudio::Full),
            PathBuf::from("/a/41/241.mp3")
        );
        let tags = top50_tags();
        assert_eq!(tags.len(), 50);
        assert!(tags.contains(&"mood/theme---film".to_string()));
    }
}
