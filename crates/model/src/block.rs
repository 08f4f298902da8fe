//! The normaliser-free bottleneck block and per-example stochastic depth.

use burn::module::{Module, Param};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use loev_core::rng::derived_rng;
use rand::RngExt;

use crate::init::ParamFactory;
use crate::kernels::gelu;
use crate::layers::{GELU_GAIN, SqueezeExcite, WsConv2d, same_padding};

/// Kernels [freq, time] of a block's conv0, conv1, conv1b and conv2 (every stage, both paths).
pub const BLOCK_KERNELS: [[usize; 2]; 4] = [[1, 1], [1, 3], [3, 1], [1, 1]];

/// Shape and constants of one block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSpec {
    pub channels_in: usize,
    pub channels_out: usize,
    pub bottleneck: usize,
    pub groups: usize,
    pub se_hidden: usize,
    pub freq_stride: usize,
    pub transition: bool,
    pub beta: f64,
    pub alpha: f64,
    pub drop_probability: f64,
}

/// NF bottleneck block (pre-activation), MULE layout:
/// `h = β·act(x)`; `f(h) = conv0 1×1 → act → conv1 [1,3] (freq stride) → act → conv1b [3,1] →
/// act → conv2 1×1 → SE(×2) → × skip_gain → × α`; output = shortcut + keep·f(h), where the
/// shortcut is `x`, or for a transition block `WSConv1×1(AvgPool(h))`.
///
/// Scalar factors never touch the large activations: `β·1.7015` and `1.7015` are folded into the
/// kernels of the convolutions that read the activations, and `2·skip_gain·α·keep` into the
/// per-example, per-channel squeeze-excite gate.
#[derive(Module, Debug)]
pub struct NfBlock {
    /// 1×1 reduction to the bottleneck width.
    pub conv0: WsConv2d,
    /// [1,3] (time) grouped convolution, carries the frequency stride.
    pub conv1: WsConv2d,
    /// [3,1] (frequency) grouped convolution.
    pub conv1b: WsConv2d,
    /// 1×1 expansion to the output width.
    pub conv2: WsConv2d,
    /// Squeeze-excite on the residual.
    pub se: SqueezeExcite,
    /// 1×1 projection of the transition shortcut (transition blocks only).
    pub shortcut: Option<WsConv2d>,
    /// SkipInit learnable residual gain, init 0 (shape `[1]`).
    pub skip_gain: Param<Tensor<1>>,
    /// Input scale β = 1 / expected std.
    pub beta: f64,
    /// Residual scale α.
    pub alpha: f64,
    /// Frequency stride of the block (1 or the stage downsample).
    pub freq_stride: usize,
    /// Stochastic-depth drop probability of this block in training.
    pub drop_probability: f64,
}

impl NfBlock {
    pub(crate) fn new(factory: &mut ParamFactory, spec: BlockSpec) -> Self {
        let BlockSpec {
            channels_in,
            channels_out,
            bottleneck,
            groups,
            se_hidden,
            freq_stride,
            transition,
            beta,
            alpha,
            drop_probability,
        } = spec;
        let [k0, k1, k1b, k2] = BLOCK_KERNELS;
        let conv0 = WsConv2d::new(factory, channels_in, bottleneck, k0, [1, 1], 1);
        let conv1 = WsConv2d::new(factory, bottleneck, bottleneck, k1, [freq_stride, 1], groups);
        let conv1b = WsConv2d::new(factory, bottleneck, bottleneck, k1b, [1, 1], groups);
        let conv2 = WsConv2d::new(factory, bottleneck, channels_out, k2, [1, 1], 1);
        let shortcut = transition.then(|| WsConv2d::new(factory, channels_in, channels_out, [1, 1], [1, 1], 1));
        let se = SqueezeExcite::new(factory, channels_out, se_hidden);
        let skip_gain = factory.constant([1], 0.0);
        Self {
            conv0,
            conv1,
            conv1b,
            conv2,
            se,
            shortcut,
            skip_gain,
            beta,
            alpha,
            freq_stride,
            drop_probability,
        }
    }

