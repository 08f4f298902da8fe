//! A closed stdout / stderr must not end a run (issue 13, item 10): `loev pretrain … 2>&1 |
//! head` used to exit 101 with a panic from `eprintln!` once `head` had gone. Each command here
//! runs with its output connected to pipes whose read ends are already closed, and must exit 0
//! and write its files; and with open pipes, every byte must still arrive.

mod common;
use common::{loev, temp_dir};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use loev_train::fixtures::{TestBatches, test_size_config};

/// The write end of a pipe whose reader is gone: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Runs `command` with stdout and stderr on closed pipes — one shared pipe (`2>&1 | head`) or
/// two — and asserts that it exits 0.
fn run_with_closed_output(command: &mut Command, shared: bool) {
    if shared {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        command.stdout(writer.try_clone().unwrap()).stderr(writer);
    } else {
        command.stdout(closed_pipe()).stderr(closed_pipe());
    }
    let status = command.status().expect("the loev binary runs");
    assert!(status.success(), "{command:?} ended with {status} on a closed pipe");
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("the loev binary runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn corpus_and_cache(root: &Path) -> PathBuf {
    let corpus = root.join("corpus");
    run_with_closed_output(
        loev()
            .args([
                "corpus", "generate", "--tracks", "4", "--notes", "0", "--seed", "3", "-o",
            ])
            .arg(&corpus),
        false,
    );
    assert!(
        corpus.join("manifest.csv").is_file(),
        "corpus generate wrote no manifest"
    );
    let cache = root.join("cache");
    run_with_closed_output(
        loev()
            .args(["cache", "build", "-o"])
            .arg(&cache)
            .arg(corpus.join("manifest.csv")),
        true,
    );
    assert!(cache.join("index.json").is_file(), "cache build wrote no index");
    cache
}

#[test]
fn pretrain_keeps_training_after_the_reader_of_its_output_closes() {
    let root = temp_dir("pretrain");
    let cache = corpus_and_cache(&root);
    let batches = TestBatches {
        anchors: 4,
        views: 2,
        frames: 100,
        workers: 1,
    };
    let mut config = test_size_config("mule-b:tiny", "pipes", &cache, batches).unwrap();
    config.train.steps = 6;
    config.train.log_every = 1;
    config.train.checkpoint_every = 3;
    config.validate().unwrap();
    let config_path = root.join("run.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let run = root.join("run");
    // Without a progress bar, the trainer writes a status line per step and per checkpoint to
    // stderr, and the command a summary to stdout: all of it into the closed pipe.
    run_with_closed_output(
        loev()
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&config_path)
            .arg("--out")
            .arg(&run),
        true,
    );
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 6, "every step was logged");
    assert!(
        run.join("checkpoints").join("step-00000006").is_dir(),
        "the last checkpoint exists"
    );
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn output_still_arrives_in_full_through_open_pipes() {
    // The relay that protects closed pipes must forward everything before the process ends.
    let output = run_ok(loev().args(["pretrain", "--list-presets"]));
    let listed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = loev_train::PRESET_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, expected);
    // The same with stdout and stderr on one pipe (`2>&1 |`), read to its end.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = loev()
        .args(["pretrain", "--list-presets"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(text.lines().count(), expected.len(), "{text}");
}

/// `/dev/full`: every write fails with ENOSPC, like a full disk.
fn dev_full() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).open("/dev/full")
}

/// Issue 28, class 5: a write error on stdout other than a closed pipe (a full disk,
/// `/dev/full`) used to panic with exit status 101 after the work was done. Now the work
/// finishes, its files are written, and the command exits 1 saying what could not be written;
/// a failing stderr as well ends in status 1, never in a panic.
#[test]
fn a_full_disk_on_stdout_or_stderr_ends_in_an_error_after_the_work_not_a_panic() {
    let full = dev_full().expect("/dev/full (every Linux system has it)");
    let root = temp_dir("dev-full");
    let generate = |out: &Path| {
        let mut command = loev();
        command
            .args([
                "corpus", "generate", "--quiet", "--tracks", "2", "--notes", "1", "--seed", "4",
            ])
            .args(["--track-seconds", "3,4", "-o"])
            .arg(out);
        command
    };
    let corpus = root.join("stdout-full");
    let output = generate(&corpus)
        .stdout(full.try_clone().expect("dup"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("standard output could not be written") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(corpus.join("manifest.csv").is_file(), "the work is done and kept");

    // `loev augment` writes a note to stderr and its summary to stdout.
    let audio = root.join("clip.wav");
    let samples: Vec<f32> = (0..4 * 16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    loev_audio::wav::write_wav(&audio, &samples, 16_000).expect("wav");
    for (what, stdout) in [("stderr", false), ("both", true)] {
        let views = root.join(format!("{what}-full"));
        let mut command = loev();
        command.args(["augment", "-n", "2", "-o"]).arg(&views).arg(&audio);
        command.stdout(if stdout {
            Stdio::from(full.try_clone().expect("dup"))
        } else {
            Stdio::null()
        });
        command.stderr(full.try_clone().expect("dup"));
        let status = command.status().expect("runs");
        assert_eq!(status.code(), Some(1), "{what} on /dev/full");
        assert!(views.join("views.json").is_file(), "{what}: the work is done and kept");
    }
    std::fs::remove_dir_all(&root).ok();
}
