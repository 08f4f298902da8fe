//! Deterministic parameter creation on the host.
//!
//! burn's own initialisers draw from a global backend RNG; here every parameter gets its own
//! generator derived from the model seed and the parameter's creation index, values are drawn
//! on the host and uploaded with `Tensor::from_data`. The same seed therefore gives the same
//! weights on every backend and thread count.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use loev_core::rng::derived_rng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Values per independently seeded chunk of a large parameter (lets big tensors fill in parallel
/// without making the result depend on the number of threads).
const CHUNK: usize = 1 << 16;

/// How parameter values are produced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fill {
    /// Draw from the seeded distributions (a fresh model).
    Random { seed: u64 },
    /// Zeros of the right shape, to be overwritten by loaded weights (cheap).
    Placeholder,
}

/// Hands out parameters in creation order, each from its own seeded stream.
pub(crate) struct ParamFactory {
    fill: Fill,
    device: Device,
    next_stream: u64,
}

impl ParamFactory {
    pub(crate) fn new(fill: Fill, device: &Device) -> Self {
        Self {
            fill,
            device: device.clone(),
            next_stream: 0,
        }
    }

    /// N(0, std²) values (untruncated).
    pub(crate) fn normal<const D: usize>(&mut self, shape: [usize; D], std: f64) -> Param<Tensor<D>> {
        self.make(shape, move |rng_seed, values| {
            let mut rng = rng_seed;
            for v in values {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = (z * std) as f32;
            }
        })
    }

    /// U(−limit, limit) values.
    pub(crate) fn uniform<const D: usize>(&mut self, shape: [usize; D], limit: f64) -> Param<Tensor<D>> {
        self.make(shape, move |rng_seed, values| {
            let mut rng = rng_seed;
            for v in values {
                *v = rng.random_range(-limit..limit) as f32;
            }
        })
    }

    /// A constant-filled parameter (gains 1, biases 0, SkipInit gains 0).
    pub(crate) fn constant<const D: usize>(&mut self, shape: [usize; D], value: f32) -> Param<Tensor<D>> {
        self.make(shape, move |_, values| values.fill(value))
    }

    fn make<const D: usize, F>(&mut self, shape: [usize; D], fill: F) -> Param<Tensor<D>>
    where
        F: Fn(loev_core::rng::Rng, &mut [f32]) + Sync,
    {
        let stream = self.next_stream;
        self.next_stream += 1;
        let len: usize = shape.iter().product();
        let values = match self.fill {
            Fill::Placeholder => vec![0.0f32; len],
            Fill::Random { seed } => {
                let mut values = vec![0.0f32; len];
                values.par_chunks_mut(CHUNK).enumerate().for_each(|(chunk, slice)| {
                    fill(derived_rng(seed, &[stream, chunk as u64]), slice);
                });
                values
            }
        };
        Param::from_data(TensorData::new(values, shape), &self.device)
    }
}
