//! One training step's gradients on one or several devices (data parallel, global negatives).
//!
//! The batch's views are split into contiguous shards, one per device, and each device runs its
//! shard's forward and backward pass on a thread of its own, concurrently with the others:
//!
//! 1. every device forwards its shard (a replica of the model forked onto it, with the
//!    stochastic-depth masks of the whole batch sliced to the shard, [`ForwardMode::TrainShard`]);
//! 2. the projections of all devices are gathered on the main device (through the host) and the
//!    contrastive loss of the whole batch is computed there, so every anchor sees every device's
//!    embeddings as negatives — the gathered projections are leaves, and their gradient
//!    ∂L/∂Z is the exact gradient of the global loss;
//! 3. each device receives the rows of ∂L/∂Z that belong to its shard and back-propagates them
//!    through its replica (the backward of Σ z ⊙ g);
//! 4. the replicas' parameter gradients are summed on the main device (an all-reduce through
//!    the host: burn 0.22 has a collective transport only for CUDA, and these tensors are moved
//!    with `to_device`, which works between any two backends).
//!
//! The result equals one device computing the whole batch, up to the order of floating-point
//! sums (test: `crates/train/tests/data_parallel.rs`). The loss itself is a few matrix products
//! of [views × views]; the encoder's forward and backward, which are the cost, run in parallel.
//!
//! **Across processes** ([`step_gradients_across`], an MPI job of N ranks): rank r takes the
//! r-th of N near-equal contiguous slices of the batch ([`rank_views`]) and splits it among its
//! own devices as above. Step 2 allgathers every rank's projections, so each rank holds the
//! whole batch's and computes the same loss; each device back-propagates its own rows; step 4
//! ends with an allreduce (sum) of the parameter gradients over the ranks, so that every rank
//! applies the same Adam step (test: `crates/cli/tests/mpi_training.rs`).

use std::sync::mpsc::{Receiver, Sender, channel};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, MultiGradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use loev_model::{ForwardMode, LoevModel};
use loev_mpi::World;

use loev_objective::{HeadObjective, LossSettings, ViewLabels, contrastive_loss, leave_out_separation};

/// A batch as the step sees it: model inputs and the labels the positives come from.
#[derive(Clone, Copy, Debug)]
pub struct StepBatch<'a> {
    /// Model inputs `[rendered, 1, n_mels, n_frames]`, row-major: the inputs of the views from
    /// `first_input` on (all views from 0 in one process; under MPI at least this rank's).
    pub inputs: &'a [f32],
    /// The view whose input comes first in `inputs`.
    pub first_input: usize,
    /// Mel bands per view.
    pub n_mels: usize,
    /// Frames per view.
    pub n_frames: usize,
    /// Clip ids and tracking matrix of the views.
    pub labels: &'a ViewLabels,
}

impl StepBatch<'_> {
    fn views(&self) -> usize {
        self.labels.len()
    }
}

/// Loss values of one step, read back to the host.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLosses {
    /// The loss that is back-propagated (mean over heads).
    pub total: f64,
    /// Each head's loss.
    pub heads: Vec<f64>,
    /// Anchors with at least one positive, per head.
    pub anchors_with_positives: Vec<usize>,
    /// Per head, its loss per anchor with a positive (the anchors without one add 0 to the
    /// sum under either anchor mean); `None` when no anchor has a positive.
    pub loss_per_anchor_with_positive: Vec<Option<f64>>,
    /// Per leave-out head, [`loev_objective::leave_out_separation`] of its projections in this
    /// batch; `None` for the invariant head and when the batch has no pair to compare.
    pub separation: Vec<Option<f64>>,
}

impl StepLosses {
    /// True when every value is finite.
    pub fn is_finite(&self) -> bool {
        self.total.is_finite() && self.heads.iter().all(|v| v.is_finite())
    }
}

