//! The GPU code path (burn's cubecl kernels), compared with the CPU backend (burn-flex).
//!
//! Runs when `LOEV_TEST_GPU` names a device (`opengl:cpu`, `vulkan:0`, `cuda:0`…); without it the
//! tests print a note and pass, since a machine without a GPU stack cannot run them. CI installs
//! Mesa and sets `LOEV_TEST_GPU=opengl:cpu`, where a device that does not open fails the run.
//!
//! What runs where (docs/gpu.md has the driver messages):
//! * everywhere, software GPUs included: model files written on one device and loaded on the
//!   other, the embeddings of every space, and the contrastive loss per head with its gradient;
//! * with `LOEV_TEST_GPU_TRAINING=1` as well (real GPUs; `scripts/gpu-check.sh` sets it): whole
//!   training steps — loss per head, gradient of every parameter, embeddings after three Adam
//!   steps — and a checkpoint written on one device resumed on the other. On Mesa's software
//!   drivers burn 0.22.1's backward kernels do not run: lavapipe (Vulkan) crashes on cubecl's
//!   SPIR-V for shared memory, and llvmpipe (OpenGL) compiles the tiled matrix kernels so slowly
//!   (≈ 30 s each) that wgpu's six-second GL context lock panics.
//!
//! Inputs are small ([`common::MELS`] × [`common::FRAMES`]): llvmpipe stops any shader loop
//! after 65,535 iterations, which burn's fallback convolution kernels exceed on full-size inputs.
//!
//! Tolerances (f32 on both sides, different kernels and summation orders): losses within 1e-4
//! relative, gradients within 2e-3 of their tensor's largest magnitude (floored at 1e-5 of the
//! largest gradient), embeddings within 1e-3 of their largest magnitude. The values seen are
//! printed.

mod common;

use std::path::Path;

use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::{
    FRAMES, MELS, SETTINGS, batch, gradient_scale, loev_objectives, loev_plusplus_test_config, plusplus_step, tensors,
    worst_deviation,
};
use loev_model::{DeviceChoice, LoevModel, check_device, select_device};
use loev_train::fixtures::quiet_options;
use loev_train::{TrainConfig, gradients_on_host, preset};

/// True when whole training steps are to be compared (`LOEV_TEST_GPU_TRAINING=1`).
fn training_enabled() -> bool {
    let enabled = std::env::var("LOEV_TEST_GPU_TRAINING").is_ok_and(|v| v == "1");
    if !enabled {
        eprintln!("LOEV_TEST_GPU_TRAINING is not 1: training-step comparison skipped (docs/gpu.md)");
    }
    enabled
}

/// The device named by `LOEV_TEST_GPU` (with autodiff), or `None` when the variable is unset.
/// A name that does not parse, or a device that does not open, fails the test.
fn software_gpu() -> Option<(DeviceChoice, Device)> {
    let name = std::env::var("LOEV_TEST_GPU").ok().filter(|n| !n.trim().is_empty());
    let Some(name) = name else {
        eprintln!("LOEV_TEST_GPU is not set: GPU comparison skipped (CI sets it; see docs/gpu.md)");
        return None;
    };
    let choice: DeviceChoice = name.parse().expect("LOEV_TEST_GPU names a device");
    let device = select_device(choice, true).expect("LOEV_TEST_GPU: this build has the backend");
    check_device(choice, &device).expect("LOEV_TEST_GPU: the device opens and computes");
    Some((choice, device))
}

