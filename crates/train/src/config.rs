//! The pretraining configuration (TOML) and the presets of the seed paper's Table I.
//!
//! A run is fully described by one [`TrainConfig`]; the run directory stores the *resolved*
//! config (every default written out), so a run can be repeated or resumed from its folder
//! alone. Unknown keys are errors naming the key.

use std::path::{Path, PathBuf};

use loev_artifacts::ModelFileInfo;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
pub use loev_augment::DataConfig;
use loev_augment::{ChainConfig, LoaderConfig};
use loev_model::{EncoderConfig, LoevModelConfig};
use loev_objective::{AnchorMean, DEFAULT_TEMPERATURE, Heads, LossSettings, Preset, RecipeError, chain_heads};
pub use loev_objective::{INVARIANT_HEAD, ModelSize, ObjectiveKind, PRESET_NAMES};
use serde::{Deserialize, Serialize};

/// Errors in a training configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key.
    #[error("invalid config {origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// No such preset, or no such size (the message lists both).
    #[error(transparent)]
    UnknownPreset(#[from] RecipeError),
}

/// The model to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Encoder size; ignored when `encoder` is given.
    #[serde(default = "default_size")]
    pub size: ModelSize,
    /// An explicit encoder (written out in resolved configs).
    #[serde(default)]
    pub encoder: Option<EncoderConfig>,
    /// Projection head layer sizes (the input is the embedding size). Default: the seed's
    /// [1728, 1728, 512] at full size, [d, d, 128] for smaller encoders of width d.
    #[serde(default)]
    pub projection_dims: Option<Vec<usize>>,
    /// LOEV++ / MULE++: one last-stage branch per head.
    #[serde(default)]
    pub plusplus: bool,
}

fn default_size() -> ModelSize {
    ModelSize::Full
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            size: ModelSize::Full,
            encoder: None,
            projection_dims: None,
            plusplus: false,
        }
    }
}

/// The contrastive objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// MULE (all heads invariant) or LOEV (leave-one-out heads).
    pub kind: ObjectiveKind,
    /// Softmax temperature τ.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// How each head averages over anchors: `all_anchors` (an anchor without a positive
    /// counts 0; the authors' code and the presets) or `with_positives` (such anchors are
    /// left out). A configuration that names none means `with_positives`, which is what
    /// loev did before the key existed.
    #[serde(default = "AnchorMean::unnamed")]
    pub anchor_mean: AnchorMean,
}

impl ObjectiveConfig {
    /// The loss settings of this objective.
    pub fn loss_settings(&self) -> LossSettings {
        LossSettings {
            temperature: self.temperature,
            anchor_mean: self.anchor_mean,
        }
    }
}

fn default_temperature() -> f64 {
    DEFAULT_TEMPERATURE
}

/// Learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// The seed's constant learning rate.
    Constant,
    /// Linear warm-up from 0, then cosine decay to `final_lr` at the last step.
    Cosine {
        /// Warm-up steps.
        warmup_steps: u64,
        /// Learning rate at the end of training.
        final_lr: f64,
    },
}

/// Adam and its schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Schedule of the learning rate over steps.
    pub schedule: Schedule,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε (PyTorch's default, not burn's 1e-5).
    pub epsilon: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            schedule: Schedule::Constant,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

impl OptimizerConfig {
    /// The learning rate at `step` (0-based) of a run of `total_steps`.
    pub fn learning_rate_at(&self, step: u64, total_steps: u64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine { warmup_steps, final_lr } => {
                if step < warmup_steps {
                    self.learning_rate * (step + 1) as f64 / warmup_steps as f64
                } else {
                    let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                    let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                    final_lr + 0.5 * (self.learning_rate - final_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
                }
            }
        }
    }
}

/// How long to train and how often to write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Optimisation steps.
    pub steps: u64,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Keep every checkpoint whose step is a multiple of this (0 = keep only the last ones).
    pub keep_every: u64,
    /// How many of the most recent checkpoints to keep besides those.
    pub keep_last: usize,
    /// Append a metrics line every this many steps.
    pub log_every: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            steps: 200_000,
            checkpoint_every: 1000,
            keep_every: 10_000,
            keep_last: 2,
            log_every: 10,
        }
    }
}