/// The outcome of [`step_gradients`].
pub struct StepGradients {
    /// The losses of the whole batch.
    pub losses: StepLosses,
    /// Every device's parameter gradients, to be summed on the main device by the optimizer
    /// (`ModuleOptimizer::step_multi`). `None` when the loss was not finite (nothing was
    /// back-propagated).
    pub gradients: Option<MultiGradientsParams>,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The inputs do not fit together.
    #[error("training step: {0}")]
    Shape(String),
    /// A collective with the other ranks of an MPI job failed.
    #[error("training step across ranks: {0}")]
    Ranks(String),
    /// A device's worker failed (a driver or kernel error, reported by burn as a panic).
    #[error("training step on {device}: {reason}")]
    Device {
        /// The device, as burn prints it.
        device: String,
        /// What went wrong.
        reason: String,
    },
}

/// What the main thread sends a device worker after the loss: the rows of ∂L/∂Z of its shard
/// (one matrix per head), or nothing when the loss was not finite.
type GradientRows = Option<Vec<TensorData>>;

/// The contiguous view ranges of `devices` shards of `views` views (empty ranges dropped).
pub fn shard_ranges(views: usize, devices: usize) -> Vec<std::ops::Range<usize>> {
    let size = views.div_ceil(devices.max(1));
    (0..devices)
        .map(|d| (d * size).min(views)..((d + 1) * size).min(views))
        .filter(|range| !range.is_empty())
        .collect()
}

/// The views of `views` that rank `rank` of `ranks` computes: the rank-th of `ranks` contiguous
/// slices whose sizes differ by at most one (none is empty when `views >= ranks`).
pub fn rank_views(views: usize, rank: usize, ranks: usize) -> std::ops::Range<usize> {
    let ranks = ranks.max(1);
    views * rank / ranks..views * (rank + 1) / ranks
}

/// Computes the loss of `batch` and every device's parameter gradients (see the module
/// documentation). `devices[0]` is the main device, where the loss is computed and the
/// gradients are summed; every device must have autodiff enabled.
pub fn step_gradients(
    model: &LoevModel,
    batch: StepBatch<'_>,
    devices: &[Device],
    objectives: &[HeadObjective],
    settings: LossSettings,
    seed: u64,
) -> Result<StepGradients, StepError> {
    step_gradients_across(model, batch, devices, objectives, settings, seed, None)
}

/// [`step_gradients`] as one rank of an MPI job (`world`; `None` is a process alone, which is
/// [`step_gradients`]): `batch` describes the whole global batch (the labels of every view, the
/// same on every rank), of which this rank computes its [`rank_views`] on `devices`; its inputs
/// need only hold those views. Every rank gets the losses of the whole batch, and gradients
/// that are already summed over every rank's devices (one entry, on `devices[0]`), so that
/// every rank applies the same update. Every rank must call it at the same step, with the same
/// batch and seed.
pub fn step_gradients_across(
    model: &LoevModel,
    batch: StepBatch<'_>,
    devices: &[Device],
    objectives: &[HeadObjective],
    settings: LossSettings,
    seed: u64,
    world: Option<&World>,
) -> Result<StepGradients, StepError> {
    let views = batch.views();
    let view_size = batch.n_mels * batch.n_frames;
    let main = devices
        .first()
        .ok_or_else(|| StepError::Shape("no device to train on".into()))?;
    let mine = world.map_or(0..views, |w| rank_views(views, w.rank(), w.size()));
    if mine.is_empty() {
        return Err(StepError::Shape(format!(
            "a batch of {views} views cannot be shared by {} ranks: each needs at least one view",
            world.map_or(1, World::size)
        )));
    }
    let given = batch.inputs.len().checked_div(view_size).unwrap_or(0);
    let inputs_hold_mine = batch.first_input <= mine.start && mine.end <= batch.first_input + given;
    if batch.inputs.len() != given * view_size || !inputs_hold_mine {
        return Err(StepError::Shape(format!(
            "{} input values of {} × {} from view {}: they do not hold views {}..{} of the {views}",
            batch.inputs.len(),
            batch.n_mels,
            batch.n_frames,
            batch.first_input,
            mine.start,
            mine.end
        )));
    }
    // This rank's devices, in global view indices.
    let ranges: Vec<std::ops::Range<usize>> = shard_ranges(mine.len(), devices.len())
        .into_iter()
        .map(|r| mine.start + r.start..mine.start + r.end)
        .collect();

    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(ranges.len());
        for (range, device) in ranges.iter().zip(devices) {
            let (to_main, from_worker) = channel::<WorkerMessage>();
            let (to_worker, from_main) = channel::<GradientRows>();
            let job = ShardJob {
                replica: model.clone(),
                device: device.clone(),
                inputs: batch.inputs
                    [(range.start - batch.first_input) * view_size..(range.end - batch.first_input) * view_size]
                    .to_vec(),
                shape: [range.len(), 1, batch.n_mels, batch.n_frames],
                mode: ForwardMode::TrainShard {
                    seed,
                    first: range.start,
                    total: views,
                },
            };
            let handle = std::thread::Builder::new()
                .name(format!("loev-step-{}", workers.len()))
                .spawn_scoped(scope, move || job.run(to_main, from_main))
                .map_err(|e| StepError::Device {
                    device: format!("{device:?}"),
                    reason: format!("cannot start its thread: {e}"),
                })?;
            workers.push(Worker {
                device: device.clone(),
                from_worker,
                to_worker,
                handle,
            });
        }
        let result = coordinate(
            Coordination {
                main,
                model,
                world,
                labels: batch.labels,
                objectives,
                settings,
            },
            &workers,
            &ranges,
        );
        // Unblock any worker still waiting, then join them all: a worker's panic (burn's way of
        // reporting a driver or kernel failure) becomes this step's error.
        let mut failure = None;
        for Worker {
            device,
            from_worker,
            to_worker,
            handle,
        } in workers
        {
            drop(to_worker);
            drop(from_worker);
            if let Err(panic) = handle.join() {
                failure.get_or_insert(StepError::Device {
                    device: format!("{device:?}"),
                    reason: panic_message(panic.as_ref()),
                });
            }
        }
        match failure {
            Some(error) => Err(error),
            None => result,
        }
    })
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the worker thread panicked".into())
}

