//! Every loader on its fixture tree (`loev_data::fixtures`), against counts and labels worked
//! out by hand from the fixture's annotation files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use loev_data::fixtures::{Fixture, FixtureOptions, write_fixture_with, write_manifest_fixture};
use loev_data::labels::{Key, Mode, TempoBinning};
use loev_data::{
    AudioCheck, DataError, DatasetName, GiantstepsTempoVersion, LoadOptions, LoadReport, MttSplit, Split, Target,
    TaskDataset, TaskKind, ZeroTempo, check_dataset, load_manifest_tasks,
};

/// A fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "loev-data-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: DatasetName) -> (TempDir, Fixture) {
    let dir = TempDir::new(name.as_str());
    let fixture = write_fixture_with(name, &dir.0, &FixtureOptions { seconds: 0.25 }).unwrap();
    (dir, fixture)
}

/// The fixture of a single-task dataset loaded with the default options: its task and report.
fn load_one(name: DatasetName) -> (TempDir, Fixture, TaskDataset, LoadReport) {
    let (dir, fx) = fixture(name);
    let (mut tasks, report) = fx.load(&LoadOptions::default()).unwrap();
    assert_eq!(tasks.len(), 1, "{name}");
    (dir, fx, tasks.remove(0), report)
}

fn with_check(check: AudioCheck) -> LoadOptions {
    LoadOptions {
        audio_check: check,
        ..LoadOptions::default()
    }
}

fn ids(task: &TaskDataset, split: Split) -> BTreeSet<String> {
    task.split(split).map(|t| t.id.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn missing_ids(report: &LoadReport) -> BTreeSet<String> {
    report.missing.iter().map(|p| p.id.clone()).collect()
}

fn corrupt_ids(report: &LoadReport) -> BTreeSet<String> {
    report.corrupt.iter().map(|p| p.id.clone()).collect()
}

/// Whether a note of the report contains `text`.
fn noted(report: &LoadReport, text: &str) -> bool {
    report.notes.iter().any(|n| n.contains(text))
}

/// Whether the report lists `id` as missing, at a path ending with `end`.
fn missing_at(report: &LoadReport, id: &str, end: &str) -> bool {
    report.missing.iter().any(|p| p.id == id && p.path.ends_with(end))
}

fn excluded(report: &LoadReport, kind: &str) -> BTreeSet<String> {
    report
        .excluded
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.id.clone())
        .collect()
}

fn track<'a>(task: &'a TaskDataset, id: &str) -> &'a loev_data::TaskTrack {
    task.tracks
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("{id} not in {}", task.name))
}

#[test]
fn mtt_pons_split_keeps_untagged_clips_and_excludes_broken_ones() {
    let (_dir, fx, mtt, report) = load_one(DatasetName::Mtt);
    assert_eq!(
        (mtt.name.as_str(), mtt.kind, mtt.classes.len()),
        ("mtt", TaskKind::Tagging, 50)
    );
    assert_eq!(ids(&mtt, Split::Train), set(&["2", "6", "10", "20", "44"]));
    assert_eq!(ids(&mtt, Split::Valid), set(&["30", "31"]));
    assert_eq!(ids(&mtt, Split::Test), set(&["40", "43"])); // 43 is corrupt, undetected by the existence check
    assert_eq!(missing_ids(&report), set(&["41", "42"]));
    assert!(
        report
            .missing
            .iter()
            .all(|p| p.path.starts_with(&fx.root) && p.uses == vec![("mtt".to_string(), Split::Test)])
    );
    assert_eq!(
        excluded(&report, "known broken clip"),
        set(&["35644", "55753", "57881"])
    );
    assert_eq!(report.excluded.len(), 3);

    // Tags by column name, in vocabulary order; non-top-50 columns ignored.
    assert_eq!(track(&mtt, "6").labels.tags, vec!["new age", "no voice"]);
    assert!(track(&mtt, "10").labels.tags.is_empty());
    assert_eq!(track(&mtt, "20").labels.tags, vec!["rock", "male vocal"]);
    let Target::MultiHot(hot) = mtt.target(track(&mtt, "40")) else {
        panic!("tagging target")
    };
    let on: Vec<&str> = hot
        .iter()
        .enumerate()
        .filter(|(_, v)| **v == 1.0)
        .map(|(i, _)| mtt.classes[i].as_str())
        .collect();
    assert_eq!(on, vec!["techno", "electronic", "beat"]);
    assert!(noted(&report, "1 clips have none of the top-50 tags"));

    // The header probe finds the corrupt clip.
    let (tasks, report) = fx.load(&with_check(AudioCheck::Probe)).unwrap();
    assert_eq!(ids(&tasks[0], Split::Test), set(&["40"]));
    assert_eq!(corrupt_ids(&report), set(&["43"]));
    assert!(
        report.corrupt[0].reason.contains("not audio"),
        "{}",
        report.corrupt[0].reason
    );
}