/// Everything a pretraining run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name (the default run directory is `runs/<name>`).
    pub name: String,
    /// The preset the configuration was made from (`loev-ps:tiny`), recorded in model files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Seed of every random draw (weights, batches, augmentations, stochastic depth).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `cpu`, `cuda` / `cuda:0`, or several GPUs `cuda:0,1` (data parallel, global negatives).
    #[serde(default = "default_device")]
    pub device: String,
    /// Training audio and batch layout.
    #[serde(default)]
    pub data: DataConfig,
    /// The augmentation chain.
    #[serde(default)]
    pub augment: ChainConfig,
    /// The log-mel front end.
    #[serde(default)]
    pub frontend: FrontEndConfig,
    /// The model.
    #[serde(default)]
    pub model: ModelSection,
    /// The contrastive objective.
    pub objective: ObjectiveConfig,
    /// Adam and its schedule.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Steps and checkpoints.
    #[serde(default)]
    pub train: ScheduleConfig,
}

fn default_seed() -> u64 {
    123
}

fn default_device() -> String {
    "cpu".to_string()
}

impl TrainConfig {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: TrainConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        // Name the file: a value check fails far from where the text was read.
        config.validate().map_err(|e| match e {
            ConfigError::Invalid(message) => ConfigError::Invalid(format!("{origin}: {message}")),
            other => other,
        })?;
        Ok(config)
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# config could not be serialised: {e}\n"))
    }

    /// The encoder this config trains (explicit, or from `model.size`).
    pub fn encoder(&self) -> EncoderConfig {
        self.model.encoder.clone().unwrap_or_else(|| self.model.size.encoder())
    }

    /// The heads this run trains ([`loev_objective::heads::heads`] of its objective and chain):
    /// the invariant head, and for LOEV and the "++" models one per variant augmentation the
    /// chain applies.
    pub fn heads(&self) -> Heads {
        chain_heads(self.objective.kind, self.model.plusplus, &self.augment)
    }

    /// The model file entry of this run's model at `step`: front end, heads and their
    /// objectives, run, preset.
    pub fn model_file_info(&self, step: u64) -> ModelFileInfo {
        self.model_file_info_with(&self.heads(), step)
    }

    /// [`TrainConfig::model_file_info`] with the heads already resolved.
    pub(crate) fn model_file_info_with(&self, heads: &Heads, step: u64) -> ModelFileInfo {
        ModelFileInfo::new(
            self.frontend.clone(),
            heads.infos(),
            self.name.clone(),
            self.preset.clone(),
            step,
        )
    }

    /// The model configuration this run trains.
    pub fn model_config(&self) -> LoevModelConfig {
        let encoder = self.encoder();
        let width = encoder.embedding_dim();
        let dims = self.model.projection_dims.clone().unwrap_or_else(|| {
            if width == EncoderConfig::full().embedding_dim() {
                vec![width, width, 512]
            } else {
                vec![width, width, 128]
            }
        });
        LoevModelConfig::new(encoder, self.heads().names().to_vec())
            .with_projection_dims(dims)
            .with_plusplus(self.model.plusplus)
    }

    /// The sections in which this (resolved) configuration differs from `other` resolved, by
    /// their keys (`seed`, `augment`, `train`, …); where the run lives (`data.cache`) and
    /// which devices train it (`device`) are left out, as they do not change what it learns.
    pub fn sections_differing_from(&self, other: &TrainConfig) -> Vec<&'static str> {
        let (mut a, mut b) = (self.resolved(), other.resolved());
        for config in [&mut a, &mut b] {
            config.data.cache = None;
            config.device.clear();
        }
        // Destructured, so that a new section cannot be left out of the comparison.
        let TrainConfig {
            name,
            preset,
            seed,
            device: _,
            data,
            augment,
            frontend,
            model,
            objective,
            optimizer,
            train,
        } = &a;
        [
            ("name", *name != b.name),
            ("preset", *preset != b.preset),
            ("seed", *seed != b.seed),
            ("data", *data != b.data),
            ("augment", *augment != b.augment),
            ("frontend", *frontend != b.frontend),
            ("model", *model != b.model),
            ("objective", *objective != b.objective),
            ("optimizer", *optimizer != b.optimizer),
            ("train", *train != b.train),
        ]
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
    }

    /// Views per batch (anchors × views).
    pub fn batch_views(&self) -> usize {
        self.data.anchors * self.data.views
    }

    /// The config with every default made explicit (what the run directory stores).
    pub fn resolved(&self) -> Self {
        let mut resolved = self.clone();
        resolved.model.encoder = Some(self.encoder());
        resolved.model.projection_dims = Some(self.model_config().projection_dims);
        resolved
    }

    /// The batch stream of this run, as the trainer's loader reads it.
    pub fn loader_config(&self) -> LoaderConfig {
        LoaderConfig {
            data: self.data.clone(),
            seed: self.seed,
            chain: self.augment.clone(),
            frontend: self.frontend.clone(),
            rendered_views: None,
        }
    }

    /// Refuses batch sizes that no machine of this size could hold, before anything is
    /// allocated or written ([`loev_core::limits`]). Counted, as lower bounds: the log-mel
    /// inputs of every batch alive at once (the one training, one per loader worker, `prefetch`
    /// queued), and the loss's `(anchors · views)²` similarities per head (with their
    /// gradients). The model's activations come on top.
    fn check_memory(&self) -> Result<(), ConfigError> {
        use loev_core::limits::{bytes_of, check_memory};
        let data = &self.data;
        let what = format!("data.anchors × data.views = {} × {}", data.anchors, data.views);
        let batch_views = bytes_of(&[data.anchors as u128, data.views as u128]);
        let input = bytes_of(&[self.frontend.n_mels as u128, self.frontend.frames as u128, 4]);
        let in_flight = bytes_of(&[1 + data.workers as u128 + data.prefetch as u128]);
        let invalid = |e: loev_core::limits::TooLarge| ConfigError::Invalid(e.to_string());
        check_memory(
            format!(
                "{what} with data.workers = {} and data.prefetch = {}",
                data.workers, data.prefetch
            ),
            "the log-mel inputs of every batch in flight",
            bytes_of(&[batch_views, input, in_flight]),
        )
        .map_err(invalid)?;
        let heads = self.heads().names().len().max(1) as u128;
        check_memory(
            what,
            "the loss's similarity matrix and its gradient per head",
            bytes_of(&[batch_views, batch_views, 4, 2, heads]),
        )
        .map_err(invalid)
    }

    /// Checks ranges and consistency of every section; messages name the key.
    ///
    /// This is the whole check of a run's configuration: everything the trainer later builds
    /// from it (front end, crops, batch loader, model, devices' names) is validated here, so
    /// that `loev pretrain` refuses an invalid value before it writes the run folder or
    /// generates a corpus.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return invalid(format!("name '{}' must be a non-empty folder name", self.name));
        }
        if self.data.anchors < 2 {
            return invalid(format!(
                "data.anchors = {} must be at least 2 (negatives come from other clips)",
                self.data.anchors
            ));
        }
        if self.data.views < 2 {
            return invalid(format!(
                "data.views = {} must be at least 2 (positives are views of one clip)",
                self.data.views
            ));
        }
        if self.data.workers == 0 || self.data.prefetch == 0 {
            return invalid("data.workers and data.prefetch must be at least 1".into());
        }
        if !(self.objective.temperature > 0.0 && self.objective.temperature.is_finite()) {
            return invalid(format!(
                "objective.temperature = {} must be positive",
                self.objective.temperature
            ));
        }
        let o = &self.optimizer;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            return invalid(format!(
                "optimizer.learning_rate = {} must be positive",
                o.learning_rate
            ));
        }
        let betas_ok = (0.0..1.0).contains(&o.beta1) && (0.0..1.0).contains(&o.beta2);
        if !(betas_ok && o.epsilon > 0.0 && o.epsilon.is_finite()) {
            return invalid("optimizer.beta1/beta2 must lie in [0, 1) and optimizer.epsilon be positive".into());
        }
        if let Schedule::Cosine { final_lr, .. } = o.schedule
            && !(final_lr >= 0.0 && final_lr.is_finite())
        {
            return invalid(format!(
                "optimizer.schedule.final_lr = {final_lr} must be a finite number >= 0"
            ));
        }
        if self.data.cache.is_none() && self.data.corpus_tracks == 0 {
            return invalid(
                "data.corpus_tracks = 0: the built-in corpus needs at least 1 track (or set data.cache)".into(),
            );
        }
        FrontEnd::new(self.frontend.clone()).map_err(|e| ConfigError::Invalid(format!("[frontend] {e}")))?;
        if self.frontend.sample_rate != loev_audio::SAMPLE_RATE {
            return invalid(format!(
                "frontend.sample_rate = {} must be {}: caches and the augmentation chain run at that rate",
                self.frontend.sample_rate,
                loev_audio::SAMPLE_RATE
            ));
        }
        self.check_memory()?;
        self.data
            .crops
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("data.crops: {e}")))?;
        if self.train.steps == 0
            || self.train.checkpoint_every == 0
            || self.train.log_every == 0
            || self.train.keep_last == 0
        {
            return invalid(
                "train.steps, train.checkpoint_every, train.log_every and train.keep_last must be at least 1".into(),
            );
        }
        self.augment
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("augment: {e}")))?;
        self.encoder()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("model.encoder: {e}")))?;
        self.model_config()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("model: {e}")))?;
        crate::device::parse_devices(&self.device).map_err(ConfigError::Invalid)?;
        // Anything the loader checks beyond the above.
        self.loader_config()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("data / augment / frontend: {e}")))?;
        Ok(())
    }
}

