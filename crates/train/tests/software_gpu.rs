//! The GPU code path (burn's cubecl kernels), compared with the CPU backend (burn-flex).
//!
//! A test here either compares a GPU with the CPU or is reported as ignored; none passes without
//! having checked something. The comparisons need a device, so they are `#[ignore]`d in a plain
//! `cargo test` and run with `-- --ignored` and `LOEV_TEST_GPU` naming the device
//! (`opengl:cpu`, `vulkan:0`, `cuda:0`…); run that way without the variable, they fail.
//!
//! What runs where (docs/gpu.md has the driver messages):
//! * every device, Mesa's software GPU included (CI: `opengl:cpu`): model files written on one
//!   device and loaded on the other, the embeddings of every space, and the contrastive loss per
//!   head with its gradient;
//! * only devices that run burn's backward kernels (real GPUs; `scripts/gpu-check.sh`): the
//!   `gpu_training_*` tests, whole training steps — loss per head, gradient of every parameter,
//!   embeddings after three Adam steps — and a checkpoint written on one device resumed on the
//!   other. On Mesa's software drivers they fail at once with the reason: lavapipe (Vulkan)
//!   crashes on cubecl's SPIR-V for shared memory, and llvmpipe (OpenGL) compiles the tiled
//!   matrix kernels so slowly (≈ 30 s each) that wgpu's six-second GL context lock panics.
//!   CI skips them by name (`--skip gpu_training_`).
//! * in every `cargo test`: the same two training comparisons with the CPU backend standing in
//!   for the GPU (`*_with_the_cpu_as_the_gpu_side`). They check the comparison code itself, the
//!   checkpoint, resume and `BURN_DEVICE` plumbing, so that the scarce GPU time is not lost to a
//!   bug in the test; they say nothing about a GPU.
//!
//! Inputs are small ([`common::MELS`] × [`common::FRAMES`]): llvmpipe stops any shader loop
//! after 65,535 iterations, which burn's fallback convolution kernels exceed on full-size inputs.
//!
//! Tolerances ([`Tolerances`]) depend on the device: f32 on both sides, or TF32 on CUDA, where
//! burn's matmul and convolution kernels round f32 inputs to TF32 (10-bit mantissa) on the
//! tensor cores whenever autotuning picks such a kernel. Every comparison prints the deviation
//! it saw next to its tolerance, on a pass and on a failure.

mod common;

use std::path::Path;

use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::{
    FRAMES, MELS, SETTINGS, batch, gradient_scale, loev_objectives, loev_plusplus_test_config, plusplus_step,
    relative_deviation, tensors,
};
use loev_model::{DeviceChoice, GpuAdapter, LoevModel, check_device, select_device};
use loev_train::fixtures::quiet_options;
use loev_train::{TrainConfig, gradients_on_host, preset};

/// How far the device under test may deviate from the CPU. Relative deviations: a loss against
/// its own magnitude, a tensor's largest |difference| against its largest magnitude.
#[derive(Clone, Copy, Debug)]
struct Tolerances {
    /// What the numbers assume.
    basis: &'static str,
    loss: f64,
    gradients: f32,
    embeddings: f32,
    /// Σ|weights − reference| after a resumed run, as a share of the reference's last two
    /// steps' movement (Adam's steps on gradients that are rounding noise may differ in sign).
    resumed_weights: f64,
    /// The logged losses of a resumed run against the reference run's.
    resumed_loss: f64,
}

/// f32 on both sides, different kernels and summation orders (seen on llvmpipe: 3e-7 for the
/// loss gradient, 2e-6 for embeddings).
const F32: Tolerances = Tolerances {
    basis: "f32 on both sides",
    loss: 1e-4,
    gradients: 2e-3,
    embeddings: 1e-3,
    resumed_weights: 0.05,
    resumed_loss: 1e-3,
};

/// CUDA: burn 0.22.1's matmul library (cubek-matmul 0.3.1 `adjust_dtypes`) stages f32 operands
/// as TF32 for every tensor-core kernel, with no switch to turn that off. TF32 keeps 10 mantissa
/// bits (relative rounding 2^-11 ≈ 4.9e-4 per operand); over the test encoder's depth that should
/// give deviations around 1e-3 in forward values and several times that in gradients (an
/// estimate: no GPU has run these yet, and each run prints what it saw).
const TF32: Tolerances = Tolerances {
    basis: "TF32 tensor cores on the GPU side (CUDA)",
    loss: 5e-3,
    gradients: 3e-2,
    embeddings: 1e-2,
    resumed_weights: 0.25,
    resumed_loss: 5e-3,
};

