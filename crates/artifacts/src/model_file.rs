//! The self-describing model file.
//!
//! A model file is the safetensors file of [`LoevModel::save`] (weights, `loev.format`,
//! `loev.config` = the encoder and head configuration) with one more header entry,
//! `loev.model_file`: a JSON [`ModelFileInfo`] holding everything else a user of the model
//! needs — the log-mel front end it was trained with, the input shape of its weights, each
//! head's name and objective, the run and preset it came from, its step, the loev version that
//! wrote it and the format version. Every checkpoint loev writes is such a file, and
//! `loev export` writes one from a run's newest good checkpoint.
//!
//! Reading checks that the parts agree and names the field that does not: a front end whose
//! mel count or slice length differs from the input the weights were trained on, heads that
//! differ from the configuration's, a format newer than this loev reads. Checkpoints written
//! before the entry existed load through their run folder (whose `config.toml` holds the front
//! end); alone, they are refused with a message saying how to export them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_core::SAMPLE_RATE;
use loev_model::{LoevModel, LoevModelConfig, ModelError};
use serde::{Deserialize, Serialize};

use crate::run_folder::{MODEL_FILE, RunDir};

/// The header entry holding the [`ModelFileInfo`] JSON.
pub const MODEL_FILE_KEY: &str = "loev.model_file";
/// The newest format version this loev writes and reads.
pub const MODEL_FILE_VERSION: u32 = 1;

/// The input the weights were trained on: `[mels × frames]` log-mel slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// Mel bands.
    pub mels: usize,
    /// Frames per slice.
    pub frames: usize,
}

/// What a head's contrastive objective made it keep or forget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadRole {
    /// All views of a clip are positives: invariant to every augmentation (MULE, LOEV's head 0).
    Invariant,
    /// Views are positives only when `transform` was applied to neither: keeps that transform.
    LeaveOut {
        /// The variant augmentation the head leaves out.
        transform: String,
    },
}

/// A projection head: its name (as in the embedding spaces `z_<name>`) and its objective.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadInfo {
    /// Head name.
    pub name: String,
    /// Its objective.
    pub objective: HeadRole,
}

/// Everything about a model besides its weights and layer configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFileInfo {
    /// Format version of this entry ([`MODEL_FILE_VERSION`] when written).
    pub format_version: u32,
    /// The loev version that wrote the file.
    pub loev_version: String,
    /// The log-mel front end the model was trained with (and must be fed with).
    pub frontend: FrontEndConfig,
    /// The input shape of the weights.
    pub input: ModelInput,
    /// The heads in output order.
    pub heads: Vec<HeadInfo>,
    /// The run's name.
    pub run: String,
    /// The preset the run was made from, if any (`loev-ps:tiny`).
    pub preset: Option<String>,
    /// Optimisation steps the weights have seen (0 for imported weights, whose training loev
    /// does not know).
    pub step: u64,
    /// Where the weights came from when loev did not train them (`loev import`); absent for
    /// loev's own runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ModelSource>,
}

/// The origin of imported weights: what they were converted from, and under which licence
/// their authors released them (the licence travels with the weights into every model file
/// made from them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    /// The format the weights were imported from (`mule-torch`).
    pub format: String,
    /// The folder that was imported, as it was given.
    pub path: String,
    /// The weights' licence as their source states it (`CC-BY-NC-4.0` for MULE's release).
    pub weights_license: String,
    /// The source's own provenance record, verbatim (mule-torch: `config.json`'s `provenance`).
    pub provenance: serde_json::Value,
    /// FNV-1a 64 of the imported weight file (16 hex digits): which release was imported.
    pub weights_fnv1a64: String,
}

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// Reading, writing or matching the weights failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The parts of the file disagree.
    #[error("model file {path}: `{field}` {reason}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The field that is wrong (`frontend.n_mels`, `heads`, …).
        field: String,
        /// How it disagrees.
        reason: String,
    },
    /// A checkpoint written before model files described themselves, outside its run folder.
    #[error(
        "{0} does not describe itself (it has no `loev.model_file` header entry: a checkpoint written by an \
         older loev) and is not inside its run folder, so its front end is unknown; embed it through its run \
         folder (--run RUN) or write a model file from the run with `loev export RUN -o model.safetensors`"
    )]
    NotSelfDescribing(PathBuf),
    /// The run folder of an old checkpoint could not be read.
    #[error("{0}")]
    RunFolder(String),
}

impl ModelFileInfo {
    /// The entry for a model trained with `frontend`, heads `heads`, at `step`.
    pub fn new(frontend: FrontEndConfig, heads: Vec<HeadInfo>, run: String, preset: Option<String>, step: u64) -> Self {
        Self {
            format_version: MODEL_FILE_VERSION,
            loev_version: env!("CARGO_PKG_VERSION").to_string(),
            input: ModelInput {
                mels: frontend.n_mels,
                frames: frontend.frames,
            },
            frontend,
            heads,
            run,
            preset,
            step,
            source: None,
        }
    }

