//! The run directory: resolved config, checkpoints and the metrics log.
//!
//! ```text
//! runs/<name>/
//!   config.toml                 the resolved config (every default written out)
//!   metrics.jsonl               one JSON object per logged step
//!   checkpoints/step-00000200/  model.safetensors, optimizer.bpk, state.json
//!   corpus-cache/               the built-in corpus, when no cache was given
//! ```
//!
//! A checkpoint folder is written under a temporary name and renamed into place, and its
//! `state.json` (written last) holds a checksum of every file, so a crash or a full disk never
//! leaves a checkpoint that looks complete but is not. Loading walks the checkpoints from the
//! newest and falls back to the previous one, with a warning, when one fails its checksums.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use loev_audio::io::atomic_write;
use serde::{Deserialize, Serialize};

/// File names inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// Adam's state (burnpack bytes).
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// Step, parameter ids and checksums; written last.
pub const STATE_FILE: &str = "state.json";

/// Errors of the run directory.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The folder already holds a run and neither resume nor overwrite was asked for.
    #[error("{0} already holds a run (config.toml exists): pass --resume to continue it, or choose another --out")]
    Exists(PathBuf),
    /// Resume was asked for but the folder has no run.
    #[error("{0} holds no run to resume (no config.toml)")]
    NotARun(PathBuf),
    /// A checkpoint is damaged.
    #[error("checkpoint {path} is damaged: {reason}")]
    Corrupt {
        /// The checkpoint folder.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RunDirError + use<'a> {
    move |source| RunDirError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What `state.json` records about a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointState {
    /// Optimisation steps completed when the checkpoint was written.
    pub step: u64,
    /// Parameter ids of the model in visit order, so that the optimizer state (keyed by id)
    /// can be re-attached to the reloaded model.
    pub param_ids: Vec<u64>,
    /// Size and FNV-1a 64 checksum of every other file of the checkpoint.
    pub files: Vec<FileChecksum>,
}

/// A file's size and checksum.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileChecksum {
    /// File name inside the checkpoint folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// FNV-1a 64 of the content, hex.
    pub fnv1a64: String,
}

/// FNV-1a 64: a cheap checksum to detect truncated or damaged files (not a security hash).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A loaded checkpoint: its folder, state, and the raw bytes of the model and optimizer.
pub struct LoadedCheckpoint {
    /// The checkpoint folder.
    pub path: PathBuf,
    /// Its recorded state.
    pub state: CheckpointState,
}