/// The device compared with the CPU, with its tolerances.
struct UnderTest {
    choice: DeviceChoice,
    device: Device,
    tolerances: Tolerances,
}

impl UnderTest {
    fn open(choice: DeviceChoice) -> Self {
        let device = select_device(choice, true).expect("this build has the backend of the device under test");
        check_device(choice, &device).expect("the device under test opens and computes");
        let tolerances = match choice {
            DeviceChoice::Cuda(_) => TF32,
            _ => F32,
        };
        eprintln!("device under test: {choice}, tolerances for {}", tolerances.basis);
        Self {
            choice,
            device,
            tolerances,
        }
    }

    /// The CPU backend as the "GPU" side: the comparison code and the plumbing, not a GPU.
    fn cpu_stand_in() -> Self {
        eprintln!("the CPU backend stands in for the GPU: this checks the comparison itself, not a GPU");
        Self::open(DeviceChoice::Cpu)
    }
}

/// The device named by `LOEV_TEST_GPU` (with autodiff). The tests that call this are ignored by
/// default; run on purpose (`--ignored`) without the variable, or with a name that does not
/// parse or a device that does not open, they fail.
fn gpu_under_test() -> UnderTest {
    let name = std::env::var("LOEV_TEST_GPU").unwrap_or_default();
    assert!(
        !name.trim().is_empty(),
        "LOEV_TEST_GPU is not set: name the device to compare with the CPU (opengl:cpu, vulkan:0, cuda:0; docs/gpu.md)"
    );
    let choice: DeviceChoice = name.parse().expect("LOEV_TEST_GPU names a device");
    UnderTest::open(choice)
}

/// [`gpu_under_test`] for whole training steps, which Mesa's software GPUs cannot run: fails at
/// once there instead of spending half an hour compiling kernels before wgpu panics.
fn training_gpu_under_test() -> UnderTest {
    let under_test = gpu_under_test();
    let software = matches!(
        under_test.choice,
        DeviceChoice::Vulkan(GpuAdapter::Software) | DeviceChoice::OpenGl(GpuAdapter::Software)
    );
    assert!(
        !software,
        "{}: Mesa's software GPUs do not run burn 0.22.1's backward kernels (docs/gpu.md); \
         these tests need a real GPU (skip them with --skip gpu_training_)",
        under_test.choice
    );
    under_test
}

/// Prints `what` with its deviation and tolerance, then fails if the deviation exceeds it.
fn check(what: &str, deviation: f64, tolerance: f64) {
    let verdict = if deviation <= tolerance { "within" } else { "OVER" };
    eprintln!("  {what}: deviation {deviation:.3e}, {verdict} tolerance {tolerance:.1e}");
    assert!(
        deviation <= tolerance,
        "{what}: deviation {deviation:e} exceeds the tolerance {tolerance:e}"
    );
}

/// The largest [`relative_deviation`] over pairs of tensors, with the index where it occurred.
fn worst_of<A: AsRef<[f32]>, E: AsRef<[f32]>>(actual: &[A], expected: &[E], floor: f32) -> (f32, usize) {
    assert_eq!(actual.len(), expected.len(), "tensor counts differ");
    actual
        .iter()
        .zip(expected)
        .map(|(a, e)| relative_deviation(a.as_ref(), e.as_ref(), floor))
        .enumerate()
        .fold(
            (0.0, 0),
            |(worst, at), (i, d)| if d > worst { (d, i) } else { (worst, at) },
        )
}

/// Every embedding space of `model` for the inputs, read back: V, each projection, each branch.
fn embeddings(model: &LoevModel, inputs: &[f32], device: &Device) -> Vec<Vec<f32>> {
    let views = inputs.len() / (MELS * FRAMES);
    let x = Tensor::<4>::from_data(TensorData::new(inputs.to_vec(), [views, 1, MELS, FRAMES]), device); // [views, 1, mels, frames]
    let out = model.encode(x);
    let mut spaces = vec![out.embedding];
    spaces.extend(out.projections);
    spaces.extend(out.branch_embeddings);
    spaces
        .into_iter()
        .map(|t| t.into_data().try_to_vec::<f32>().expect("f32"))
        .collect()
}

