//! The training loop: batches from the background loader, forward, contrastive loss, Adam,
//! metrics, checkpoints, resume.
//!
//! Everything that influences the weights is a pure function of the config and the step:
//! batch `s` comes from `(seed, s)`, the stochastic-depth masks of step `s` from
//! `derive_seed(seed, [s])`, and the learning rate from the schedule at `s`. With the model
//! weights and Adam's state restored from a checkpoint, a resumed run therefore continues
//! exactly as the uninterrupted one would have.
//!
//! A run folder is written by one process at a time: [`pretrain`] and [`resume`] hold its
//! [`FolderLock`] (`.loev.lock`) from before the first write until they return, so a second
//! `loev pretrain --resume` of the same folder is refused with the holder's PID instead of
//! interleaving `metrics.jsonl` and checkpoints. The OS frees the lock when its holder dies, so a
//! killed run leaves a lock file that the next start takes over with a warning; it also removes
//! what the dead process left half-written (see [`RunDir::remove_stale_partials`]).
//!
//! Everything a run needs (the whole resolved config, the devices, a given cache) is checked
//! before its folder is created, so an invalid value never leaves a half-made run behind.
//!
//! **Under MPI** ([`pretrain_across`], [`resume_across`]) every rank runs this loop on its own
//! devices and the steps are joined by [`crate::step::step_gradients_across`]. Rank 0, the
//! *writer*, alone takes the lock and writes the run folder (config, corpus, metrics,
//! checkpoints); the other ranks wait for it where they need what it writes, and read the same
//! folder, which must therefore be on a file system every rank sees. Nothing a checkpoint holds
//! depends on the number of ranks, so a run resumes at any world size. At start and at every
//! checkpoint the ranks compare a checksum of their weights, so a library or device that makes
//! replicas drift is caught instead of checkpointing one rank's weights for all.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::Tensor;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Bytes, Device};
use loev_audio::cache::AudioCache;
use loev_augment::{Batch, BatchLoader};
use loev_core::checksum::Fnv1a64;
use loev_core::io::atomic_write;
use loev_core::lock::{FolderLock, LockError};
use loev_core::rng::derive_seed;
use loev_model::LoevModel;
use loev_mpi::World;
use loev_objective::ViewLabels;

use crate::config::{OptimizerConfig, TrainConfig};
use crate::device::open_training_devices;
use crate::plan::RunPlan;
use crate::run_log::{Reporter, Tally};
use crate::step::{StepBatch, StepGradients, StepLosses, rank_views, step_gradients_across};
use loev_artifacts::model_file::write_model_file;
use loev_artifacts::run_folder::{
    CONFIG_FILE, CORPUS_DIR, LoadedCheckpoint, MODEL_FILE, OPTIMIZER_FILE, RunDir, RunDirError,
};

/// Errors that end a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The run directory could not be read or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Another process is writing the run folder (or its lock cannot be taken).
    #[error(transparent)]
    Locked(#[from] LockError),
    /// A resume was asked to do something the run cannot do.
    #[error("{0}")]
    Resume(String),
    /// The training audio could not be opened or prepared.
    #[error("training data: {0}")]
    Data(String),
    /// The model could not be built, saved or loaded.
    #[error("model: {0}")]
    Model(String),
    /// `loev export` refuses its output path.
    #[error("{0}")]
    Export(String),
    /// The ranks of an MPI job could not work together (a failed collective, replicas whose
    /// weights differ, a batch too small for the number of ranks).
    #[error("{0}")]
    Ranks(String),
    /// The loss became NaN or infinite; nothing was written after the last good checkpoint.
    #[error(
        "the loss became non-finite at step {step} ({detail}); stopped without writing. The last good checkpoint is {last_checkpoint}. \
         The tracks of this step and the one before (whose update fed it): {tracks}. Check their audio (`loev features FILE`), \
         lower optimizer.learning_rate (or use a warm-up schedule), then continue with `loev pretrain --resume {run_dir}`"
    )]
    NonFinite {
        /// The step whose loss was not finite.
        step: u64,
        /// Per-head values.
        detail: String,
        /// The checkpoint to resume from.
        last_checkpoint: String,
        /// Ids of the tracks in the failing step's batch and the batch before it.
        tracks: String,
        /// The run folder.
        run_dir: String,
    },
}