#[test]
fn mtt_won_split_reads_numpy_string_lists() {
    let (_dir, fx) = fixture(DatasetName::Mtt);
    let opts = LoadOptions {
        mtt_split: MttSplit::Won,
        ..LoadOptions::default()
    };
    let (tasks, report) = fx.load(&opts).unwrap();
    let mtt = &tasks[0];
    assert_eq!(ids(mtt, Split::Train), set(&["2", "6", "20"]));
    assert_eq!(ids(mtt, Split::Valid), set(&["30"]));
    assert_eq!(ids(mtt, Split::Test), set(&["40", "43"]));
    assert_eq!(missing_ids(&report), set(&["41"]));
    assert_eq!(
        excluded(&report, "not in the Won split"),
        set(&["10", "44", "31", "42"])
    );
    assert_eq!(excluded(&report, "known broken clip").len(), 3);

    let missing_dir = LoadOptions {
        mtt_won_split_dir: Some(fx.root.join("nowhere")),
        ..opts
    };
    let err = fx.load(&missing_dir).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
}

#[test]
fn mtg_jamendo_reads_crlf_variable_tags_low_quality_and_converted_audio() {
    let (_dir, fx, mtg, report) = load_one(DatasetName::MtgJamendo);
    assert_eq!(mtg.classes.len(), 50);
    assert_eq!(
        ids(&mtg, Split::Train),
        set(&["track_0000241", "track_0000382", "track_0000948", "track_0001000"])
    );
    assert_eq!(ids(&mtg, Split::Valid), set(&["track_0000500"]));
    assert_eq!(ids(&mtg, Split::Test), set(&["track_0000702", "track_0000904"]));
    assert_eq!(missing_ids(&report), set(&["track_0000601", "track_0000803"]));
    assert!(
        report
            .missing
            .iter()
            .all(|p| p.path.to_string_lossy().ends_with(".low.mp3"))
    );
    assert_eq!(
        track(&mtg, "track_0000382").labels.tags,
        vec![
            "genre---electronic",
            "genre---techno",
            "instrument---synthesizer",
            "mood/theme---energetic"
        ]
    );
    assert_eq!(track(&mtg, "track_0000948").labels.tags, vec!["genre---ambient"]); // genre---polka is not top-50
    assert!(track(&mtg, "track_0000241").path.ends_with("audio/41/241.low.mp3"));
    assert!(track(&mtg, "track_0001000").path.ends_with("audio/00/1000.low.wav"));
    assert!(noted(&report, "1 listed audio files were absent but found converted"));
    assert!(noted(&report, "1 tag occurrences outside the top-50"));
    let summary = mtg.summary();
    let count = |tag: &str| {
        summary
            .class_counts
            .iter()
            .find(|(c, _)| c == tag)
            .map(|(_, n)| n.total())
            .unwrap_or(99)
    };
    assert_eq!(count("instrument---violin"), 1);
    assert_eq!(count("genre---pop"), 0); // its only track is missing

    let (tasks, report) = fx.load(&with_check(AudioCheck::Probe)).unwrap();
    assert_eq!(ids(&tasks[0], Split::Test), set(&["track_0000702"]));
    assert_eq!(corrupt_ids(&report), set(&["track_0000904"]));
}

const MTG_KEY_KEPT: [&str; 8] = ["2000", "2001", "2006", "2007", "2008", "2009", "2010", "2011"];