/// A device's share of one step.
struct ShardJob {
    replica: LoevModel,
    device: Device,
    inputs: Vec<f32>,
    shape: [usize; 4],
    mode: ForwardMode,
}

enum WorkerMessage {
    /// The shard's projections, one `[rows, d]` matrix per head (host copies, detached).
    Projections(Vec<TensorData>),
    /// The shard's parameter gradients, on the worker's device.
    Gradients(GradientsParams),
}

struct Worker<'scope> {
    device: Device,
    from_worker: Receiver<WorkerMessage>,
    to_worker: Sender<GradientRows>,
    handle: std::thread::ScopedJoinHandle<'scope, ()>,
}

impl ShardJob {
    /// Forward, hand the projections over, wait for their gradient rows, backward. Returns
    /// early (dropping its channel) when the main thread sends nothing or goes away.
    fn run(self, to_main: Sender<WorkerMessage>, from_main: Receiver<GradientRows>) {
        // Its own copy of the parameters with its own autodiff graph, so that the devices'
        // passes never share graph nodes (a plain clone on one device would).
        let replica = self.replica.fork(&self.device);
        let input = Tensor::<4>::from_data(TensorData::new(self.inputs, self.shape), &self.device); // [rows, 1, mels, frames]
        let projections = replica.forward(input, self.mode).projections; // heads × [rows, d]
        let host: Vec<TensorData> = projections.iter().map(|z| z.clone().detach().into_data()).collect();
        if to_main.send(WorkerMessage::Projections(host)).is_err() {
            return;
        }
        let Ok(Some(rows)) = from_main.recv() else {
            return;
        };
        // Σ_k Σ z_k ⊙ g_k: its gradient with respect to z_k is g_k = ∂L/∂z_k.
        let seed = projections
            .into_iter()
            .zip(rows)
            .map(|(z, g)| (z * Tensor::<2>::from_data(g, &self.device)).sum()) // [1]
            .reduce(|a, b| a + b);
        let Some(seed) = seed else {
            return;
        };
        let gradients = GradientsParams::from_grads(seed.backward(), &replica);
        let _ = to_main.send(WorkerMessage::Gradients(gradients));
    }
}

