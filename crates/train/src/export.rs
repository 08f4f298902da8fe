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
///
/// An existing file at `out` is replaced only when it is a loev model file (an earlier
/// export), or when `force` is set: a typo in `-o` must not overwrite a user's file. Nothing
/// inside the run's checkpoints is ever replaced. The run may be training meanwhile: the
/// checkpoint is read once, verified in memory, and a checkpoint that rotation removes while it
/// is read is passed over for the newer one ([`RunDir::latest_valid_checkpoint`]).
pub fn export_model(
    run_dir: &Path,
    out: &Path,
    force: bool,
    warn: impl FnMut(&str),
) -> Result<ExportSummary, TrainError> {
    let run = RunDir::open(run_dir)?;
    check_export_target(&run, out, force)?;
    let plan = RunPlan::new(TrainConfig::from_file(&run.config_path())?)?;
    let checkpoint = run.latest_valid_checkpoint(warn)?.ok_or_else(|| {
        TrainError::Resume(format!(
            "run {} has no usable checkpoint to export yet: train it first (loev pretrain)",
            run_dir.display()
        ))
    })?;
    let source = checkpoint.path.join(MODEL_FILE);
    let model = LoevModel::load_into_bytes(&source, &checkpoint.model, &plan.model, &Device::flex())
        .map_err(|e| TrainError::Model(e.to_string()))?;
    let info = plan.model_file_info(checkpoint.state.step);
    write_model_file(out, &model, &plan.model, &info).map_err(|e| TrainError::Model(e.to_string()))?;
    Ok(ExportSummary {
        checkpoint: checkpoint.path,
        out: out.to_path_buf(),
        info,
    })
}

/// Refuses an export target that is a folder, lies among the run's checkpoints, or is an
/// existing file other than a loev model file (unless `force`).
fn check_export_target(run: &RunDir, out: &Path, force: bool) -> Result<(), TrainError> {
    let refuse = |reason: String| Err(TrainError::Export(format!("{}: {reason}", out.display())));
    let checkpoints = loev_core::output::resolved(&run.checkpoints_dir());
    if loev_core::output::resolved(out).starts_with(&checkpoints) {
        return refuse(format!(
            "lies among the checkpoints of the run ({}), which export never writes; write the model file elsewhere",
            checkpoints.display()
        ));
    }
    match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => refuse(format!("cannot be checked ({e})")),
        Ok(meta) if meta.is_dir() => {
            refuse("is a folder; give the path of the model file to write (e.g. model.safetensors)".into())
        }
        Ok(_) if force || loev_model::read_config(out).is_ok() => Ok(()),
        Ok(_) => refuse(
            "exists and is not a loev model file, so export does not replace it; choose another name, or pass --force \
             to replace it"
                .into(),
        ),
    }
}