/// A preset run: `name` is one of [`PRESET_NAMES`], optionally suffixed `:full`, `:tiny` or
/// `:test` (default full); its chain, objective and mixup come from [`loev_objective::PRESETS`].
/// Full = the seed recipe (256 anchors × 4 views, Adam 1e-4 constant, 200k steps, full
/// SF-NFNet-F0); tiny = the same recipe on the demo encoder with 16 anchors, a few hundred steps
/// and a higher, warmed-up learning rate so that it learns on a CPU; test = the same on the
/// unit tests' encoder.
pub fn preset(spec: &str) -> Result<TrainConfig, ConfigError> {
    let (recipe, size) = Preset::parse(spec)?;
    let name = recipe.name;
    let mut config = TrainConfig {
        name: format!("{name}-{size}"),
        preset: Some(format!("{name}:{size}")),
        seed: default_seed(),
        device: default_device(),
        data: DataConfig {
            mixup: recipe.mixup,
            ..DataConfig::default()
        },
        augment: recipe.chain(),
        frontend: FrontEndConfig::default(),
        model: ModelSection {
            size,
            encoder: None,
            projection_dims: None,
            plusplus: recipe.plusplus,
        },
        objective: ObjectiveConfig {
            kind: recipe.objective,
            temperature: DEFAULT_TEMPERATURE,
            anchor_mean: AnchorMean::AllAnchors,
        },
        optimizer: OptimizerConfig::default(),
        train: ScheduleConfig::default(),
    };
    if size != ModelSize::Full {
        config.data.anchors = 16;
        config.optimizer = OptimizerConfig {
            learning_rate: 1e-3,
            schedule: Schedule::Cosine {
                warmup_steps: 20,
                final_lr: 1e-4,
            },
            ..OptimizerConfig::default()
        };
        config.train = ScheduleConfig {
            steps: 300,
            checkpoint_every: 50,
            keep_every: 0,
            keep_last: 2,
            log_every: 5,
        };
    }
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_objective::HeadObjective;

    #[test]
    fn every_preset_is_valid_and_builds_the_right_heads() {
        for name in PRESET_NAMES {
            for size in ["full", "tiny"] {
                let config = preset(&format!("{name}:{size}")).unwrap();
                let heads = config.heads();
                let expected_heads = match name {
                    "loev-ps" => vec!["invariant", "pitch_shift"],
                    "loev-ts" => vec!["invariant", "time_stretch"],
                    "loev-psts" | "loev++-psts" | "mule++-psts" => vec!["invariant", "pitch_shift", "time_stretch"],
                    _ => vec!["invariant"],
                };
                assert_eq!(heads.names(), expected_heads, "{name}");
                let leave_out = heads
                    .objectives()
                    .iter()
                    .filter(|o| matches!(o, HeadObjective::LeaveOut { .. }))
                    .count();
                assert_eq!(
                    leave_out,
                    if name.starts_with("loev") { heads.len() - 1 } else { 0 },
                    "{name}"
                );
                assert_eq!(config.model.plusplus, name.contains("++"));
            }
        }
        assert!(preset("loev-ps").unwrap().train.steps == 200_000);
        assert!(preset("mule-mixup:tiny").unwrap().data.mixup);
        let unknown = preset("simclr:test").unwrap_err();
        assert!(matches!(unknown, ConfigError::UnknownPreset(_)));
        // Every size a preset takes is named, `:test` too.
        assert!(unknown.to_string().contains("':test'"), "{unknown}");
        assert!(preset("loev-ps:huge").unwrap_err().to_string().contains("huge"));
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let config = preset("loev++-psts:tiny").unwrap().resolved();
        let text = config.to_toml();
        let back = TrainConfig::from_toml(&text, "round trip").unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let text = preset("mule-b:tiny")
            .unwrap()
            .to_toml()
            .replace("anchors = 16", "anchorz = 16");
        let err = TrainConfig::from_toml(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains("anchorz"), "{err}");
        let text = preset("mule-b:tiny")
            .unwrap()
            .to_toml()
            .replace("views = 4", "views = 1");
        let err = TrainConfig::from_toml(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains("data.views"), "{err}");
    }

    /// Issue 13, item 6: front-end values used to be checked only by the batch loader, after
    /// the run folder and the corpus were written.
    #[test]
    fn invalid_front_end_and_crop_values_are_caught_by_validate_and_named() {
        let base = preset("loev-ps:tiny").unwrap();
        type Break = Box<dyn Fn(&mut TrainConfig)>;
        let cases: Vec<(&str, Break)> = vec![
            ("sample_rate", Box::new(|c| c.frontend.sample_rate = 0)),
            ("sample_rate", Box::new(|c| c.frontend.sample_rate = 22_050)),
            ("n_mels", Box::new(|c| c.frontend.n_mels = 0)),
            ("hop_length", Box::new(|c| c.frontend.hop_length = 0)),
            ("frames", Box::new(|c| c.frontend.frames = 0)),
            ("data.crops", Box::new(|c| c.data.crops.same = -1.0)),
            ("data.corpus_tracks", Box::new(|c| c.data.corpus_tracks = 0)),
            (
                "final_lr",
                Box::new(|c| {
                    c.optimizer.schedule = Schedule::Cosine {
                        warmup_steps: 1,
                        final_lr: f64::NAN,
                    }
                }),
            ),
        ];
        for (key, break_it) in cases {
            let mut config = base.clone();
            break_it(&mut config);
            let err = config.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{key}: {err}");
            // The same check runs when a config file is read.
            let err = TrainConfig::from_toml(&config.to_toml(), "run.toml")
                .expect_err(key)
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn cosine_schedule_warms_up_and_decays() {
        let o = OptimizerConfig {
            learning_rate: 1e-3,
            schedule: Schedule::Cosine {
                warmup_steps: 10,
                final_lr: 1e-5,
            },
            ..OptimizerConfig::default()
        };
        assert!((o.learning_rate_at(0, 100) - 1e-4).abs() < 1e-12);
        assert!((o.learning_rate_at(9, 100) - 1e-3).abs() < 1e-12);
        assert!((o.learning_rate_at(10, 100) - 1e-3).abs() < 1e-12);
        assert!((o.learning_rate_at(100, 100) - 1e-5).abs() < 1e-12);
        assert!(o.learning_rate_at(50, 100) < o.learning_rate_at(30, 100));
        assert_eq!(OptimizerConfig::default().learning_rate_at(12345, 200_000), 1e-4);
    }
}
