//! Per-label counts of a corpus, for the `corpus generate` report and the balance tests.

use std::fmt;

use loev_core::Split;
use loev_core::key::{KEY_CLASSES, Key};
pub use loev_core::split::SplitCounts;
use serde::Serialize;

use crate::TrackLabels;
use crate::instruments::Instrument;
use crate::plan::{MAX_NOTE_PITCH, MAX_TEMPO, MIN_NOTE_PITCH, MIN_TEMPO};

/// How many tracks and notes carry each label value, by split.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CorpusSummary {
    /// Tracks per split.
    pub tracks: SplitCounts,
    /// Notes per split.
    pub notes: SplitCounts,
    /// Total track audio in seconds.
    pub track_seconds: f64,
    /// Total note audio in seconds.
    pub note_seconds: f64,
    /// Tracks per key, in class order (C major … B minor).
    pub keys: Vec<(String, SplitCounts)>,
    /// Tracks per 10-BPM tempo bin, as (lowest BPM, highest BPM, counts).
    pub tempo_bins: Vec<(u32, u32, SplitCounts)>,
    /// Tracks per tag, in vocabulary order.
    pub tags: Vec<(String, SplitCounts)>,
    /// Notes per octave bin of MIDI pitch, as (lowest, highest, counts).
    pub pitch_bins: Vec<(u8, u8, SplitCounts)>,
    /// Notes per instrument.
    pub note_instruments: Vec<(String, SplitCounts)>,
}

impl CorpusSummary {
    /// Counts the labels of tracks `(labels, split, seconds)` and notes
    /// `(pitch, instrument, split, seconds)`.
    pub fn new<'a>(
        tracks: impl IntoIterator<Item = (&'a TrackLabels, Split, f64)>,
        notes: impl IntoIterator<Item = (u8, Instrument, Split, f64)>,
    ) -> Self {
        let mut summary = CorpusSummary {
            keys: (0..KEY_CLASSES)
                .map(|c| {
                    (
                        Key::from_class_index(c).map(|k| k.to_string()).unwrap_or_default(),
                        SplitCounts::default(),
                    )
                })
                .collect(),
            tempo_bins: (MIN_TEMPO..=MAX_TEMPO)
                .step_by(10)
                .map(|lo| (lo, (lo + 9).min(MAX_TEMPO), SplitCounts::default()))
                .collect(),
            tags: crate::tag_vocabulary()
                .into_iter()
                .map(|t| (t, SplitCounts::default()))
                .collect(),
            pitch_bins: (MIN_NOTE_PITCH..=MAX_NOTE_PITCH)
                .step_by(12)
                .map(|lo| (lo, (lo + 11).min(MAX_NOTE_PITCH), SplitCounts::default()))
                .collect(),
            note_instruments: Instrument::ALL
                .iter()
                .map(|i| (i.name().to_string(), SplitCounts::default()))
                .collect(),
            ..Default::default()
        };
        // The last tempo bin also holds 180 (170–180).
        if let Some(last) = summary.tempo_bins.last_mut()
            && last.0 == MAX_TEMPO
        {
            summary.tempo_bins.pop();
        }
        if let Some(last) = summary.tempo_bins.last_mut() {
            last.1 = MAX_TEMPO;
        }
        for (labels, split, seconds) in tracks {
            summary.tracks.add(split);
            summary.track_seconds += seconds;
            summary.keys[labels.key.class_index()].1.add(split);
            let tempo = labels.tempo.round() as u32;
            if let Some(bin) = summary
                .tempo_bins
                .iter_mut()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&tempo))
            {
                bin.2.add(split);
            }
            for tag in &labels.tags {
                if let Some(entry) = summary.tags.iter_mut().find(|(t, _)| t == tag) {
                    entry.1.add(split);
                }
            }
        }
        for (pitch, instrument, split, seconds) in notes {
            summary.notes.add(split);
            summary.note_seconds += seconds;
            if let Some(bin) = summary
                .pitch_bins
                .iter_mut()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&pitch))
            {
                bin.2.add(split);
            }
            if let Some(entry) = summary
                .note_instruments
                .iter_mut()
                .find(|(name, _)| name == instrument.name())
            {
                entry.1.add(split);
            }
        }
        summary
    }
}

impl fmt::Display for CorpusSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "counts are: total (train/valid/test)")?;
        writeln!(
            f,
            "tracks: {}  {:.1} min of audio",
            self.tracks.compact(),
            self.track_seconds / 60.0
        )?;
        writeln!(
            f,
            "notes:  {}  {:.1} min of audio",
            self.notes.compact(),
            self.note_seconds / 60.0
        )?;
        if self.tracks.total() > 0 {
            let keys = self.keys.iter().map(|(k, c)| format!("{k:>9} {:<16}", c.compact()));
            write_grid(f, "tracks per key", 4, keys)?;
            let tempi = self
                .tempo_bins
                .iter()
                .map(|(lo, hi, c)| format!("{lo:>3}-{hi:<3} {:<16}", c.compact()));
            write_grid(f, "tracks per tempo (BPM)", 4, tempi)?;
            let tags = self.tags.iter().map(|(t, c)| format!("{t:>24} {:<16}", c.compact()));
            write_grid(f, "tracks per tag", 3, tags)?;
        }
        if self.notes.total() > 0 {
            let pitches = self
                .pitch_bins
                .iter()
                .map(|(lo, hi, c)| format!("{lo:>3}-{hi:<3} {:<16}", c.compact()));
            write_grid(f, "notes per MIDI pitch", 4, pitches)?;
            let instruments = self
                .note_instruments
                .iter()
                .map(|(name, c)| format!("{name:>15} {:<16}", c.compact()));
            write_grid(f, "notes per instrument", 3, instruments)?;
        }
        Ok(())
    }
}

/// Writes a blank line, `title:` and the `cells` in rows of `per_row`.
fn write_grid(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    per_row: usize,
    cells: impl Iterator<Item = String>,
) -> fmt::Result {
    writeln!(f, "\n{title}:")?;
    let cells: Vec<String> = cells.collect();
    for row in cells.chunks(per_row) {
        writeln!(f, "  {}", row.join(" "))?;
    }
    Ok(())
}
