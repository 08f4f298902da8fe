//! Renders log-spectrograms of a generated track and note as PNGs, for checking by eye
//! what the corpus sounds like (chords, bass, drum hits on the beat grid, melody).
//!
//! `cargo run --release -p loev-data --example corpus_spectrogram -- OUT_DIR [TRACK NOTE SEED]`
//!
//! The track image shows its first 8 s: frequency on a log axis (30 Hz at the bottom to
//! 8 kHz at the top), time left to right, level as black → red → yellow → white over 60 dB.
//! White ticks along the top edge mark the labelled beats (bar lines taller); faint
//! horizontal lines mark the labelled key's tonic in every octave. The note image shows
//! the whole note with faint lines at its labelled pitch's harmonics.

#[path = "../tests/estimators/mod.rs"]
mod estimators;

use std::path::{Path, PathBuf};

use loev_corpus::{CorpusConfig, generate_note, generate_track, midi_to_hz};
use plotters::prelude::*;

const HEIGHT: u32 = 560;
const LOW_HZ: f64 = 30.0;
const HIGH_HZ: f64 = 8000.0;
const FS: f64 = 16_000.0;

/// One column of dB values per frame, rows from `LOW_HZ` (bottom) to `HIGH_HZ` (top).
fn log_spectrogram(signal: &[f32], frame: usize, hop: usize) -> Vec<Vec<f64>> {
    let stft = estimators::Stft::new(frame, hop);
    let bin_hz = stft.bin_hz();
    let mut columns = Vec::new();
    stft.for_each(signal, |_, mags| {
        let column = (0..HEIGHT)
            .map(|row| {
                // Row 0 is the top of the image.
                let fraction = 1.0 - row as f64 / (HEIGHT - 1) as f64;
                let hz = LOW_HZ * (HIGH_HZ / LOW_HZ).powf(fraction);
                let next = LOW_HZ * (HIGH_HZ / LOW_HZ).powf(fraction + 1.0 / HEIGHT as f64);
                let (lo, hi) = (
                    (hz / bin_hz).floor() as usize,
                    ((next / bin_hz).ceil() as usize).min(mags.len() - 1),
                );
                let magnitude = (lo..=hi.max(lo))
                    .map(|k| mags[k.min(mags.len() - 1)])
                    .fold(0f32, f32::max);
                20.0 * (magnitude as f64 + 1e-9).log10()
            })
            .collect();
        columns.push(column);
    });
    columns
}

fn colour(db: f64, top: f64) -> RGBColor {
    // 60 dB of range below the loudest value.
    let t = ((db - (top - 60.0)) / 60.0).clamp(0.0, 1.0);
    let r = (t * 3.0).min(1.0);
    let g = (t * 3.0 - 1.0).clamp(0.0, 1.0);
    let b = (t * 3.0 - 2.0).clamp(0.0, 1.0);
    RGBColor((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

fn row_of(hz: f64) -> Option<i32> {
    (LOW_HZ..HIGH_HZ)
        .contains(&hz)
        .then(|| ((1.0 - (hz / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln()) * (HEIGHT - 1) as f64).round() as i32)
}

fn draw(
    path: &Path,
    columns: &[Vec<f64>],
    marks_hz: &[f64],
    ticks: &[(usize, bool)],
) -> Result<(), Box<dyn std::error::Error>> {
    let width = columns.len() as u32;
    let root = BitMapBackend::new(path, (width, HEIGHT)).into_drawing_area();
    let top = columns.iter().flatten().cloned().fold(f64::NEG_INFINITY, f64::max);
    for (x, column) in columns.iter().enumerate() {
        for (y, db) in column.iter().enumerate() {
            root.draw_pixel((x as i32, y as i32), &colour(*db, top))?;
        }
    }
    for hz in marks_hz {
        if let Some(y) = row_of(*hz) {
            for x in (0..width as i32).step_by(4) {
                root.draw_pixel((x, y), &RGBColor(90, 160, 255))?;
            }
        }
    }
    for &(x, bar) in ticks {
        let length = if bar { 16 } else { 7 };
        for y in 0..length {
            root.draw_pixel((x as i32, y), &WHITE)?;
        }
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: corpus_spectrogram OUT_DIR [TRACK NOTE SEED]");
        std::process::exit(2);
    };
    let mut number = |default: u64| {
        args.next()
            .map(|a| a.parse::<u64>())
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let (track_index, note_index, seed) = (number(0)?, number(0)?, number(0)?);
    std::fs::create_dir_all(&out)?;
    let cfg = CorpusConfig {
        seed,
        ..CorpusConfig::default()
    };

    let track = generate_track(seed, track_index as usize, &cfg);
    let excerpt = &track.audio[..track.audio.len().min(8 * 16_000)];
    let hop = 96;
    let columns = log_spectrogram(excerpt, 2048, hop);
    let beat = 60.0 / track.labels.tempo;
    let ticks: Vec<(usize, bool)> = (0..)
        .map(|b| (0.03 + b as f64 * beat, b % 4 == 0))
        .take_while(|(t, _)| *t * FS < excerpt.len() as f64)
        .map(|(t, bar)| (((t * FS) as usize + 1024) / hop, bar))
        .collect();
    let tonic_hz: Vec<f64> = (0..10)
        .map(|octave| midi_to_hz((12 * octave + track.labels.key.tonic as i32) as f64))
        .collect();
    let track_png = out.join(format!("{}.png", track.id));
    draw(&track_png, &columns, &tonic_hz, &ticks)?;
    println!(
        "{}: {} at {} BPM, {} ({}), {:.1} s -> {}",
        track.id,
        track.labels.key,
        track.labels.tempo,
        track.labels.style,
        track.labels.tags.join(", "),
        track.seconds(),
        track_png.display()
    );

    let note = generate_note(seed, note_index as usize, &cfg);
    let columns = log_spectrogram(&note.audio, 4096, 64);
    let harmonics: Vec<f64> = (1..=12).map(|h| h as f64 * midi_to_hz(note.pitch as f64)).collect();
    let note_png = out.join(format!("{}.png", note.id));
    draw(&note_png, &columns, &harmonics, &[])?;
    println!(
        "{}: MIDI {} on {}, {:.1} s -> {}",
        note.id,
        note.pitch,
        note.instrument,
        note.seconds(),
        note_png.display()
    );
    Ok(())
}
