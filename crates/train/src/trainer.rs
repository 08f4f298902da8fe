//! The training loop: batches from the background loader, forward, contrastive loss, Adam,
//! metrics, checkpoints, resume.
//!
//! Everything that influences the weights is a pure function of the config and the step:
//! batch `s` comes from `(seed, s)`, the stochastic-depth masks of step `s` from
//! `derive_seed(seed, [s])`, and the learning rate from the schedule at `s`. With the model
//! weights and Adam's state restored from a checkpoint, a resumed run therefore continues
//! exactly as the uninterrupted one would have.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::Tensor;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Bytes, Device};
use indicatif::{ProgressBar, ProgressStyle};
use loev_audio::cache::AudioCache;
use loev_audio::io::atomic_write;
use loev_audio::rng::derive_seed;
use loev_augment::{Batch, BatchLoader, LoaderConfig};
use loev_model::LoevModel;
use serde_json::json;

use crate::config::TrainConfig;
use crate::device::open_training_devices;
use crate::loss::{HeadObjective, ViewLabels};
use crate::rundir::{MODEL_FILE, OPTIMIZER_FILE, RunDir, RunDirError};
use crate::step::{StepBatch, StepGradients, StepLosses, step_gradients};

/// Errors that end a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The run directory could not be read or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The training audio could not be opened or prepared.
    #[error("training data: {0}")]
    Data(String),
    /// The model could not be built, saved or loaded.
    #[error("model: {0}")]
    Model(String),
    /// The loss became NaN or infinite; nothing was written after the last good checkpoint.
    #[error(
        "the loss became non-finite at step {step} ({detail}); stopped without writing. The last good checkpoint is {last_checkpoint}. \
         Lower optimizer.learning_rate (or use a warm-up schedule), check the training audio, then continue with `loev pretrain --resume {run_dir}`"
    )]
    NonFinite {
        /// The step whose loss was not finite.
        step: u64,
        /// Per-head values.
        detail: String,
        /// The checkpoint to resume from.
        last_checkpoint: String,
        /// The run folder.
        run_dir: String,
    },
}

/// How to run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Show a progress bar (otherwise a line per logged step on stderr when `verbose`).
    pub progress: bool,
    /// Print status lines (config summary, checkpoints) on stderr.
    pub verbose: bool,
    /// Stop after this many steps in total even if the config asks for more (tests).
    pub stop_after: Option<u64>,
    /// Train on these devices instead of the configuration's (`loev pretrain --resume RUN
    /// --device …`: a run may continue on another device; its `config.toml` is left as it is).
    pub device: Option<String>,
}

impl TrainOptions {
    /// Options for a run folder with progress and messages on.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            run_dir: run_dir.to_path_buf(),
            progress: true,
            verbose: true,
            stop_after: None,
            device: None,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Steps completed (in total, over every resume).
    pub steps: u64,
    /// Step the run continued from, when it was resumed.
    pub resumed_from: Option<u64>,
    /// Head names.
    pub heads: Vec<String>,
    /// Each head's loss averaged over the first logged window of this invocation.
    pub first_losses: Vec<f64>,
    /// Each head's loss averaged over the last logged window.
    pub last_losses: Vec<f64>,
    /// Training throughput of this invocation (views per second).
    pub views_per_second: f64,
    /// Share of this invocation's wall time spent waiting for data.
    pub data_wait_share: f64,
    /// The last checkpoint written.
    pub last_checkpoint: Option<PathBuf>,
}

/// Starts a new run in `options.run_dir` (which must not hold a run yet).
pub fn pretrain(config: &TrainConfig, options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    config.validate()?;
    let run = RunDir::create(&options.run_dir)?;
    run.write_config(&config.resolved().to_toml())?;
    run_training(config.resolved(), run, options)
}

/// Continues the run in `options.run_dir` from its newest valid checkpoint, with the config
/// stored there.
pub fn resume(options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    let run = RunDir::open(&options.run_dir)?;
    let mut config = TrainConfig::from_file(&run.config_path())?;
    if let Some(device) = &options.device {
        config.device = device.clone();
        config.validate()?;
    }
    run_training(config, run, options)
}

/// The parameter ids of a module in visit order.
pub fn param_ids<M: Module>(module: &M) -> Vec<u64> {
    struct Collect(Vec<u64>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// Gives a module's parameters the ids `ids` (visit order), so that an optimizer state saved
/// with those ids applies to a freshly loaded copy.
pub fn assign_param_ids<M: Module>(module: M, ids: &[u64]) -> Result<M, TrainError> {
    let count = param_ids(&module).len();
    if count != ids.len() {
        return Err(TrainError::Model(format!(
            "checkpoint records {} parameter ids but the model has {count} parameters",
            ids.len()
        )));
    }
    struct Assign<'a>(std::slice::Iter<'a, u64>);
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if let Some(&id) = self.0.next() {
                param.id = id.into();
            }
            param
        }
    }
    Ok(module.map(&mut Assign(ids.iter())))
}