#[test]
fn gs_key_filters_mtg_key_and_tests_on_giantsteps() {
    let (_dir, fx, key, report) = load_one(DatasetName::GsKey);
    assert_eq!((key.name.as_str(), key.kind), ("gs-key", TaskKind::Key));
    assert_eq!(key.classes, TaskDataset::key_classes());
    assert_eq!(ids(&key, Split::Test), set(&["1000", "1001", "1002", "1004"]));
    assert_eq!(missing_ids(&report), set(&["1003", "2007"]));

    // 8 MTG-key rows pass the filter; floor(8 · 0.9) = 7 go to train, 1 to valid, before the
    // missing 2007 is removed.
    let trained: BTreeSet<String> = ids(&key, Split::Train)
        .union(&ids(&key, Split::Valid))
        .cloned()
        .collect();
    let expected: BTreeSet<String> = MTG_KEY_KEPT
        .iter()
        .filter(|id| **id != "2007")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(trained, expected);
    let missing_2007 = report.missing.iter().find(|p| p.id == "2007").unwrap();
    let valid_before = ids(&key, Split::Valid).len() + usize::from(missing_2007.uses[0].1 == Split::Valid);
    assert_eq!(valid_before, 1);

    assert_eq!(excluded(&report, "multi-key"), set(&["2002"]));
    assert_eq!(excluded(&report, "low confidence"), set(&["2003", "2005"]));
    assert_eq!(excluded(&report, "no key"), set(&["2004"]));
    assert_eq!(excluded(&report, "also a test track"), set(&["1000"]));
    assert_eq!(report.excluded.len(), 5);

    // Sharps become flats, trailing spaces and lower case are tolerated.
    assert_eq!(track(&key, "2000").labels.key, Some(Key::new(3, Mode::Minor)));
    assert_eq!(key.target(track(&key, "2000")), Target::Class(15)); // Eb minor
    assert_eq!(key.target(track(&key, "2001")), Target::Class(1)); // Db major
    assert_eq!(key.target(track(&key, "2011")), Target::Class(12)); // C minor
    assert_eq!(key.target(track(&key, "1002")), Target::Class(18)); // Gb minor
    assert_eq!(key.target(track(&key, "1001")), Target::Class(3)); // Eb major
    assert_eq!(track(&key, "1000").group.as_deref(), Some("giantsteps-key"));

    // One audio folder cannot serve two datasets.
    let elsewhere = LoadOptions {
        audio_dir: Some(fx.root.clone()),
        ..LoadOptions::default()
    };
    assert!(matches!(fx.load(&elsewhere), Err(DataError::Options(_))));

    // Deterministic for a seed.
    let (again, _) = fx.load(&LoadOptions::default()).unwrap();
    assert_eq!(again[0], key);
}