    /// Checks the entry against itself and against the model configuration; the error names
    /// the first field that disagrees.
    pub fn check(&self, config: &LoevModelConfig, path: &Path) -> Result<(), ModelFileError> {
        let wrong = |field: &str, reason: String| ModelFileError::Inconsistent {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        if self.format_version > MODEL_FILE_VERSION {
            return Err(wrong(
                "format_version",
                format!(
                    "is {}, but this loev reads up to {MODEL_FILE_VERSION}: the file is from a newer loev \
                     ({}); upgrade loev",
                    self.format_version, self.loev_version
                ),
            ));
        }
        if self.frontend.n_mels != self.input.mels {
            return Err(wrong(
                "frontend.n_mels",
                format!(
                    "is {} but the weights were trained on {}-mel input (`input.mels`): the front end does not \
                     match the model",
                    self.frontend.n_mels, self.input.mels
                ),
            ));
        }
        if self.frontend.frames != self.input.frames {
            return Err(wrong(
                "frontend.frames",
                format!(
                    "is {} but the weights were trained on {}-frame slices (`input.frames`)",
                    self.frontend.frames, self.input.frames
                ),
            ));
        }
        if self.frontend.sample_rate != SAMPLE_RATE {
            return Err(wrong(
                "frontend.sample_rate",
                format!("is {} Hz; loev's audio is {SAMPLE_RATE} Hz", self.frontend.sample_rate),
            ));
        }
        FrontEnd::new(self.frontend.clone()).map_err(|e| wrong("frontend", e.to_string()))?;
        let names: Vec<&str> = self.heads.iter().map(|h| h.name.as_str()).collect();
        if names != config.heads.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(wrong(
                "heads",
                format!(
                    "lists {names:?} but the model configuration (`loev.config`) has heads {:?}",
                    config.heads
                ),
            ));
        }
        Ok(())
    }
}

/// A model ready to use, with what is known about it.
pub struct LoadedModel {
    /// The weights.
    pub model: LoevModel,
    /// Encoder and head configuration.
    pub config: LoevModelConfig,
    /// The front end to feed it with.
    pub frontend: FrontEndConfig,
    /// The model file's entry; `None` for an older checkpoint read through its run folder.
    pub info: Option<ModelFileInfo>,
    /// The file the weights came from.
    pub path: PathBuf,
}

/// Writes `model` as a model file at `path` (atomically), after checking `info` against
/// `config`.
pub fn write_model_file(
    path: &Path,
    model: &LoevModel,
    config: &LoevModelConfig,
    info: &ModelFileInfo,
) -> Result<(), ModelFileError> {
    info.check(config, path)?;
    let json = serde_json::to_string(info).map_err(|e| ModelFileError::Inconsistent {
        path: path.to_path_buf(),
        field: MODEL_FILE_KEY.to_string(),
        reason: format!("cannot be written: {e}"),
    })?;
    let extra = BTreeMap::from([(MODEL_FILE_KEY.to_string(), json)]);
    model.save_with_metadata(config, &extra, path)?;
    Ok(())
}

/// The file's [`ModelFileInfo`], without loading the weights; `None` for a checkpoint written
/// before the entry existed.
pub fn read_model_file_info(path: &Path) -> Result<Option<ModelFileInfo>, ModelFileError> {
    let extra = loev_model::read_extra_metadata(path)?;
    info_of(path, &extra)
}

fn info_of(path: &Path, extra: &BTreeMap<String, String>) -> Result<Option<ModelFileInfo>, ModelFileError> {
    extra
        .get(MODEL_FILE_KEY)
        .map(|json| {
            serde_json::from_str(json).map_err(|e| ModelFileError::Inconsistent {
                path: path.to_path_buf(),
                field: MODEL_FILE_KEY.to_string(),
                reason: format!("cannot be read: {e}"),
            })
        })
        .transpose()
}

/// Loads a model file. A self-describing file needs nothing else; an older checkpoint loads
/// when it lies in its run folder (`<run>/checkpoints/step-N/model.safetensors`), whose
/// `config.toml` gives the front end.
pub fn load_model_file(path: &Path, device: &Device) -> Result<LoadedModel, ModelFileError> {
    let (model, config, extra) = LoevModel::load_with_metadata(path, device)?;
    loaded(path, model, config, extra)
}

/// [`load_model_file`] from the bytes of the file, read earlier (a checkpoint's verified bytes).
pub fn load_model_bytes(path: &Path, bytes: &[u8], device: &Device) -> Result<LoadedModel, ModelFileError> {
    let (model, config, extra) = LoevModel::load_with_metadata_bytes(path, bytes, device)?;
    loaded(path, model, config, extra)
}

fn loaded(
    path: &Path,
    model: LoevModel,
    config: LoevModelConfig,
    extra: BTreeMap<String, String>,
) -> Result<LoadedModel, ModelFileError> {
    match info_of(path, &extra)? {
        Some(info) => {
            info.check(&config, path)?;
            Ok(LoadedModel {
                model,
                config,
                frontend: info.frontend.clone(),
                info: Some(info),
                path: path.to_path_buf(),
            })
        }
        None => {
            let run =
                RunDir::of_model_file(path).ok_or_else(|| ModelFileError::NotSelfDescribing(path.to_path_buf()))?;
            let frontend = run.frontend().map_err(|e| ModelFileError::RunFolder(e.to_string()))?;
            Ok(LoadedModel {
                model,
                config,
                frontend,
                info: None,
                path: path.to_path_buf(),
            })
        }
    }
}

/// Loads the newest valid checkpoint of a run folder (`warn` hears about damaged ones skipped).
pub fn load_run_model(run_dir: &Path, device: &Device, warn: impl FnMut(&str)) -> Result<LoadedModel, ModelFileError> {
    let run = RunDir::open(run_dir).map_err(|e| ModelFileError::RunFolder(e.to_string()))?;
    let checkpoint = run
        .latest_valid_checkpoint(warn)
        .map_err(|e| ModelFileError::RunFolder(e.to_string()))?
        .ok_or_else(|| {
            ModelFileError::RunFolder(format!(
                "run {} has no usable checkpoint yet: train it first (loev pretrain)",
                run_dir.display()
            ))
        })?;
    load_model_bytes(&checkpoint.path.join(MODEL_FILE), &checkpoint.model, device)
}
