//! Run-folder reliability of pretraining (issue 13, items 3–7), through [`loev_train::pretrain`]
//! and [`loev_train::resume`], the entry points of `loev pretrain`:
//! * a locked run folder is refused with the holder's PID; a lock left by a dead process is
//!   taken over with a warning, and its half-written outputs are removed;
//! * damaged checkpoints never cost progress: resume refuses when all are damaged, and
//!   rotation keeps the checkpoint just written;
//! * `--steps` on resume extends a finished run, and `--device` overrides the saved device;
//! * an invalid config writes nothing, and a folder whose run never trained is reused.
//!
//! Every test trains the test-size model on a small cache of short corpus tracks for a few
//! steps.

mod common;

use common::{small_cache, small_config, temp_dir};
use loev_train::fixtures::quiet_options as options;
use std::fs;
use std::path::{Path, PathBuf};

use loev_artifacts::run_folder::{OPTIMIZER_FILE, RunDirError};
use loev_core::lock::{FolderLock, LOCK_FILE_NAME};
use loev_train::{TrainConfig, TrainError, TrainSummary};

/// A PID far above Linux's pid_max (4,194,304): never a running process.
const DEAD_PID: &str = "999999999";

/// A fresh scratch folder for test `name` holding a small cache, the small run of `steps` steps
/// on that cache, and the run's folder (not created yet): `(root, config, run)`.
fn scratch_run(name: &str, steps: u64) -> (PathBuf, TrainConfig, PathBuf) {
    let root = temp_dir(&format!("reliability-{name}"));
    let config = small_config("reliability", &small_cache(&root), steps);
    let run = root.join("run");
    (root, config, run)
}

fn train(config: &TrainConfig, run: &Path) -> TrainSummary {
    loev_train::pretrain(config, &options(run)).unwrap_or_else(|e| panic!("training: {e}"))
}

fn resume_with(run: &Path, steps: Option<u64>, stop_after: Option<u64>) -> Result<TrainSummary, TrainError> {
    let mut options = options(run);
    options.steps = steps;
    options.stop_after = stop_after;
    loev_train::resume(&options)
}

fn checkpoint_steps(run: &Path) -> Vec<u64> {
    let mut steps: Vec<u64> = fs::read_dir(run.join("checkpoints"))
        .expect("checkpoints folder")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("step-"))
                .and_then(|s| s.parse().ok())
        })
        .collect();
    steps.sort();
    steps
}

fn checkpoint(run: &Path, step: u64) -> PathBuf {
    run.join("checkpoints").join(format!("step-{step:08}"))
}

fn metrics(run: &Path) -> String {
    fs::read_to_string(run.join("metrics.jsonl")).expect("metrics")
}

/// The config the run folder records.
fn saved_config(run: &Path) -> TrainConfig {
    TrainConfig::from_file(&run.join("config.toml")).expect("config")
}

