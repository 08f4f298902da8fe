//! The SF-NFNet-F0 encoder: slow and fast stems, four fast→slow fusions, four stages per path,
//! pooled concat + scaled GELU; optionally with LOEV++ branches in the last stage.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::block::{BlockSpec, NfBlock, keep_tensor, stochastic_depth_keep};
use crate::config::{EncoderConfig, NUM_STAGES, Path};
use crate::error::ModelError;
use crate::init::ParamFactory;
use crate::kernels::gelu;
use crate::layers::{GELU_GAIN, WsConv2d, scaled_gelu, spatial_mean};

/// Kernels and strides [freq, time] of the slow stem (MULE: time stride 8 folded into conv 0).
pub const SLOW_STEM: [([usize; 2], [usize; 2]); 4] =
    [([3, 1], [2, 8]), ([3, 1], [1, 1]), ([3, 1], [1, 1]), ([3, 3], [2, 2])];
/// Kernels and strides [freq, time] of the fast stem.
pub const FAST_STEM: [([usize; 2], [usize; 2]); 4] =
    [([3, 3], [2, 2]), ([3, 3], [1, 1]), ([3, 3], [1, 1]), ([3, 3], [2, 2])];
/// Fusion kernel [1,7] and stride [1,4]: brings the fast time axis to the slow one (×4).
pub const FUSION_KERNEL: [usize; 2] = [1, 7];
/// Fusion stride [1,4].
pub const FUSION_STRIDE: [usize; 2] = [1, 4];

/// How a forward pass treats stochastic depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// Every residual kept (inference, evaluation).
    Eval,
    /// Training: residuals dropped per example; `seed` drives the masks (use a new seed per step).
    Train {
        /// Seed of this forward pass's stochastic-depth masks.
        seed: u64,
    },
    /// Training on the examples `[first, first + batch)` of a batch of `total` examples split
    /// across devices: each block's keep mask is drawn for the whole batch and sliced, so the
    /// shards of a data-parallel step compute exactly what one device computes on the whole
    /// batch. `Train { seed }` is the shard `first = 0, total = batch`.
    TrainShard {
        /// Seed of the whole batch's stochastic-depth masks.
        seed: u64,
        /// Index of this shard's first example in the whole batch.
        first: usize,
        /// Examples in the whole batch.
        total: usize,
    },
}

impl ForwardMode {
    /// The seed and shard position `(seed, first, total)` of a training pass over `batch`
    /// examples; `None` in evaluation.
    fn shard(self, batch: usize) -> Option<(u64, usize, usize)> {
        match self {
            ForwardMode::Eval => None,
            ForwardMode::Train { seed } => Some((seed, 0, batch)),
            ForwardMode::TrainShard { seed, first, total } => Some((seed, first, total)),
        }
    }
}

/// Four convolutions, scaled GELU after all but the last.
#[derive(Module, Debug)]
pub struct Stem {
    /// The convolutions in order.
    pub convs: Vec<WsConv2d>,
}

impl Stem {
    fn new(factory: &mut ParamFactory, channels: [usize; 4], layout: &[([usize; 2], [usize; 2]); 4]) -> Self {
        let mut channels_in = 1;
        let convs = channels
            .iter()
            .zip(layout)
            .map(|(&channels_out, &(kernel, stride))| {
                let conv = WsConv2d::new(factory, channels_in, channels_out, kernel, stride, 1);
                channels_in = channels_out;
                conv
            })
            .collect();
        Self { convs }
    }

    /// `[batch, 1, F, T]` → slow stem `[batch, slow_stem[3], ⌈F/4⌉, ⌈T/16⌉]` (strides [2,8], 1, 1,
    /// [2,2]) or fast stem `[batch, fast_stem[3], ⌈F/4⌉, ⌈T/4⌉]` (strides [2,2], 1, 1, [2,2]).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x; // [batch, 1, F, T]
        for (i, conv) in self.convs.iter().enumerate() {
            // conv i (stride [s_f, s_t]): [batch, C_{i−1}, F_i, T_i] → [batch, C_i, ⌈F_i/s_f⌉, ⌈T_i/s_t⌉]
            h = if i == 0 {
                conv.forward(h) // slow: [batch, C_0, ⌈F/2⌉, ⌈T/8⌉]; fast: [batch, C_0, ⌈F/2⌉, ⌈T/2⌉]
            } else {
                conv.forward_scaled(gelu(h), GELU_GAIN) // [batch, C_i, ⌈F_i/s_f⌉, ⌈T_i/s_t⌉]
            };
        }
        h // slow: [batch, C_3, ⌈F/4⌉, ⌈T/16⌉]; fast: [batch, C_3, ⌈F/4⌉, ⌈T/4⌉]
    }
}

