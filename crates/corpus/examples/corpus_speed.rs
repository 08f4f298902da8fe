//! Generation speed of the built-in corpus on ONE core, in × real time.
//!
//! `cargo run --release -p loev-corpus --example corpus_speed [-- TRACKS NOTES]`
//! (defaults: 24 tracks of 20–30 s and 88 notes of 4 s). Tracks and notes are generated
//! one after another on the calling thread (no rayon), so the figure is per core; the
//! `loev corpus generate` command runs them in parallel on every core.

use std::time::Instant;

use loev_corpus::{CorpusConfig, generate_note, generate_track};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let tracks = match args.next() {
        Some(Ok(n)) => n,
        Some(Err(e)) => return eprintln!("TRACKS must be a count: {e}"),
        None => 24,
    };
    let notes = match args.next() {
        Some(Ok(n)) => n,
        Some(Err(e)) => return eprintln!("NOTES must be a count: {e}"),
        None => 88,
    };
    let cfg = CorpusConfig {
        tracks,
        notes,
        ..CorpusConfig::default()
    };
    // Warm up the lazily built tables (sine table, style weights).
    let _ = generate_note(cfg.seed, 0, &cfg);

    let started = Instant::now();
    let mut track_audio = 0.0;
    for i in 0..tracks {
        track_audio += generate_track(cfg.seed, i, &cfg).seconds();
    }
    let track_time = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut note_audio = 0.0;
    for i in 0..notes {
        note_audio += generate_note(cfg.seed, i, &cfg).seconds();
    }
    let note_time = started.elapsed().as_secs_f64();
    println!("one core, release build:");
    if tracks > 0 {
        println!(
            "  tracks: {tracks} ({track_audio:.0} s of audio) in {track_time:.2} s = {:.0}x real time",
            track_audio / track_time
        );
    }
    if notes > 0 {
        println!(
            "  notes:  {notes} ({note_audio:.0} s of audio) in {note_time:.2} s = {:.0}x real time",
            note_audio / note_time
        );
    }
    let total = (track_audio + note_audio) / (track_time + note_time);
    println!("  all:    {total:.0}x real time");
}