/// Every embedding space of a model on the cpu and one on the device under test agrees within
/// the embedding tolerance of its largest magnitude on a fixed batch.
fn compare_embeddings(what: &str, under_test: &UnderTest, cpu_model: &LoevModel, cpu: &Device, model: &LoevModel) {
    let (inputs, _) = batch(2, 2, 7);
    let on_cpu = embeddings(cpu_model, &inputs, cpu);
    let on_device = embeddings(model, &inputs, &under_test.device);
    assert_eq!(on_cpu.len(), 1 + 3 + 3, "V, three projections, three branches");
    let (worst, space) = worst_of(&on_device, &on_cpu, 1e-6);
    check(
        &format!(
            "{} vs cpu: {what}, every embedding space (worst: space {space})",
            under_test.choice
        ),
        f64::from(worst),
        f64::from(under_test.tolerances.embeddings),
    );
}

#[test]
#[ignore = "needs a device: LOEV_TEST_GPU=opengl:cpu|vulkan:0|cuda:0 cargo test … -- --ignored (CI runs it on opengl:cpu)"]
fn a_model_file_moves_between_the_devices_and_embeds_the_same() {
    let under_test = gpu_under_test();
    let gpu = under_test.device.inner();
    let cpu = Device::flex();
    let scratch = std::env::temp_dir().join(format!("loev-gpu-file-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let config = loev_plusplus_test_config();
    let written_on_cpu = scratch.join("cpu.safetensors");
    let cpu_model = LoevModel::init(&config, &cpu, 41);
    cpu_model.save(&config, &written_on_cpu).expect("save on the cpu");
    let (gpu_model, loaded_config) = LoevModel::load(&written_on_cpu, &gpu).expect("load on the gpu");
    assert_eq!(loaded_config, config);

    let under_test = UnderTest {
        device: gpu.clone(),
        ..under_test
    };
    compare_embeddings(
        "a model file written on the cpu",
        &under_test,
        &cpu_model,
        &cpu,
        &gpu_model,
    );
    // Back from the GPU: the same weights, bit for bit.
    let written_on_gpu = scratch.join("gpu.safetensors");
    gpu_model.save(&config, &written_on_gpu).expect("save on the gpu");
    let (round_trip, _) = LoevModel::load(&written_on_gpu, &cpu).expect("load on the cpu");
    assert_eq!(
        round_trip.named_weights().expect("weights"),
        cpu_model.named_weights().expect("weights"),
        "weights changed on the way through the gpu"
    );
    eprintln!("  written back from the gpu and loaded on the cpu: the same weights, bit for bit");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
#[ignore = "needs a device: LOEV_TEST_GPU=opengl:cpu|vulkan:0|cuda:0 cargo test … -- --ignored (CI runs it on opengl:cpu)"]
fn the_contrastive_loss_and_its_gradient_on_the_gpu_equal_the_cpu() {
    let under_test = gpu_under_test();
    let choice = under_test.choice;
    let cpu = Device::flex().autodiff();
    let (_, labels) = batch(3, 4, 13);
    let objectives = loev_objectives();
    let mut rng = loev_core::rng::rng_from_seed(5);
    let projections: Vec<Vec<f32>> = objectives
        .iter()
        .map(|_| {
            (0..labels.len() * 16)
                .map(|_| rand::RngExt::random_range(&mut rng, -1.0f32..1.0))
                .collect()
        })
        .collect();
    let run = |device: &Device| {
        let z: Vec<Tensor<2>> = projections
            .iter()
            .map(|p| Tensor::<2>::from_data(TensorData::new(p.clone(), [labels.len(), 16]), device).require_grad()) // [views, 16]
            .collect();
        let loss = loev_train::contrastive_loss(&z, &objectives, &labels, SETTINGS).expect("loss");
        let heads: Vec<f32> = loss.heads.iter().map(|h| h.loss.clone().into_scalar::<f32>()).collect();
        let grads = loss.total.backward();
        let gradients: Vec<Vec<f32>> = z
            .iter()
            .map(|t| {
                t.grad(&grads)
                    .expect("gradient")
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32")
            })
            .collect();
        (heads, gradients)
    };
    let (cpu_heads, cpu_gradients) = run(&cpu);
    let (gpu_heads, gpu_gradients) = run(&under_test.device);
    let worst_loss = gpu_heads
        .iter()
        .zip(&cpu_heads)
        .map(|(g, c)| f64::from((g - c).abs() / c.abs().max(1e-3)))
        .fold(0.0, f64::max);
    check(
        &format!("{choice} vs cpu: contrastive loss of every head"),
        worst_loss,
        under_test.tolerances.loss,
    );
    let (worst, head) = worst_of(&gpu_gradients, &cpu_gradients, 1e-6);
    check(
        &format!("{choice} vs cpu: ∂L/∂z of every head (worst: head {head})"),
        f64::from(worst),
        f64::from(under_test.tolerances.gradients),
    );
}

#[test]
#[ignore = "needs a GPU that runs burn's backward kernels: LOEV_TEST_GPU=cuda:0|vulkan:0 cargo test … -- --ignored (scripts/gpu-check.sh)"]
fn gpu_training_steps_equal_the_cpu() {
    training_steps_match(training_gpu_under_test());
}

#[test]
fn training_step_comparison_with_the_cpu_as_the_gpu_side() {
    training_steps_match(UnderTest::cpu_stand_in());
}

/// Three training steps of the LOEV++ test model on the device under test and on the CPU from
/// the same initial weights: the loss of every head, the gradient of every parameter, and the
/// embeddings after three Adam steps.
fn training_steps_match(under_test: UnderTest) {
    let UnderTest {
        choice,
        device: ref gpu,
        tolerances,
    } = under_test;
    let cpu = Device::flex().autodiff();
    let config = loev_plusplus_test_config();
    let mut cpu_model = LoevModel::init(&config, &cpu, 31);
    let mut gpu_model = LoevModel::init(&config, gpu, 31);
    let mut cpu_adam = AdamConfig::new().with_epsilon(1e-8).init();
    let mut gpu_adam = AdamConfig::new().with_epsilon(1e-8).init();
    let (mut worst_loss, mut worst_gradient, mut worst_parameter) = (0.0f64, 0.0f32, String::new());
    let names = cpu_model.named_weights().expect("names");
    for step in 0..3u64 {
        let (inputs, labels) = batch(2, 4, 100 + step);
        let on_cpu = plusplus_step(&cpu_model, &inputs, &labels, std::slice::from_ref(&cpu), step).expect("cpu step");
        let on_gpu = plusplus_step(&gpu_model, &inputs, &labels, std::slice::from_ref(gpu), step).expect("gpu step");
        for (g, c) in on_gpu.losses.heads.iter().zip(&on_cpu.losses.heads) {
            worst_loss = worst_loss.max((g - c).abs() / c.abs().max(1e-3));
        }
        let cpu_gradients = on_cpu.gradients.expect("finite cpu loss");
        let gpu_gradients = on_gpu.gradients.expect("finite gpu loss");
        let cpu_host = gradients_on_host(&cpu_model, clone_gradients(&cpu_model, &cpu_gradients));
        let gpu_host = gradients_on_host(&gpu_model, clone_gradients(&gpu_model, &gpu_gradients));
        assert_eq!(cpu_host.len(), names.len(), "every parameter has a gradient on the cpu");
        assert_eq!(gpu_host.len(), names.len(), "every parameter has a gradient on the gpu");
        // Each parameter against its own scale, but never below 1e-5 of the model's largest
        // gradient (some gradients are rounding noise by construction; see data_parallel.rs).
        let floor = 1e-5 * gradient_scale(&cpu_host);
        let (worst, at) = worst_of(&tensors(&gpu_host), &tensors(&cpu_host), floor);
        if worst >= worst_gradient {
            (worst_gradient, worst_parameter) = (worst, format!("{} at step {step}", names[at].0));
        }
        cpu_model = cpu_adam.step_multi(1e-3, cpu_model, cpu_gradients);
        gpu_model = gpu_adam.step_multi(1e-3, gpu_model, gpu_gradients);
    }
    check(
        &format!("{choice} vs cpu: loss of every head over 3 steps"),
        worst_loss,
        tolerances.loss,
    );
    check(
        &format!("{choice} vs cpu: gradient of every parameter over 3 steps (worst: {worst_parameter})"),
        f64::from(worst_gradient),
        f64::from(tolerances.gradients),
    );
    // Embeddings of the trained models, every space.
    compare_embeddings("after 3 Adam steps", &under_test, &cpu_model, &cpu, &gpu_model);
}

/// A copy of the gradients that leaves the originals for the optimizer.
fn clone_gradients(
    model: &LoevModel,
    gradients: &burn::optim::MultiGradientsParams,
) -> burn::optim::MultiGradientsParams {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;

    struct Copy<'a> {
        source: &'a burn::optim::MultiGradientsParams,
        copies: Vec<GradientsParams>,
    }
    impl ModuleVisitor for Copy<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            for ((grads, _), copy) in self.source.grads.iter().zip(&mut self.copies) {
                if let Some(g) = grads.get::<D>(param.id) {
                    copy.register(param.id, g);
                }
            }
        }
    }
    let mut copy = Copy {
        source: gradients,
        copies: gradients.grads.iter().map(|_| GradientsParams::new()).collect(),
    };
    model.visit(&mut copy);
    burn::optim::MultiGradientsParams {
        grads: copy
            .copies
            .into_iter()
            .zip(&gradients.grads)
            .map(|(g, (_, device))| (g, device.clone()))
            .collect(),
    }
}