/// Fast→slow lateral connection: WSConv [1,7] stride [1,4], then WSConv 1×1 (no activations).
#[derive(Module, Debug)]
pub struct Fusion {
    /// The strided temporal convolution.
    pub temporal: WsConv2d,
    /// The 1×1 channel expansion.
    pub expand: WsConv2d,
}

impl Fusion {
    /// Fast features `[batch, C_fast, F_k, ⌈T/4⌉]` → `[batch, fusion_k · expansion_k, F_k, ⌈T/16⌉]`,
    /// the slow path's time resolution.
    fn forward(&self, fast: Tensor<4>) -> Tensor<4> {
        // fast: [batch, C_fast, F_k, ⌈T/4⌉]
        // temporal [1,7] s[1,4] → [batch, fusion_k, F_k, ⌈T/16⌉]
        // expand 1×1 → [batch, fusion_k · expansion_k, F_k, ⌈T/16⌉]
        self.expand.forward(self.temporal.forward(fast))
    }
}

/// A run of NF blocks; `first_index` is the path-wide index of its first block (stochastic depth).
#[derive(Module, Debug)]
pub struct Stage {
    /// The blocks in order.
    pub blocks: Vec<NfBlock>,
    /// Path-wide index of `blocks[0]`.
    pub first_index: usize,
}

/// Where a run of blocks sits, for its stochastic-depth streams.
#[derive(Debug, Clone, Copy)]
struct StreamId {
    path: Path,
    /// 0 for the shared trunk, 1 + k for LOEV++ branch k.
    branch: usize,
}

impl Stage {
    /// `[batch, C_in, F, T]` → `[batch, width, ⌈F/d⌉, T]`, `d` the stage's frequency downsample
    /// (carried by block 0; LOEV++ branch stages start at block 1, so `d = 1` for them).
    fn forward(&self, x: Tensor<4>, mode: ForwardMode, stream: StreamId) -> Tensor<4> {
        let mut h = x; // [batch, C_in, F, T]
        for (offset, block) in self.blocks.iter().enumerate() {
            let index = self.first_index + offset;
            let batch = h.dims()[0];
            let p = block.drop_probability;
            let keep = mode.shard(batch).filter(|_| p > 0.0).map(|(seed, first, total)| {
                assert!(
                    first + batch <= total,
                    "shard [{first}, {}) outside a batch of {total}",
                    first + batch
                );
                // The first draws of a stream do not depend on its length, so a whole batch's
                // mask sliced equals the shard's own.
                let keep = stochastic_depth_keep(seed, &block_stream(stream, index), total, p);
                keep_tensor(&keep[first..first + batch], &h.device()) // [batch]
            });
            // block 0: [batch, C_in, F, T] → [batch, width, ⌈F/d⌉, T]; later blocks keep the shape
            h = block.forward(h, keep);
        }
        h // [batch, width, ⌈F/d⌉, T]
    }
}

fn block_stream(stream: StreamId, index: usize) -> [u64; 3] {
    let path = match stream.path {
        Path::Slow => 0,
        Path::Fast => 1,
    };
    [path, stream.branch as u64, index as u64]
}

/// The per-example keep decisions of every block of a forward pass in training mode, in the
/// order (path, branch, block): what [`SfNfNet`] multiplies the residuals with. Exposed so that
/// tests and diagnostics can see which examples dropped which blocks.
pub fn training_keep_masks(config: &EncoderConfig, branches: usize, batch: usize, seed: u64) -> Vec<KeepMask> {
    let mut masks = Vec::new();
    let last_stage_start = config.num_blocks() - config.depths[NUM_STAGES - 1];
    for path in [Path::Slow, Path::Fast] {
        for index in 0..config.num_blocks() {
            let in_branch = branches > 0 && index > last_stage_start;
            let branch_ids: Vec<usize> = if in_branch { (1..=branches).collect() } else { vec![0] };
            for branch in branch_ids {
                let p = config.drop_probability(index);
                let keep = stochastic_depth_keep(seed, &block_stream(StreamId { path, branch }, index), batch, p);
                masks.push(KeepMask {
                    path,
                    branch,
                    block: index,
                    keep,
                });
            }
        }
    }
    masks
}

/// Keep decisions of one block (see [`training_keep_masks`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KeepMask {
    /// Slow or fast path.
    pub path: Path,
    /// 0 = shared trunk, 1 + k = LOEV++ branch k.
    pub branch: usize,
    /// Path-wide block index (0 … num_blocks − 1).
    pub block: usize,
    /// `keep[b]` is false when example b drops this block's residual.
    pub keep: Vec<bool>,
}