/// A run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates a new run folder (fails if it already holds a run).
    pub fn create(root: &Path) -> Result<Self, RunDirError> {
        if root.join("config.toml").exists() {
            return Err(RunDirError::Exists(root.to_path_buf()));
        }
        fs::create_dir_all(root.join("checkpoints")).map_err(io_err("cannot create", root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing run folder for resuming.
    pub fn open(root: &Path) -> Result<Self, RunDirError> {
        if !root.join("config.toml").exists() {
            return Err(RunDirError::NotARun(root.to_path_buf()));
        }
        fs::create_dir_all(root.join("checkpoints")).map_err(io_err("cannot create", root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// The folder holding checkpoints.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// Writes the resolved config.
    pub fn write_config(&self, toml_text: &str) -> Result<(), RunDirError> {
        let path = self.config_path();
        atomic_write(&path, toml_text.as_bytes()).map_err(io_err("cannot write", &path))
    }

    /// Checkpoint folders, oldest first, with their step.
    pub fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>, RunDirError> {
        let dir = self.checkpoints_dir();
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("cannot list", &dir))? {
            let entry = entry.map_err(io_err("cannot list", &dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse::<u64>().ok()) {
                found.push((step, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Writes a checkpoint atomically: `write_files` fills a temporary folder (it must create
    /// `MODEL_FILE` and `OPTIMIZER_FILE`), then the state with checksums is written and the
    /// folder renamed to `step-NNNNNNNN`. Older checkpoints beyond the keep policy are removed
    /// afterwards (keep the newest `keep_last`, plus every multiple of `keep_every`).
    pub fn write_checkpoint<F>(
        &self,
        step: u64,
        param_ids: Vec<u64>,
        keep_last: usize,
        keep_every: u64,
        write_files: F,
    ) -> Result<PathBuf, RunDirError>
    where
        F: FnOnce(&Path) -> Result<(), RunDirError>,
    {
        let final_path = self.checkpoints_dir().join(format!("step-{step:08}"));
        let tmp = self
            .checkpoints_dir()
            .join(format!(".tmp-step-{step:08}-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err("cannot remove", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err("cannot create", &tmp))?;
        let result = (|| {
            write_files(&tmp)?;
            let mut files = Vec::new();
            for name in [MODEL_FILE, OPTIMIZER_FILE] {
                let path = tmp.join(name);
                let bytes = fs::read(&path).map_err(io_err("cannot read back", &path))?;
                files.push(FileChecksum {
                    name: name.to_string(),
                    bytes: bytes.len() as u64,
                    fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
                });
            }
            let state = CheckpointState { step, param_ids, files };
            let text = serde_json::to_string_pretty(&state).map_err(|e| RunDirError::Corrupt {
                path: tmp.clone(),
                reason: e.to_string(),
            })?;
            let state_path = tmp.join(STATE_FILE);
            atomic_write(&state_path, text.as_bytes()).map_err(io_err("cannot write", &state_path))?;
            if final_path.exists() {
                fs::remove_dir_all(&final_path).map_err(io_err("cannot replace", &final_path))?;
            }
            fs::rename(&tmp, &final_path).map_err(io_err("cannot move into place", &final_path))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result?;
        self.prune(keep_last, keep_every)?;
        Ok(final_path)
    }

    fn prune(&self, keep_last: usize, keep_every: u64) -> Result<(), RunDirError> {
        let checkpoints = self.checkpoints()?;
        let newest: Vec<u64> = checkpoints.iter().rev().take(keep_last).map(|(s, _)| *s).collect();
        for (step, path) in checkpoints {
            let permanent = keep_every > 0 && step % keep_every == 0;
            if !newest.contains(&step) && !permanent {
                fs::remove_dir_all(&path).map_err(io_err("cannot remove old checkpoint", &path))?;
            }
        }
        Ok(())
    }

    /// Verifies a checkpoint's files against its recorded checksums.
    pub fn verify_checkpoint(path: &Path) -> Result<CheckpointState, RunDirError> {
        let corrupt = |reason: String| RunDirError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let state_path = path.join(STATE_FILE);
        let text = fs::read_to_string(&state_path).map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
        let state: CheckpointState = serde_json::from_str(&text).map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
        for file in &state.files {
            let bytes = fs::read(path.join(&file.name)).map_err(|e| corrupt(format!("{}: {e}", file.name)))?;
            let sum = format!("{:016x}", fnv1a64(&bytes));
            if bytes.len() as u64 != file.bytes || sum != file.fnv1a64 {
                return Err(corrupt(format!(
                    "{} has {} bytes / checksum {sum}, expected {} bytes / {}",
                    file.name,
                    bytes.len(),
                    file.bytes,
                    file.fnv1a64
                )));
            }
        }
        Ok(state)
    }

    /// The newest checkpoint that passes its checksums; damaged newer ones are reported
    /// through `warn` and skipped. `None` when there is no usable checkpoint.
    pub fn latest_valid_checkpoint(&self, mut warn: impl FnMut(&str)) -> Result<Option<LoadedCheckpoint>, RunDirError> {
        for (_, path) in self.checkpoints()?.into_iter().rev() {
            match Self::verify_checkpoint(&path) {
                Ok(state) => return Ok(Some(LoadedCheckpoint { path, state })),
                Err(e) => warn(&format!("warning: {e}; falling back to the previous checkpoint")),
            }
        }
        Ok(None)
    }

    /// Appends one JSON line to the metrics log and flushes it.
    pub fn append_metrics(&self, line: &serde_json::Value) -> Result<(), RunDirError> {
        let path = self.metrics_path();
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("cannot open", &path))?;
        writeln!(file, "{line}").map_err(io_err("cannot append to", &path))?;
        file.flush().map_err(io_err("cannot flush", &path))
    }

    /// Drops metrics lines logged after `step` (they belong to work lost in a crash and will be
    /// logged again after resuming), rewriting the log atomically.
    pub fn truncate_metrics_after(&self, step: u64) -> Result<(), RunDirError> {
        let path = self.metrics_path();
        let Ok(text) = fs::read_to_string(&path) else {
            return Ok(());
        };
        let kept: String = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                    .is_some_and(|s| s <= step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        atomic_write(&path, kept.as_bytes()).map_err(io_err("cannot rewrite", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loev-rundir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn write_dummy(step: u64) -> impl FnOnce(&Path) -> Result<(), RunDirError> {
        move |dir: &Path| {
            fs::write(dir.join(MODEL_FILE), format!("model {step}")).unwrap();
            fs::write(dir.join(OPTIMIZER_FILE), format!("optim {step}")).unwrap();
            Ok(())
        }
    }

    #[test]
    fn keeps_last_and_every_n_and_falls_back_on_damage() {
        let root = temp_dir("keep");
        let run = RunDir::create(&root).unwrap();
        run.write_config("name = 'x'").unwrap();
        assert!(matches!(RunDir::create(&root), Err(RunDirError::Exists(_))));
        for step in [10, 20, 30, 40, 50] {
            run.write_checkpoint(step, vec![step], 2, 20, write_dummy(step))
                .unwrap();
        }
        let steps: Vec<u64> = run.checkpoints().unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, vec![20, 40, 50]);
        let mut warnings = Vec::new();
        let latest = run
            .latest_valid_checkpoint(|w| warnings.push(w.to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(latest.state.step, 50);
        assert!(warnings.is_empty());
        // Damage the newest model file: the loader warns and falls back to step 40.
        fs::write(latest.path.join(MODEL_FILE), "model 5X").unwrap();
        let fallback = run
            .latest_valid_checkpoint(|w| warnings.push(w.to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(fallback.state.step, 40);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("step-00000050") && warnings[0].contains(MODEL_FILE),
            "{}",
            warnings[0]
        );
        // A half-written temporary folder is never taken for a checkpoint.
        fs::create_dir_all(run.checkpoints_dir().join(".tmp-step-00000060-1")).unwrap();
        assert_eq!(run.checkpoints().unwrap().len(), 3);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn metrics_are_truncated_to_the_resumed_step() {
        let root = temp_dir("metrics");
        let run = RunDir::create(&root).unwrap();
        for step in 1..=5u64 {
            run.append_metrics(&serde_json::json!({"step": step, "loss": 1.0 / step as f64}))
                .unwrap();
        }
        run.truncate_metrics_after(3).unwrap();
        let text = fs::read_to_string(run.metrics_path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().last().unwrap().contains("\"step\":3"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn fnv_detects_single_byte_changes() {
        assert_ne!(fnv1a64(b"model 50"), fnv1a64(b"model 5X"));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    }
}