/// [`software_gpu`] when whole training steps are to be compared as well ([`training_enabled`]).
fn training_gpu() -> Option<(DeviceChoice, Device)> {
    software_gpu().filter(|_| training_enabled())
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

/// Every embedding space of two models, one on the cpu and one on the gpu, agrees within 1e-3 of
/// its largest magnitude on a fixed batch; returns the largest relative deviation.
fn compare_embeddings(
    choice: DeviceChoice,
    (cpu_model, cpu): (&LoevModel, &Device),
    (gpu_model, gpu): (&LoevModel, &Device),
) -> f32 {
    let (inputs, _) = batch(2, 2, 7);
    let (on_cpu, on_gpu) = (embeddings(cpu_model, &inputs, cpu), embeddings(gpu_model, &inputs, gpu));
    assert_eq!(on_cpu.len(), 1 + 3 + 3, "V, three projections, three branches");
    worst_deviation(&on_gpu, &on_cpu, 1e-6, 1e-3, |space| {
        format!("{choice}: embedding space {space}")
    })
}

#[test]
fn a_model_file_moves_between_the_devices_and_embeds_the_same() {
    let Some((choice, gpu)) = software_gpu() else {
        return;
    };
    let gpu = gpu.inner();
    let cpu = Device::flex();
    let scratch = std::env::temp_dir().join(format!("loev-gpu-file-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let config = loev_plusplus_test_config();
    let written_on_cpu = scratch.join("cpu.safetensors");
    let cpu_model = LoevModel::init(&config, &cpu, 41);
    cpu_model.save(&config, &written_on_cpu).expect("save on the cpu");
    let (gpu_model, loaded_config) = LoevModel::load(&written_on_cpu, &gpu).expect("load on the gpu");
    assert_eq!(loaded_config, config);

    let worst = compare_embeddings(choice, (&cpu_model, &cpu), (&gpu_model, &gpu));
    // Back from the GPU: the same weights, bit for bit.
    let written_on_gpu = scratch.join("gpu.safetensors");
    gpu_model.save(&config, &written_on_gpu).expect("save on the gpu");
    let (round_trip, _) = LoevModel::load(&written_on_gpu, &cpu).expect("load on the cpu");
    assert_eq!(
        round_trip.named_weights().expect("weights"),
        cpu_model.named_weights().expect("weights"),
        "weights changed on the way through the gpu"
    );
    eprintln!("{choice} vs cpu: embeddings of a model file deviate by {worst:e} (relative)");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn the_contrastive_loss_and_its_gradient_on_the_gpu_equal_the_cpu() {
    let Some((choice, gpu)) = software_gpu() else {
        return;
    };
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
    let (gpu_heads, gpu_gradients) = run(&gpu);
    for (head, (g, c)) in gpu_heads.iter().zip(&cpu_heads).enumerate() {
        assert!(
            (g - c).abs() <= 1e-4 * c.abs().max(1e-3),
            "{choice} head {head}: loss {g} vs cpu {c}"
        );
    }
    let worst = worst_deviation(&gpu_gradients, &cpu_gradients, 1e-6, 2e-3, |head| {
        format!("{choice} head {head}: ∂L/∂z")
    });
    eprintln!("{choice} vs cpu: contrastive loss gradient deviates by {worst:e} (relative)");
}

#[test]
fn training_steps_on_the_gpu_equal_the_cpu() {
    let Some((choice, gpu)) = training_gpu() else {
        return;
    };
    let cpu = Device::flex().autodiff();
    let config = loev_plusplus_test_config();
    let mut cpu_model = LoevModel::init(&config, &cpu, 31);
    let mut gpu_model = LoevModel::init(&config, &gpu, 31);
    let mut cpu_adam = AdamConfig::new().with_epsilon(1e-8).init();
    let mut gpu_adam = AdamConfig::new().with_epsilon(1e-8).init();
    let (mut worst_loss, mut worst_gradient) = (0.0f64, 0.0f32);
    for step in 0..3u64 {
        let (inputs, labels) = batch(2, 4, 100 + step);
        let on_cpu = plusplus_step(&cpu_model, &inputs, &labels, std::slice::from_ref(&cpu), step).expect("cpu step");
        let on_gpu = plusplus_step(&gpu_model, &inputs, &labels, std::slice::from_ref(&gpu), step).expect("gpu step");
        for (head, (g, c)) in on_gpu.losses.heads.iter().zip(&on_cpu.losses.heads).enumerate() {
            let deviation = (g - c).abs() / c.abs().max(1e-3);
            assert!(
                deviation <= 1e-4,
                "{choice} step {step} head {head}: loss {g} vs cpu {c}"
            );
            worst_loss = worst_loss.max(deviation);
        }
        let cpu_gradients = on_cpu.gradients.expect("finite cpu loss");
        let gpu_gradients = on_gpu.gradients.expect("finite gpu loss");
        let cpu_host = gradients_on_host(&cpu_model, clone_gradients(&cpu_model, &cpu_gradients));
        let gpu_host = gradients_on_host(&gpu_model, clone_gradients(&gpu_model, &gpu_gradients));
        let names = cpu_model.named_weights().expect("names");
        assert_eq!(cpu_host.len(), names.len(), "every parameter has a gradient on the cpu");
        assert_eq!(gpu_host.len(), names.len(), "every parameter has a gradient on the gpu");
        // Each parameter against its own scale, but never below 1e-5 of the model's largest
        // gradient (some gradients are rounding noise by construction; see data_parallel.rs).
        let floor = 1e-5 * gradient_scale(&cpu_host);
        let worst = worst_deviation(&tensors(&gpu_host), &tensors(&cpu_host), floor, 2e-3, |i| {
            format!(
                "{choice} step {step}: gradient of {} (relative to its scale)",
                names[i].0
            )
        });
        worst_gradient = worst_gradient.max(worst);
        cpu_model = cpu_adam.step_multi(1e-3, cpu_model, cpu_gradients);
        gpu_model = gpu_adam.step_multi(1e-3, gpu_model, gpu_gradients);
    }
    // Embeddings of the trained models, every space.
    let worst_embedding = compare_embeddings(choice, (&cpu_model, &cpu), (&gpu_model, &gpu));
    eprintln!(
        "{choice} vs cpu over 3 steps: loss {worst_loss:e}, gradients {worst_gradient:e}, embeddings {worst_embedding:e} (relative)"
    );
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
fn a_checkpoint_written_on_one_device_resumes_on_the_other() {
    let Some((choice, _)) = training_gpu() else {
        return;
    };
    let gpu = choice.to_string();
    let scratch = std::env::temp_dir().join(format!("loev-software-gpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (cpu_only, gpu_then_cpu, cpu_then_gpu) =
        (scratch.join("cpu"), scratch.join("gpu-cpu"), scratch.join("cpu-gpu"));

    train(&small_run("cpu"), &cpu_only, 4, None);
    train(&small_run(&gpu), &gpu_then_cpu, 2, None);
    train(&small_run(&gpu), &gpu_then_cpu, 4, Some("cpu"));
    train(&small_run("cpu"), &cpu_then_gpu, 2, None);
    train(&small_run("cpu"), &cpu_then_gpu, 4, Some(&gpu));

    // The reference moved its weights by `movement` over steps 3–4; a resumed run on the other
    // device must land within a small share of that (Adam's steps on gradients that are rounding
    // noise may differ in sign, so not bit-for-bit).
    let reference = weights_at(&cpu_only, 4);
    let movement = total_difference(&reference, &weights_at(&cpu_only, 2));
    assert!(movement > 0.0, "the reference run trained");
    let reference_losses = logged_losses(&cpu_only);
    for run in [&gpu_then_cpu, &cpu_then_gpu] {
        let difference = total_difference(&weights_at(run, 4), &reference);
        eprintln!(
            "{}: weights differ from the cpu run by {:.2e} of its last two steps' movement",
            run.display(),
            difference / movement
        );
        assert!(
            difference <= 0.05 * movement,
            "{}: {difference} vs movement {movement}",
            run.display()
        );
        let losses = logged_losses(run);
        assert_eq!(
            losses.len(),
            reference_losses.len(),
            "{}: one metrics line per step",
            run.display()
        );
        for (step, (a, b)) in losses.iter().zip(&reference_losses).enumerate() {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs(),
                "{} step {}: loss {a} vs {b}",
                run.display(),
                step + 1
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