/// What the main thread's part of a step works with.
struct Coordination<'a> {
    main: &'a Device,
    model: &'a LoevModel,
    world: Option<&'a World>,
    labels: &'a ViewLabels,
    objectives: &'a [HeadObjective],
    settings: LossSettings,
}

/// The main thread's part: gather (across ranks too), loss, scatter ∂L/∂Z, collect the
/// gradients (summed over the ranks).
fn coordinate(
    context: Coordination<'_>,
    workers: &[Worker<'_>],
    ranges: &[std::ops::Range<usize>],
) -> Result<StepGradients, StepError> {
    let Coordination {
        main,
        model,
        world,
        labels,
        objectives,
        settings,
    } = context;
    let mut shards: Vec<Vec<TensorData>> = Vec::with_capacity(workers.len());
    for worker in workers {
        match worker.from_worker.recv() {
            Ok(WorkerMessage::Projections(projections)) => shards.push(projections),
            _ => return Err(worker_failure(worker)),
        }
    }
    let heads = objectives.len();
    if shards.iter().any(|s| s.len() != heads) {
        return Err(StepError::Shape(format!(
            "the model has {} heads but {heads} objectives were given",
            shards.first().map_or(0, Vec::len)
        )));
    }
    // Each head's projections of every shard, read once on the host: the separation is
    // measured there, then they become leaves on the main device.
    let mut host: Vec<HostRows> = (0..heads)
        .map(|k| host_rows(shards.iter().map(|s| &s[k])))
        .collect::<Result<_, _>>()?;
    if let Some(world) = world {
        host = host
            .into_iter()
            .map(|rows| gather_rows(world, rows, labels.len()))
            .collect::<Result<_, _>>()?;
    }
    let separation: Vec<Option<f64>> = objectives
        .iter()
        .zip(&host)
        .map(|(objective, rows)| match *objective {
            HeadObjective::Invariant => None,
            HeadObjective::LeaveOut { variant } => leave_out_separation(&rows.values, rows.width, labels, variant),
        })
        .collect();
    let gathered: Vec<Tensor<2>> = host
        .into_iter()
        .map(|rows| Tensor::from_data(TensorData::new(rows.values, [rows.rows, rows.width]), main).require_grad()) // [views, d]
        .collect();
    let loss =
        contrastive_loss(&gathered, objectives, labels, settings).map_err(|e| StepError::Shape(e.to_string()))?;
    let readout = Tensor::cat(
        std::iter::once(loss.total.clone())
            .chain(loss.heads.iter().map(|h| h.loss.clone()))
            .collect(),
        0,
    )
    .detach(); // [1 + heads]
    let values: Vec<f64> = readout
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| StepError::Shape(format!("loss read-back: {e:?}")))?
        .into_iter()
        .map(f64::from)
        .collect();
    let loss_per_anchor_with_positive = loss
        .heads
        .iter()
        .zip(&values[1..])
        .map(|(head, value)| {
            let with = head.anchors_with_positives;
            (with > 0).then(|| value * settings.anchor_mean.divisor(labels.len(), with) as f64 / with as f64)
        })
        .collect();
    let losses = StepLosses {
        total: values[0],
        heads: values[1..].to_vec(),
        anchors_with_positives: loss.heads.iter().map(|h| h.anchors_with_positives).collect(),
        loss_per_anchor_with_positive,
        separation,
    };
    if !losses.is_finite() {
        for worker in workers {
            let _ = worker.to_worker.send(None);
        }
        return Ok(StepGradients {
            losses,
            gradients: None,
        });
    }
    let grads = loss.total.backward();
    let gradient_of_gathered: Vec<Vec<f32>> = gathered
        .iter()
        .map(|z| {
            let gradient = z
                .grad(&grads)
                .ok_or_else(|| StepError::Shape("the loss does not depend on the projections (no gradient)".into()))?; // [views, d]
            gradient
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| StepError::Shape(format!("gradient read-back: {e:?}")))
        })
        .collect::<Result<_, _>>()?;
    let dims: Vec<usize> = gathered.iter().map(|z| z.dims()[1]).collect();
    for (worker, range) in workers.iter().zip(ranges) {
        let rows: Vec<TensorData> = gradient_of_gathered
            .iter()
            .zip(&dims)
            .map(|(values, &d)| {
                TensorData::new(values[range.start * d..range.end * d].to_vec(), [range.len(), d]) // [rows, d]
            })
            .collect();
        if worker.to_worker.send(Some(rows)).is_err() {
            return Err(worker_failure(worker));
        }
    }
    let mut gradients = MultiGradientsParams::default();
    for worker in workers {
        match worker.from_worker.recv() {
            Ok(WorkerMessage::Gradients(g)) => gradients.grads.push((g, main.clone())),
            _ => return Err(worker_failure(worker)),
        }
    }
    if let Some(world) = world {
        gradients = allreduce_gradients(model, gradients, main, world)?;
    }
    Ok(StepGradients {
        losses,
        gradients: Some(gradients),
    })
}

