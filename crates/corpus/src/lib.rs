//! loev-corpus: the built-in labelled synthetic music corpus.
//!
//! With no dataset on disk, `loev demo` and the tests still need music with known labels.
//! This crate composes and renders it in-process from a seed:
//!
//! * **tracks** (default 20–30 s, 16 kHz mono) with a known key (all 24), integer tempo
//!   (60–180 BPM), instrumentation and drum style: a functional chord progression in the
//!   key, a voice-led accompaniment, a melody from the key's scale, a bass line on the
//!   chord roots and drums on the tempo grid with swing and fills, mixed at random levels;
//! * **notes** (default 4 s, NSynth-like: held 3 s then released) with a known MIDI pitch
//!   (21–108) and instrument.
//!
//! Twelve pitched timbres from four synthesis families (additive, FM, Karplus–Strong,
//! subtractive / noise-based) and a synthesised drum kit with five styles; see
//! [`Instrument`] and [`DrumStyle`].
//!
//! **Tag vocabulary** (multi-label, the tagging task): the names of the three pitched
//! instruments of the track (`piano`, `electric_piano`, `organ`, `strings`, `guitar`,
//! `mallet`, `flute`, `brass`, `synth_lead`, `air_pad`, `bass`, `synth_bass`) plus
//! `style:<style>` (`style:rock`, `style:four_on_the_floor`, `style:half_time`,
//! `style:shuffle`, `style:breakbeat`). Every track has drums, so `drums` is listed among
//! its instruments but is not a tag (a tag on every track carries no information). See
//! [`tag_vocabulary`].
//!
//! **Tempo families**: by default every two consecutive tracks render one composition at two
//! tempi ([`CorpusConfig::tempo_family_size`]). The members share key, instruments, drum kit
//! and style, mix, melody, duration and split, and differ only in tempo, so a model cannot
//! tell them apart by timbre and key: it must hear the tempo. Every part of a composition
//! draws from its own random stream, derived from (seed, family, part), so the tempo changes
//! nothing else.
//!
//! **Labels are balanced by construction**: tempi cycle through a permutation of 60–180 BPM
//! over the tracks; keys cycle through a seeded permutation of the 24 keys and instrument
//! ensembles through a permutation of all 116 (harmony, melody, bass) combinations over the
//! families, so N families cover each key N/24 times. Drum styles are played only at tempi
//! their genres use ([`DrumStyle::tempo_range`]), a family's style at all of its tempi, and
//! are weighted so that each style still gets a fifth of the tracks. **Splits** are
//! stratified by key over the families: with the default 70/15/15, every key is in train,
//! valid and test once a corpus has 8 families per key; notes are spread over the splits by
//! a low-discrepancy sequence.
//!
//! Every track and note is a pure function of (seed, index): generation in parallel gives
//! the same bytes as generation in series.

mod cache;
mod compose;
mod drums;
mod dsp;
mod instruments;
mod names;
mod notes;
mod plan;
mod summary;
mod theory;
mod write;

use loev_core::Split;
use loev_core::key::Key;
use loev_core::rng::derived_rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use cache::{build_training_cache, open_or_build_training_cache};
pub use drums::{DrumStyle, UnknownDrumStyle};
pub use dsp::midi_to_hz;
pub use instruments::{Instrument, UnknownInstrument};
pub use plan::{Ensemble, MAX_NOTE_PITCH, MAX_TEMPO, MAX_TEMPO_FAMILY_SIZE, MIN_NOTE_PITCH, MIN_TEMPO};
pub use summary::{CorpusSummary, SplitCounts};
pub use write::{CONFIG_NAME, MANIFEST_COLUMNS, MANIFEST_NAME, WrittenCorpus, generate_to_dir, write_corpus};

/// How to generate a corpus. The default is the demo corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorpusConfig {
    /// Number of music tracks.
    pub tracks: usize,
    /// Number of single notes.
    pub notes: usize,
    /// The seed every label and sample derives from.
    pub seed: u64,
    /// Track duration range in seconds (uniform, per track, rounded to ms).
    pub track_seconds: (f64, f64),
    /// Duration of each single note in seconds; the note is held for 3/4 of it and
    /// released for the rest (NSynth: 4 s, note-off at 3 s).
    pub note_seconds: f64,
    /// Train / valid / test fractions (normalised; need not sum to 1).
    pub splits: (f64, f64, f64),
    /// Tracks per *tempo family* (1 to 4): consecutive tracks that render one composition at
    /// different tempi. Members share key, ensemble, drum kit and style, mix, swing,
    /// progression, melody, duration and split, and differ only in tempo, so a model that
    /// tells them apart must hear the tempo: timbre and key no longer identify a track.
    /// Each tempo comes from the corpus's uniform tempo cycle as for independent tracks.
    /// 1 gives independent tracks (the corpus before tempo families, with the same labels).
    pub tempo_family_size: usize,
}