#[test]
fn data_check_reports_exactly_the_two_missing_files() {
    let (_dir, fx) = fixture(DatasetName::GsKey);
    let check = check_dataset(DatasetName::GsKey, &fx.root, &with_check(AudioCheck::Probe)).unwrap();
    assert!(!check.is_complete());
    let missing: BTreeSet<PathBuf> = check.report.missing.iter().map(|p| p.path.clone()).collect();
    let expected: BTreeSet<PathBuf> = fx.missing.iter().cloned().collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(missing, expected);
    assert_eq!(corrupt_ids(&check.report), set(&["1004"]));
    let text = check.to_string();
    for path in &fx.missing {
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
    assert!(text.contains("missing audio files: 2"), "{text}");
    assert!(text.contains("INCOMPLETE: 2 missing, 1 corrupt"), "{text}");
    assert!(text.contains("gs-key: 1 × multi-key"), "{text}");
}

#[test]
fn giantsteps_key_parts_load_on_their_own() {
    let (_dir, _, task, report) = load_one(DatasetName::GiantstepsKey);
    assert_eq!(ids(&task, Split::Test), set(&["1000", "1001", "1002", "1004"]));
    assert_eq!(task.tracks.len(), 4);
    assert_eq!(missing_ids(&report), set(&["1003"]));

    let (_dir, _, task, report) = load_one(DatasetName::GiantstepsMtgKey);
    assert_eq!(ids(&task, Split::Test).len(), 0);
    // 9 kept rows (1000 included when there is no test set): floor(9 · 0.9) = 8 train, 1 valid.
    let all: BTreeSet<String> = task.tracks.iter().map(|t| t.id.clone()).collect();
    let mut expected: BTreeSet<String> = MTG_KEY_KEPT
        .iter()
        .filter(|id| **id != "2007")
        .map(|s| s.to_string())
        .collect();
    expected.insert("1000".into());
    assert_eq!(all, expected);
    assert_eq!(missing_ids(&report), set(&["2007"]));
    assert_eq!(report.excluded.len(), 4);
}

#[test]
fn nsynth_streams_examples_and_builds_pitch_classes() {
    let (_dir, fx, p, report) = load_one(DatasetName::Nsynth);
    assert_eq!((p.name.as_str(), p.kind), ("nsynth-pitch", TaskKind::Pitch));
    assert_eq!(p.classes, vec!["36", "48", "55", "60", "64", "67", "72", "84"]); // from every annotated note
    assert_eq!(
        ids(&p, Split::Train),
        set(&[
            "keyboard_electronic_002-060-050",
            "bass_synthetic_009-036-100",
            "guitar_acoustic_010-064-075"
        ])
    );
    assert_eq!(
        ids(&p, Split::Valid),
        set(&["organ_electronic_001-048-025", "string_acoustic_012-060-050"])
    );
    assert_eq!(
        ids(&p, Split::Test),
        set(&["mallet_acoustic_047-084-075", "brass_acoustic_006-067-050"])
    );
    assert_eq!(
        missing_ids(&report),
        set(&["flute_acoustic_002-072-127", "vocal_synthetic_003-055-100"])
    );
    let bass = track(&p, "bass_synthetic_009-036-100");
    assert_eq!(
        (bass.labels.pitch, bass.labels.instrument.as_deref()),
        (Some(36), Some("bass"))
    );
    assert_eq!(p.target(bass), Target::Class(0));
    assert_eq!(p.target(track(&p, "mallet_acoustic_047-084-075")), Target::Class(7));

    let ranged = LoadOptions {
        nsynth_pitch_range: Some([40, 80]),
        ..LoadOptions::default()
    };
    let (tasks, report) = fx.load(&ranged).unwrap();
    assert_eq!(tasks[0].classes, vec!["48", "55", "60", "64", "67", "72"]);
    assert_eq!(
        excluded(&report, "pitch outside the selected range"),
        set(&["bass_synthetic_009-036-100", "mallet_acoustic_047-084-075"])
    );

    // An absent split folder is reported, the others still load.
    std::fs::remove_dir_all(fx.root.join("nsynth-valid")).unwrap();
    let (tasks, report) = fx.load(&LoadOptions::default()).unwrap();
    assert_eq!(ids(&tasks[0], Split::Valid).len(), 0);
    assert_eq!(ids(&tasks[0], Split::Train).len(), 3);
    assert!(missing_at(&report, "nsynth-valid", "nsynth-valid/examples.json"));
}

#[test]
fn gtzan_tempo_uses_the_filtered_split_and_drops_tempi_above_299() {
    let (_dir, fx, t, report) = load_one(DatasetName::GtzanTempo);
    assert_eq!(
        (t.name.as_str(), t.kind, t.classes.len()),
        ("gtzan-tempo", TaskKind::Tempo, 300)
    );
    assert_eq!(ids(&t, Split::Train), set(&["gtzan_blues.00029"]));
    assert_eq!(ids(&t, Split::Valid), set(&["gtzan_blues.00000"]));
    assert_eq!(ids(&t, Split::Test), set(&["gtzan_blues.00012"]));
    assert_eq!(missing_ids(&report), set(&["gtzan_rock.00010"]));
    assert_eq!(excluded(&report, "tempo out of range"), set(&["gtzan_jazz.00031"]));
    assert_eq!(
        excluded(&report, "not in the fault-filtered split"),
        set(&["gtzan_pop.00030"])
    );
    assert_eq!(excluded(&report, "no tempo annotation").len(), 930 - 5); // the fixture annotates 5 of the 930 listed tracks
    let blues = track(&t, "gtzan_blues.00029");
    assert!((blues.labels.tempo.unwrap() - 125.87).abs() < 1e-9);
    assert_eq!(t.target(blues), Target::Class(125));
    assert_eq!(blues.group.as_deref(), Some("gtzan"));

    // Audio kept elsewhere (GTZAN's own `genres/` folder) is found through `audio_dir`.
    std::fs::rename(fx.root.join("audio"), fx.root.join("genres")).unwrap();
    let (tasks, report) = fx.load(&LoadOptions::default()).unwrap();
    assert_eq!((tasks[0].tracks.len(), report.missing.len()), (0, 4));
    let elsewhere = LoadOptions {
        audio_dir: Some(fx.root.join("genres")),
        ..LoadOptions::default()
    };
    let (tasks, report) = fx.load(&elsewhere).unwrap();
    assert_eq!((tasks[0].tracks.len(), report.missing.len()), (3, 1));
    std::fs::rename(fx.root.join("genres"), fx.root.join("audio")).unwrap();

    let rounded = LoadOptions {
        tempo_binning: TempoBinning::Round,
        ..LoadOptions::default()
    };
    let (tasks, _) = fx.load(&rounded).unwrap();
    assert_eq!(
        tasks[0].target(track(&tasks[0], "gtzan_blues.00029")),
        Target::Class(126)
    );
}

#[test]
fn hainsworth_and_acm_mirum_tempo() {
    let (_dir, _, t, report) = load_one(DatasetName::Hainsworth);
    assert_eq!(ids(&t, Split::Test), set(&["hainsworth_001", "hainsworth_002"]));
    assert_eq!(track(&t, "hainsworth_001").labels.tempo, Some(120.0));
    assert_eq!(track(&t, "hainsworth_002").labels.tempo, Some(96.0));
    assert_eq!(excluded(&report, "no beats"), set(&["hainsworth_003"]));
    assert!(report.audio_complete());

    let (_dir, fx, t, report) = load_one(DatasetName::AcmMirum);
    assert_eq!(
        ids(&t, Split::Test),
        set(&["acm-mirum_10118334", "acm-mirum_20000001", "acm-mirum_20000002"])
    );
    assert_eq!(track(&t, "acm-mirum_10118334").labels.tempo, Some(91.0));
    assert_eq!(track(&t, "acm-mirum_20000001").labels.tempo, Some(94.0));
    assert_eq!(t.target(track(&t, "acm-mirum_20000002")), Target::Class(137));
    assert!(
        track(&t, "acm-mirum_10118334")
            .path
            .ends_with("Audio/10118334.clip.mp3")
    );
    assert!(report.audio_complete());
    let (tasks, report) = fx.load(&with_check(AudioCheck::Probe)).unwrap();
    assert_eq!(tasks[0].tracks.len(), 2);
    assert_eq!(corrupt_ids(&report), set(&["acm-mirum_20000002"]));
}

#[test]
fn giantsteps_tempo_keeps_or_drops_zero_bpm_deliberately() {
    let (_dir, fx, t, report) = load_one(DatasetName::GiantstepsTempo);
    assert_eq!(ids(&t, Split::Test), set(&["giantsteps_3041381", "giantsteps_1030011"]));
    assert_eq!(track(&t, "giantsteps_1030011").labels.tempo, Some(127.0));
    assert_eq!(t.target(track(&t, "giantsteps_3041381")), Target::Class(0));
    assert!(noted(&report, "1 tracks annotated 0 BPM are kept as class 0"));
    assert_eq!(missing_ids(&report), set(&["giantsteps_2000000"]));

    let drop = LoadOptions {
        zero_tempo: ZeroTempo::Drop,
        ..LoadOptions::default()
    };
    let (tasks, report) = fx.load(&drop).unwrap();
    assert_eq!(ids(&tasks[0], Split::Test), set(&["giantsteps_1030011"]));
    assert_eq!(excluded(&report, "zero tempo"), set(&["giantsteps_3041381"]));

    let v1 = LoadOptions {
        giantsteps_tempo: GiantstepsTempoVersion::V1,
        ..LoadOptions::default()
    };
    let (tasks, _) = fx.load(&v1).unwrap();
    assert_eq!(track(&tasks[0], "giantsteps_3041381").labels.tempo, Some(128.0));
    assert_eq!(track(&tasks[0], "giantsteps_1030011").labels.tempo, Some(126.0));
}

#[test]
fn alltempo_builds_one_leave_one_out_task_per_dataset() {
    let (_dir, fx) = fixture(DatasetName::Alltempo);
    let (tasks, report) = fx.load(&LoadOptions::default()).unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "alltempo-gtzan",
            "alltempo-hainsworth",
            "alltempo-acm-mirum",
            "alltempo-giantsteps"
        ]
    );
    // Result tables average the four folds: each task says which benchmark it is a fold of.
    assert!(tasks.iter().all(|t| t.fold_of.as_deref() == Some("alltempo")));
    // Items per dataset: gtzan 4 (rock.00010 missing), hainsworth 2, acm-mirum 3, giantsteps 3
    // (2000000 missing). Held-out test = the dataset's usable items; the rest is the pool.
    // (test, usable pool, pool before removal → valid = pool − floor(0.9 · pool))
    let expected = [
        ("gtzan", 3, 7, 8),
        ("hainsworth", 2, 8, 10),
        ("acm-mirum", 3, 7, 9),
        ("giantsteps", 2, 8, 9),
    ];
    for (task, (held_out, test, pool, pool_before)) in tasks.iter().zip(expected) {
        assert_eq!(task.split(Split::Test).count(), test, "{}", task.name);
        assert!(task.split(Split::Test).all(|t| t.group.as_deref() == Some(held_out)));
        assert!(
            task.split(Split::Train)
                .chain(task.split(Split::Valid))
                .all(|t| t.group.as_deref() != Some(held_out))
        );
        let train_valid = task.split(Split::Train).count() + task.split(Split::Valid).count();
        assert_eq!(train_valid, pool, "{}", task.name);
        let valid_of_missing = report
            .missing
            .iter()
            .flat_map(|p| &p.uses)
            .filter(|(n, s)| n == &task.name && *s == Split::Valid)
            .count();
        let valid_before = task.split(Split::Valid).count() + valid_of_missing;
        assert_eq!(
            valid_before,
            pool_before - (pool_before as f64 * 0.9).floor() as usize,
            "{}",
            task.name
        );
    }
    assert_eq!(missing_ids(&report), set(&["gtzan_rock.00010", "giantsteps_2000000"]));
    assert!(report.missing.iter().all(|p| p.uses.len() == 4));
    let per_task = report.missing_per_task();
    assert_eq!(per_task["alltempo-gtzan"].test, 1);
    assert_eq!(per_task["alltempo-gtzan"].train + per_task["alltempo-gtzan"].valid, 1);
    assert_eq!(excluded(&report, "no beats"), set(&["hainsworth_003"]));
    assert_eq!(excluded(&report, "tempo out of range"), set(&["gtzan_jazz.00031"]));

    let one = LoadOptions {
        alltempo_holdout: Some("hainsworth".into()),
        ..LoadOptions::default()
    };
    let (tasks, _) = fx.load(&one).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].name, "alltempo-hainsworth");
    let wrong = LoadOptions {
        alltempo_holdout: Some("ballroom".into()),
        ..LoadOptions::default()
    };
    assert!(matches!(fx.load(&wrong), Err(DataError::Options(_))));

    // Hainsworth is not publicly downloadable: without its folder the protocol runs over three.
    std::fs::remove_dir_all(fx.root.join("hainsworth")).unwrap();
    let (tasks, report) = fx.load(&LoadOptions::default()).unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(missing_at(&report, "hainsworth", "hainsworth"));
}

