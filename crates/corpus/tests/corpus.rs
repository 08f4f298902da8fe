//! Determinism, diversity, balance, splits and the on-disk format of the corpus
//! (acceptance 1 "same seed ⇒ same bytes" and 2 of the corpus issue). Runtime: a few
//! seconds in release.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use loev_audio::manifest::Manifest;
use loev_core::Split;
use loev_core::key::{KEY_CLASSES, Key};
use loev_corpus::{
    CONFIG_NAME, CorpusConfig, CorpusError, CorpusSummary, DrumStyle, Instrument, MANIFEST_COLUMNS, generate,
    generate_note, generate_to_dir, generate_track, tag_vocabulary, track_labels, write_corpus,
};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-corpus-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The default config with `tracks` tracks under `seed`.
fn config(tracks: usize, seed: u64) -> CorpusConfig {
    CorpusConfig {
        tracks,
        seed,
        ..CorpusConfig::default()
    }
}

/// Four short tracks (4–6 s) and five notes under seed 11.
fn small_config() -> CorpusConfig {
    CorpusConfig {
        notes: 5,
        track_seconds: (4.0, 6.0),
        ..config(4, 11)
    }
}

/// Whether two signals have the same length and the same samples, bit for bit.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn same_seed_gives_the_same_bytes_in_parallel_and_in_series() {
    let cfg = small_config();
    let parallel = generate(&cfg).unwrap();
    for (i, track) in parallel.tracks.iter().enumerate() {
        let serial = generate_track(cfg.seed, i, &cfg);
        assert!(same_bits(&serial.audio, &track.audio), "track {i} differs");
        assert_eq!(serial.labels, track.labels);
    }
    for (i, note) in parallel.notes.iter().enumerate() {
        let serial = generate_note(cfg.seed, i, &cfg);
        assert!(same_bits(&serial.audio, &note.audio), "note {i} differs");
    }
    // Another seed gives other music.
    let other = generate_track(cfg.seed + 1, 0, &cfg);
    assert_ne!(other.audio, parallel.tracks[0].audio);

    // Written twice (once in memory, once streamed with one thread): identical files.
    let (a, b) = (temp_dir("bytes-a"), temp_dir("bytes-b"));
    write_corpus(&parallel, &a).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| generate_to_dir(&cfg, &b, |_| {})).unwrap();
    let mut files = 0;
    for sub in ["tracks", "notes", ""] {
        for entry in std::fs::read_dir(a.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let name = path.strip_prefix(&a).unwrap();
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    std::fs::read(b.join(name)).unwrap(),
                    "{} differs",
                    name.display()
                );
                files += 1;
            }
        }
    }
    assert_eq!(files, cfg.tracks + cfg.notes + 2, "wavs + manifest + config");
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