/// One head's projections of every shard, concatenated on the host: `[rows, width]` row-major.
struct HostRows {
    values: Vec<f32>,
    rows: usize,
    width: usize,
}

/// Reads the shards' `[rows, d]` blocks of one head back into one [`HostRows`], in shard order.
fn host_rows<'a>(blocks: impl Iterator<Item = &'a TensorData>) -> Result<HostRows, StepError> {
    let mut values = Vec::new();
    let mut rows = 0;
    let mut width = None;
    for block in blocks {
        let shape: Vec<usize> = block.shape().to_vec();
        let [r, d] = shape[..] else {
            return Err(StepError::Shape(format!(
                "a projection has shape {shape:?}, expected [rows, d]"
            )));
        };
        if *width.get_or_insert(d) != d {
            return Err(StepError::Shape(
                "projections of different widths across devices".into(),
            ));
        }
        values.extend(
            block
                .try_to_vec::<f32>()
                .map_err(|e| StepError::Shape(format!("projection read-back: {e:?}")))?,
        );
        rows += r;
    }
    Ok(HostRows {
        values,
        rows,
        width: width.unwrap_or(0),
    })
}

/// Every rank's rows of one head, in rank order (an allgather): the whole batch's `views` rows.
fn gather_rows(world: &World, rows: HostRows, views: usize) -> Result<HostRows, StepError> {
    let gathered = world
        .allgather_f32(&rows.values)
        .map_err(|e| StepError::Ranks(e.to_string()))?;
    let values = gathered.values;
    if rows.width == 0 || values.len() != views * rows.width {
        return Err(StepError::Ranks(format!(
            "the ranks' projections hold {} values, expected {views} views × {} dimensions",
            values.len(),
            rows.width
        )));
    }
    Ok(HostRows {
        values,
        rows: views,
        width: rows.width,
    })
}

/// One parameter's place in the flat buffer that [`allreduce_gradients`] sums.
struct FlatParameter {
    shape: Vec<usize>,
    offset: usize,
    len: usize,
    /// Where this rank's gradient lived (`None`: this rank has none for it).
    device: Option<Device>,
}