/// A small run of the real training loop (built-in corpus, data pipeline, checkpoints) with
/// inputs of [`MELS`] × [`FRAMES`].
fn small_run(device: &str) -> TrainConfig {
    let mut config = preset("loev++-psts:test").expect("preset");
    config.device = device.to_string();
    config.data.corpus_tracks = 6;
    config.data.anchors = 2;
    config.data.views = 4;
    config.data.workers = 1;
    config.frontend.n_mels = MELS;
    config.frontend.frames = FRAMES;
    config.train.steps = 4;
    config.train.checkpoint_every = 2;
    config.train.keep_last = 4;
    config.train.log_every = 1;
    config
}

fn train(config: &TrainConfig, dir: &Path, stop_after: u64, resume_on: Option<&str>) {
    let mut options = quiet_options(dir);
    options.stop_after = Some(stop_after);
    match resume_on {
        None => {
            loev_train::pretrain(config, &options).expect("training");
        }
        Some(device) => {
            options.device = Some(device.to_string());
            loev_train::resume(&options).expect("resuming");
        }
    }
}

fn weights_at(dir: &Path, step: u64) -> Vec<(String, Vec<f32>)> {
    let path = dir
        .join("checkpoints")
        .join(format!("step-{step:08}"))
        .join("model.safetensors");
    let (model, _) = LoevModel::load(&path, &Device::flex()).expect("checkpoint");
    model.named_weights().expect("weights")
}

