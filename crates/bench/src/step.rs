//! Timing of one training step of the encoder (forward + backward + Adam), for `loev bench
//! model`.
//!
//! The loss is a stand-in (mean over heads of mean(z²)): the contrastive loss of the training
//! crate costs a negligible part of a step, and the PyTorch reference (`bench/torch/
//! sfnfnet_step.py`) uses the same stand-in so that both frameworks do the same work.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use loev_core::process::cpu_seconds;
use loev_core::rng::rng_from_seed;
use loev_model::{ForwardMode, LoevModel, LoevModelConfig, ModelError};
use rand::RngExt;

/// What to time.
#[derive(Debug, Clone)]
pub struct StepBenchConfig {
    /// The model.
    pub model: LoevModelConfig,
    /// Examples per step.
    pub batch: usize,
    /// Mel bands of the input.
    pub mels: usize,
    /// Frames of the input.
    pub frames: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first (allocator and caches warm up).
    pub warmup: usize,
    /// Seed of the weights and the input.
    pub seed: u64,
}

/// Measured step times.
#[derive(Debug, Clone)]
pub struct StepTimings {
    /// Wall-clock milliseconds of each timed step.
    pub wall_ms: Vec<f64>,
    /// Process CPU milliseconds of each timed step (all threads; empty where unavailable).
    pub cpu_ms: Vec<f64>,
    /// Trainable parameters of the model.
    pub params: usize,
    /// Loss of the last step (a sanity check that training ran).
    pub last_loss: f32,
}

impl StepTimings {
    /// Median wall-clock milliseconds per step.
    pub fn median_ms(&self) -> f64 {
        median(&self.wall_ms)
    }

    /// Median CPU milliseconds per step, if measured.
    pub fn median_cpu_ms(&self) -> Option<f64> {
        (!self.cpu_ms.is_empty()).then(|| median(&self.cpu_ms))
    }
}

/// Median of a non-empty list (mean of the two middle values for an even count); NaN if empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        0.5 * (sorted[mid - 1] + sorted[mid])
    }
}

/// Times `warmup + steps` Adam steps of the model on `device` (made autodiff if it is not).
pub fn time_training_steps(config: &StepBenchConfig, device: &Device) -> Result<StepTimings, ModelError> {
    let device = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    let mut model = LoevModel::try_init(&config.model, &device, config.seed)?;
    let params = model.num_params();
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let input = bench_input(config, &device);
    let (mut wall_ms, mut cpu_ms) = (Vec::new(), Vec::new());
    let mut last_loss = f32::NAN;
    for step in 0..config.warmup + config.steps {
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        let output = model.forward(input.clone(), ForwardMode::Train { seed: step as u64 });
        let heads = output.projections.len() as f64;
        let loss = output
            .projections
            .into_iter()
            .map(|z| z.powf_scalar(2.0).mean())
            .reduce(|a, b| a + b)
            .map(|sum| sum.div_scalar(heads))
            .ok_or_else(|| ModelError::InvalidConfig("the model has no heads".into()))?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        last_loss = loss.into_scalar::<f32>();
        // The optimizer's kernels may still be queued on a GPU: wait for them so that each
        // step's time is its own.
        device
            .sync()
            .map_err(|e| ModelError::InvalidConfig(format!("device failed during the step: {e:?}")))?;
        let wall = start.elapsed().as_secs_f64() * 1e3;
        if step >= config.warmup {
            wall_ms.push(wall);
            if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
                cpu_ms.push((b - a) * 1e3);
            }
        }
    }
    Ok(StepTimings {
        wall_ms,
        cpu_ms,
        params,
        last_loss,
    })
}

/// FLOPs of one training step of `config` at `batch` examples of `mels × frames`: three times the
/// convolution and dense FLOPs of a forward pass (see [`loev_model::flops`]), counted on the CPU on
/// one example and scaled (every layer's work is linear in the batch).
pub fn training_flops_per_step(
    config: &LoevModelConfig,
    batch: usize,
    mels: usize,
    frames: usize,
) -> Result<f64, ModelError> {
    let device = Device::flex();
    let model = LoevModel::try_init(config, &device, 0)?;
    let input = Tensor::<4>::zeros([1, 1, mels, frames], &device); // [1, 1, mels, frames]
    let (_, forward) = loev_model::flops::count_flops(|| model.forward(input, ForwardMode::Eval));
    Ok(3.0 * forward * batch as f64)
}

/// A fixed pseudo-random input batch (host RNG, so every backend sees the same values).
fn bench_input(config: &StepBenchConfig, device: &Device) -> Tensor<4> {
    let shape = [config.batch, 1, config.mels, config.frames];
    let mut rng = rng_from_seed(config.seed ^ 0x5eed);
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-2.0f32..2.0))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_handles_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