    /// Applies the block to `x` `[batch, C_in, F, T]`. `keep` is the per-example stochastic-depth
    /// mask `[batch]` (1 keeps the residual, 0 drops it); `None` keeps every residual (eval).
    ///
    /// Output `[batch, C_out, ⌈F/s⌉, T]` with `s` the block's `freq_stride` (time is never strided);
    /// a non-transition block has `C_in = C_out` and `s = 1`.
    pub fn forward(&self, x: Tensor<4>, keep: Option<Tensor<1>>) -> Tensor<4> {
        // x: [batch, C_in, F, T]; keep: [batch]
        let activated = gelu(x.clone()); // [batch, C_in, F, T]
        let input_scale = self.beta * GELU_GAIN;
        let shortcut = match &self.shortcut {
            // avg pool [batch, C_in, ⌈F/s⌉, T] → 1×1 conv [batch, C_out, ⌈F/s⌉, T]
            Some(conv) => conv.forward_scaled(avg_pool_freq(activated.clone(), self.freq_stride), input_scale),
            None => x, // [batch, C_in, F, T] (= [batch, C_out, F, T])
        };
        let h = self.conv0.forward_scaled(activated, input_scale); // [batch, bottleneck, F, T]
        let h = self.conv1.forward_scaled(gelu(h), GELU_GAIN); // [batch, bottleneck, ⌈F/s⌉, T]
        let h = self.conv1b.forward_scaled(gelu(h), GELU_GAIN); // [batch, bottleneck, ⌈F/s⌉, T]
        let h = self.conv2.forward_scaled(gelu(h), GELU_GAIN); // [batch, C_out, ⌈F/s⌉, T]
        let residual = self.scale_residual(h, keep); // [batch, C_out, ⌈F/s⌉, T]
        shortcut + residual // [batch, C_out, ⌈F/s⌉, T]
    }

    /// `SE(h) · skip_gain · α · keep` with all scalars folded into the `[batch, C]` gate.
    fn scale_residual(&self, h: Tensor<4>, keep: Option<Tensor<1>>) -> Tensor<4> {
        // h: [batch, C, F, T]; keep: [batch]
        let [batch, channels, _, _] = h.dims();
        let gate = self.se.gate(&h); // [batch, C]
        let scalar = self.skip_gain.val().mul_scalar(2.0 * self.alpha).reshape([1, 1]); // [1, 1]
        let gate = match keep {
            Some(keep) => gate * scalar * keep.reshape([batch, 1]), // [batch, C] · [1, 1] · [batch, 1] → [batch, C]
            None => gate * scalar,                                  // [batch, C] · [1, 1] → [batch, C]
        };
        h * gate.reshape([batch, channels, 1, 1]) // [batch, C, F, T] · [batch, C, 1, 1] → [batch, C, F, T]
    }
}

/// TF-"SAME" average pooling of window and stride `[stride, 1]` (padding excluded from the mean).
///
/// The MULE case, stride 2, is a reshape + mean (cheap forward and backward); an odd height gets
/// its last row repeated, which equals TF's mean over the one valid row of the last window.
pub(crate) fn avg_pool_freq(x: Tensor<4>, stride: usize) -> Tensor<4> {
    // x: [batch, C, F, T] (height = F, width = T)
    let [batch, channels, height, width] = x.dims();
    match stride {
        1 => x, // [batch, C, F, T]
        2 => {
            let x = if height % 2 == 1 {
                let last = x.clone().slice([0..batch, 0..channels, height - 1..height, 0..width]); // [batch, C, 1, T]
                Tensor::cat(vec![x, last], 2) // [batch, C, F + 1, T]
            } else {
                x // [batch, C, F, T]
            };
            let out = height.div_ceil(2);
            x.reshape([batch, channels, out, 2, width]) // [batch, C, ⌈F/2⌉, 2, T]
                .mean_dim(3) // [batch, C, ⌈F/2⌉, 1, T]
                .reshape([batch, channels, out, width]) // [batch, C, ⌈F/2⌉, T]
        }
        _ => {
            let pad = same_padding(height, stride, stride);
            // [batch, C, ⌈F/stride⌉, T]
            avg_pool2d(
                x,
                AvgPoolOptions::new([stride, 1])
                    .with_padding_pairs([pad, (0, 0)])
                    .with_count_include_pad(false),
            )
        }
    }
}

/// Per-example stochastic-depth decisions for one block: `true` keeps the residual.
///
/// Drawn on the host from the stream `(seed, stream)` so that the same forward seed gives the same
/// masks on every backend; `drop_probability` 0 keeps everything.
pub fn stochastic_depth_keep(seed: u64, stream: &[u64], batch: usize, drop_probability: f64) -> Vec<bool> {
    if drop_probability <= 0.0 {
        return vec![true; batch];
    }
    let mut rng = derived_rng(seed, stream);
    (0..batch)
        .map(|_| !rng.random_bool(drop_probability.min(1.0)))
        .collect()
}

/// Uploads a keep mask as a float tensor `[batch]`.
pub(crate) fn keep_tensor(keep: &[bool], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
    Tensor::from_data(TensorData::new(values, [keep.len()]), device) // [batch]
}