impl From<loev_mpi::MpiError> for TrainError {
    fn from(error: loev_mpi::MpiError) -> Self {
        TrainError::Ranks(error.to_string())
    }
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
    /// The run's total number of steps, replacing `train.steps` (`loev pretrain --steps N`).
    /// On [`resume`] this extends a run (finished or not) to `N` steps in total and records the
    /// new total in its `config.toml`, so later resumes keep it; a value below the step the run
    /// has already reached is refused. The learning-rate schedule is evaluated for the new
    /// total from the resumed step on.
    pub steps: Option<u64>,
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
            steps: None,
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
    /// Steps trained by this invocation; 0 when the run was already complete, in which case
    /// the loss and throughput fields are empty / zero and must not be reported as results.
    pub steps_trained: u64,
    /// The run's total number of steps (`train.steps`).
    pub total_steps: u64,
    /// Every warning this invocation printed (lock taken over, stale partial outputs removed,
    /// damaged checkpoints skipped), in order.
    pub warnings: Vec<String>,
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

/// Prints a warning on stderr and keeps it for the summary.
fn warn(warnings: &mut Vec<String>, message: String) {
    eprintln!("{message}");
    warnings.push(message);
}

/// Takes the run folder's lock (refused with the holder's PID when another process trains
/// there) and removes what dead processes left half-written in it, warning about both.
fn lock_run_folder(run: &RunDir, warnings: &mut Vec<String>) -> Result<FolderLock, TrainError> {
    let lock = FolderLock::acquire_folder(run.root())?;
    if let Some(pid) = lock.taken_over_from() {
        warn(
            warnings,
            format!(
                "warning: {} was locked by process {pid}, which is no longer running (killed or crashed); \
                 taking the run folder over",
                run.root().display()
            ),
        );
    }
    for path in run.remove_stale_partials()? {
        warn(
            warnings,
            format!(
                "warning: removed {}, left half-written by a process that is no longer running",
                path.display()
            ),
        );
    }
    Ok(lock)
}

/// Opens `data.cache` when the config names one (so a missing or damaged cache is reported
/// before the run folder is written).
fn open_given_cache(config: &TrainConfig) -> Result<Option<Arc<AudioCache>>, TrainError> {
    let Some(path) = &config.data.cache else {
        return Ok(None);
    };
    AudioCache::open(path)
        .map(|cache| Some(Arc::new(cache)))
        .map_err(|e| TrainError::Data(format!("data.cache = {}: {e}", path.display())))
}

/// Starts a new run in `options.run_dir`. The folder must not hold a run that has trained; one
/// that never trained (a start that was refused or failed before its first step) is reused.
///
/// The whole resolved config, the devices and a given cache are checked before anything is
/// written. The run folder is locked for the whole run.
pub fn pretrain(config: &TrainConfig, options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    pretrain_across(config, options, None)
}

/// [`pretrain`] as one rank of an MPI job (`world`; `None` is one process). Every rank calls it
/// with the same configuration (its `device` aside: each rank names its own). Rank 0 checks and
/// prepares the run folder as [`pretrain`] does; the other ranks wait for it and then train with
/// it, writing nothing. See the module documentation.
pub fn pretrain_across(
    config: &TrainConfig,
    options: &TrainOptions,
    world: Option<&World>,
) -> Result<TrainSummary, TrainError> {
    let mut config = config.resolved();
    if let Some(steps) = options.steps {
        config.train.steps = steps;
    }
    let (plan, devices, cache) = prepare(config, world)?;
    let root = &options.run_dir;
    if !is_writer(world) {
        // The writer creates the folder and its config first; then every rank reads it.
        barrier(world)?;
        let run = RunDir::open(root)?;
        return run_training(plan, run, devices, cache, None, options, Vec::new(), world);
    }
    let existing = RunDir::at(root);
    if existing.has_trained()? {
        // Refuse before touching anything of an existing run (not even its lock file).
        return Err(RunDirError::Exists(root.clone()).into());
    }
    if let Some(entry) = existing.foreign_entry()? {
        return Err(RunDirError::NotARunFolder {
            dir: root.clone(),
            entry,
        }
        .into());
    }
    fs::create_dir_all(root).map_err(|source| RunDirError::Io {
        action: "cannot create",
        path: root.clone(),
        source,
    })?;
    let mut warnings = Vec::new();
    let _lock = lock_run_folder(&RunDir::at(root), &mut warnings)?;
    // Checked again under the lock: another process may have started training meanwhile.
    let run = RunDir::create(root)?;
    let text = plan.config.to_toml();
    let previous = fs::read_to_string(run.config_path()).ok();
    if previous.as_deref().is_some_and(|old| old != text) {
        // A reused folder: a corpus generated for the old config (seed, corpus size) is stale.
        let corpus = run.root().join(CORPUS_DIR);
        if corpus.exists() {
            fs::remove_dir_all(&corpus).map_err(|source| RunDirError::Io {
                action: "cannot remove the stale corpus",
                path: corpus.clone(),
                source,
            })?;
        }
    }
    run.write_config(&text)?;
    barrier(world)?;
    run_training(plan, run, devices, cache, None, options, warnings, world)
}

/// Continues the run in `options.run_dir` from its newest valid checkpoint, with the config
/// stored there (`options.device` and `options.steps` override it; see [`TrainOptions`]).
///
/// Damaged checkpoints: the newest one that passes its checksums is used, with a warning per
/// damaged newer one. When checkpoints exist but all are damaged, the resume is refused
/// ([`RunDirError::AllCheckpointsDamaged`]) instead of restarting from step 0; nothing is
/// deleted. A run with no checkpoint yet starts from step 0.
pub fn resume(options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    resume_across(options, None)
}

/// [`resume`] as one rank of an MPI job (`world`; `None` is one process), at any number of
/// ranks. Rank 0 takes the lock, cleans up and picks the checkpoint as [`resume`] does, then
/// tells the other ranks which step it picked; they load that checkpoint and write nothing.
pub fn resume_across(options: &TrainOptions, world: Option<&World>) -> Result<TrainSummary, TrainError> {
    let run = RunDir::open(&options.run_dir)?;
    if let Some(world) = world.filter(|w| w.rank() != 0) {
        return resume_follower(run, options, world);
    }
    let mut warnings = Vec::new();
    let _lock = lock_run_folder(&run, &mut warnings)?;
    let saved = saved_config(&run, options)?;
    let (plan, devices, cache) = prepare(with_device(saved.clone(), options), world)?;
    let mut skipped = Vec::new();
    let checkpoint = run.checkpoint_to_resume(|w| skipped.push(w.to_string()))?;
    for message in skipped {
        warn(&mut warnings, message);
    }
    let reached = checkpoint.as_ref().map_or(0, |c| c.state.step);
    if let Some(steps) = options.steps {
        if steps < reached {
            return Err(TrainError::Resume(format!(
                "--steps {steps} is below step {reached}, which {} has already reached; give --steps {reached} or more \
                 to extend the run (or resume without --steps)",
                run.root().display()
            )));
        }
        // Recorded, so that a later resume without --steps keeps the new total.
        run.write_config(&saved.to_toml())?;
    }
    if let Some(world) = world {
        let step = checkpoint.as_ref().map(|c| c.state.step.to_le_bytes().to_vec());
        world.broadcast_bytes(0, &step.unwrap_or_default())?;
    }
    run_training(plan, run, devices, cache, checkpoint, options, warnings, world)
}

/// A rank other than 0 resuming: it waits for rank 0 to have locked and cleaned the folder and
/// picked the checkpoint, then loads the same one.
fn resume_follower(run: RunDir, options: &TrainOptions, world: &World) -> Result<TrainSummary, TrainError> {
    let picked = world.broadcast_bytes(0, &[])?;
    let config = with_device(saved_config(&run, options)?, options);
    let (plan, devices, cache) = prepare(config, Some(world))?;
    let checkpoint = match <[u8; 8]>::try_from(picked.as_slice()) {
        Err(_) => None,
        Ok(bytes) => {
            let step = u64::from_le_bytes(bytes);
            let path = run
                .checkpoints()?
                .into_iter()
                .find_map(|(s, path)| (s == step).then_some(path))
                .ok_or_else(|| {
                    TrainError::Resume(format!(
                        "rank {}: rank 0 resumes from step {step}, but {} has no checkpoint of that step here; \
                         every rank must see the run folder on a shared file system",
                        world.rank(),
                        run.checkpoints_dir().display()
                    ))
                })?;
            Some(RunDir::read_checkpoint(&path)?)
        }
    };
    run_training(plan, run, devices, cache, checkpoint, options, Vec::new(), Some(world))
}

/// A resumed run's stored configuration, with `--steps` applied (which a resume records).
fn saved_config(run: &RunDir, options: &TrainOptions) -> Result<TrainConfig, TrainError> {
    let mut saved = TrainConfig::from_file(&run.config_path())?;
    if let Some(steps) = options.steps {
        saved.train.steps = steps;
    }
    Ok(saved)
}

/// `config` on `--device`, when given (a resume may continue on another device; the stored
/// configuration keeps its own).
fn with_device(mut config: TrainConfig, options: &TrainOptions) -> TrainConfig {
    if let Some(device) = &options.device {
        config.device.clone_from(device);
    }
    config
}

/// Everything a run needs before anything is written: the validated plan (checked against the
/// number of ranks), the opened devices and a given cache.
type Prepared = (RunPlan, Vec<Device>, Option<Arc<AudioCache>>);

fn prepare(config: TrainConfig, world: Option<&World>) -> Result<Prepared, TrainError> {
    let plan = RunPlan::new(config)?;
    check_world_fits(&plan, world)?;
    let devices = open_training_devices(&plan.config.device).map_err(TrainError::Model)?;
    let cache = open_given_cache(&plan.config)?;
    Ok((plan, devices, cache))
}

/// Whether this process writes the run folder: a process alone, or rank 0 of an MPI job.
fn is_writer(world: Option<&World>) -> bool {
    world.is_none_or(|w| w.rank() == 0)
}

/// Waits for every rank (nothing for a process alone).
fn barrier(world: Option<&World>) -> Result<(), TrainError> {
    match world {
        Some(world) => Ok(world.barrier()?),
        None => Ok(()),
    }
}

/// Runs `open` on the writer first and on the other ranks once it has finished, for what the
/// writer creates in the run folder and the others then read (the built-in corpus).
fn writer_first<T>(world: Option<&World>, open: impl FnOnce() -> Result<T, TrainError>) -> Result<T, TrainError> {
    if is_writer(world) {
        let value = open()?;
        barrier(world)?;
        Ok(value)
    } else {
        barrier(world)?;
        open()
    }
}

/// Refuses a job with more ranks than the batch has views (a rank would have nothing to do).
fn check_world_fits(plan: &RunPlan, world: Option<&World>) -> Result<(), TrainError> {
    let ranks = world.map_or(1, World::size);
    let views = plan.config.batch_views();
    if views < ranks {
        return Err(TrainError::Ranks(format!(
            "the batch has {views} views (data.anchors × data.views) but the job has {ranks} ranks; each rank \
             needs at least one view: start fewer ranks or raise data.anchors"
        )));
    }
    Ok(())
}

/// A checksum of a model's weights (every parameter's f32 values in visit order).
fn weights_checksum(model: &LoevModel) -> Result<u64, TrainError> {
    let weights = model.named_weights().map_err(|e| TrainError::Model(e.to_string()))?;
    let mut hasher = Fnv1a64::new();
    for value in weights.iter().flat_map(|(_, values)| values) {
        hasher.update(&value.to_le_bytes());
    }
    Ok(hasher.finish())
}

/// Checks that every rank holds the same weights at `step` (a collective: every rank calls it at
/// the same steps). On a difference every rank fails alike, naming the ranks that differ from
/// rank 0.
fn check_replicas_agree(world: &World, model: &LoevModel, step: u64) -> Result<(), TrainError> {
    let mine = weights_checksum(model)?;
    let gathered = world.allgather_bytes(&mine.to_le_bytes())?;
    let sums: Vec<&[u8]> = (0..world.size()).map(|rank| gathered.of_rank(rank)).collect();
    let differ: Vec<String> = (1..sums.len())
        .filter(|&rank| sums[rank] != sums[0])
        .map(|rank| rank.to_string())
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(TrainError::Ranks(format!(
        "at step {step} the weights of rank(s) {} differ from rank 0's: the ranks no longer train the same model \
         (an MPI library whose allreduce is not identical on every rank, or a device that computes differently); \
         nothing was checkpointed at this step. Resume from the last checkpoint, with one rank per identical device",
        differ.join(", ")
    )))
}

/// Where a run folder stands before [`pretrain_or_resume`] trains into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// No run yet: it starts from step 0.
    New,
    /// A run of the same recipe that stopped before its last step: it is resumed.
    Unfinished,
    /// A run of the same recipe with a checkpoint at its last step: it is reused as it is.
    Finished,
}

