//! Pretraining for loev: the configuration and its presets, the run plan resolved from it, the
//! data-parallel step, the resumable training loop and `loev export`. The run folder and the
//! model file it writes belong to `loev-artifacts`; the heads, the positive rule, the loss and
//! the presets' recipes to `loev-objective` (re-exported here).

pub mod config;
pub mod device;
pub mod export;
pub mod fixtures;
pub mod plan;
mod run_log;
pub mod step;
pub mod trainer;

pub use config::{ConfigError, ObjectiveKind, PRESET_NAMES, TrainConfig, preset};
pub use export::{ExportSummary, export_model};
pub use loev_objective::loss;
pub use loev_objective::{
    AnchorMean, ContrastiveLoss, HeadObjective, Heads, LossSettings, ViewLabels, contrastive_loss,
    contrastive_loss_sharded,
};
pub use plan::RunPlan;
pub use step::{
    StepBatch, StepGradients, StepLosses, gradients_on_host, rank_views, shard_ranges, step_gradients,
    step_gradients_across,
};
pub use trainer::{
    BURN_DEFAULT_DEVICE_VARIABLE, RunState, TrainError, TrainOptions, TrainSummary, pretrain, pretrain_across,
    pretrain_or_resume, resume, resume_across,
};