/// Sums the parameter gradients of every rank (an allreduce through the host) and returns them
/// as one set on `main`.
///
/// The flat buffer is, in the model's parameter order, one flag per parameter (1 where this
/// rank has a gradient for it) and then every parameter's values (zeros where it has none).
/// After the sum, a parameter that no rank had a gradient for stays without one, as in one
/// process: Adam must not take a step for it.
fn allreduce_gradients(
    model: &LoevModel,
    mut gradients: MultiGradientsParams,
    main: &Device,
    world: &World,
) -> Result<MultiGradientsParams, StepError> {
    struct Flatten<'g> {
        gradients: &'g mut MultiGradientsParams,
        layout: Vec<FlatParameter>,
        flags: Vec<f32>,
        values: Vec<f32>,
        error: Option<String>,
    }
    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let shape = param.val().dims().to_vec();
            let len: usize = shape.iter().product();
            let offset = self.values.len();
            let mut device = None;
            match self.gradients.remove::<D>(param.id) {
                Some((gradient, _)) => {
                    device = Some(gradient.device());
                    match gradient.into_data().try_to_vec::<f32>() {
                        Ok(values) if values.len() == len => self.values.extend(values),
                        Ok(values) => {
                            self.error.get_or_insert(format!(
                                "a gradient has {} values for a parameter of shape {shape:?}",
                                values.len()
                            ));
                            self.values.resize(offset + len, 0.0);
                        }
                        Err(e) => {
                            self.error.get_or_insert(format!("gradient read-back: {e:?}"));
                            self.values.resize(offset + len, 0.0);
                        }
                    }
                }
                None => self.values.resize(offset + len, 0.0),
            }
            self.flags.push(if device.is_some() { 1.0 } else { 0.0 });
            self.layout.push(FlatParameter {
                shape,
                offset,
                len,
                device,
            });
        }
    }
    struct Rebuild<'a> {
        /// Each parameter's place and its flag (how many ranks had a gradient for it), in
        /// visit order.
        layout: std::iter::Zip<std::slice::Iter<'a, FlatParameter>, std::slice::Iter<'a, f32>>,
        values: &'a [f32],
        fallback: &'a Device,
        gradients: GradientsParams,
    }
    impl ModuleVisitor for Rebuild<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some((entry, &ranks)) = self.layout.next() else {
                return;
            };
            if ranks <= 0.0 {
                return;
            }
            let values = self.values[entry.offset..entry.offset + entry.len].to_vec();
            let device = entry.device.as_ref().unwrap_or(self.fallback);
            let gradient = Tensor::<D>::from_data(TensorData::new(values, entry.shape.clone()), device); // parameter's shape
            self.gradients.register(param.id, gradient);
        }
    }

    let mut flatten = Flatten {
        gradients: &mut gradients,
        layout: Vec::new(),
        flags: Vec::new(),
        values: Vec::new(),
        error: None,
    };
    model.visit(&mut flatten);
    let Flatten {
        layout,
        flags,
        values,
        error,
        ..
    } = flatten;
    // The buffer's length is the model's: equal on every rank, so the allreduce always runs and
    // no rank is left waiting; a local read-back error is reported after it.
    let parameters = flags.len();
    let mut buffer = flags;
    buffer.extend(values);
    world
        .allreduce_sum_f32(&mut buffer)
        .map_err(|e| StepError::Ranks(e.to_string()))?;
    if let Some(error) = error {
        return Err(StepError::Ranks(format!("rank {}: {error}", world.rank())));
    }
    let (flags, values) = buffer.split_at(parameters);
    // A gradient that lives on the inner (non-autodiff) device of `main`: whichever device any
    // local gradient had.
    let fallback = layout
        .iter()
        .find_map(|p| p.device.clone())
        .unwrap_or_else(|| main.clone());
    let mut rebuild = Rebuild {
        layout: layout.iter().zip(flags),
        values,
        fallback: &fallback,
        gradients: GradientsParams::new(),
    };
    model.visit(&mut rebuild);
    let mut summed = MultiGradientsParams::default();
    summed.grads.push((rebuild.gradients, main.clone()));
    Ok(summed)
}

/// The error for a worker that stopped answering (replaced by its panic message once joined).
fn worker_failure(worker: &Worker<'_>) -> StepError {
    StepError::Device {
        device: format!("{:?}", worker.device),
        reason: "its thread stopped before finishing the step".into(),
    }
}

/// Every parameter's gradient summed over the devices, read back to the host in the model's
/// parameter order: `(parameter id, values)`. For tests and diagnostics (the optimizer takes
/// the [`MultiGradientsParams`] directly); a parameter without a gradient is skipped.
pub fn gradients_on_host(model: &LoevModel, gradients: MultiGradientsParams) -> Vec<(u64, Vec<f32>)> {
    struct Collect {
        gradients: MultiGradientsParams,
        values: Vec<(u64, Vec<f32>)>,
    }
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some((gradient, _)) = self.gradients.remove::<D>(param.id)
                && let Ok(values) = gradient.into_data().try_to_vec::<f32>()
            {
                self.values.push((param.id.val(), values));
            }
        }
    }
    let mut collect = Collect {
        gradients,
        values: Vec::new(),
    };
    model.visit(&mut collect);
    collect.values
}