impl Default for CorpusConfig {
    /// The demo corpus: 120 tracks in tempo families of 2 and 176 notes (each pitch 21–108
    /// twice), 70/15/15 splits, seed 0.
    fn default() -> Self {
        Self {
            tracks: 120,
            notes: 176,
            seed: 0,
            track_seconds: (20.0, 30.0),
            note_seconds: 4.0,
            splits: (0.7, 0.15, 0.15),
            tempo_family_size: 2,
        }
    }
}

/// Why a corpus could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The configuration cannot produce a corpus.
    #[error("invalid corpus config: {0}")]
    InvalidConfig(String),
    /// The output path exists and is not a folder.
    #[error("{0} is not a folder; give a new or empty folder for the corpus")]
    NotADirectory(std::path::PathBuf),
    /// The output folder holds files that are not an earlier corpus.
    #[error("{0} is not empty and holds no earlier corpus (manifest.csv + corpus.toml); give a new or empty folder")]
    NotEmpty(std::path::PathBuf),
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file being written.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Building or opening the audio cache of the corpus failed.
    #[error("audio cache of the built-in corpus: {0}")]
    Cache(String),
}

impl CorpusConfig {
    /// Checks that the config can produce a corpus, naming the offending field.
    pub fn validate(&self) -> Result<(), CorpusError> {
        let bad = |msg: String| Err(CorpusError::InvalidConfig(msg));
        let (low, high) = self.track_seconds;
        if !(low.is_finite() && high.is_finite() && low >= 1.0 && high >= low && high <= 3600.0) {
            return bad(format!("track_seconds = ({low}, {high}): need 1 <= min <= max <= 3600"));
        }
        if !(self.note_seconds.is_finite() && (0.5..=60.0).contains(&self.note_seconds)) {
            return bad(format!("note_seconds = {}: need 0.5 to 60", self.note_seconds));
        }
        let (train, valid, test) = self.splits;
        if [train, valid, test].iter().any(|f| !f.is_finite() || *f < 0.0) || train + valid + test <= 0.0 {
            return bad(format!(
                "splits = ({train}, {valid}, {test}): need non-negative fractions with a positive sum"
            ));
        }
        if !(1..=MAX_TEMPO_FAMILY_SIZE).contains(&self.tempo_family_size) {
            return bad(format!(
                "tempo_family_size = {}: need 1 (independent tracks) to {MAX_TEMPO_FAMILY_SIZE}",
                self.tempo_family_size
            ));
        }
        Ok(())
    }
}

/// The labels of one track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackLabels {
    /// The key the track is composed in.
    pub key: Key,
    /// Tempo in BPM (an integer value, 60–180).
    pub tempo: f64,
    /// The instruments playing: harmony, melody, bass, then `drums`.
    pub instruments: Vec<String>,
    /// The drum style.
    pub style: DrumStyle,
    /// Multi-label tags: the pitched instruments and `style:<style>`.
    pub tags: Vec<String>,
}

/// A generated music track.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthTrack {
    /// `track_<index>` with the index zero-padded to 5 digits.
    pub id: String,
    /// Index of the track in the corpus.
    pub index: usize,
    /// Its tempo family ([`track_family`]): the tracks of one family render one composition
    /// at different tempi.
    pub family: usize,
    /// Its partition.
    pub split: Split,
    /// Mono samples at [`loev_audio::SAMPLE_RATE`], peak below 1.
    pub audio: Vec<f32>,
    /// Its labels.
    pub labels: TrackLabels,
    /// Which instrument plays which role.
    pub ensemble: Ensemble,
}

impl SynthTrack {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.audio.len() as f64 / loev_audio::SAMPLE_RATE as f64
    }
}

/// A generated single note.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthNote {
    /// `note_<index>` with the index zero-padded to 5 digits.
    pub id: String,
    /// Index of the note in the corpus.
    pub index: usize,
    /// Its partition.
    pub split: Split,
    /// Mono samples at [`loev_audio::SAMPLE_RATE`].
    pub audio: Vec<f32>,
    /// MIDI pitch (21–108).
    pub pitch: u8,
    /// The instrument that plays it.
    pub instrument: Instrument,
    /// Loudness the note was played with, in (0, 1].
    pub velocity: f32,
}

impl SynthNote {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.audio.len() as f64 / loev_audio::SAMPLE_RATE as f64
    }
}