/// Item 3: two `loev pretrain --resume RUN` at once both trained and interleaved
/// `metrics.jsonl`. The run folder is now locked; the second one is refused with the PID of the
/// holder and writes nothing.
#[test]
fn a_locked_run_folder_is_refused_with_the_holders_pid_and_left_untouched() {
    let (root, config, run) = scratch_run("locked", 4);
    train(&config, &run);
    assert!(
        !run.join(LOCK_FILE_NAME).exists(),
        "the lock is released when the run ends"
    );
    let metrics_before = metrics(&run);

    let holder = FolderLock::acquire_folder(&run).expect("lock as another trainer would");
    let err = resume_with(&run, Some(6), None).expect_err("a locked run must be refused");
    assert!(matches!(err, TrainError::Locked(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&std::process::id().to_string()),
        "no holder PID: {message}"
    );
    assert!(message.contains(&run.display().to_string()), "no folder: {message}");
    // A new run into the same locked folder is refused as well (it has trained, so even
    // before the lock).
    assert!(loev_train::pretrain(&config, &options(&run)).is_err());
    assert_eq!(metrics(&run), metrics_before);
    assert_eq!(checkpoint_steps(&run), vec![2, 4]);
    assert!(
        fs::read_to_string(run.join("config.toml"))
            .expect("config")
            .contains("steps = 4"),
        "the refused resume must not record its --steps"
    );

    drop(holder);
    let summary = resume_with(&run, Some(6), None).expect("free again");
    assert_eq!((summary.steps, summary.steps_trained), (6, 2));
    fs::remove_dir_all(&root).ok();
}

/// Items 3 and 7: a process killed while training leaves its lock file and half-written
/// outputs (`.corpus-cache.building-PID`, a temporary checkpoint folder). The next start takes
/// the lock over and removes them, warning about each.
#[test]
fn a_dead_processes_lock_and_partial_outputs_are_taken_over_and_removed_with_warnings() {
    let (root, config, run) = scratch_run("stale", 4);
    let mut first = options(&run);
    first.stop_after = Some(2);
    loev_train::pretrain(&config, &first).expect("first two steps");

    fs::write(run.join(LOCK_FILE_NAME), format!("{DEAD_PID}\n")).expect("stale lock");
    let stale_corpus = run.join(format!(".corpus-cache.building-{DEAD_PID}"));
    fs::create_dir_all(&stale_corpus).expect("stale corpus");
    fs::write(stale_corpus.join("samples.f32"), [0u8; 64]).expect("stale samples");
    let stale_checkpoint = run.join("checkpoints").join(format!(".tmp-step-00000004-{DEAD_PID}"));
    fs::create_dir_all(&stale_checkpoint).expect("stale checkpoint");
    fs::write(stale_checkpoint.join(OPTIMIZER_FILE), b"half").expect("stale file");

    let summary = resume_with(&run, None, None).expect("the stale lock is taken over");
    assert_eq!((summary.steps, summary.steps_trained), (4, 2));
    let warnings = summary.warnings.join("\n");
    assert!(
        warnings.contains(DEAD_PID) && warnings.contains("no longer running"),
        "{warnings}"
    );
    for stale in [&stale_corpus, &stale_checkpoint] {
        assert!(!stale.exists(), "{} was not removed", stale.display());
        assert!(
            warnings.contains(&stale.display().to_string()),
            "removal of {} not reported: {warnings}",
            stale.display()
        );
    }
    assert!(!run.join(LOCK_FILE_NAME).exists());
    fs::remove_dir_all(&root).ok();
}

/// Item 4: with every kept checkpoint damaged (optimizer file truncated, weights intact),
/// resuming warned and restarted at step 0. It now refuses, names every damaged checkpoint and
/// deletes nothing.
#[test]
fn resuming_with_every_checkpoint_damaged_refuses_and_deletes_nothing() {
    let (root, config, run) = scratch_run("all-damaged", 4);
    train(&config, &run);
    for step in [2, 4] {
        let path = checkpoint(&run, step).join(OPTIMIZER_FILE);
        let bytes = fs::read(&path).expect("optimizer state");
        fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    }
    let metrics_before = metrics(&run);

    let err = resume_with(&run, Some(6), None).expect_err("must refuse");
    assert!(
        matches!(err, TrainError::RunDir(RunDirError::AllCheckpointsDamaged { .. })),
        "{err}"
    );
    let message = err.to_string();
    for needle in ["step-00000002", "step-00000004", OPTIMIZER_FILE, "backup"] {
        assert!(message.contains(needle), "{needle} missing: {message}");
    }
    assert_eq!(checkpoint_steps(&run), vec![2, 4], "no checkpoint is deleted");
    assert_eq!(metrics(&run), metrics_before);
    fs::remove_dir_all(&root).ok();
}

/// Item 4: after falling back below a damaged newest checkpoint, rotation ranked the damaged
/// one as newest and deleted each new checkpoint. The checkpoint just written is now kept, and
/// training through the damaged step replaces it with the same weights as before.
#[test]
fn a_damaged_newest_checkpoint_falls_back_and_rotation_keeps_the_new_checkpoints() {
    let (root, mut config, run) = scratch_run("fallback", 4);
    config.train.keep_last = 1;
    config.train.keep_every = 2;
    train(&config, &run);
    assert_eq!(checkpoint_steps(&run), vec![2, 4]);
    let weights_at_4 = fs::read(checkpoint(&run, 4).join("model.safetensors")).expect("weights");
    let optimizer = checkpoint(&run, 4).join(OPTIMIZER_FILE);
    let bytes = fs::read(&optimizer).expect("optimizer");
    fs::write(&optimizer, &bytes[..bytes.len() - 1]).expect("truncate");

    // Checkpoint 3 is written at the stop; rotation (keep_last = 1) must keep it over 4.
    let summary = resume_with(&run, None, Some(3)).expect("falls back to step 2");
    assert_eq!(summary.resumed_from, Some(2));
    assert_eq!(summary.steps, 3);
    assert!(
        summary.warnings.join("\n").contains("step-00000004"),
        "{:?}",
        summary.warnings
    );
    assert_eq!(checkpoint_steps(&run), vec![2, 3, 4]);

    let summary = resume_with(&run, None, None).expect("continues from step 3");
    assert_eq!(summary.resumed_from, Some(3));
    assert_eq!(checkpoint_steps(&run), vec![2, 4]);
    let retrained = fs::read(checkpoint(&run, 4).join("model.safetensors")).expect("weights");
    assert!(
        retrained == weights_at_4,
        "the resumed run must reach the same weights at step 4"
    );
    fs::remove_dir_all(&root).ok();
}

/// Item 5: `--resume RUN --steps 6` on a finished 4-step run ignored `--steps` and reported
/// NaN losses for zero steps. The run is now extended, the new total recorded, and a complete
/// run reports that it trained nothing.
#[test]
fn resume_with_steps_extends_a_finished_run_and_a_complete_run_trains_nothing() {
    let (root, config, run) = scratch_run("extend", 4);
    train(&config, &run);

    let done = resume_with(&run, None, None).expect("a complete run resumes to nothing");
    assert_eq!((done.steps, done.steps_trained, done.total_steps), (4, 0, 4));
    assert!(done.first_losses.is_empty() && done.last_losses.is_empty());

    let extended = resume_with(&run, Some(6), None).expect("extends");
    assert_eq!(
        (extended.steps, extended.steps_trained, extended.total_steps),
        (6, 2, 6)
    );
    assert!(
        extended
            .first_losses
            .iter()
            .chain(&extended.last_losses)
            .all(|v| v.is_finite())
            && !extended.last_losses.is_empty()
    );
    assert_eq!(saved_config(&run).train.steps, 6, "the new total is recorded");
    assert_eq!(metrics(&run).lines().count(), 6);

    let again = resume_with(&run, None, None).expect("complete at the new total");
    assert_eq!((again.steps, again.steps_trained), (6, 0));

    let err = resume_with(&run, Some(3), None).expect_err("cannot shorten below the reached step");
    let message = err.to_string();
    assert!(message.contains("--steps 3") && message.contains("step 6"), "{message}");
    assert_eq!(saved_config(&run).train.steps, 6);
    fs::remove_dir_all(&root).ok();
}

/// Item 5: `--resume RUN --device cpu` overrides the device saved in the config, and leaves the
/// saved config as it is.
#[test]
fn resume_device_overrides_the_saved_device() {
    let (root, config, run) = scratch_run("device", 2);
    train(&config, &run);
    let path = run.join("config.toml");
    let text = fs::read_to_string(&path).expect("config");
    assert!(text.contains("device = \"cpu\""), "{text}");
    let elsewhere = text.replace("device = \"cpu\"", "device = \"cuda:7\"");
    fs::write(&path, &elsewhere).expect("config");

    let mut options = options(&run);
    options.device = Some("cpu".into());
    options.steps = Some(4);
    let summary = loev_train::resume(&options).expect("the cpu override trains");
    assert_eq!((summary.steps, summary.steps_trained), (4, 2));
    let saved = saved_config(&run);
    assert_eq!(saved.device, "cuda:7", "the saved device is left as it is");
    assert_eq!(saved.train.steps, 4);
    fs::remove_dir_all(&root).ok();
}

/// Item 6: `frontend.sample_rate = 0` or `frontend.n_mels = 0` were caught only after the run
/// folder and corpus were written, and the fixed config was then refused on the same `--out`.
/// Now nothing is written, and a folder whose run never trained is reused.
#[test]
fn an_invalid_config_writes_nothing_and_an_untrained_run_folder_is_reused() {
    let (root, config, run) = scratch_run("validate", 2);
    let mut no_rate = config.clone();
    no_rate.frontend.sample_rate = 0;
    let mut no_mels = config.clone();
    no_mels.frontend.n_mels = 0;
    let mut no_corpus = config.clone();
    no_corpus.data.cache = None;
    no_corpus.data.corpus_tracks = 0;
    let mut missing_cache = config.clone();
    missing_cache.data.cache = Some(root.join("no-such-cache"));
    for (key, bad) in [
        ("sample_rate", &no_rate),
        ("n_mels", &no_mels),
        ("data.corpus_tracks", &no_corpus),
        ("no-such-cache", &missing_cache),
    ] {
        let err = loev_train::pretrain(bad, &options(&run)).expect_err(key).to_string();
        assert!(err.contains(key), "{key}: {err}");
        assert!(
            !run.exists(),
            "{key}: the run folder was written before the config was checked"
        );
    }

    // A folder left by a start that failed before training (as older versions left it):
    // a config, a generated corpus for another seed, a stale lock. It is reused.
    fs::create_dir_all(run.join("corpus-cache")).expect("old corpus");
    fs::write(run.join("corpus-cache").join("index.json"), "{}").expect("old corpus");
    fs::write(run.join("config.toml"), no_rate.to_toml()).expect("old config");
    fs::write(run.join(LOCK_FILE_NAME), format!("{DEAD_PID}\n")).expect("stale lock");
    let summary = train(&config, &run);
    assert_eq!(summary.steps, 2);
    assert!(
        !run.join("corpus-cache").exists(),
        "the stale corpus of the old config is removed"
    );
    assert_eq!(saved_config(&run).frontend.sample_rate, config.frontend.sample_rate);

    // Once trained, the folder is a run: a new start is refused and points at --resume.
    let err = loev_train::pretrain(&config, &options(&run))
        .expect_err("trained")
        .to_string();
    assert!(err.contains("--resume"), "{err}");

    // Only a run's own folder is reused, never a folder of other files.
    let occupied = root.join("occupied");
    fs::create_dir_all(&occupied).expect("folder");
    fs::write(occupied.join("thesis.tex"), "precious").expect("file");
    let err = loev_train::pretrain(&config, &options(&occupied))
        .expect_err("occupied")
        .to_string();
    assert!(err.contains("thesis.tex"), "{err}");
    assert!(!occupied.join("config.toml").exists() && !occupied.join(LOCK_FILE_NAME).exists());
    fs::remove_dir_all(&root).ok();
}