/// Trains `config` into `options.run_dir` unless that was done already, so that an experiment
/// that was stopped continues where it was: a new folder is trained ([`pretrain`]), a run that
/// stopped early is resumed ([`resume`]), a finished one (a checkpoint at `train.steps`) is
/// reused. The folder's run must be the same run: a `config.toml` that differs from `config`
/// (resolved) in anything but `data.cache` and `device`, which say where it runs and not what
/// it learns, is refused and the sections that differ are named, so that another seed, chain
/// or schedule never silently reuses (or extends) a run. `on_start` hears which of the three it
/// is before the work starts.
pub fn pretrain_or_resume(
    config: &TrainConfig,
    options: &TrainOptions,
    on_start: impl FnOnce(RunState),
) -> Result<RunState, TrainError> {
    let run_dir = &options.run_dir;
    let saved = run_dir.join(CONFIG_FILE);
    let state = if !saved.exists() {
        RunState::New
    } else {
        let differ = TrainConfig::from_file(&saved)?.sections_differing_from(config);
        if !differ.is_empty() {
            return Err(TrainError::Resume(format!(
                "{} holds a run configured otherwise (differing: {}); train into another folder or remove that run",
                run_dir.display(),
                differ.join(", ")
            )));
        }
        let finished = RunDir::open(run_dir)
            .ok()
            .and_then(|r| r.checkpoints().ok())
            .is_some_and(|c| c.iter().any(|(step, _)| *step >= config.train.steps));
        if finished {
            RunState::Finished
        } else {
            RunState::Unfinished
        }
    };
    on_start(state);
    match state {
        RunState::New => pretrain(config, options).map(|_| state),
        RunState::Unfinished => resume(options).map(|_| state),
        RunState::Finished => Ok(state),
    }
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

fn adam(config: &OptimizerConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(config.beta1 as f32)
        .with_beta_2(config.beta2 as f32)
        .with_epsilon(config.epsilon as f32)
        .init()
}

/// Opens the built-in corpus generated once into the run folder (training split only, so the
/// evaluation splits stay unseen), generating it the first time.
fn open_corpus(config: &TrainConfig, run: &RunDir, verbose: bool) -> Result<Arc<AudioCache>, TrainError> {
    let dir = run.root().join(CORPUS_DIR);
    let corpus_config = loev_corpus::CorpusConfig {
        tracks: config.data.corpus_tracks,
        notes: 0,
        seed: config.seed,
        ..Default::default()
    };
    let cache = loev_corpus::open_or_build_training_cache(&corpus_config, &dir, || {
        if verbose {
            eprintln!(
                "no data.cache given: generating the built-in corpus ({} tracks) into {}",
                config.data.corpus_tracks,
                dir.display()
            );
        }
    })
    .map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(Arc::new(cache))
}

/// Model, optimizer and the step they are at.
struct TrainState {
    model: LoevModel,
    optimizer: ModuleOptimizer,
    step: u64,
}

/// The model and optimizer to train from: `checkpoint`'s (verified by the caller), or fresh
/// ones at step 0. The `writer` drops the metrics logged after that step (work lost in a crash).
fn initial_state(
    plan: &RunPlan,
    run: &RunDir,
    device: &Device,
    checkpoint: Option<LoadedCheckpoint>,
    writer: bool,
    verbose: bool,
) -> Result<(TrainState, Option<u64>), TrainError> {
    let Some(checkpoint) = checkpoint else {
        if writer {
            run.truncate_metrics_after(0)?;
        }
        let state = TrainState {
            model: LoevModel::init(&plan.model, device, plan.config.seed),
            optimizer: adam(&plan.config.optimizer),
            step: 0,
        };
        return Ok((state, None));
    };
    let model = LoevModel::load_into_bytes(
        &checkpoint.path.join(MODEL_FILE),
        &checkpoint.model,
        &plan.model,
        device,
    )
    .map_err(|e| TrainError::Model(e.to_string()))?;
    let model = assign_param_ids(model, &checkpoint.state.param_ids)?;
    let optimizer_path = checkpoint.path.join(OPTIMIZER_FILE);
    check_default_device_for_optimizer_state()?;
    let bytes = std::fs::read(&optimizer_path).map_err(|source| RunDirError::Io {
        action: "cannot read",
        path: optimizer_path.clone(),
        source,
    })?;
    let optimizer = adam(&plan.config.optimizer)
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Model(format!("optimizer state {}: {e:?}", optimizer_path.display())))?;
    if writer {
        run.truncate_metrics_after(checkpoint.state.step)?;
    }
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

fn write_checkpoint(plan: &RunPlan, run: &RunDir, state: &TrainState) -> Result<PathBuf, TrainError> {
    let info = plan.model_file_info(state.step);
    let ids = param_ids(&state.model);
    let train = &plan.config.train;
    let mut model_error = None;
    let path = run.write_checkpoint(state.step, ids, train.keep_last, train.keep_every, |dir| {
        if let Err(e) = write_model_file(&dir.join(MODEL_FILE), &state.model, &plan.model, &info) {
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
    });
    match (path, model_error) {
        (_, Some(e)) => Err(TrainError::Model(e)),
        (p, None) => Ok(p?),
    }
}

/// The next batch, checked to track the variants the plan's heads were built for.
fn next_batch(loader: &mut BatchLoader, plan: &RunPlan) -> Result<Batch, TrainError> {
    let batch = loader.next_batch().map_err(|e| TrainError::Data(e.to_string()))?;
    if batch.variant_names != plan.config.augment.variant {
        return Err(TrainError::Data(format!(
            "batch tracks {:?} but the config tracks {:?}",
            batch.variant_names, plan.config.augment.variant
        )));
    }
    Ok(batch)
}

/// One optimisation step on one or several devices (see [`crate::step`]): the batch's loss and
/// gradients, then Adam on the main device's master weights.
fn train_step(
    state: &mut TrainState,
    batch: &Batch,
    devices: &[Device],
    plan: &RunPlan,
    learning_rate: f64,
    world: Option<&World>,
) -> Result<StepLosses, TrainError> {
    let labels = ViewLabels {
        clip_ids: batch.clip_ids.clone(),
        tracking: batch.tracking.clone(),
        n_variants: batch.variant_names.len(),
    };
    let step_batch = StepBatch {
        inputs: &batch.inputs,
        first_input: batch.rendered.start,
        n_mels: batch.n_mels,
        n_frames: batch.n_frames,
        labels: &labels,
    };
    let seed = derive_seed(plan.config.seed, &[state.step]);
    let StepGradients { losses, gradients } = step_gradients_across(
        &state.model,
        step_batch,
        devices,
        plan.heads.objectives(),
        plan.loss,
        seed,
        world,
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

/// The error for a non-finite loss at the step after `step`: each head's value, the checkpoint
/// to resume from, and the tracks of this batch and of the one before (whose update fed it).
fn non_finite_error(
    plan: &RunPlan,
    run: &RunDir,
    cache: &AudioCache,
    step: u64,
    losses: &StepLosses,
    [tracks, previous_tracks]: [&[u32]; 2],
) -> Result<TrainError, TrainError> {
    let detail = plan
        .heads
        .names()
        .iter()
        .zip(&losses.heads)
        .map(|(n, v)| format!("{n} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let last_checkpoint = run.checkpoints()?.last().map_or_else(
        || "none (the run will start from step 0)".to_string(),
        |(_, p)| p.display().to_string(),
    );
    let mut tracks: Vec<u32> = tracks.iter().chain(previous_tracks).copied().collect();
    tracks.sort_unstable();
    tracks.dedup();
    let tracks = tracks
        .iter()
        .map(|&t| match cache.entries().get(t as usize) {
            Some(entry) => entry.id.clone(),
            None => format!("#{t}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(TrainError::NonFinite {
        step: step + 1,
        detail,
        last_checkpoint,
        tracks,
        run_dir: run.root().display().to_string(),
    })
}

/// The status line a verbose run starts with: what trains where, from which step to which, on
/// what data.
fn announce(plan: &RunPlan, state: &TrainState, last: u64, cache: &AudioCache) {
    eprintln!(
        "training {} on {} ({} params, heads: {}) for steps {}..{last} at {} views/batch; data: {} tracks",
        plan.config.name,
        plan.config.device,
        state.model.num_params(),
        plan.heads.names().join(", "),
        state.step,
        plan.config.batch_views(),
        cache.len()
    );
}

/// The training loop, on opened devices with the run folder locked by the caller. `cache` is
/// the given `data.cache` (the built-in corpus is opened or generated when `None`), and
/// `checkpoint` the verified checkpoint to continue from. Under MPI (`world`) only rank 0
/// writes and reports.
#[allow(clippy::too_many_arguments)]
fn run_training(
    plan: RunPlan,
    run: RunDir,
    devices: Vec<Device>,
    cache: Option<Arc<AudioCache>>,
    checkpoint: Option<LoadedCheckpoint>,
    options: &TrainOptions,
    warnings: Vec<String>,
    world: Option<&World>,
) -> Result<TrainSummary, TrainError> {
    let writer = is_writer(world);
    let verbose = options.verbose && writer;
    let (mut state, resumed_from) = initial_state(&plan, &run, &devices[0], checkpoint, writer, verbose)?;
    if let Some(world) = world {
        check_replicas_agree(world, &state.model, state.step)?;
    }
    let last = options.stop_after.map_or(plan.steps(), |s| s.min(plan.steps()));
    let mut summary = TrainSummary {
        run_dir: run.root().to_path_buf(),
        steps: state.step,
        steps_trained: 0,
        total_steps: plan.steps(),
        warnings,
        resumed_from,
        heads: plan.heads.names().to_vec(),
        first_losses: Vec::new(),
        last_losses: Vec::new(),
        views_per_second: 0.0,
        data_wait_share: 0.0,
        last_checkpoint: None,
    };
    if state.step >= last {
        return Ok(summary);
    }
    let cache = match cache {
        Some(cache) => cache,
        None => writer_first(world, || open_corpus(&plan.config, &run, verbose))?,
    };
    let first_step = state.step;
    let mut loader_config = plan.loader.clone();
    if let Some(world) = world {
        // Each rank renders the audio of its own views only.
        loader_config.rendered_views = Some(rank_views(plan.config.batch_views(), world.rank(), world.size()));
    }
    let mut loader =
        BatchLoader::new(cache.clone(), loader_config, state.step).map_err(|e| TrainError::Data(e.to_string()))?;
    if verbose {
        announce(&plan, &state, last, &cache);
    }
    let reporter = Reporter::new(&plan.config.name, state.step, last, options.progress && writer, verbose);
    let mut tally = Tally::new();
    // The tracks of the previous step: a non-finite loss usually comes from the update that
    // step made, so both batches are named when training stops.
    let mut previous_tracks: Vec<u32> = Vec::new();
    while state.step < last {
        let step_start = Instant::now();
        let batch = next_batch(&mut loader, &plan)?;
        let wait = step_start.elapsed().as_secs_f64();
        let learning_rate = plan.learning_rate_at(state.step);
        let losses = train_step(&mut state, &batch, &devices, &plan, learning_rate, world)?;
        if !losses.is_finite() {
            reporter.abandon();
            let tracks = [batch.track_ids.as_slice(), &previous_tracks];
            return Err(non_finite_error(&plan, &run, &cache, state.step, &losses, tracks)?);
        }
        previous_tracks.clone_from(&batch.track_ids);
        let views = batch.n_anchors * batch.n_views;
        tally.add(&losses, views, step_start.elapsed().as_secs_f64(), wait);
        reporter.step(state.step);
        if plan.logs_at(state.step, last) {
            let (line, window) = tally.close_window(state.step, plan.heads.names(), learning_rate);
            if writer {
                run.append_metrics(&line)?;
            }
            reporter.logged(state.step, &window);
        }
        if plan.checkpoints_at(state.step, last) {
            if let Some(world) = world {
                check_replicas_agree(world, &state.model, state.step)?;
            }
            if writer {
                let path = write_checkpoint(&plan, &run, &state)?;
                reporter.checkpoint(&path);
                summary.last_checkpoint = Some(path);
            }
        }
    }
    reporter.finish();
    summary.steps = state.step;
    summary.steps_trained = state.step - first_step;
    (
        summary.first_losses,
        summary.last_losses,
        summary.views_per_second,
        summary.data_wait_share,
    ) = tally.finish();
    Ok(summary)
}