/// Shapes `[batch, channels, freq, time]` of the stem and stage outputs of both paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeatureShapes {
    /// Slow stem output.
    pub slow_stem: [usize; 4],
    /// Fast stem output.
    pub fast_stem: [usize; 4],
    /// Slow stage outputs (for LOEV++, the last is branch 0's).
    pub slow_stages: Vec<[usize; 4]>,
    /// Fast stage outputs (for LOEV++, the last is branch 0's).
    pub fast_stages: Vec<[usize; 4]>,
}

/// SF-NFNet-F0 (MULE Keras layout); with LOEV++ branches when built with `branches > 0`.
#[derive(Module, Debug)]
pub struct SfNfNet {
    /// Slow stem.
    pub slow_stem: Stem,
    /// Fast stem.
    pub fast_stem: Stem,
    /// Fusion k feeds slow stage k.
    pub fusions: Vec<Fusion>,
    /// Slow stages; with LOEV++ the last holds only its shared block 0.
    pub slow_stages: Vec<Stage>,
    /// Fast stages; with LOEV++ the last holds only its shared block 0.
    pub fast_stages: Vec<Stage>,
    /// LOEV++: per branch, blocks 1… of the last slow stage (empty otherwise).
    pub slow_branches: Vec<Stage>,
    /// LOEV++: per branch, blocks 1… of the last fast stage (empty otherwise).
    pub fast_branches: Vec<Stage>,
}

impl SfNfNet {
    /// Builds the encoder; `branches` > 0 duplicates blocks 1… of the last stage that many times.
    pub(crate) fn new(config: &EncoderConfig, branches: usize, factory: &mut ParamFactory) -> Result<Self, ModelError> {
        config.validate()?;
        let slow_stem = Stem::new(factory, config.slow_stem_channels, &SLOW_STEM);
        let fast_stem = Stem::new(factory, config.fast_stem_channels, &FAST_STEM);
        let betas = config.betas();

        let mut fusions = Vec::with_capacity(NUM_STAGES);
        let mut slow_stages = Vec::with_capacity(NUM_STAGES);
        let mut fast_stages = Vec::with_capacity(NUM_STAGES);
        let mut slow_branches = Vec::new();
        let mut fast_branches = Vec::new();
        let mut slow_in = config.slow_stem_channels[3];
        let mut fast_in = config.fast_stem_channels[3];
        let mut first_index = 0;
        for (stage, stage_betas) in betas.iter().enumerate() {
            let fusion_out = config.fusion_out_channels(stage);
            fusions.push(Fusion {
                temporal: WsConv2d::new(
                    factory,
                    fast_in,
                    config.fusion_channels[stage],
                    FUSION_KERNEL,
                    FUSION_STRIDE,
                    1,
                ),
                expand: WsConv2d::new(factory, config.fusion_channels[stage], fusion_out, [1, 1], [1, 1], 1),
            });
            slow_in += fusion_out;
            let last = stage == NUM_STAGES - 1;
            for (path, channels_in, stages, branch_stages) in [
                (Path::Slow, &mut slow_in, &mut slow_stages, &mut slow_branches),
                (Path::Fast, &mut fast_in, &mut fast_stages, &mut fast_branches),
            ] {
                let shape = config.stage_shape(path, stage)?;
                let spec = |block: usize, channels_in: usize| BlockSpec {
                    channels_in,
                    channels_out: shape.width,
                    bottleneck: shape.bottleneck,
                    groups: shape.groups,
                    se_hidden: config.se_hidden(shape.width),
                    freq_stride: if block == 0 { config.freq_downsamples[stage] } else { 1 },
                    transition: block == 0,
                    beta: stage_betas[block],
                    alpha: config.alpha,
                    drop_probability: config.drop_probability(first_index + block),
                };
                let trunk_depth = if last && branches > 0 { 1 } else { config.depths[stage] };
                let mut blocks = Vec::with_capacity(trunk_depth);
                let mut c_in = *channels_in;
                for block in 0..trunk_depth {
                    blocks.push(NfBlock::new(factory, spec(block, c_in)));
                    c_in = shape.width;
                }
                stages.push(Stage { blocks, first_index });
                if last && branches > 0 {
                    for _ in 0..branches {
                        let blocks = (1..config.depths[stage])
                            .map(|block| NfBlock::new(factory, spec(block, shape.width)))
                            .collect();
                        branch_stages.push(Stage {
                            blocks,
                            first_index: first_index + 1,
                        });
                    }
                }
                *channels_in = shape.width;
            }
            first_index += config.depths[stage];
        }
        Ok(Self {
            slow_stem,
            fast_stem,
            fusions,
            slow_stages,
            fast_stages,
            slow_branches,
            fast_branches,
        })
    }

    /// Number of LOEV++ branches (0 for a plain encoder).
    pub fn num_branches(&self) -> usize {
        self.slow_branches.len()
    }

