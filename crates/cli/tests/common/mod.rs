//! What the tests of the `loev` binary share: the binary, a fresh scratch folder, a small
//! cache of corpus tracks and a test-size training configuration. (Each test binary uses a
//! part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use loev_train::TrainConfig;

/// The `loev` binary that cargo built for these tests.
pub fn loev() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loev"))
}

/// An empty scratch folder for `name`, unique to this test binary and process.
pub fn temp_dir(name: &str) -> PathBuf {
    let suite = env!("CARGO_CRATE_NAME");
    let dir = std::env::temp_dir().join(format!("loev-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder in the temp dir");
    dir
}

/// Runs a command that must succeed (fixture setup) and returns its stderr.
pub fn run_ok(command: &mut Command) -> String {
    let output = command.output().expect("the loev binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Writes `config` as `run.toml` in `dir`.
pub fn write_config(dir: &Path, config: &TrainConfig) -> PathBuf {
    let path = dir.join("run.toml");
    std::fs::write(&path, config.to_toml()).expect("config");
    path
}

/// `loev pretrain --no-progress --config CONFIG --out RUN`.
pub fn pretrain(config: &Path, out: &Path) -> Command {
    let mut command = loev();
    command
        .args(["pretrain", "--no-progress", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out);
    command
}

/// A cache of four short corpus tracks ([`loev_train::fixtures::small_corpus_cache`]).
pub fn small_cache(root: &Path) -> PathBuf {
    loev_train::fixtures::small_corpus_cache(root).expect("cache")
}

/// The test-size LOEV-PS model on 2 anchors × 2 views of 32 × 64 inputs
/// ([`loev_train::fixtures::small_run_config`]).
pub fn small_config(cache: &Path, steps: u64) -> TrainConfig {
    loev_train::fixtures::small_run_config("reliability", cache, steps).expect("valid test config")
}