fn adam(config: &TrainConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(config.optimizer.beta1 as f32)
        .with_beta_2(config.optimizer.beta2 as f32)
        .with_epsilon(config.optimizer.epsilon as f32)
        .init()
}

/// Opens the training audio: the configured cache, or the built-in corpus generated once into
/// the run folder (training split only, so the evaluation splits stay unseen).
fn open_data(config: &TrainConfig, run: &RunDir, verbose: bool) -> Result<Arc<AudioCache>, TrainError> {
    let data_err = |e: String| TrainError::Data(e);
    if let Some(cache) = &config.data.cache {
        return AudioCache::open(cache)
            .map(Arc::new)
            .map_err(|e| data_err(e.to_string()));
    }
    let dir = run.root().join("corpus-cache");
    if let Ok(cache) = AudioCache::open(&dir) {
        return Ok(Arc::new(cache));
    }
    if verbose {
        eprintln!(
            "no data.cache given: generating the built-in corpus ({} tracks) into {}",
            config.data.corpus_tracks,
            dir.display()
        );
    }
    let corpus_config = loev_corpus::CorpusConfig {
        tracks: config.data.corpus_tracks,
        notes: 0,
        seed: config.seed,
        ..Default::default()
    };
    let corpus = loev_corpus::generate(&corpus_config).map_err(|e| data_err(e.to_string()))?;
    let tracks = corpus
        .tracks
        .into_iter()
        .filter(|t| t.split == loev_data::Split::Train)
        .map(|t| (t.id, t.audio, Default::default()));
    AudioCache::build_from_tracks(tracks, &dir).map_err(|e| data_err(e.to_string()))?;
    AudioCache::open(&dir)
        .map(Arc::new)
        .map_err(|e| data_err(e.to_string()))
}

/// Model, optimizer and the step they are at.
struct TrainState {
    model: LoevModel,
    optimizer: ModuleOptimizer,
    step: u64,
}

fn initial_state(
    config: &TrainConfig,
    run: &RunDir,
    device: &Device,
    verbose: bool,
) -> Result<(TrainState, Option<u64>), TrainError> {
    let model_config = config.model_config();
    let fresh = |optimizer| TrainState {
        model: LoevModel::init(&model_config, device, config.seed),
        optimizer,
        step: 0,
    };
    let latest = run.latest_valid_checkpoint(|warning| eprintln!("{warning}"))?;
    let Some(checkpoint) = latest else {
        if !run.checkpoints()?.is_empty() {
            eprintln!(
                "warning: no usable checkpoint in {}; starting from step 0",
                run.checkpoints_dir().display()
            );
        }
        return Ok((fresh(adam(config)), None));
    };
    let model = LoevModel::load_into(&checkpoint.path.join(MODEL_FILE), &model_config, device)
        .map_err(|e| TrainError::Model(e.to_string()))?;
    let model = assign_param_ids(model, &checkpoint.state.param_ids)?;
    let optimizer_path = checkpoint.path.join(OPTIMIZER_FILE);
    check_default_device_for_optimizer_state()?;
    let bytes = std::fs::read(&optimizer_path).map_err(|source| RunDirError::Io {
        action: "cannot read",
        path: optimizer_path.clone(),
        source,
    })?;
    let optimizer = adam(config)
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Model(format!("optimizer state {}: {e:?}", optimizer_path.display())))?;
    run.truncate_metrics_after(checkpoint.state.step)?;
    if verbose {
        eprintln!(
            "resuming {} from {} (step {})",
            run.root().display(),
            checkpoint.path.display(),
            checkpoint.state.step
        );
    }
    let step = checkpoint.state.step;
    Ok((TrainState { model, optimizer, step }, Some(step)))
}

/// The environment variable that sets burn's default device.
pub const BURN_DEFAULT_DEVICE_VARIABLE: &str = "BURN_DEVICE";

