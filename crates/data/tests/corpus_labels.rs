//! The built-in corpus's key and tempo labels are recoverable from its audio by signal
//! processing (estimators in `estimators/`) and scored with this crate's label metrics, so the
//! labels the probes learn are not taken on trust. (It lives here, not in loev-corpus, because
//! the corpus does not depend on the dataset crate.)
//!
//! Runtime: about 5–10 s in release on a 2-core machine (200 tracks of 20–30 s and 264
//! notes are generated and analysed in parallel, one item at a time, so memory stays low).

mod estimators;

use loev_core::key::Key;
use loev_corpus::{CorpusConfig, generate_note, generate_track};
use loev_data::labels::{TEMPO_TOLERANCE, mean_key_score, tempo_acc1};
use rayon::prelude::*;

const SEED: u64 = 20_240_601;

/// The corpus both tests draw from: 200 tracks and 264 notes (every pitch 21–108 three times)
/// under [`SEED`]. An item depends on the seed and its index, not on the counts.
fn config() -> CorpusConfig {
    CorpusConfig {
        tracks: 200,
        notes: 264,
        seed: SEED,
        ..CorpusConfig::default()
    }
}

#[test]
fn key_and_tempo_are_recoverable_from_200_tracks() {
    let cfg = config();
    let results: Vec<(Key, Key, f64, f64, String)> = (0..cfg.tracks)
        .into_par_iter()
        .map(|i| {
            let track = generate_track(SEED, i, &cfg);
            let key = estimators::estimate_key(&track.audio);
            let tempo = estimators::estimate_tempo(&track.audio);
            let what = format!("{} {} {:?}", track.id, track.labels.style, track.ensemble);
            (track.labels.key, key, track.labels.tempo, tempo, what)
        })
        .collect();
    let key_score = mean_key_score(results.iter().map(|r| (r.0, r.1))).unwrap();
    let tempo_hits = results.iter().filter(|r| tempo_acc1(r.2, r.3, TEMPO_TOLERANCE)).count();
    let tempo_acc = tempo_hits as f64 / results.len() as f64;
    for r in &results {
        if r.0 != r.1 || !tempo_acc1(r.2, r.3, TEMPO_TOLERANCE) {
            println!("{}: key {} -> {}, tempo {} -> {:.1}", r.4, r.0, r.1, r.2, r.3);
        }
    }
    println!(
        "key: mean weighted score {:.3} over {} tracks",
        key_score,
        results.len()
    );
    println!("tempo: Acc1 {:.3} ({tempo_hits}/{})", tempo_acc, results.len());
    assert!(key_score >= 0.90, "mean weighted key score {key_score:.3} < 0.90");
    assert!(tempo_acc >= 0.90, "tempo Acc1 {tempo_acc:.3} < 0.90");
}

#[test]
fn note_pitch_is_recoverable() {
    let cfg = config();
    let results: Vec<(u8, u8, String)> = (0..cfg.notes)
        .into_par_iter()
        .map(|i| {
            let note = generate_note(SEED, i, &cfg);
            (
                note.pitch,
                estimators::estimate_pitch(&note.audio),
                note.instrument.to_string(),
            )
        })
        .collect();
    let pitches: std::collections::BTreeSet<u8> = results.iter().map(|r| r.0).collect();
    assert_eq!(pitches.len(), 88, "264 notes cover every pitch 21–108 three times");
    let exact = results.iter().filter(|r| r.0 == r.1).count();
    for r in results.iter().filter(|r| r.0 != r.1) {
        println!("note {} ({}) estimated {}", r.0, r.2, r.1);
    }
    let accuracy = exact as f64 / results.len() as f64;
    println!("pitch: exact MIDI accuracy {accuracy:.3} ({exact}/{})", results.len());
    assert!(accuracy >= 0.98, "pitch accuracy {accuracy:.3} < 0.98");
}
