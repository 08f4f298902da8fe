//! loev-model: MULE's SF-NFNet-F0 encoder, LOEV projection heads and LOEV++ branches, in burn.
//!
//! The encoder follows MULE's Keras network (`SfNfNetF0`) exactly:
//! weight-standardised convolutions with TF "SAME" padding, scaled GELU, NF bottleneck blocks
//! with MULE's β schedule, SkipInit, squeeze-excite × 2 and per-example stochastic depth, slow and
//! fast stems, four fast→slow fusions, pooled concat → 1728. Inputs are `[batch, 1, n_mels,
//! n_frames]` (96 × 300 by default; any size works, e.g. 128 × 400).
//!
//! ```no_run
//! use burn::tensor::{Device, Tensor};
//! use loev_model::{EncoderConfig, ForwardMode, LoevModel, LoevModelConfig};
//!
//! let device = Device::flex().autodiff();
//! let config = LoevModelConfig::new(EncoderConfig::tiny(), vec!["invariant".into()]);
//! let model = LoevModel::init(&config, &device, 42);
//! let out = model.forward(Tensor::zeros([2, 1, 96, 300], &device), ForwardMode::Train { seed: 7 });
//! assert_eq!(out.projections[0].dims(), [2, 512]);
//! ```
//!
//! * **Sizes**: [`EncoderConfig::full`] (62,345,742 parameters, d_E = 1728),
//!   [`EncoderConfig::tiny`] (demo / CPU training, 0.55 M, d_E = 216),
//!   [`EncoderConfig::test`] (unit tests, 0.12 M, d_E = 120), [`EncoderConfig::scaled`].
//! * **LOEV++** ([`LoevModelConfig::plusplus`]): blocks 1… of the last stage of both paths are
//!   duplicated per head; [`ModelOutput::branch_embeddings`] holds V^k and
//!   [`ModelOutput::embedding`] is V^++ (their concatenation).
//! * **Determinism**: weights come from per-parameter streams of `loev_core::rng` seeded by
//!   [`LoevModel::init`]'s seed, stochastic-depth masks from [`ForwardMode::Train`]'s seed; the
//!   same seeds give the same numbers on every thread count.
//! * **Files**: [`LoevModel::save`] writes safetensors with the configuration in the header;
//!   [`LoevModel::load`] / [`LoevModel::load_into`] read them back (mismatches name the tensor).
//! * **Devices**: [`select_device`] (`cpu` = burn-flex, `cuda:N` with the `cuda` feature, `vulkan:N` /
//!   `opengl` with the `vulkan` feature; see the `device` module). The model
//!   code is the same everywhere; on burn-flex, GELU and convolution run custom kernels with
//!   hand-written backward passes (module `kernels`), 2–3× faster per training step than
//!   burn-flex's own (`loev bench model --burn-kernels` measures both).
mod block;
mod config;
mod device;
mod encoder;
mod error;
pub mod flops;
mod init;
mod io;
mod kernels;
mod layers;
mod model;
#[cfg(test)]
mod numerics_tests;

pub use block::{BLOCK_KERNELS, NfBlock, stochastic_depth_keep};
pub use config::{EncoderConfig, LoevModelConfig, MIN_SCALED_WIDTH, NUM_STAGES, Path};
pub use device::{DeviceChoice, GpuAdapter, check_device, open_device, parse_device_list, select_device};
pub use encoder::{
    FAST_STEM, FUSION_KERNEL, FUSION_STRIDE, FeatureShapes, ForwardMode, Fusion, KeepMask, SLOW_STEM, SfNfNet, Stage,
    Stem, training_keep_masks,
};
pub use error::ModelError;
pub use io::{parameter_shapes, read_config, read_extra_metadata};
pub use kernels::{custom_kernels_enabled, set_custom_kernels};
pub use layers::{Dense, GELU_GAIN, SqueezeExcite, WS_EPS, WsConv2d, same_padding, scaled_gelu};
pub use model::{LoevModel, ModelOutput, ProjectionHead};
