//! Counting the floating-point operations of a forward pass, for the model FLOP utilisation
//! (MFU) that `loev bench model` reports.
//!
//! Every convolution of the network goes through [`crate::kernels::conv2d`] and every dense
//! layer through [`crate::Dense::forward`]; both report `2 × multiply-adds` here while a count is
//! running on the calling thread. Elementwise work (activations, weight standardisation, the
//! loss) is left out, as MFU conventionally counts only the matrix work. A training step is
//! counted as three forward passes (the backward pass computes two products per forward one).

use std::cell::Cell;

thread_local! {
    static RUNNING: Cell<Option<f64>> = const { Cell::new(None) };
}

/// Adds `flops` to the count running on this thread, if any (a relaxed no-op otherwise).
pub(crate) fn add(flops: f64) {
    RUNNING.with(|count| {
        if let Some(total) = count.get() {
            count.set(Some(total + flops));
        }
    });
}

/// Runs `work` and returns its result with the FLOPs of the convolutions and dense layers it
/// ran on this thread.
pub fn count_flops<R>(work: impl FnOnce() -> R) -> (R, f64) {
    let previous = RUNNING.with(|count| count.replace(Some(0.0)));
    let result = work();
    let counted = RUNNING.with(|count| count.replace(previous)).unwrap_or(0.0);
    (result, counted)
}

/// FLOPs of a 2-D convolution producing `[batch, c_out, h_out, w_out]` with kernels of
/// `c_in_per_group × kh × kw`.
pub(crate) fn conv2d(output: [usize; 4], c_in_per_group: usize, kernel: [usize; 2]) -> f64 {
    let [batch, c_out, h, w] = output;
    2.0 * (batch * c_out * h * w) as f64 * (c_in_per_group * kernel[0] * kernel[1]) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor};

    /// A grouped, strided, padded convolution counts 2 × output elements × kernel volume, and
    /// nothing is counted outside `count_flops`.
    #[test]
    fn convolutions_count_their_multiply_adds() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([2, 6, 10, 9], &device); // [batch, channels, freq, time]
        let weight = Tensor::<4>::ones([4, 3, 3, 1], &device); // [c_out, c_in / groups, kh, kw]
        let bias = Tensor::<1>::zeros([4], &device);
        let (y, counted) = count_flops(|| {
            crate::kernels::conv2d(x.clone(), weight.clone(), bias.clone(), [2, 1], [(1, 0), (0, 0)], 2)
        });
        assert_eq!(y.dims(), [2, 4, 5, 9]);
        assert_eq!(counted, 2.0 * (2 * 4 * 5 * 9) as f64 * (3 * 3) as f64);
        let (_, outside) = count_flops(|| ());
        assert_eq!(outside, 0.0);
    }

    /// A real forward pass of the test encoder counts twice the work at batch 2 as at batch 1
    /// (every counted layer is per-example), and the projection head's dense layers are counted.
    #[test]
    fn forward_count_follows_the_batch_and_includes_dense_layers() {
        let device = Device::flex();
        let with_head = |dim: usize| {
            crate::LoevModelConfig::new(crate::EncoderConfig::test(), vec!["invariant".into()])
                .with_projection_dims(vec![dim])
        };
        let count = |config: &crate::LoevModelConfig, batch: usize| {
            let model = crate::LoevModel::try_init(config, &device, 0).expect("model");
            let input = Tensor::<4>::ones([batch, 1, 32, 64], &device); // [batch, 1, mels, frames]
            let (_, flops) = count_flops(|| model.forward(input, crate::ForwardMode::Eval));
            flops
        };
        let small = with_head(16);
        let one = count(&small, 1);
        let two = count(&small, 2);
        assert!(one > 0.0);
        assert!(
            (two - 2.0 * one).abs() <= 1e-9 * two,
            "batch 2 counted {two}, batch 1 {one}"
        );
        let wide = count(&with_head(32), 1);
        assert!(wide > one, "a wider projection head must count more: {wide} vs {one}");
    }
}