#[test]
fn decode_check_finds_the_corrupt_file_and_accepts_wav_data_under_mp3_names() {
    let (_dir, fx) = fixture(DatasetName::GsKey);
    let (tasks, report) = fx.load(&with_check(AudioCheck::Decode)).unwrap();
    assert_eq!(corrupt_ids(&report), set(&["1004"]));
    assert_eq!(missing_ids(&report), set(&["1003", "2007"]));
    assert_eq!(tasks[0].tracks.len(), 3 + 7);
}

#[test]
fn labelled_manifest_gives_one_task_per_label_column() {
    let dir = TempDir::new("manifest");
    let fx = write_manifest_fixture(&dir.0, &FixtureOptions { seconds: 0.25 }).unwrap();
    let (tasks, report) = load_manifest_tasks(&fx.root, &LoadOptions::default()).unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["tagging", "key", "tempo", "pitch"]);
    let (tagging, key, tempo, pitch) = (&tasks[0], &tasks[1], &tasks[2], &tasks[3]);

    assert_eq!(
        tagging.classes,
        vec![
            "bass",
            "drums",
            "guitar",
            "piano",
            "strings",
            "style:half-time",
            "style:rock",
            "style:shuffle",
            "synth"
        ]
    );
    assert_eq!(ids(tagging, Split::Train), set(&["t0", "t1"]));
    assert_eq!(ids(tagging, Split::Valid), set(&["t2"]));
    assert_eq!(ids(tagging, Split::Test), set(&["t3", "t5"])); // t5 has no split: 1 row → test; t4 missing
    assert_eq!(track(tagging, "t5").labels.tags, vec!["piano", "strings"]);
    assert!(track(tagging, "t5").path.ends_with("tracks/t 5.wav"));
    assert!(noted(&report, "1 rows have no split"));

    assert_eq!(key.tracks.len(), 5);
    assert_eq!(track(key, "t3").labels.key, Some(Key::new(6, Mode::Major))); // F# major = Gb major
    assert_eq!(key.target(track(key, "t1")), Target::Class(21)); // A minor

    assert_eq!(ids(tempo, Split::Test), set(&["t3", "t5"]));
    assert_eq!(excluded(&report, "tempo out of range"), set(&["t4"]));
    assert_eq!(tempo.target(track(tempo, "t1")), Target::Class(95));

    assert_eq!(pitch.classes, vec!["45", "60", "72"]);
    assert_eq!(ids(pitch, Split::Train), set(&["n0"]));
    assert_eq!(ids(pitch, Split::Test), set(&["n2"]));
    assert_eq!(track(pitch, "n0").labels.instrument.as_deref(), Some("piano"));
    assert_eq!(missing_ids(&report), set(&["t4", "n1"]));
    assert!(report.corrupt.is_empty());

    let (tasks, report) = load_manifest_tasks(&fx.root, &with_check(AudioCheck::Probe)).unwrap();
    assert_eq!(corrupt_ids(&report), set(&["n2"]));
    assert_eq!(ids(&tasks[3], Split::Test).len(), 0);
}