/// Σ |a − b| over every weight.
fn total_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| f64::from((p - q).abs())))
        .sum()
}

/// Each logged step's total loss, from a run's metrics.
fn logged_losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            value["loss"].as_f64().expect("loss")
        })
        .collect()
}

#[test]
#[ignore = "needs a GPU that runs burn's backward kernels: LOEV_TEST_GPU=cuda:0|vulkan:0 cargo test … -- --ignored (scripts/gpu-check.sh)"]
fn gpu_training_checkpoint_resumes_on_the_other_device() {
    resumed_runs_match(training_gpu_under_test());
}

#[test]
fn checkpoint_resume_comparison_with_the_cpu_as_the_gpu_side() {
    resumed_runs_match(UnderTest::cpu_stand_in());
}

/// A 4-step run on the CPU against runs that switch device at the step-2 checkpoint (device
/// under test → CPU, CPU → device under test): final weights and every logged loss.
fn resumed_runs_match(under_test: UnderTest) {
    let (gpu, tolerances) = (under_test.choice.to_string(), under_test.tolerances);
    let scratch = std::env::temp_dir().join(format!("loev-software-gpu-{}-{gpu}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (cpu_only, gpu_then_cpu, cpu_then_gpu) =
        (scratch.join("cpu"), scratch.join("gpu-cpu"), scratch.join("cpu-gpu"));

    train(&small_run("cpu"), &cpu_only, 4, None);
    train(&small_run(&gpu), &gpu_then_cpu, 2, None);
    train(&small_run(&gpu), &gpu_then_cpu, 4, Some("cpu"));
    train(&small_run("cpu"), &cpu_then_gpu, 2, None);
    train(&small_run("cpu"), &cpu_then_gpu, 4, Some(&gpu));

    let reference = weights_at(&cpu_only, 4);
    let movement = total_difference(&reference, &weights_at(&cpu_only, 2));
    assert!(movement > 0.0, "the reference run trained");
    let reference_losses = logged_losses(&cpu_only);
    for (name, run) in [
        (format!("{gpu} then cpu"), &gpu_then_cpu),
        (format!("cpu then {gpu}"), &cpu_then_gpu),
    ] {
        let difference = total_difference(&weights_at(run, 4), &reference);
        check(
            &format!("{name}: weights after 4 steps vs the cpu run, as a share of its steps 3–4 movement"),
            difference / movement,
            tolerances.resumed_weights,
        );
        let losses = logged_losses(run);
        assert_eq!(
            losses.len(),
            reference_losses.len(),
            "{name}: one metrics line per step"
        );
        let worst = losses
            .iter()
            .zip(&reference_losses)
            .map(|(a, b)| (a - b).abs() / b.abs())
            .fold(0.0, f64::max);
        check(
            &format!("{name}: logged loss of every step vs the cpu run"),
            worst,
            tolerances.resumed_loss,
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
