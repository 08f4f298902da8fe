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
//!
//! Damaged checkpoints never cost progress silently:
//! * Resuming ([`RunDir::checkpoint_to_resume`]) refuses when checkpoints exist but every one
//!   of them is damaged, naming each one and what failed, instead of restarting at step 0.
//!   A run's checkpoints are its only record of progress; starting over must be the user's
//!   explicit choice (moving the `checkpoints` folder away).
//! * Rotation ([`RunDir::write_checkpoint`]) ranks checkpoints by step, always keeps the one
//!   just written, and never removes a checkpoint above that step (one the run fell back from;
//!   training rewrites it when it reaches its step), so the newest good checkpoint survives.
//!
//! A folder whose run never started training (no checkpoint, no metrics) can be created
//! again: a run that was refused or failed before its first step leaves nothing worth keeping,
//! so fixing the config and starting again on the same `--out` must work.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use loev_audio::frontend::FrontEndConfig;
use loev_core::checksum::fnv1a64;
use loev_core::io::atomic_write;
use loev_core::lock::LOCK_FILE_NAME;
use serde::{Deserialize, Serialize};

/// The resolved training configuration of a run (TOML, every default written out).
pub const CONFIG_FILE: &str = "config.toml";
/// One JSON object per logged step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The folder holding the checkpoint folders (`step-NNNNNNNN`).
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The folder in a run folder that holds the generated built-in corpus (when no cache was given).
pub const CORPUS_DIR: &str = "corpus-cache";

/// File names inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// Adam's state (burnpack bytes).
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// Step, parameter ids and checksums; written last.
pub const STATE_FILE: &str = "state.json";
/// Name prefix of a checkpoint folder being written (`.tmp-step-NNNNNNNN-PID`).
pub const CHECKPOINT_TMP_PREFIX: &str = ".tmp-step-";

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
    /// The folder already holds a run that has trained (it has checkpoints or metrics).
    #[error(
        "{0} already holds a run that has trained (it has checkpoints or metrics.jsonl): pass --resume {0} to \
         continue it, or choose another --out"
    )]
    Exists(PathBuf),
    /// A new run was asked for in a folder that holds other files.
    #[error(
        "{} is not empty and is not a run folder (it holds {}): choose another --out, or an empty or new folder",
        dir.display(),
        entry.display()
    )]
    NotARunFolder {
        /// The folder.
        dir: PathBuf,
        /// The first entry that does not belong to a run.
        entry: PathBuf,
    },
    /// The run's `config.toml` cannot be read as a run configuration.
    #[error("{path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
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
    /// The run has checkpoints but every one fails its checksums: resuming would lose the
    /// run's progress, so it is refused.
    #[error(
        "every checkpoint in {dir} is damaged, so the run cannot resume without losing its progress:\n{damaged}\n\
         Restore the damaged files from a backup, or move {dir} away to start the run again from step 0 \
         (loev never deletes damaged checkpoints itself)",
        damaged = damaged.join("\n")
    )]
    AllCheckpointsDamaged {
        /// The checkpoints folder.
        dir: PathBuf,
        /// One line per damaged checkpoint: its folder and what failed.
        damaged: Vec<String>,
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
    /// FNV-1a 64 of the content (`loev_core::checksum`), hex: detects truncated or damaged
    /// files.
    pub fnv1a64: String,
}

/// A checkpoint that passed its checksums: its folder, its state and the model file's bytes as
/// they were verified.
///
/// The bytes are kept so that a reader never opens the model file a second time: a training
/// run may remove the checkpoint (rotation) between the check and a second read, and `loev
/// export` or `loev embed --run` on a run that is training would then fail, or read a file that
/// was never checked.
pub struct LoadedCheckpoint {
    /// The checkpoint folder.
    pub path: PathBuf,
    /// Its recorded state.
    pub state: CheckpointState,
    /// The bytes of its `model.safetensors`, as verified.
    pub model: Vec<u8>,
}

/// How often [`RunDir::latest_valid_checkpoint`] lists the checkpoints again when the ones it
/// found were removed while it read them (each time, a training run wrote a newer one).
const VANISHED_RETRIES: usize = 20;

