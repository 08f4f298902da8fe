//! The run plan: a training configuration resolved once, before anything is written, into what
//! the trainer builds from it — the heads, the model, the batch stream, the loss and the
//! learning-rate schedule. The trainer works from the plan alone and never asks the
//! configuration for a derived setting again, so every step (and every process of a
//! data-parallel run) sees the same resolution.

use loev_artifacts::ModelFileInfo;
use loev_augment::LoaderConfig;
use loev_model::LoevModelConfig;
use loev_objective::{Heads, LossSettings};

use crate::config::{ConfigError, TrainConfig};

/// A validated configuration and everything derived from it.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// The configuration the plan was made from (as the run folder stores it).
    pub config: TrainConfig,
    /// The heads, in output order, with their positive rules.
    pub heads: Heads,
    /// The model to build or load.
    pub model: LoevModelConfig,
    /// The batch stream (data, chain, front end, seed).
    pub loader: LoaderConfig,
    /// Temperature and anchor mean of every head's loss.
    pub loss: LossSettings,
}

impl RunPlan {
    /// Validates `config` ([`TrainConfig::validate`]) and resolves it.
    pub fn new(config: TrainConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            heads: config.heads(),
            model: config.model_config(),
            loader: config.loader_config(),
            loss: config.objective.loss_settings(),
            config,
        })
    }

    /// The run's total number of steps (`train.steps`).
    pub fn steps(&self) -> u64 {
        self.config.train.steps
    }

    /// The learning rate of step `step` (0-based) under the run's schedule.
    pub fn learning_rate_at(&self, step: u64) -> f64 {
        self.config.optimizer.learning_rate_at(step, self.steps())
    }

    /// Whether step `step` (counted from 1) appends a metrics line: every `train.log_every`
    /// steps and at `last`, the step the run stops at.
    pub fn logs_at(&self, step: u64, last: u64) -> bool {
        step.is_multiple_of(self.config.train.log_every) || step == last
    }

    /// Whether step `step` writes a checkpoint: every `train.checkpoint_every` steps and at
    /// `last`.
    pub fn checkpoints_at(&self, step: u64, last: u64) -> bool {
        step.is_multiple_of(self.config.train.checkpoint_every) || step == last
    }

    /// The model file entry of this run's model at `step`.
    pub fn model_file_info(&self, step: u64) -> ModelFileInfo {
        self.config.model_file_info_with(&self.heads, step)
    }
}
