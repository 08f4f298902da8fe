//! Silence must train (issue 13, item 1): real music often starts with seconds of digital
//! silence, and a crop can fall entirely inside it. A standardised constant slice is all zeros,
//! the untrained model maps zeros to an all-zero projection, and the cosine similarity of such a
//! row used to make every gradient NaN at the first step (the run stopped at step 2).
//!
//! The acceptance test builds a cache from wav files — five corpus tracks, one track with an
//! 8 s silent intro and one fully silent track — and trains the test-size LOEV-PSTS model for
//! 50 steps through [`loev_train::pretrain`], the entry point `loev pretrain` uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use loev_audio::SAMPLE_RATE;
use loev_audio::cache::{AudioCache, CacheBuildOptions, CacheSource};
use loev_augment::BatchLoader;
use loev_train::fixtures::{TestBatches, test_size_config};
use loev_train::{TrainConfig, TrainOptions};

const STEPS: u64 = 50;
const SILENT_INTRO_SECONDS: usize = 8;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Wav files of five corpus tracks, `intro.wav` (8 s of silence, then music) and
/// `silent.wav` (10 s of silence), decoded into a cache as `loev cache build` does.
fn silence_cache(root: &Path) -> PathBuf {
    let audio = root.join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let corpus = loev_corpus::CorpusConfig {
        tracks: 6,
        notes: 0,
        seed: 5,
        track_seconds: (6.0, 8.0),
        ..Default::default()
    };
    let write = |name: &str, samples: &[f32]| {
        loev_audio::wav::write_wav(&audio.join(name), samples, SAMPLE_RATE).unwrap();
    };
    for index in 0..5 {
        let track = loev_corpus::generate_track(corpus.seed, index, &corpus);
        write(&format!("{}.wav", track.id), &track.audio);
    }
    let music = loev_corpus::generate_track(corpus.seed, 5, &corpus).audio;
    let mut intro = vec![0.0f32; SILENT_INTRO_SECONDS * SAMPLE_RATE as usize];
    intro.extend_from_slice(&music);
    write("intro.wav", &intro);
    write("silent.wav", &vec![0.0f32; 10 * SAMPLE_RATE as usize]);
    let cache = root.join("cache");
    let report = AudioCache::build(&CacheSource::Folder(audio), &cache, &CacheBuildOptions::default()).unwrap();
    assert_eq!(report.tracks, 7, "every file is cached: {:?}", report.skipped);
    cache
}

/// The test-size LOEV-PSTS run with the tiny preset's augmentations and optimizer; every batch
/// holds every track (7 anchors), so the silent track is in each one.
fn silence_config(cache: &Path) -> TrainConfig {
    let batches = TestBatches {
        anchors: 7,
        views: 4,
        frames: 100,
        workers: 2,
    };
    let mut config = test_size_config("loev-psts:tiny", "silence", cache, batches).unwrap();
    config.train.steps = STEPS;
    config.train.log_every = 1;
    config.train.checkpoint_every = STEPS;
    config.validate().unwrap();
    config
}

/// The batch stream the trainer reads, built the way the trainer builds it.
fn loader(config: &TrainConfig, cache: Arc<AudioCache>) -> BatchLoader {
    let loader_config = config.loader_config();
    BatchLoader::new(cache, loader_config, 0).unwrap()
}

#[test]
fn a_corpus_with_silent_tracks_trains_50_steps_with_finite_losses_in_every_head() {
    let root = temp_dir("silence");
    let cache_dir = silence_cache(&root);
    let config = silence_config(&cache_dir);

    // The test is only meaningful if the model really sees silent views: the fully silent
    // track's views are all-zero model inputs (constant slices standardise to 0).
    let cache = Arc::new(AudioCache::open(&cache_dir).unwrap());
    let silent_track = cache
        .entries()
        .iter()
        .position(|e| e.source.file_name().is_some_and(|n| n == "silent.wav"))
        .expect("the silent track is cached") as u32;
    let batch = loader(&config, cache.clone()).next_batch().unwrap();
    let silent_views: Vec<usize> = (0..batch.len())
        .filter(|&i| batch.input(i).iter().all(|&v| v == 0.0))
        .collect();
    assert!(!silent_views.is_empty(), "batch 0 has no silent view");
    assert!(
        silent_views.iter().any(|&i| batch.track_ids[i] == silent_track),
        "the silent track's views are not silent inputs"
    );
    assert!(batch.inputs.iter().all(|v| v.is_finite()));

    let run = root.join("run");
    let mut options = TrainOptions::new(&run);
    options.progress = false;
    options.verbose = false;
    let summary = loev_train::pretrain(&config, &options).unwrap_or_else(|e| panic!("training stopped: {e}"));
    assert_eq!(summary.steps, STEPS);

    // Every step is logged: the total and each head's loss are finite numbers (serde_json
    // writes a NaN as null, which `as_f64` rejects).
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), STEPS as usize);
    for line in &lines {
        let finite = |v: &serde_json::Value| v.as_f64().is_some_and(f64::is_finite);
        assert!(finite(&line["loss"]), "{line}");
        let heads = line["heads"].as_object().unwrap();
        assert_eq!(heads.len(), summary.heads.len());
        for name in &summary.heads {
            assert!(finite(&heads[name]["loss"]), "head {name}: {line}");
        }
    }
    // And the run learns rather than merely surviving.
    assert!(summary.last_losses.iter().all(|v| v.is_finite()));
    let mean = |window: &[serde_json::Value]| {
        window.iter().filter_map(|l| l["loss"].as_f64()).sum::<f64>() / window.len() as f64
    };
    let (first, last) = (mean(&lines[..10]), mean(&lines[lines.len() - 10..]));
    assert!(last < first, "loss did not fall: {first} → {last}");
    std::fs::remove_dir_all(&root).ok();
}
