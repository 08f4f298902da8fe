//! Primitive layers of the NF network: weight-standardised convolution with TF "SAME" padding,
//! the scaled GELU, dense layers and squeeze-excite.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};

use crate::init::ParamFactory;
use crate::kernels::{self, gelu};

/// Gain that makes GELU variance-preserving for unit-normal inputs (NFNet's "scaled activation").
pub const GELU_GAIN: f64 = 1.7015043497085571;

/// Floor of N·var inside the weight standardisation (MULE / NFNet: 1e-4).
pub const WS_EPS: f64 = 1e-4;

/// Scaled GELU: exact erf GELU × [`GELU_GAIN`].
pub fn scaled_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    gelu(x).mul_scalar(GELU_GAIN) // same shape as x, e.g. [batch, d]
}

/// TensorFlow "SAME" padding of one axis: output `ceil(len / stride)`, total padding
/// `max((out − 1)·stride + kernel − len, 0)`, the odd extra element going *after*.
pub fn same_padding(len: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = len.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(len);
    (total / 2, total - total / 2)
}

/// Weight-standardised 2-D convolution with per-output-channel gain and bias (NFNet `WSConv2D`).
///
/// The kernel used is `gain · (v − mean) / sqrt(max(N·var, 1e-4))`, with mean and population
/// variance over each output channel's `in/groups × kh × kw` weights and N that fan-in; it is
/// recomputed at every forward so that gradients flow through the standardisation.
#[derive(Module, Debug)]
pub struct WsConv2d {
    /// Raw kernel `[out, in / groups, kh, kw]` (kh along frequency, kw along time).
    pub weight: Param<Tensor<4>>,
    /// Per-output-channel gain (init 1).
    pub gain: Param<Tensor<1>>,
    /// Per-output-channel bias (init 0).
    pub bias: Param<Tensor<1>>,
    /// Stride [freq, time].
    pub stride: [usize; 2],
    /// Group count.
    pub groups: usize,
}

impl WsConv2d {
    /// A new layer; kernel drawn from VarianceScaling(1, fan_in, untruncated normal).
    pub(crate) fn new(
        factory: &mut ParamFactory,
        channels_in: usize,
        channels_out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        groups: usize,
    ) -> Self {
        let fan_in = channels_in / groups * kernel[0] * kernel[1];
        Self {
            weight: factory.normal(
                [channels_out, channels_in / groups, kernel[0], kernel[1]],
                (1.0 / fan_in as f64).sqrt(),
            ),
            gain: factory.constant([channels_out], 1.0),
            bias: factory.constant([channels_out], 0.0),
            stride,
            groups,
        }
    }

    /// The standardised kernel actually convolved with the input.
    pub fn standardized_weight(&self) -> Tensor<4> {
        let weight = self.weight.val(); // [out, in/groups, kh, kw]
        let [out, per_group, kh, kw] = weight.dims();
        let fan_in = per_group * kh * kw;
        let flat = weight.reshape([out, fan_in]); // [out, fan_in]
        let (var, mean) = flat.clone().var_mean_bias(1); // [out, 1] each
        // [out, 1] = 1 / sqrt(max(N·var, ε)) · gain
        let scale = var.mul_scalar(fan_in as f64).clamp_min(WS_EPS).sqrt().recip() * self.gain.val().reshape([out, 1]);
        ((flat - mean) * scale).reshape([out, per_group, kh, kw]) // [out, in/groups, kh, kw]
    }

    /// Convolves `x` `[batch, in, freq, time]` with TF "SAME" padding.
    ///
    /// Output `[batch, out, ⌈freq/stride[0]⌉, ⌈time/stride[1]⌉]` (SAME padding: the kernel size
    /// never changes the output size).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // x: [batch, in, freq, time]
        self.forward_scaled(x, 1.0) // [batch, out, ⌈freq/s_f⌉, ⌈time/s_t⌉]
    }

    /// `forward(input_scale · x)`, computed by scaling the (small) kernel instead of the (large)
    /// input: convolution is linear, so this folds the scaled-activation gain and β into the
    /// next convolution at no cost.
    pub fn forward_scaled(&self, x: Tensor<4>, input_scale: f64) -> Tensor<4> {
        // x: [batch, in, freq, time]
        let mut weight = self.standardized_weight(); // [out, in/groups, kh, kw]
        if input_scale != 1.0 {
            weight = weight.mul_scalar(input_scale); // [out, in/groups, kh, kw]
        }
        let [_, _, kh, kw] = weight.dims();
        let [_, _, height, width] = x.dims();
        let padding = [
            same_padding(height, kh, self.stride[0]),
            same_padding(width, kw, self.stride[1]),
        ];
        // [batch, out, ⌈freq/s_f⌉, ⌈time/s_t⌉]
        kernels::conv2d(x, weight, self.bias.val(), self.stride, padding, self.groups)
    }

    /// Output channels.
    pub fn channels_out(&self) -> usize {
        self.weight.dims()[0]
    }
}

