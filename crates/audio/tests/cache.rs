//! The decode-once cache over a folder with one corrupt file: the build succeeds, reports
//! exactly that file with its reason (returned report, skipped.csv, report.json), and crops read
//! from the cache equal, bit for bit, the same crops of a direct decode + resample.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use loev_audio::cache::{AudioCache, CacheBuildOptions, CacheError, CacheSource};
use loev_audio::chunks::{CropProbabilities, read_crop, sample_crops};
use loev_audio::decode::load_mono;
use loev_audio::manifest::{Manifest, ManifestRow};
use loev_core::rng::derived_rng;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-cache-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A corpus folder: six real files in two sub-folders, one corrupt flac, one text file.
fn corpus(root: &Path) -> (Vec<PathBuf>, PathBuf) {
    let names = [
        ("a/sine1k_44100_stereo.mp3", "sine1k_44100_stereo.mp3"),
        ("a/sine1k_8000_mono.wav", "sine1k_8000_mono.wav"),
        ("b/deeper/sine1k_48000_stereo.flac", "sine1k_48000_stereo.flac"),
        ("b/sine1k_22050_mono.ogg", "sine1k_22050_mono.ogg"),
        ("b/SINE.WAV", "sine1k_22050_stereo.wav"),
        ("top.oga", "sine1k_48000_mono.ogg"),
    ];
    let mut good = Vec::new();
    for (dst, src) in names {
        let path = root.join(dst);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::copy(fixture(src), &path).unwrap();
        good.push(path);
    }
    // A flac whose audio frames are overwritten with garbage after the stream header.
    let mut bytes = fs::read(fixture("sine1k_44100_mono.flac")).unwrap();
    let mut state = 0x1234_5678u32;
    for b in bytes.iter_mut().skip(200) {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *b = (state >> 24) as u8;
    }
    let corrupt = root.join("b/corrupt.flac");
    fs::write(&corrupt, bytes).unwrap();
    fs::write(
        root.join("b/notes.txt"),
        "not audio, and not an audio extension: ignored",
    )
    .unwrap();
    (good, corrupt)
}

#[test]
fn folder_with_one_corrupt_file_is_cached_and_crops_match_direct_decoding() {
    let root = temp_dir("folder");
    let (good, corrupt) = corpus(&root.join("music"));
    let out = root.join("cache");
    let opts = CacheBuildOptions {
        threads: 2,
        progress: false,
        min_seconds: 0.0,
    };
    let report = AudioCache::build(&CacheSource::Folder(root.join("music")), &out, &opts).unwrap();

    assert_eq!(report.tracks, good.len());
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].0, corrupt);
    println!("skipped: {} — {}", report.skipped[0].0.display(), report.skipped[0].1);
    assert!(
        report.skipped[0].1.contains("corrupt") || report.skipped[0].1.contains("truncated"),
        "{}",
        report.skipped[0].1
    );
    // The report files say the same.
    let skipped_csv = fs::read_to_string(out.join("skipped.csv")).unwrap();
    let lines: Vec<&str> = skipped_csv.lines().collect();
    assert_eq!(lines.len(), 2, "{skipped_csv}");
    assert_eq!(lines[0], "path,reason");
    assert!(lines[1].starts_with(&corrupt.display().to_string()));
    let cache = AudioCache::open(&out).unwrap();
    assert_eq!(cache.report().unwrap().skipped, report.skipped);

    // Ids are the relative paths, in sorted order; tracks equal load_mono bit for bit.
    let ids: Vec<&str> = cache.entries().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "a/sine1k_44100_stereo.mp3",
            "a/sine1k_8000_mono.wav",
            "b/SINE.WAV",
            "b/deeper/sine1k_48000_stereo.flac",
            "b/sine1k_22050_mono.ogg",
            "top.oga"
        ]
    );
    let probs = CropProbabilities::default();
    for i in 0..cache.len() {
        let entry = cache.entry(i);
        let direct = load_mono(&entry.source).unwrap();
        let cached = cache.track(i);
        assert_eq!(cached.len(), direct.len(), "{}", entry.id);
        assert!(
            cached.iter().zip(&direct).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}",
            entry.id
        );
        for anchor in 0..20u64 {
            let lengths = [1600, 2400, 1600, 4000];
            let (_, crops) = sample_crops(cached.len(), &lengths, &probs, &mut derived_rng(7, &[i as u64, anchor]));
            for crop in &crops {
                let from_cache = read_crop(cached, crop);
                let from_decode = read_crop(&direct, crop);
                assert!(
                    from_cache
                        .iter()
                        .zip(&from_decode)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
            }
        }
    }
    let total: f64 = cache.entries().iter().map(|e| e.len as f64).sum::<f64>() / 16_000.0;
    assert!((report.seconds_of_audio - total).abs() < 1e-9);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn manifest_metadata_ids_missing_files_and_min_seconds() {
    let root = temp_dir("manifest");
    let (good, _) = corpus(&root.join("music"));
    let manifest_path = root.join("list.tsv");
    let mut text = String::from("id\tpath\tgenre\n");
    text.push_str("first\tmusic/a/sine1k_8000_mono.wav\tjazz\n");
    text.push_str(&format!("\t{}\trock\n", good[2].display()));
    text.push_str("gone\tmusic/missing.wav\tpop\n");
    fs::write(&manifest_path, text).unwrap();
    let out = root.join("cache");
    let report = AudioCache::build(
        &CacheSource::from_path(&manifest_path),
        &out,
        &CacheBuildOptions::default(),
    )
    .unwrap();
    assert_eq!(report.tracks, 2);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, root.join("music/missing.wav"));
    assert!(report.skipped[0].1.contains("cannot read"), "{}", report.skipped[0].1);
    let cache = AudioCache::open(&out).unwrap();
    assert_eq!(cache.entry(0).id, "first");
    assert_eq!(cache.entry(0).metadata["genre"], "jazz");
    // No id: the path relative to the manifest's folder is the id.
    assert_eq!(cache.entry(1).id, "music/b/deeper/sine1k_48000_stereo.flac");
    assert_eq!(cache.entry(1).metadata["genre"], "rock");

    // min_seconds: every fixture is 0.3 s long.
    let opts = CacheBuildOptions {
        min_seconds: 0.35,
        ..Default::default()
    };
    let err = AudioCache::build(&CacheSource::Folder(root.join("music")), &root.join("short"), &opts).unwrap_err();
    assert!(matches!(err, CacheError::NoTracks { skipped: 7, .. }), "{err}");
    assert!(!root.join("short").exists());
    let opts = CacheBuildOptions {
        min_seconds: 0.25,
        ..Default::default()
    };
    assert_eq!(
        AudioCache::build(&CacheSource::Folder(root.join("music")), &root.join("short"), &opts)
            .unwrap()
            .tracks,
        6
    );

    // A manifest written by Manifest::write is a valid cache source.
    let m = Manifest {
        columns: vec!["path".into(), "key".into()],
        rows: vec![ManifestRow {
            path: good[0].clone(),
            fields: BTreeMap::from([("key".into(), "A".into())]),
        }],
    };
    m.write(&root.join("music/m.csv")).unwrap();
    let report = AudioCache::build(
        &CacheSource::Manifest(root.join("music/m.csv")),
        &root.join("c2"),
        &CacheBuildOptions::default(),
    )
    .unwrap();
    assert_eq!(report.tracks, 1);
    assert_eq!(
        AudioCache::open(&root.join("c2")).unwrap().entry(0).id,
        "a/sine1k_44100_stereo.mp3"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cache_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AudioCache>();
    assert_send_sync::<loev_audio::frontend::FrontEnd>();
}
