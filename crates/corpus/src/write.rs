//! Writing a corpus to disk: one 16-bit wav per track and note, the labelled manifest
//! (the loev manifest convention) and the config that produced it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use loev_audio::manifest::{Manifest, ManifestRow};
use loev_audio::wav::write_wav;
use rayon::prelude::*;

use crate::{Corpus, CorpusConfig, CorpusError, CorpusSummary, SynthNote, SynthTrack, generate_note, generate_track};

/// File name of the manifest inside the corpus folder.
pub const MANIFEST_NAME: &str = "manifest.csv";
/// File name of the config copy inside the corpus folder.
pub const CONFIG_NAME: &str = "corpus.toml";

/// The manifest's columns, in order (see the loev manifest convention).
pub const MANIFEST_COLUMNS: [&str; 10] = [
    "path",
    "id",
    "split",
    "kind",
    "key",
    "tempo",
    "tags",
    "pitch",
    "instrument",
    "seconds",
];

/// What [`generate_to_dir`] wrote.
#[derive(Clone, Debug)]
pub struct WrittenCorpus {
    /// The manifest listing every file with its labels.
    pub manifest: PathBuf,
    /// Per-label counts of what was written.
    pub summary: CorpusSummary,
}

/// Writes an in-memory `corpus` under `dir`: `tracks/<id>.wav`, `notes/<id>.wav` (16-bit
/// PCM, 16 kHz, in parallel), `manifest.csv` and `corpus.toml` (the config, to regenerate
/// it). Every file is written atomically. `dir` must be absent, empty, or hold an earlier
/// corpus (whose listed wav files are then removed first). Returns the manifest's path.
pub fn write_corpus(corpus: &Corpus, dir: &Path) -> Result<PathBuf, CorpusError> {
    prepare_dir(dir)?;
    let track_rows = corpus
        .tracks
        .par_iter()
        .map(|track| write_track(track, dir))
        .collect::<Result<Vec<_>, _>>()?;
    let note_rows = corpus
        .notes
        .par_iter()
        .map(|note| write_note(note, dir))
        .collect::<Result<Vec<_>, _>>()?;
    finish(dir, track_rows.into_iter().chain(note_rows).collect(), &corpus.config)
}

/// Generates the corpus of `cfg` straight to `dir` (same layout as [`write_corpus`]),
/// rendering and writing each item in parallel without holding the corpus in memory, so
/// corpora of any size fit. Calls `progress(items_done)` after each track or note.
pub fn generate_to_dir(
    cfg: &CorpusConfig,
    dir: &Path,
    progress: impl Fn(usize) + Sync,
) -> Result<WrittenCorpus, CorpusError> {
    cfg.validate()?;
    prepare_dir(dir)?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    let tracks: Vec<(ManifestRow, crate::TrackLabels, loev_core::Split, f64)> = (0..cfg.tracks)
        .into_par_iter()
        .map(|i| {
            let track = generate_track(cfg.seed, i, cfg);
            let row = write_track(&track, dir)?;
            tick();
            let seconds = track.seconds();
            Ok((row, track.labels, track.split, seconds))
        })
        .collect::<Result<_, CorpusError>>()?;
    let notes: Vec<(ManifestRow, u8, crate::Instrument, loev_core::Split, f64)> = (0..cfg.notes)
        .into_par_iter()
        .map(|i| {
            let note = generate_note(cfg.seed, i, cfg);
            let row = write_note(&note, dir)?;
            tick();
            Ok((row, note.pitch, note.instrument, note.split, note.seconds()))
        })
        .collect::<Result<_, CorpusError>>()?;
    let summary = CorpusSummary::new(
        tracks.iter().map(|t| (&t.1, t.2, t.3)),
        notes.iter().map(|n| (n.1, n.2, n.3, n.4)),
    );
    let rows = tracks
        .into_iter()
        .map(|t| t.0)
        .chain(notes.into_iter().map(|n| n.0))
        .collect();
    let manifest = finish(dir, rows, cfg)?;
    Ok(WrittenCorpus { manifest, summary })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError {
    let path = path.to_path_buf();
    move |source| CorpusError::Write { path, source }
}

/// Checks that `dir` may receive a corpus and removes the audio of an earlier one.
fn prepare_dir(dir: &Path) -> Result<(), CorpusError> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(CorpusError::NotADirectory(dir.to_path_buf()));
    }
    let mut entries = fs::read_dir(dir).map_err(io_error(dir))?.peekable();
    if entries.peek().is_none() {
        return Ok(());
    }
    let manifest_path = dir.join(MANIFEST_NAME);
    if !(manifest_path.is_file() && dir.join(CONFIG_NAME).is_file()) {
        return Err(CorpusError::NotEmpty(dir.to_path_buf()));
    }
    // An earlier corpus: remove the wav files its manifest lists (only those inside `dir`).
    let old = Manifest::read(&manifest_path).map_err(|e| CorpusError::Write {
        path: manifest_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    for row in old.rows {
        let inside = row.path.starts_with(dir.join("tracks")) || row.path.starts_with(dir.join("notes"));
        if inside && row.path.extension().is_some_and(|e| e == "wav") && row.path.is_file() {
            fs::remove_file(&row.path).map_err(io_error(&row.path))?;
        }
    }
    Ok(())
}

fn fields(pairs: [(&str, String); 9]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn write_track(track: &SynthTrack, dir: &Path) -> Result<ManifestRow, CorpusError> {
    let path = dir.join("tracks").join(format!("{}.wav", track.id));
    write_wav(&path, &track.audio, loev_audio::SAMPLE_RATE).map_err(io_error(&path))?;
    let labels = &track.labels;
    let fields = fields([
        ("id", track.id.clone()),
        ("split", track.split.to_string()),
        ("kind", "track".into()),
        ("key", labels.key.to_string()),
        ("tempo", format!("{}", labels.tempo)),
        ("tags", labels.tags.join(";")),
        ("pitch", String::new()),
        ("instrument", String::new()),
        ("seconds", format!("{}", track.seconds())),
    ]);
    Ok(ManifestRow { path, fields })
}

fn write_note(note: &SynthNote, dir: &Path) -> Result<ManifestRow, CorpusError> {
    let path = dir.join("notes").join(format!("{}.wav", note.id));
    write_wav(&path, &note.audio, loev_audio::SAMPLE_RATE).map_err(io_error(&path))?;
    let fields = fields([
        ("id", note.id.clone()),
        ("split", note.split.to_string()),
        ("kind", "note".into()),
        ("key", String::new()),
        ("tempo", String::new()),
        ("tags", String::new()),
        ("pitch", note.pitch.to_string()),
        ("instrument", note.instrument.name().to_string()),
        ("seconds", format!("{}", note.seconds())),
    ]);
    Ok(ManifestRow { path, fields })
}

/// Writes the manifest and the config copy.
fn finish(dir: &Path, rows: Vec<ManifestRow>, config: &CorpusConfig) -> Result<PathBuf, CorpusError> {
    let manifest = Manifest {
        columns: MANIFEST_COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows,
    };
    let manifest_path = dir.join(MANIFEST_NAME);
    manifest.write(&manifest_path).map_err(io_error(&manifest_path))?;
    let config_path = dir.join(CONFIG_NAME);
    let toml = toml::to_string(config).map_err(|e| CorpusError::Write {
        path: config_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = format!(
        "# The config that generated this corpus; `loev corpus generate --config {CONFIG_NAME} -o DIR` regenerates it.\n{toml}"
    );
    loev_core::io::atomic_write(&config_path, text.as_bytes()).map_err(io_error(&config_path))?;
    Ok(manifest_path)
}
