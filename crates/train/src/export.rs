//! `loev export`: a self-describing model file from a run's newest good checkpoint.
//!
//! Checkpoints are model files already, but they live inside a run folder next to optimizer
//! state a user of the model does not want, and checkpoints of older loev versions lack the
//! `loev.model_file` entry. Export reads the run's configuration, so it writes the full entry
//! (front end, heads and objectives, run, preset, step) whatever version wrote the checkpoint.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_artifacts::ModelFileInfo;
use loev_artifacts::model_file::write_model_file;
use loev_artifacts::run_folder::{MODEL_FILE, RunDir};
use loev_model::LoevModel;

use crate::config::TrainConfig;
use crate::plan::RunPlan;
use crate::trainer::TrainError;

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// The checkpoint folder the weights came from.
    pub checkpoint: PathBuf,
    /// The model file written.
    pub out: PathBuf,
    /// Its entry.
    pub info: ModelFileInfo,
}

/// Writes the newest valid checkpoint of the run at `run_dir` as a model file at `out`
/// (atomically); `warn` hears about damaged checkpoints skipped.
pub fn export_model(run_dir: &Path, out: &Path, warn: impl FnMut(&str)) -> Result<ExportSummary, TrainError> {
    let run = RunDir::open(run_dir)?;
    let plan = RunPlan::new(TrainConfig::from_file(&run.config_path())?)?;
    let checkpoint = run.latest_valid_checkpoint(warn)?.ok_or_else(|| {
        TrainError::Resume(format!(
            "run {} has no usable checkpoint to export yet: train it first (loev pretrain)",
            run_dir.display()
        ))
    })?;
    let source = checkpoint.path.join(MODEL_FILE);
    let model =
        LoevModel::load_into(&source, &plan.model, &Device::flex()).map_err(|e| TrainError::Model(e.to_string()))?;
    let info = plan.model_file_info(checkpoint.state.step);
    write_model_file(out, &model, &plan.model, &info).map_err(|e| TrainError::Model(e.to_string()))?;
    Ok(ExportSummary {
        checkpoint: checkpoint.path,
        out: out.to_path_buf(),
        info,
    })
}
