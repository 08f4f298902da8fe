//! What the tests of the `loev` binary share: the binary, a fresh scratch folder, a small
//! cache of corpus tracks and a test-size training configuration. (Each test binary uses a
//! part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A finished command's stdout and stderr as text.
pub fn output_text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a command that must fail and returns its stderr (the message under test).
pub fn run_err(command: &mut Command) -> String {
    let output = command.output().expect("the loev binary runs");
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{command:?} should fail:\n{stdout}");
    stderr
}

/// A 16 kHz sine of `hz` at amplitude 0.3: a short, decodable track.
pub fn tone(seconds: f64, hz: f32) -> Vec<f32> {
    (0..(seconds * 16000.0) as usize)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin())
        .collect()
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

/// A 32-bit float mono wav at 16 kHz holding `samples` (NaN and infinities included: the
/// fixtures of the non-finite-audio tests).
pub fn float_wav(samples: &[f32]) -> Vec<u8> {
    let data_bytes = (samples.len() * 4) as u32;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&64_000u32.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_bytes.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|x| x.to_le_bytes()));
    bytes
}

/// A model file exported into `root` from a two-step run of the test-size model.
pub fn exported_model(root: &Path) -> PathBuf {
    let config = small_config(&small_cache(root), 2);
    let run = root.join("run");
    run_ok(&mut pretrain(&write_config(root, &config), &run));
    let model = root.join("model.safetensors");
    run_ok(loev().arg("export").arg(&run).arg("-o").arg(&model));
    model
}

/// A model file of the test-size encoder (one invariant head, 8-dimensional projection) with
/// weights drawn from `seed` and the front end `frontend`, written in-process: milliseconds,
/// where [`exported_model`] trains a run first.
pub fn tiny_model_file(path: &Path, seed: u64, frontend: loev_audio::frontend::FrontEndConfig) -> PathBuf {
    use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};
    let config = LoevModelConfig::new(EncoderConfig::test(), vec!["invariant".into()]).with_projection_dims(vec![8]);
    let model = LoevModel::init(&config, &burn::tensor::Device::flex(), seed);
    let info = loev_artifacts::ModelFileInfo::new(
        frontend,
        vec![loev_artifacts::HeadInfo {
            name: "invariant".into(),
            objective: loev_artifacts::HeadRole::Invariant,
        }],
        "test".into(),
        None,
        0,
    );
    loev_artifacts::model_file::write_model_file(path, &model, &config, &info).expect("a test model file");
    path.to_path_buf()
}