/// burn restores optimizer state on its default device (it moves to the parameters' device at
/// the next step). In a build with a GPU backend that default is the GPU, which panics where
/// there is none; the `loev` binary therefore sets `BURN_DEVICE=flex`. A library caller that
/// did not gets this error instead of a panic.
fn check_default_device_for_optimizer_state() -> Result<(), TrainError> {
    let gpu_build = cfg!(any(feature = "cuda", feature = "vulkan"));
    let value = std::env::var(BURN_DEFAULT_DEVICE_VARIABLE).unwrap_or_default();
    if gpu_build && value.is_empty() {
        return Err(TrainError::Model(format!(
            "resuming restores Adam's state on burn's default device, which in this GPU build is a GPU; \
             set {BURN_DEFAULT_DEVICE_VARIABLE}=flex (the loev binary does) so that it loads on the CPU \
             and moves to the training device at the next step"
        )));
    }
    Ok(())
}

fn write_checkpoint(config: &TrainConfig, run: &RunDir, state: &TrainState) -> Result<PathBuf, TrainError> {
    let model_config = config.model_config();
    let ids = param_ids(&state.model);
    let mut model_error = None;
    let path = run.write_checkpoint(
        state.step,
        ids,
        config.train.keep_last,
        config.train.keep_every,
        |dir| {
            if let Err(e) = state.model.save(&model_config, &dir.join(MODEL_FILE)) {
                model_error = Some(e.to_string());
                return Err(RunDirError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: "model could not be saved".into(),
                });
            }
            let bytes = state.optimizer.into_bytes().map_err(|e| RunDirError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("optimizer state: {e:?}"),
            })?;
            let optimizer_path = dir.join(OPTIMIZER_FILE);
            atomic_write(&optimizer_path, &bytes).map_err(|source| RunDirError::Io {
                action: "cannot write",
                path: optimizer_path,
                source,
            })
        },
    );
    match (path, model_error) {
        (_, Some(e)) => Err(TrainError::Model(e)),
        (p, None) => Ok(p?),
    }
}

/// One optimisation step on one or several devices (see [`crate::step`]): the batch's loss and
/// gradients, then Adam on the main device's master weights.
fn train_step(
    state: &mut TrainState,
    batch: &Batch,
    devices: &[Device],
    objectives: &[HeadObjective],
    config: &TrainConfig,
    learning_rate: f64,
) -> Result<StepLosses, TrainError> {
    let labels = ViewLabels {
        clip_ids: batch.clip_ids.clone(),
        tracking: batch.tracking.clone(),
        n_variants: batch.variant_names.len(),
    };
    let step_batch = StepBatch {
        inputs: &batch.inputs,
        n_mels: batch.n_mels,
        n_frames: batch.n_frames,
        labels: &labels,
    };
    let seed = derive_seed(config.seed, &[state.step]);
    let StepGradients { losses, gradients } = step_gradients(
        &state.model,
        step_batch,
        devices,
        objectives,
        config.objective.temperature,
        seed,
    )
    .map_err(|e| TrainError::Model(e.to_string()))?;
    if let Some(gradients) = gradients {
        state.model = state
            .optimizer
            .step_multi(learning_rate, state.model.clone(), gradients);
        state.step += 1;
    }
    Ok(losses)
}

/// Running sums over a logging window.
#[derive(Default)]
struct Window {
    steps: u64,
    views: u64,
    seconds: f64,
    wait_seconds: f64,
    total: f64,
    heads: Vec<f64>,
    positives: Vec<f64>,
}

impl Window {
    fn add(&mut self, losses: &StepLosses, views: usize, seconds: f64, wait: f64) {
        if self.heads.is_empty() {
            self.heads = vec![0.0; losses.heads.len()];
            self.positives = vec![0.0; losses.heads.len()];
        }
        self.steps += 1;
        self.views += views as u64;
        self.seconds += seconds;
        self.wait_seconds += wait;
        self.total += losses.total;
        for (k, v) in losses.heads.iter().enumerate() {
            self.heads[k] += v;
            self.positives[k] += losses.anchors_with_positives[k] as f64;
        }
    }

    fn mean_heads(&self) -> Vec<f64> {
        self.heads.iter().map(|v| v / self.steps.max(1) as f64).collect()
    }
}