    /// Pooled embeddings `[batch, d_E]` of `x` `[batch, 1, n_mels, n_frames]`: one for a plain
    /// encoder (V), one per branch (V^k) for LOEV++.
    pub fn forward(&self, x: Tensor<4>, mode: ForwardMode) -> Vec<Tensor<2>> {
        // x: [batch, 1, F, T]
        self.forward_recorded(x, mode, None) // 1 or num_branches × [batch, d_E]
    }

    /// Runs an eval forward pass and reports the stem and stage output shapes.
    pub fn feature_shapes(&self, x: Tensor<4>) -> FeatureShapes {
        let mut shapes = FeatureShapes::default();
        self.forward_recorded(x, ForwardMode::Eval, Some(&mut shapes));
        shapes
    }

    fn forward_recorded(
        &self,
        x: Tensor<4>,
        mode: ForwardMode,
        mut record: Option<&mut FeatureShapes>,
    ) -> Vec<Tensor<2>> {
        // Shapes with F = n_mels, T = frames, every "/" rounding up (TF SAME padding); the
        // numbers in brackets are the full F0's channels (96 × 300 gives F/4 = 24, T/16 = 19,
        // T/4 = 75). Frequency after stage k: F/4, F/8, F/16, F/32 (downsamples 1, 2, 2, 2).
        //
        // x: [batch, 1, F, T]
        let mut slow = self.slow_stem.forward(x.clone()); // [batch, slow_stem[3] (128), F/4, T/16]
        let mut fast = self.fast_stem.forward(x); // [batch, fast_stem[3] (16), F/4, T/4]
        if let Some(r) = record.as_deref_mut() {
            r.slow_stem = slow.dims();
            r.fast_stem = fast.dims();
        }
        let trunk_slow = StreamId {
            path: Path::Slow,
            branch: 0,
        };
        let trunk_fast = StreamId {
            path: Path::Fast,
            branch: 0,
        };
        for stage in 0..NUM_STAGES {
            // F_k = frequency entering stage k (F/4, F/4, F/8, F/16); d_k = freq_downsamples[k]
            // fused: [batch, fusion_out_k (128, 256, 512, 3072), F_k, T/16]
            let fused = self.fusions[stage].forward(fast.clone());
            // [batch, C_slow + fusion_out_k (256, 512, 1024, 4608), F_k, T/16]
            slow = Tensor::cat(vec![slow, fused], 1);
            // [batch, slow_widths[k] (256, 512, 1536, 1536), F_k/d_k, T/16]; LOEV++ last stage: block 0 only
            slow = self.slow_stages[stage].forward(slow, mode, trunk_slow);
            // [batch, fast_widths[k] (32, 64, 192, 192), F_k/d_k, T/4]; LOEV++ last stage: block 0 only
            fast = self.fast_stages[stage].forward(fast, mode, trunk_fast);
            if let Some(r) = record.as_deref_mut()
                && (stage < NUM_STAGES - 1 || self.num_branches() == 0)
            {
                r.slow_stages.push(slow.dims());
                r.fast_stages.push(fast.dims());
            }
        }
        // slow: [batch, slow_widths[3] (1536), F/32, T/16]; fast: [batch, fast_widths[3] (192), F/32, T/4]
        if self.num_branches() == 0 {
            return vec![pool(slow, fast)]; // [batch, d_E (1728)]
        }
        (0..self.num_branches())
            .map(|k| {
                let branch_slow = StreamId {
                    path: Path::Slow,
                    branch: k + 1,
                };
                let branch_fast = StreamId {
                    path: Path::Fast,
                    branch: k + 1,
                };
                // blocks 1… of the last stage, no downsampling:
                // s: [batch, slow_widths[3] (1536), F/32, T/16]; f: [batch, fast_widths[3] (192), F/32, T/4]
                let s = self.slow_branches[k].forward(slow.clone(), mode, branch_slow);
                let f = self.fast_branches[k].forward(fast.clone(), mode, branch_fast);
                if k == 0
                    && let Some(r) = record.as_deref_mut()
                {
                    r.slow_stages.push(s.dims());
                    r.fast_stages.push(f.dims());
                }
                pool(s, f) // V^k: [batch, d_E (1728)]
            })
            .collect()
    }
}

/// GAP(slow) ‖ GAP(fast) → scaled GELU.
fn pool(slow: Tensor<4>, fast: Tensor<4>) -> Tensor<2> {
    let slow = spatial_mean(slow); // [batch, C_slow]
    let fast = spatial_mean(fast); // [batch, C_fast]
    scaled_gelu(Tensor::cat(vec![slow, fast], 1)) // [batch, C_slow + C_fast] = [batch, d_E]
}