/// 200 families of `size` tracks under seed 3: diverse, balanced and stratified by key.
fn check_two_hundred_families(size: usize) {
    let cfg = CorpusConfig {
        tempo_family_size: size,
        ..config(200 * size, 3)
    };
    let labelled: Vec<_> = (0..cfg.tracks).map(|i| track_labels(cfg.seed, i, &cfg)).collect();
    let summary = CorpusSummary::new(
        labelled.iter().map(|(split, labels)| (labels, *split, 25.0)),
        std::iter::empty(),
    );
    println!("families of {size}:\n{summary}");

    // No two tracks share (key, tempo, instrument set).
    let mut seen = BTreeSet::new();
    for (_, labels) in &labelled {
        let mut instruments = labels.instruments.clone();
        instruments.sort();
        assert!(
            seen.insert((labels.key, labels.tempo as u32, instruments)),
            "duplicate labels {labels:?}"
        );
    }
    // Keys: 200 families / 24 → 8 or 9 each, and every key in train, valid and test.
    for (key, counts) in &summary.keys {
        assert!((8 * size..=9 * size).contains(&counts.total()), "{key}: {counts}");
        assert!(
            counts.train > 0 && counts.valid > 0 && counts.test > 0,
            "{key} is missing a split: {counts}"
        );
    }
    // Tempi: integers 60–180, each 10-BPM bin between 10 and 25 tracks per 200 (uniform: 16.5).
    for (_, labels) in &labelled {
        assert!(labels.tempo.fract() == 0.0 && (60.0..=180.0).contains(&labels.tempo));
    }
    for (lo, hi, counts) in &summary.tempo_bins {
        assert!(
            (10 * size..=25 * size).contains(&counts.total()),
            "tempo {lo}-{hi}: {counts}"
        );
    }
    // Styles: 40 per 200 tracks if balanced; within 28–52.
    for style in DrumStyle::ALL {
        let tag = loev_corpus::style_tag(style);
        let count = summary.tags.iter().find(|(t, _)| *t == tag).unwrap().1.total();
        assert!((28 * size..=52 * size).contains(&count), "{tag}: {count}");
    }
    // Instruments: each pitched instrument tags at least 10 % of the tracks; bass roles ~half.
    for instrument in Instrument::ALL {
        let count = summary
            .tags
            .iter()
            .find(|(t, _)| t == instrument.name())
            .unwrap()
            .1
            .total();
        let bound = if Instrument::BASS.contains(&instrument) { 80 } else { 20 };
        assert!(count >= bound * size, "{instrument}: {count}");
    }
    // Every track: 3 pitched instruments + a style tag, all from the vocabulary.
    let vocabulary: BTreeSet<String> = tag_vocabulary().into_iter().collect();
    for (_, labels) in &labelled {
        assert_eq!(labels.tags.len(), 4);
        assert!(labels.tags.iter().all(|t| vocabulary.contains(t)), "{:?}", labels.tags);
        let (lo, hi) = labels.style.tempo_range();
        assert!(
            (lo as f64..=hi as f64).contains(&labels.tempo),
            "{} at {}",
            labels.style,
            labels.tempo
        );
    }
    // Splits close to 70/15/15.
    let total = summary.tracks;
    assert!(
        (130 * size..=150 * size).contains(&total.train)
            && (22 * size..=38 * size).contains(&total.valid)
            && (22 * size..=38 * size).contains(&total.test),
        "{total}"
    );
}

#[test]
fn two_hundred_tracks_are_diverse_balanced_and_stratified() {
    check_two_hundred_families(1);
}

#[test]
fn two_hundred_tempo_families_are_diverse_balanced_and_stratified() {
    check_two_hundred_families(2);
}

/// The members of a tempo family share every label but the tempo, their split and their
/// duration; the tempi are those of independent tracks (the same uniform cycle).
#[test]
fn tempo_families_differ_only_in_tempo() {
    let cfg = CorpusConfig {
        track_seconds: (4.0, 6.0),
        ..config(242, 5)
    };
    assert_eq!(cfg.tempo_family_size, 2, "the default corpus has tempo families");
    let independent = CorpusConfig {
        tempo_family_size: 1,
        ..cfg.clone()
    };
    let mut tempi = BTreeMap::new();
    for family in 0..cfg.tracks / 2 {
        let (a, b) = (2 * family, 2 * family + 1);
        assert_eq!(
            (loev_corpus::track_family(a, &cfg), loev_corpus::track_family(b, &cfg)),
            (family, family)
        );
        let ((split_a, labels_a), (split_b, labels_b)) =
            (track_labels(cfg.seed, a, &cfg), track_labels(cfg.seed, b, &cfg));
        assert_eq!(split_a, split_b, "family {family}");
        assert_ne!(labels_a.tempo, labels_b.tempo, "family {family}");
        let tempo_free = |labels: &loev_corpus::TrackLabels| {
            (
                labels.key,
                labels.instruments.clone(),
                labels.style,
                labels.tags.clone(),
            )
        };
        assert_eq!(tempo_free(&labels_a), tempo_free(&labels_b), "family {family}");
        for (index, labels) in [(a, &labels_a), (b, &labels_b)] {
            assert_eq!(
                labels.tempo,
                track_labels(cfg.seed, index, &independent).1.tempo,
                "track {index}"
            );
            *tempi.entry(labels.tempo as u32).or_insert(0) += 1;
        }
    }
    // 242 tracks walk the 121 tempi of the cycle twice.
    assert_eq!(tempi.len(), 121);
    assert!(tempi.values().all(|&n| n == 2), "{tempi:?}");
    // Rendered: same duration and ensemble, other audio.
    for family in [0, 1, 60] {
        let (a, b) = (
            generate_track(cfg.seed, 2 * family, &cfg),
            generate_track(cfg.seed, 2 * family + 1, &cfg),
        );
        assert_eq!(
            (a.family, a.ensemble, a.audio.len()),
            (b.family, b.ensemble, b.audio.len())
        );
        assert!(!same_bits(&a.audio, &b.audio));
    }
}