/// A run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates a new run folder. Fails with [`RunDirError::Exists`] if it holds a run that has
    /// trained (see [`RunDir::has_trained`]); a folder whose run never trained is taken over
    /// (its `config.toml` is rewritten by the caller).
    pub fn create(root: &Path) -> Result<Self, RunDirError> {
        let existing = Self::at(root);
        if existing.has_trained()? {
            return Err(RunDirError::Exists(root.to_path_buf()));
        }
        if let Some(entry) = existing.foreign_entry()? {
            return Err(RunDirError::NotARunFolder {
                dir: root.to_path_buf(),
                entry,
            });
        }
        fs::create_dir_all(root.join(CHECKPOINTS_DIR)).map_err(io_err("cannot create", root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// A handle on the run folder `root` that checks and creates nothing (for looking at a
    /// folder before deciding what to do with it).
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Opens an existing run folder for resuming.
    pub fn open(root: &Path) -> Result<Self, RunDirError> {
        if !root.join(CONFIG_FILE).exists() {
            return Err(RunDirError::NotARun(root.to_path_buf()));
        }
        fs::create_dir_all(root.join(CHECKPOINTS_DIR)).map_err(io_err("cannot create", root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// True when the run has trained: it has a checkpoint folder (even a damaged one) or a
    /// non-empty `metrics.jsonl`. Only files with those names count, so the lock file, a
    /// `config.toml` or a generated corpus never make a folder look trained.
    pub fn has_trained(&self) -> Result<bool, RunDirError> {
        let metrics = self.metrics_path();
        match fs::metadata(&metrics) {
            Ok(meta) if meta.len() > 0 => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot read", &metrics)(e)),
        }
        if !self.checkpoints_dir().is_dir() {
            return Ok(false);
        }
        Ok(!self.checkpoints()?.is_empty())
    }

    /// The first entry of the folder that is not part of a run (sorted by name), if any: a new
    /// run may take over an untrained run folder, never a folder of the user's files. The
    /// run's own names count as part of it: `config.toml`, `metrics.jsonl`, `checkpoints`,
    /// the generated corpus, the lock file and the temporary names of atomic writes.
    pub fn foreign_entry(&self) -> Result<Option<PathBuf>, RunDirError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot list", &self.root)(e)),
        };
        let mut foreign = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("cannot list", &self.root))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = matches!(
                name.as_str(),
                CONFIG_FILE | METRICS_FILE | CHECKPOINTS_DIR | CORPUS_DIR | LOCK_FILE_NAME
            ) || [".corpus-cache.building-", ".config.toml.tmp", ".metrics.jsonl.tmp"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            if !ours {
                foreign.push(entry.path());
            }
        }
        foreign.sort();
        Ok(foreign.into_iter().next())
    }

    /// The run folder a checkpoint's model file lies in
    /// (`<run>/checkpoints/step-N/model.safetensors`), when it lies in one.
    pub fn of_model_file(model_file: &Path) -> Option<Self> {
        let checkpoint = model_file.parent()?;
        let checkpoints = checkpoint.parent()?;
        if checkpoints.file_name()? != CHECKPOINTS_DIR {
            return None;
        }
        let root = checkpoints.parent()?;
        root.join(CONFIG_FILE).is_file().then(|| Self::at(root))
    }

    /// The log-mel front end of the run (the `[frontend]` table of its `config.toml`; MULE's
    /// default when the table is absent, as training reads it). Only that table is read, so
    /// the rest of the configuration is training's business.
    pub fn frontend(&self) -> Result<FrontEndConfig, RunDirError> {
        #[derive(Deserialize)]
        struct FrontEndTable {
            #[serde(default)]
            frontend: FrontEndConfig,
        }
        let path = self.config_path();
        let text = fs::read_to_string(&path).map_err(io_err("cannot read", &path))?;
        let table: FrontEndTable = toml::from_str(&text).map_err(|e| RunDirError::Config {
            path: path.clone(),
            reason: format!("[frontend]: {e}"),
        })?;
        Ok(table.frontend)
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join(METRICS_FILE)
    }

    /// The folder holding checkpoints.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join(CHECKPOINTS_DIR)
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
            .join(format!("{CHECKPOINT_TMP_PREFIX}{step:08}-{}", std::process::id()));
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
        self.prune(step, keep_last, keep_every)?;
        Ok(final_path)
    }

    /// Removes the checkpoints the keep policy no longer needs after `written` was written:
    /// kept are `written` itself, the `keep_last - 1` newest below it, every multiple of
    /// `keep_every`, and everything above `written`. A checkpoint above the one just written
    /// exists only when a resume fell back past it (it failed its checksums); ranking it as
    /// "newest" used to delete each new checkpoint in its favour, so it is left alone and is
    /// replaced when training reaches its step.
    fn prune(&self, written: u64, keep_last: usize, keep_every: u64) -> Result<(), RunDirError> {
        let checkpoints = self.checkpoints()?;
        let newest: Vec<u64> = checkpoints
            .iter()
            .rev()
            .filter(|(s, _)| *s <= written)
            .take(keep_last.max(1))
            .map(|(s, _)| *s)
            .collect();
        for (step, path) in checkpoints {
            let permanent = keep_every > 0 && step % keep_every == 0;
            if step < written && !newest.contains(&step) && !permanent {
                fs::remove_dir_all(&path).map_err(io_err("cannot remove old checkpoint", &path))?;
            }
        }
        Ok(())
    }

    /// Removes what a crashed or killed process left half-written in this run folder: temporary
    /// checkpoint folders (`checkpoints/.tmp-step-NNNNNNNN-PID`), a half-built corpus cache
    /// (`.corpus-cache.building-PID`) and temporary files of atomic writes, for every PID that is
    /// no longer running. Call it while holding the run's lock. Returns what was removed.
    pub fn remove_stale_partials(&self) -> Result<Vec<PathBuf>, RunDirError> {
        let root = &self.root;
        let mut removed = Vec::new();
        for prefix in [".corpus-cache.building-", ".config.toml.tmp", ".metrics.jsonl.tmp"] {
            removed
                .extend(loev_core::lock::remove_stale_partials(root, prefix).map_err(io_err("cannot clean up", root))?);
        }
        let dir = self.checkpoints_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(io_err("cannot list", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err("cannot list", &dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            // `.tmp-step-NNNNNNNN-PID`: the PID follows the last '-'.
            let Some(pid) = name
                .strip_prefix(CHECKPOINT_TMP_PREFIX)
                .and_then(|rest| rest.rsplit_once('-'))
                .and_then(|(_, pid)| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() || loev_core::lock::process_is_alive(pid) {
                continue;
            }
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(io_err("cannot remove", &path))?;
            removed.push(path);
        }
        removed.sort();
        Ok(removed)
    }

    /// Verifies a checkpoint's files against its recorded checksums.
    pub fn verify_checkpoint(path: &Path) -> Result<CheckpointState, RunDirError> {
        Self::read_checkpoint(path).map(|checkpoint| checkpoint.state)
    }

    /// Reads a checkpoint, verifying every file against its recorded checksums, and keeps the
    /// model file's bytes (see [`LoadedCheckpoint`]).
    pub fn read_checkpoint(path: &Path) -> Result<LoadedCheckpoint, RunDirError> {
        let corrupt = |reason: String| RunDirError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let state_path = path.join(STATE_FILE);
        let text = fs::read_to_string(&state_path).map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
        let state: CheckpointState = serde_json::from_str(&text).map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
        let mut model = Vec::new();
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
            if file.name == MODEL_FILE {
                model = bytes;
            }
        }
        if model.is_empty() {
            return Err(corrupt(format!("{STATE_FILE} lists no {MODEL_FILE}")));
        }
        Ok(LoadedCheckpoint {
            path: path.to_path_buf(),
            state,
            model,
        })
    }

    /// The newest checkpoint that passes its checksums, with its model bytes; damaged newer
    /// ones are reported through `warn` and skipped. `None` when there is no usable checkpoint.
    ///
    /// Safe to call while the run trains: a checkpoint that rotation removes while it is read
    /// is not damaged but gone, so it is passed over without a warning, and when every
    /// checkpoint listed has gone (a newer one was written meanwhile) the listing is read again.
    pub fn latest_valid_checkpoint(&self, mut warn: impl FnMut(&str)) -> Result<Option<LoadedCheckpoint>, RunDirError> {
        'listing: for _ in 0..VANISHED_RETRIES {
            let listed = self.checkpoints()?;
            let newest = listed.last().map(|(step, _)| *step);
            for (_, path) in listed.into_iter().rev() {
                match Self::read_checkpoint(&path) {
                    Ok(checkpoint) => return Ok(Some(checkpoint)),
                    Err(e) => {
                        // Removed (or being removed) by rotation: a newer checkpoint was written
                        // meanwhile, so list again and read that one.
                        let rotated = !path.exists() || self.checkpoints()?.last().map(|(step, _)| *step) != newest;
                        if rotated {
                            continue 'listing;
                        }
                        warn(&format!("warning: {e}; falling back to the previous checkpoint"));
                    }
                }
            }
            return Ok(None);
        }
        Ok(None)
    }

    /// The checkpoint a resume continues from: the newest one that passes its checksums, with
    /// each damaged newer one reported through `warn`. `Ok(None)` only when the run has no
    /// checkpoint folder at all (it stopped before its first checkpoint, so step 0 loses
    /// nothing). When checkpoints exist but every one is damaged, this refuses with
    /// [`RunDirError::AllCheckpointsDamaged`] rather than let the run restart at step 0:
    /// nothing of model or optimizer is restored from a damaged checkpoint, because a resume is
    /// meant to continue exactly where the run stopped.
    pub fn checkpoint_to_resume(&self, mut warn: impl FnMut(&str)) -> Result<Option<LoadedCheckpoint>, RunDirError> {
        let checkpoints = self.checkpoints()?;
        if checkpoints.is_empty() {
            return Ok(None);
        }
        let mut damaged = Vec::new();
        for (_, path) in checkpoints.into_iter().rev() {
            match Self::read_checkpoint(&path) {
                Ok(checkpoint) => {
                    for line in &damaged {
                        warn(&format!(
                            "warning: {line}; falling back to the older checkpoint {}",
                            path.display()
                        ));
                    }
                    return Ok(Some(checkpoint));
                }
                Err(e) => damaged.push(e.to_string()),
            }
        }
        Err(RunDirError::AllCheckpointsDamaged {
            dir: self.checkpoints_dir(),
            damaged,
        })
    }

    /// Appends one JSON line to the metrics log and flushes it. The line goes out in one
    /// `write` call, so a process killed while logging never leaves half a line for readers.
    pub fn append_metrics(&self, line: &serde_json::Value) -> Result<(), RunDirError> {
        let path = self.metrics_path();
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("cannot open", &path))?;
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(io_err("cannot append to", &path))?;
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

/// One head's training diagnostics over the end of a run (see [`RunDir::head_diagnostics`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HeadDiagnostics {
    /// The head's name.
    pub head: String,
    /// How many metrics lines (logged windows) were averaged.
    pub lines: usize,
    /// First and last step of the averaged lines.
    pub steps: (u64, u64),
    /// The head's loss, mean of the lines.
    pub loss: f64,
    /// Its loss per anchor with a positive, mean of the lines that have it.
    pub loss_per_anchor_with_positive: Option<f64>,
    /// A leave-out head's separation, mean of the lines that have it (`None` for the
    /// invariant head).
    pub separation: Option<f64>,
}

impl RunDir {
    /// Each head's loss, loss per anchor with a positive and separation (the diagnostics the
    /// trainer logs in `metrics.jsonl`), averaged over the metrics lines of the last
    /// `last_steps` steps the run logged (those with step > last logged step − `last_steps`).
    /// Empty when nothing was logged; lines that are not JSON are skipped.
    pub fn head_diagnostics(&self, last_steps: u64) -> Result<Vec<HeadDiagnostics>, RunDirError> {
        let path = self.metrics_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("cannot read", &path)(e)),
        };
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let step_of = |line: &serde_json::Value| line.get("step").and_then(serde_json::Value::as_u64);
        let Some(last) = lines.iter().filter_map(step_of).max() else {
            return Ok(Vec::new());
        };
        let window: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|line| step_of(line).is_some_and(|s| s + last_steps > last))
            .collect();
        let first = window.iter().filter_map(|l| step_of(l)).min().unwrap_or(last);
        let names: Vec<String> = window
            .last()
            .and_then(|line| line.get("heads"))
            .and_then(serde_json::Value::as_object)
            .map(|heads| heads.keys().cloned().collect())
            .unwrap_or_default();
        let mean = |head: &str, key: &str| {
            let values: Vec<f64> = window
                .iter()
                .filter_map(|line| line.get("heads")?.get(head)?.get(key)?.as_f64())
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        Ok(names
            .iter()
            .map(|head| HeadDiagnostics {
                head: head.clone(),
                lines: window.len(),
                steps: (first, last),
                loss: mean(head, "loss").unwrap_or(f64::NAN),
                loss_per_anchor_with_positive: mean(head, "loss_per_anchor_with_positive"),
                separation: mean(head, "separation"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_diagnostics_average_the_last_logged_steps() {
        let dir = temp_dir("diagnostics");
        let run = RunDir::create(&dir).unwrap();
        assert!(run.head_diagnostics(10).unwrap().is_empty());
        for (step, separation) in [(4u64, 0.5), (8, 0.1), (12, 0.3)] {
            let line = serde_json::json!({
                "step": step,
                "heads": {
                    "invariant": {"loss": step as f64, "loss_per_anchor_with_positive": 2.0 * step as f64, "separation": null},
                    "time_stretch": {"loss": 1.0, "loss_per_anchor_with_positive": null, "separation": separation},
                },
            });
            run.append_metrics(&line).unwrap();
        }
        let diagnostics = run.head_diagnostics(8).unwrap();
        assert_eq!(diagnostics.len(), 2);
        let invariant = &diagnostics[0];
        assert_eq!(
            (invariant.head.as_str(), invariant.lines, invariant.steps),
            ("invariant", 2, (8, 12))
        );
        assert_eq!(invariant.loss, 10.0);
        assert_eq!(invariant.loss_per_anchor_with_positive, Some(20.0));
        assert_eq!(invariant.separation, None);
        let stretch = &diagnostics[1];
        assert_eq!(stretch.loss_per_anchor_with_positive, None);
        assert!((stretch.separation.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(run.head_diagnostics(100).unwrap()[1].lines, 3);
        let _ = fs::remove_dir_all(dir);
    }

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
        // A run that never trained can be created again (a refused or failed start).
        RunDir::create(&root).expect("an untrained run folder is reusable");
        for step in [10, 20, 30, 40, 50] {
            run.write_checkpoint(step, vec![step], 2, 20, write_dummy(step))
                .unwrap();
        }
        assert!(matches!(RunDir::create(&root), Err(RunDirError::Exists(_))));
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

    /// Issue 28, class 7: `loev export` (and `embed --run`) on a run that trains with
    /// `keep_last = 1` picked a checkpoint that rotation removed a moment later (1 in 30). Here a
    /// thread writes checkpoints as fast as it can while the reader asks for the newest valid
    /// one: every answer is a checkpoint whose model bytes match its step, and no live
    /// checkpoint is ever reported as damaged.
    #[test]
    fn the_newest_checkpoint_is_read_whole_while_rotation_removes_older_ones() {
        let root = temp_dir("race");
        let run = RunDir::create(&root).unwrap();
        run.write_checkpoint(1, vec![1], 1, 0, write_dummy(1)).unwrap();
        let writer = {
            let run = run.clone();
            std::thread::spawn(move || {
                for step in 2..400 {
                    run.write_checkpoint(step, vec![step], 1, 0, write_dummy(step)).unwrap();
                }
            })
        };
        let mut reads = 0;
        let mut warnings = Vec::new();
        while !writer.is_finished() || reads == 0 {
            let checkpoint = run
                .latest_valid_checkpoint(|w| warnings.push(w.to_string()))
                .unwrap()
                .expect("a checkpoint is always there");
            let step = checkpoint.state.step;
            assert_eq!(checkpoint.model, format!("model {step}").into_bytes());
            reads += 1;
        }
        writer.join().unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(reads > 1);
        fs::remove_dir_all(&root).unwrap();
    }

    /// Issue 13, item 4: a resume that fell back below damaged checkpoints used to have each
    /// new checkpoint deleted by rotation in favour of the damaged, higher-step ones.
    #[test]
    fn rotation_never_deletes_the_checkpoint_just_written_for_higher_damaged_ones() {
        let root = temp_dir("rotation");
        let run = RunDir::create(&root).unwrap();
        for step in [10, 20, 30] {
            run.write_checkpoint(step, vec![step], 1, 0, write_dummy(step)).unwrap();
        }
        let steps = |run: &RunDir| -> Vec<u64> { run.checkpoints().unwrap().iter().map(|(s, _)| *s).collect() };
        assert_eq!(steps(&run), vec![30]);
        // Damage 30, as if the disk filled while it was written; the run falls back to 0 and
        // writes 5 and 15 with keep_last = 1.
        fs::write(
            run.checkpoints_dir().join("step-00000030").join(OPTIMIZER_FILE),
            "optim",
        )
        .unwrap();
        run.write_checkpoint(5, vec![5], 1, 0, write_dummy(5)).unwrap();
        assert_eq!(steps(&run), vec![5, 30], "the newest good checkpoint is kept");
        run.write_checkpoint(15, vec![15], 1, 0, write_dummy(15)).unwrap();
        assert_eq!(steps(&run), vec![15, 30]);
        let resumed = run.checkpoint_to_resume(|_| {}).unwrap().unwrap();
        assert_eq!(resumed.state.step, 15);
        // Reaching step 30 again replaces the damaged checkpoint, and rotation resumes.
        run.write_checkpoint(30, vec![30], 1, 0, write_dummy(30)).unwrap();
        assert_eq!(steps(&run), vec![30]);
        RunDir::verify_checkpoint(&run.checkpoints_dir().join("step-00000030")).unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    /// Issue 13, item 4: with every checkpoint damaged, resuming used to restart at step 0.
    #[test]
    fn resuming_refuses_when_every_checkpoint_is_damaged_and_names_each_one() {
        let root = temp_dir("all-damaged");
        let run = RunDir::create(&root).unwrap();
        assert!(
            run.checkpoint_to_resume(|_| {}).unwrap().is_none(),
            "no checkpoint: step 0"
        );
        for step in [10, 20] {
            run.write_checkpoint(step, vec![step], 2, 0, write_dummy(step)).unwrap();
        }
        for step in [10, 20] {
            let path = run
                .checkpoints_dir()
                .join(format!("step-{step:08}"))
                .join(OPTIMIZER_FILE);
            fs::write(&path, "opt").unwrap();
        }
        let err = run.checkpoint_to_resume(|_| {}).err().expect("refused");
        assert!(matches!(err, RunDirError::AllCheckpointsDamaged { .. }));
        let message = err.to_string();
        for needle in ["step-00000010", "step-00000020", OPTIMIZER_FILE, "backup", "step 0"] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
        assert_eq!(run.checkpoints().unwrap().len(), 2, "nothing is deleted");
        fs::remove_dir_all(&root).unwrap();
    }

    /// Issue 13, item 7: half-written outputs of dead processes are removed; live ones stay.
    #[test]
    fn stale_partials_of_dead_processes_are_removed() {
        let root = temp_dir("partials");
        let run = RunDir::create(&root).unwrap();
        let dead_cache = root.join(".corpus-cache.building-999999999");
        let dead_checkpoint = run.checkpoints_dir().join(".tmp-step-00000040-999999999");
        let dead_config = root.join(".config.toml.tmp999999999");
        let mine = run
            .checkpoints_dir()
            .join(format!(".tmp-step-00000040-{}", std::process::id()));
        for dir in [&dead_cache, &dead_checkpoint, &mine] {
            fs::create_dir_all(dir.join("inner")).unwrap();
        }
        fs::write(&dead_config, "x").unwrap();
        let mut removed = run.remove_stale_partials().unwrap();
        removed.sort();
        let mut expected = vec![dead_cache.clone(), dead_checkpoint.clone(), dead_config.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!dead_cache.exists() && !dead_checkpoint.exists() && !dead_config.exists());
        assert!(mine.exists());
        assert!(!run.has_trained().unwrap(), "partials are not training progress");
        assert_eq!(
            run.foreign_entry().unwrap(),
            None,
            "the lock and partials belong to the run"
        );
        fs::write(root.join(LOCK_FILE_NAME), "1").unwrap();
        assert_eq!(run.foreign_entry().unwrap(), None);
        fs::write(root.join("thesis.tex"), "precious").unwrap();
        assert_eq!(run.foreign_entry().unwrap(), Some(root.join("thesis.tex")));
        assert!(matches!(RunDir::create(&root), Err(RunDirError::NotARunFolder { .. })));
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
}
