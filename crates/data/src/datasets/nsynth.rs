//! NSynth pitch: the MIDI pitch of each 4 s note is its class.
//!
//! * `nsynth-{train,valid,test}/examples.json`: one JSON object keyed by `note_str`, ~290k
//!   entries for train; it is streamed entry by entry, never held whole.
//! * Audio: `nsynth-<split>/audio/<note_str>.wav` (16 kHz mono, 4 s).
//! * Classes: every distinct `pitch` across the three splits, ascending (LOEV), or only those in
//!   [`LoadOptions::nsynth_pitch_range`] (HEAR: 21–108); notes outside are excluded.
//! * An absent split folder is reported as missing and the other splits still load.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::error::DataError;
use crate::options::LoadOptions;
use crate::report::{FileProblem, LoadReport};
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind, TaskTrack, TrackLabels};

/// Task name.
pub const TASK: &str = "nsynth-pitch";

/// The fields of one `examples.json` entry the task needs (others are skipped).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct NsynthNote {
    /// MIDI pitch.
    pub pitch: i64,
    /// Instrument family (`keyboard`, `bass`, …).
    #[serde(default)]
    pub instrument_family_str: Option<String>,
}

struct EachEntry<'a, F>(&'a mut F);

impl<'de, F: FnMut(String, NsynthNote)> Visitor<'de> for EachEntry<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object mapping note names to note descriptions")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((name, note)) = map.next_entry::<String, NsynthNote>()? {
            (self.0)(name, note);
        }
        Ok(())
    }
}

/// Streams the entries of an `examples.json` to `each`, in file order.
pub fn stream_examples(path: &Path, mut each: impl FnMut(String, NsynthNote)) -> Result<(), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    let parse = |e: serde_json::Error| DataError::parse(path, e.line(), format!("not NSynth examples.json: {e}"));
    (&mut de).deserialize_map(EachEntry(&mut each)).map_err(parse)?;
    de.end().map_err(parse)
}

/// Loads the NSynth pitch task.
pub(crate) fn load(root: &Path, opts: &LoadOptions, report: &mut LoadReport) -> Result<TaskDataset, DataError> {
    let mut tracks = Vec::new();
    let mut found_any = false;
    for (folder, split) in [
        ("nsynth-train", Split::Train),
        ("nsynth-valid", Split::Valid),
        ("nsynth-test", Split::Test),
    ] {
        let dir = root.join(folder);
        let examples = dir.join("examples.json");
        if !examples.is_file() {
            report.missing.push(FileProblem {
                id: folder.to_string(),
                path: examples,
                uses: Vec::new(),
                reason: format!(
                    "the {split} split is absent: unpack nsynth-{split}.jsonwav.tar.gz into {}",
                    root.display()
                ),
            });
            continue;
        }
        found_any = true;
        let mut problems = Vec::new();
        stream_examples(&examples, |name, note| {
            let pitch = match u8::try_from(note.pitch) {
                Ok(p) if p <= 127 => p,
                _ => {
                    problems.push((name, "pitch out of MIDI range", format!("pitch {}", note.pitch)));
                    return;
                }
            };
            if let Some([lo, hi]) = opts.nsynth_pitch_range
                && !(lo..=hi).contains(&pitch)
            {
                problems.push((
                    name,
                    "pitch outside the selected range",
                    format!("pitch {pitch} not in {lo}–{hi}"),
                ));
                return;
            }
            tracks.push(TaskTrack {
                path: dir.join("audio").join(format!("{name}.wav")),
                id: name,
                split,
                group: None,
                labels: TrackLabels {
                    pitch: Some(pitch),
                    instrument: note.instrument_family_str,
                    ..Default::default()
                },
            });
        })?;
        for (id, kind, detail) in problems {
            report.exclude(TASK, id, kind, detail);
        }
    }
    if !found_any {
        return Err(DataError::NotFound {
            dataset: TASK.into(),
            path: root.join("nsynth-train").join("examples.json"),
            hint: "expected <root>/nsynth-{train,valid,test}/examples.json (unpacked nsynth-*.jsonwav.tar.gz)".into(),
        });
    }
    let pitches: BTreeSet<u8> = tracks.iter().filter_map(|t| t.labels.pitch).collect();
    let classes = pitches.iter().map(|p| p.to_string()).collect();
    Ok(TaskDataset::new(TASK, TaskKind::Pitch, classes, tracks))
}