#[test]
fn one_cycle_of_keys_already_has_every_split() {
    for size in [1, 2] {
        let cfg = CorpusConfig {
            tracks: 24 * size,
            tempo_family_size: size,
            ..CorpusConfig::default()
        };
        let splits: BTreeSet<Split> = (0..cfg.tracks).map(|i| track_labels(cfg.seed, i, &cfg).0).collect();
        assert_eq!(splits.len(), 3);
        let keys: BTreeSet<Key> = (0..cfg.tracks).map(|i| track_labels(cfg.seed, i, &cfg).1.key).collect();
        assert_eq!(keys.len(), KEY_CLASSES);
    }
}

#[test]
fn notes_cover_the_pitch_range_with_fitting_instruments() {
    let cfg = CorpusConfig {
        notes: 176,
        track_seconds: (20.0, 30.0),
        ..CorpusConfig::default()
    };
    let corpus = generate(&CorpusConfig {
        tracks: 0,
        ..cfg.clone()
    })
    .unwrap();
    let mut per_pitch: BTreeMap<u8, usize> = BTreeMap::new();
    let mut per_instrument: BTreeMap<Instrument, usize> = BTreeMap::new();
    let mut per_split: BTreeMap<Split, usize> = BTreeMap::new();
    for note in &corpus.notes {
        *per_pitch.entry(note.pitch).or_default() += 1;
        *per_instrument.entry(note.instrument).or_default() += 1;
        *per_split.entry(note.split).or_default() += 1;
        let (lo, hi) = note.instrument.note_range();
        assert!(
            (lo..=hi).contains(&note.pitch),
            "{} cannot play {}",
            note.instrument,
            note.pitch
        );
        assert_eq!(note.audio.len(), 64_000, "4 s at 16 kHz");
        let peak = note.audio.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.01 && peak <= 0.9, "note {} peak {peak}", note.id);
        // Held for 3 s, then released: the last half second is much quieter than the first.
        let energy = |s: &[f32]| s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32;
        assert!(
            energy(&note.audio[56_000..]) < 0.1 * energy(&note.audio[..16_000]),
            "note {} ({}) does not release",
            note.id,
            note.instrument
        );
    }
    assert_eq!(per_pitch.len(), 88);
    assert!(per_pitch.values().all(|&n| n == 2), "every pitch twice");
    assert!(per_instrument.len() >= 10, "{per_instrument:?}");
    println!("notes per instrument: {per_instrument:?}\nnotes per split: {per_split:?}");
    assert!((115..=131).contains(&per_split[&Split::Train]), "{per_split:?}");
    assert!(
        per_split[&Split::Valid] >= 20 && per_split[&Split::Test] >= 20,
        "{per_split:?}"
    );
}

#[test]
fn tracks_have_their_duration_and_a_sane_level() {
    let cfg = config(10, 5);
    for i in 0..cfg.tracks {
        let track = generate_track(cfg.seed, i, &cfg);
        let seconds = track.seconds();
        assert!((20.0..=30.0).contains(&seconds), "{seconds}");
        assert!(track.audio.iter().all(|x| x.is_finite()));
        let peak = track.audio.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((0.5..=0.9).contains(&peak), "peak {peak}");
        // Music all the way through: no second of near silence before the final fade.
        for second in track.audio[..track.audio.len() - 16_000].chunks(16_000) {
            let rms = (second.iter().map(|x| x * x).sum::<f32>() / second.len() as f32).sqrt();
            assert!(rms > 0.01, "{}: a quiet second (rms {rms})", track.id);
        }
    }
}