/// Fully connected layer `x · W + b` (weights `[in, out]`).
#[derive(Module, Debug)]
pub struct Dense {
    /// Weights `[in, out]`.
    pub weight: Param<Tensor<2>>,
    /// Bias `[out]`, absent for bias-free layers.
    pub bias: Option<Param<Tensor<1>>>,
}

impl Dense {
    /// Keras' default Dense initialisation: Glorot-uniform weights, zero bias.
    pub(crate) fn glorot(factory: &mut ParamFactory, d_in: usize, d_out: usize) -> Self {
        let limit = (6.0 / (d_in + d_out) as f64).sqrt();
        Self {
            weight: factory.uniform([d_in, d_out], limit),
            bias: Some(factory.constant([d_out], 0.0)),
        }
    }

    /// MULE's final projection layer: N(0, 0.01²) weights, no bias.
    pub(crate) fn small_normal_no_bias(factory: &mut ParamFactory, d_in: usize, d_out: usize) -> Self {
        Self {
            weight: factory.normal([d_in, d_out], 0.01),
            bias: None,
        }
    }

    /// Applies the layer to `[batch, in]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [rows, inputs] = x.dims();
        let outputs = self.weight.dims()[1];
        crate::flops::add(2.0 * (rows * inputs * outputs) as f64);
        // x: [batch, in]
        let y = x.matmul(self.weight.val()); // [batch, out]
        match &self.bias {
            Some(bias) => y + bias.val().unsqueeze_dim(0), // [batch, out] + [1, out] → [batch, out]
            None => y,                                     // [batch, out]
        }
    }
}

/// Squeeze-excite: global average pool → Dense(C·ratio, ReLU) → Dense(C, sigmoid) → × 2,
/// broadcast-multiplied with the input.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    /// Squeeze layer.
    pub squeeze: Dense,
    /// Excite layer.
    pub excite: Dense,
}

/// Global average pooling: the mean over frequency and time, `[batch, C, F, T]` → `[batch, C]`.
///
/// Written as one reduction over a flattened axis rather than `mean_dims(&[2, 3])`: on burn
/// 0.22.1's GPU backends the two-axis reduction returned wrong values (the same mean repeated
/// across channels) for the LOEV++ branch outputs on Mesa's llvmpipe, while single-axis
/// reductions were exact (`crates/train/tests/software_gpu.rs` compares the embeddings).
pub fn spatial_mean(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, freq, time] = x.dims();
    x.reshape([batch, channels, freq * time]) // [batch, C, F·T]
        .mean_dim(2) // [batch, C, 1]
        .reshape([batch, channels]) // [batch, C]
}

impl SqueezeExcite {
    pub(crate) fn new(factory: &mut ParamFactory, channels: usize, hidden: usize) -> Self {
        Self {
            squeeze: Dense::glorot(factory, channels, hidden),
            excite: Dense::glorot(factory, hidden, channels),
        }
    }

    /// The sigmoid gate `[batch, C]` of `x` `[batch, C, F, T]` (before MULE's × 2, which callers
    /// fold into their own scale).
    pub fn gate(&self, x: &Tensor<4>) -> Tensor<2> {
        let pooled = spatial_mean(x.clone()); // [batch, C]
        // squeeze → [batch, se_hidden] (ReLU), excite → [batch, C] (sigmoid)
        sigmoid(self.excite.forward(relu(self.squeeze.forward(pooled)))) // [batch, C]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // TensorFlow's SAME padding for a 96×300 input: total = max((ceil(n/s) − 1)·s + k − n, 0), the extra
        // pixel at the end.
        assert_eq!(same_padding(96, 3, 2), (0, 1));
        assert_eq!(same_padding(300, 1, 8), (0, 0));
        assert_eq!(same_padding(48, 3, 1), (1, 1));
        assert_eq!(same_padding(38, 3, 2), (0, 1));
        assert_eq!(same_padding(75, 7, 4), (2, 2));
        assert_eq!(same_padding(24, 3, 2), (0, 1));
        assert_eq!(same_padding(25, 1, 2), (0, 0));
        assert_eq!(same_padding(5, 1, 1), (0, 0));
    }
}