#[test]
fn manifest_errors_name_row_and_column_and_plain_manifests_are_still_checked() {
    let dir = TempDir::new("manifest-bad");
    let path = dir.0.join("m.tsv");
    std::fs::write(&path, "path\tkey\tsplit\na.wav\tC major\ttrain\nb.wav\tH minor\ttest\n").unwrap();
    let err = load_manifest_tasks(&path, &LoadOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DataError::BadLabel { row: 2, .. }), "{text}");
    assert!(text.contains("column `key`") && text.contains("'b'"), "{text}");

    std::fs::write(&path, "path\tsplit\na.wav\ttrain\nb.wav\tholdout\n").unwrap();
    let err = load_manifest_tasks(&path, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("holdout"), "{err}");

    std::fs::write(&path, "path\na.wav\nb.wav\n").unwrap();
    let (tasks, report) = load_manifest_tasks(&path, &LoadOptions::default()).unwrap();
    assert!(tasks.is_empty());
    assert_eq!(report.missing.len(), 2);
}

#[test]
fn a_task_written_as_a_manifest_reads_back_with_the_same_labels() {
    let (_dir, fx, task, _) = load_one(DatasetName::Mtt);
    let out = fx.root.join("exported").join("mtt.csv");
    task.to_manifest().unwrap().write(&out).unwrap();
    let (back, report) = load_manifest_tasks(&out, &LoadOptions::default()).unwrap();
    assert!(report.audio_complete());
    let tagging = back.iter().find(|t| t.kind == TaskKind::Tagging).unwrap();
    let labelled: Vec<&loev_data::TaskTrack> = task.tracks.iter().filter(|t| !t.labels.tags.is_empty()).collect();
    assert_eq!(tagging.tracks.len(), labelled.len()); // clip 10 has no tag, so it is in no task
    for original in labelled {
        let copy = track(tagging, &original.id);
        assert_eq!(
            (copy.split, &copy.labels.tags, &copy.path),
            (original.split, &original.labels.tags, &original.path)
        );
    }

    let (_dir, fx, task, _) = load_one(DatasetName::GiantstepsTempo);
    let out = fx.root.join("tempo.csv");
    task.to_manifest().unwrap().write(&out).unwrap();
    let (back, _) = load_manifest_tasks(&out, &LoadOptions::default()).unwrap();
    assert_eq!(back[0].kind, TaskKind::Tempo);
    assert_eq!(track(&back[0], "giantsteps_1030011").labels.tempo, Some(127.0));
    assert_eq!(
        track(&back[0], "giantsteps_1030011").group.as_deref(),
        Some("giantsteps")
    );
}

#[test]
fn unknown_roots_and_missing_annotations_are_clear_errors() {
    let dir = TempDir::new("empty");
    for name in DatasetName::ALL {
        let err = loev_data::load_dataset(name, &dir.0, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{name}: {err}");
    }
    let err = loev_data::load_dataset(
        DatasetName::Mtt,
        Path::new("/nonexistent/loev"),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("annotations_final.csv"), "{err}");
}