fn run_training(config: TrainConfig, run: RunDir, options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    let devices: Vec<Device> = open_training_devices(&config.device).map_err(TrainError::Model)?;
    let (head_names, objectives) = config.heads();
    let cache = open_data(&config, &run, options.verbose)?;
    let (mut state, resumed_from) = initial_state(&config, &run, &devices[0], options.verbose)?;
    let total_steps = options
        .stop_after
        .map_or(config.train.steps, |s| s.min(config.train.steps));
    let mut last_checkpoint = None;
    if state.step >= total_steps {
        return Ok(TrainSummary {
            run_dir: run.root().to_path_buf(),
            steps: state.step,
            resumed_from,
            heads: head_names,
            first_losses: Vec::new(),
            last_losses: Vec::new(),
            views_per_second: 0.0,
            data_wait_share: 0.0,
            last_checkpoint,
        });
    }
    let loader_config = LoaderConfig {
        anchors: config.data.anchors,
        views: config.data.views,
        seed: config.seed,
        workers: config.data.workers,
        prefetch: config.data.prefetch,
        chain: config.augment.clone(),
        frontend: config.frontend.clone(),
        crops: config.data.crops,
        mixup: config.data.mixup,
    };
    let mut loader =
        BatchLoader::new(cache.clone(), loader_config, state.step).map_err(|e| TrainError::Data(e.to_string()))?;
    if options.verbose {
        eprintln!(
            "training {} on {} ({} params, heads: {}) for steps {}..{} at {} views/batch; data: {} tracks",
            config.name,
            config.device,
            state.model.num_params(),
            head_names.join(", "),
            state.step,
            total_steps,
            config.batch_views(),
            cache.len()
        );
    }
    let bar = if options.progress {
        let bar = ProgressBar::new(total_steps);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} steps, ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(config.name.clone());
        bar.set_position(state.step);
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut window = Window::default();
    let mut overall = Window::default();
    let mut first_losses = None;
    let mut last_losses = Vec::new();
    while state.step < total_steps {
        let step_start = Instant::now();
        let batch = loader.next_batch().map_err(|e| TrainError::Data(e.to_string()))?;
        let wait = step_start.elapsed().as_secs_f64();
        if batch.variant_names != config.augment.variant {
            return Err(TrainError::Data(format!(
                "batch tracks {:?} but the config tracks {:?}",
                batch.variant_names, config.augment.variant
            )));
        }
        let learning_rate = config.optimizer.learning_rate_at(state.step, config.train.steps);
        let losses = train_step(&mut state, &batch, &devices, &objectives, &config, learning_rate)?;
        if !losses.is_finite() {
            bar.abandon();
            let detail = head_names
                .iter()
                .zip(&losses.heads)
                .map(|(n, v)| format!("{n} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let last = run.checkpoints()?.last().map_or_else(
                || "none (the run will start from step 0)".to_string(),
                |(_, p)| p.display().to_string(),
            );
            return Err(TrainError::NonFinite {
                step: state.step + 1,
                detail,
                last_checkpoint: last,
                run_dir: run.root().display().to_string(),
            });
        }
        let seconds = step_start.elapsed().as_secs_f64();
        let views = batch.n_anchors * batch.n_views;
        window.add(&losses, views, seconds, wait);
        overall.add(&losses, views, seconds, wait);
        bar.set_position(state.step);
        if state.step % config.train.log_every == 0 || state.step == total_steps {
            let heads: serde_json::Map<String, serde_json::Value> = head_names
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    (
                        name.clone(),
                        json!({
                            "loss": window.heads[k] / window.steps as f64,
                            "anchors_with_positives": window.positives[k] / window.steps as f64,
                        }),
                    )
                })
                .collect();
            let line = json!({
                "step": state.step,
                "loss": window.total / window.steps as f64,
                "heads": heads,
                "lr": learning_rate,
                "views_per_s": window.views as f64 / window.seconds.max(1e-9),
                "data_wait_share": window.wait_seconds / window.seconds.max(1e-9),
                "elapsed_s": started.elapsed().as_secs_f64(),
            });
            run.append_metrics(&line)?;
            let means = window.mean_heads();
            bar.set_message(format!("loss {:.4}", window.total / window.steps as f64));
            if !options.progress && options.verbose {
                eprintln!(
                    "{} step {}/{}: loss {:.4} ({:.1} views/s)",
                    config.name,
                    state.step,
                    total_steps,
                    window.total / window.steps as f64,
                    window.views as f64 / window.seconds.max(1e-9)
                );
            }
            if first_losses.is_none() {
                first_losses = Some(means.clone());
            }
            last_losses = means;
            window = Window::default();
        }
        if state.step % config.train.checkpoint_every == 0 || state.step == total_steps {
            let path = write_checkpoint(&config, &run, &state)?;
            if options.verbose && !options.progress {
                eprintln!("checkpoint {}", path.display());
            }
            last_checkpoint = Some(path);
        }
    }
    bar.finish_and_clear();
    Ok(TrainSummary {
        run_dir: run.root().to_path_buf(),
        steps: state.step,
        resumed_from,
        heads: head_names,
        first_losses: first_losses.unwrap_or_default(),
        last_losses,
        views_per_second: overall.views as f64 / overall.seconds.max(1e-9),
        data_wait_share: overall.wait_seconds / overall.seconds.max(1e-9),
        last_checkpoint,
    })
}