#[test]
fn manifest_follows_the_convention_and_reads_back() {
    let cfg = small_config();
    let corpus = generate(&cfg).unwrap();
    let dir = temp_dir("manifest");
    let manifest_path = write_corpus(&corpus, &dir).unwrap();
    let manifest = Manifest::read(&manifest_path).unwrap();
    assert_eq!(manifest.columns, MANIFEST_COLUMNS.to_vec());
    assert_eq!(manifest.rows.len(), cfg.tracks + cfg.notes);
    for (row, track) in manifest.rows.iter().zip(&corpus.tracks) {
        let f = &row.fields;
        assert_eq!(f["kind"], "track");
        assert_eq!(f["id"], track.id);
        assert_eq!(f["key"].parse::<Key>().unwrap(), track.labels.key);
        assert_eq!(f["tempo"].parse::<f64>().unwrap(), track.labels.tempo);
        assert_eq!(f["split"].parse::<Split>().unwrap(), track.split);
        assert_eq!(f["tags"].split(';').collect::<Vec<_>>(), track.labels.tags);
        assert_eq!(f["pitch"], "");
        assert!((f["seconds"].parse::<f64>().unwrap() - track.seconds()).abs() < 1e-9);
        // The wav holds the samples to 16-bit precision.
        let mut reader = hound::WavReader::open(&row.path).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.spec().channels, 1);
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(samples.len(), track.audio.len());
        assert!(
            samples
                .iter()
                .zip(&track.audio)
                .all(|(s, x)| (*s as f32 / 32768.0 - x).abs() <= 1.0 / 32768.0)
        );
    }
    for (row, note) in manifest.rows[cfg.tracks..].iter().zip(&corpus.notes) {
        assert_eq!(row.fields["kind"], "note");
        assert_eq!(row.fields["pitch"].parse::<u8>().unwrap(), note.pitch);
        assert_eq!(row.fields["instrument"].parse::<Instrument>().unwrap(), note.instrument);
        assert_eq!(row.fields["key"], "");
        assert!(row.path.is_file());
    }
    // The config copy regenerates the corpus.
    let text = std::fs::read_to_string(dir.join(CONFIG_NAME)).unwrap();
    assert_eq!(toml::from_str::<CorpusConfig>(&text).unwrap(), cfg);

    // An earlier corpus is replaced (its extra files removed); a foreign folder is refused.
    let smaller = generate(&CorpusConfig {
        tracks: 2,
        notes: 1,
        ..cfg.clone()
    })
    .unwrap();
    write_corpus(&smaller, &dir).unwrap();
    assert!(!dir.join("tracks/track_00003.wav").exists());
    assert_eq!(Manifest::read(&manifest_path).unwrap().rows.len(), 3);
    let foreign = temp_dir("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    assert!(matches!(
        write_corpus(&smaller, &foreign),
        Err(CorpusError::NotEmpty(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&foreign).unwrap();
}

#[test]
fn config_rejects_unknown_keys_and_bad_values() {
    let err = toml::from_str::<CorpusConfig>("trakcs = 3\n").unwrap_err().to_string();
    assert!(err.contains("trakcs"), "{err}");
    let partial: CorpusConfig = toml::from_str("tracks = 3\n").unwrap();
    assert_eq!(
        partial,
        CorpusConfig {
            tracks: 3,
            ..CorpusConfig::default()
        }
    );
    for bad in [
        CorpusConfig {
            track_seconds: (10.0, 5.0),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            track_seconds: (0.0, 5.0),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            note_seconds: f64::NAN,
            ..CorpusConfig::default()
        },
        CorpusConfig {
            splits: (0.0, 0.0, 0.0),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            splits: (0.8, -0.1, 0.3),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            tempo_family_size: 0,
            ..CorpusConfig::default()
        },
        CorpusConfig {
            tempo_family_size: loev_corpus::MAX_TEMPO_FAMILY_SIZE + 1,
            ..CorpusConfig::default()
        },
    ] {
        let err = generate(&bad).unwrap_err();
        assert!(matches!(err, CorpusError::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn extreme_durations_render_cleanly() {
    let short = CorpusConfig {
        track_seconds: (1.0, 1.2),
        note_seconds: 0.5,
        ..CorpusConfig::default()
    };
    for i in 0..30 {
        let track = generate_track(1, i, &short);
        assert!((1.0..=1.2).contains(&track.seconds()));
        assert!(track.audio.iter().all(|x| x.is_finite() && x.abs() < 1.0));
        let note = generate_note(1, i, &short);
        assert_eq!(note.audio.len(), 8_000);
        assert!(note.audio.iter().all(|x| x.is_finite()));
    }
    let long = CorpusConfig {
        track_seconds: (90.0, 90.0),
        ..CorpusConfig::default()
    };
    let track = generate_track(1, 0, &long);
    assert_eq!(track.audio.len(), 90 * 16_000);
    assert!(track.audio.iter().all(|x| x.is_finite() && x.abs() < 1.0));
}
