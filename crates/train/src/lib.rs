//! Pretraining for loev: the LOEV / MULE contrastive losses, the training loop, presets and
//! the run directory.

pub mod config;
pub mod device;
pub mod export;
pub mod fixtures;
pub mod loss;
pub mod step;
pub mod trainer;

pub use config::{ConfigError, ObjectiveKind, PRESET_NAMES, TrainConfig, preset};
pub use export::{ExportSummary, export_model};
pub use loss::{
    AnchorMean, ContrastiveLoss, HeadObjective, LossSettings, ViewLabels, contrastive_loss, contrastive_loss_sharded,
};
pub use step::{StepBatch, StepGradients, StepLosses, gradients_on_host, shard_ranges, step_gradients};
pub use trainer::{BURN_DEFAULT_DEVICE_VARIABLE, TrainError, TrainOptions, TrainSummary, pretrain, resume};