/// A whole generated corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    /// The config it was generated from.
    pub config: CorpusConfig,
    /// The tracks, in index order.
    pub tracks: Vec<SynthTrack>,
    /// The notes, in index order.
    pub notes: Vec<SynthNote>,
}

impl Corpus {
    /// Per-label counts (keys, tempi, tags, pitches, instruments, splits).
    pub fn summary(&self) -> CorpusSummary {
        CorpusSummary::new(
            self.tracks.iter().map(|t| (&t.labels, t.split, t.seconds())),
            self.notes.iter().map(|n| (n.pitch, n.instrument, n.split, n.seconds())),
        )
    }
}

/// The tag vocabulary in a fixed order: instruments then styles.
pub fn tag_vocabulary() -> Vec<String> {
    Instrument::ALL
        .iter()
        .map(|i| i.name().to_string())
        .chain(DrumStyle::ALL.iter().map(|s| style_tag(*s)))
        .collect()
}

/// The tag of a drum style.
pub fn style_tag(style: DrumStyle) -> String {
    format!("style:{}", style.name())
}

/// The labels of track `index` under `seed` without rendering it (cheap).
pub fn track_labels(seed: u64, index: usize, cfg: &CorpusConfig) -> (Split, TrackLabels) {
    let plan = plan::plan_track(seed, index, cfg);
    (plan.split, labels_of(&plan))
}

fn labels_of(plan: &plan::TrackPlan) -> TrackLabels {
    let e = plan.ensemble;
    let pitched = [e.harmony, e.melody, e.bass];
    let mut tags: Vec<String> = pitched.iter().map(|i| i.name().to_string()).collect();
    tags.push(style_tag(plan.style));
    let mut instruments: Vec<String> = pitched.iter().map(|i| i.name().to_string()).collect();
    instruments.push("drums".to_string());
    TrackLabels {
        key: plan.key,
        tempo: plan.tempo as f64,
        instruments,
        style: plan.style,
        tags,
    }
}

/// The tempo family of track `index`: tracks `n·f … n·f + n − 1` form family `f`, with
/// n = `cfg.tempo_family_size`.
pub fn track_family(index: usize, cfg: &CorpusConfig) -> usize {
    index / cfg.tempo_family_size.max(1)
}

/// Generates track `index` under `seed` (the config gives durations, splits and families;
/// its own `seed` field is not used). A pure function of its arguments.
pub fn generate_track(seed: u64, index: usize, cfg: &CorpusConfig) -> SynthTrack {
    let plan = plan::plan_track(seed, index, cfg);
    let audio = compose::render_track(&plan, &compose::Streams::new(seed, plan.family));
    SynthTrack {
        id: format!("track_{index:05}"),
        index,
        family: plan.family,
        split: plan.split,
        audio,
        labels: labels_of(&plan),
        ensemble: plan.ensemble,
    }
}

/// Generates note `index` under `seed` (the config gives the duration and splits). A pure
/// function of its arguments.
pub fn generate_note(seed: u64, index: usize, cfg: &CorpusConfig) -> SynthNote {
    let plan = plan::plan_note(seed, index, cfg);
    let mut rng = derived_rng(seed, &[plan::STREAM_NOTE, index as u64]);
    let audio = notes::render_note(&plan, cfg.note_seconds, &mut rng);
    SynthNote {
        id: format!("note_{index:05}"),
        index,
        split: plan.split,
        audio,
        pitch: plan.pitch,
        instrument: plan.instrument,
        velocity: plan.velocity,
    }
}

/// Generates the whole corpus of `cfg`, tracks and notes in parallel (rayon).
pub fn generate(cfg: &CorpusConfig) -> Result<Corpus, CorpusError> {
    generate_with_progress(cfg, |_| {})
}

/// Like [`generate`], calling `progress(items_done)` after each track or note (from worker
/// threads), for progress bars.
pub fn generate_with_progress(cfg: &CorpusConfig, progress: impl Fn(usize) + Sync) -> Result<Corpus, CorpusError> {
    cfg.validate()?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    let tracks = generate_all(cfg.tracks, &tick, |i| generate_track(cfg.seed, i, cfg));
    let notes = generate_all(cfg.notes, &tick, |i| generate_note(cfg.seed, i, cfg));
    Ok(Corpus {
        config: cfg.clone(),
        tracks,
        notes,
    })
}

/// Items `0..count` of `item`, generated in parallel, calling `tick` after each.
fn generate_all<T: Send>(count: usize, tick: &(impl Fn() + Sync), item: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..count)
        .into_par_iter()
        .map(|i| {
            let generated = item(i);
            tick();
            generated
        })
        .collect()
}
