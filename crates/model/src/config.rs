//! Encoder and model configuration (serde structs; defaults are MULE's SF-NFNet-F0).

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Number of stages of each path (fixed by the SF-NFNet topology).
pub const NUM_STAGES: usize = 4;

/// Smallest channel count [`EncoderConfig::scaled`] produces: a weight-standardised 1×1
/// convolution with a single input channel has a zero kernel.
pub const MIN_SCALED_WIDTH: usize = 2;

/// Shape of the SF-NFNet-F0 encoder (MULE's Keras network `SfNfNetF0`, layer for layer).
///
/// Every width is explicit so that small variants keep the exact topology: both paths, the four
/// fast→slow fusions, four stages, squeeze-excite and stochastic depth. Build small variants with
/// [`EncoderConfig::scaled`] rather than by hand, so that the group structure stays valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Output channels of the four slow-stem convolutions ([3,1] s[2,8], [3,1], [3,1], [3,3] s[2,2]).
    pub slow_stem_channels: [usize; NUM_STAGES],
    /// Output channels of the four fast-stem convolutions (all [3,3]; strides [2,2], 1, 1, [2,2]).
    pub fast_stem_channels: [usize; NUM_STAGES],
    /// Output channels of the four slow stages.
    pub slow_widths: [usize; NUM_STAGES],
    /// Output channels of the four fast stages.
    pub fast_widths: [usize; NUM_STAGES],
    /// Blocks per stage (shared by both paths).
    pub depths: [usize; NUM_STAGES],
    /// Channels per group of the grouped [1,3]/[3,1] convolutions on the slow path.
    pub slow_group_width: usize,
    /// Channels per group of the grouped [1,3]/[3,1] convolutions on the fast path.
    pub fast_group_width: usize,
    /// Output channels of each fusion's [1,7] stride-[1,4] convolution (fusion k precedes slow stage k).
    pub fusion_channels: [usize; NUM_STAGES],
    /// Channel expansion of each fusion's 1×1 convolution (MULE: 4, 8, 8, 16 → 128, 256, 512, 3072).
    pub fusion_expansions: [usize; NUM_STAGES],
    /// Frequency stride of the first block of each stage (time is never strided in stages).
    pub freq_downsamples: [usize; NUM_STAGES],
    /// Bottleneck width as a fraction of a block's output channels.
    pub bottleneck_ratio: f64,
    /// Residual scale α of every NF block.
    pub alpha: f64,
    /// Drop probability of the last block of a path; block i of n drops with rate·i/n.
    pub stochastic_depth_rate: f64,
    /// Squeeze-excite hidden width as a fraction of the block's output channels.
    pub se_ratio: f64,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self::full()
    }
}

/// A stage width and its group count, derived from a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StageShape {
    pub width: usize,
    pub bottleneck: usize,
    pub groups: usize,
}

impl EncoderConfig {
    /// MULE's SF-NFNet-F0: 62,345,742 parameters, embedding dimension 1728.
    pub fn full() -> Self {
        Self {
            slow_stem_channels: [16, 32, 64, 128],
            fast_stem_channels: [2, 4, 8, 16],
            slow_widths: [256, 512, 1536, 1536],
            fast_widths: [32, 64, 192, 192],
            depths: [1, 2, 6, 3],
            slow_group_width: 128,
            fast_group_width: 16,
            fusion_channels: [32, 32, 64, 192],
            fusion_expansions: [4, 8, 8, 16],
            freq_downsamples: [1, 2, 2, 2],
            bottleneck_ratio: 0.5,
            alpha: 0.2,
            stochastic_depth_rate: 0.1,
            se_ratio: 0.5,
        }
    }

    /// The demo / CPU-training size: the full topology at 1/8 of the widths with depths
    /// 1-1-2-2 (two blocks in the last stage so that LOEV++ has a branch to duplicate).
    /// 0.55 M encoder parameters, embedding dimension 216.
    pub fn tiny() -> Self {
        Self::scaled(Self::TINY_WIDTH_MULTIPLIER, Self::TINY_DEPTHS)
    }

    /// Width multiplier of [`EncoderConfig::tiny`].
    pub const TINY_WIDTH_MULTIPLIER: f64 = 0.125;
    /// Stage depths of [`EncoderConfig::tiny`].
    pub const TINY_DEPTHS: [usize; NUM_STAGES] = [1, 1, 2, 2];

    /// The unit-test size: 1/16 of the widths, one block per stage except two in the last.
    /// 0.12 M encoder parameters, embedding dimension 120.
    pub fn test() -> Self {
        Self::scaled(0.0625, [1, 1, 1, 2])
    }

    /// The full network with every width multiplied by `width_multiplier` and the given depths.
    ///
    /// The group *count* of every stage is kept (1, 2, 6, 6 on both paths): the group widths are
    /// scaled (rounded) and each stage width becomes `groups × group width / bottleneck_ratio`,
    /// so every grouped convolution stays valid. Every scaled width is at least
    /// [`MIN_SCALED_WIDTH`] (see [`EncoderConfig::validate`] for why 1 does not work).
    pub fn scaled(width_multiplier: f64, depths: [usize; NUM_STAGES]) -> Self {
        let full = Self::full();
        let m = if width_multiplier.is_finite() && width_multiplier > 0.0 {
            width_multiplier
        } else {
            1.0
        };
        let scale = |c: usize| ((c as f64 * m).round() as usize).max(MIN_SCALED_WIDTH);
        let slow_group_width = scale(full.slow_group_width);
        let fast_group_width = scale(full.fast_group_width);
        let stage_widths = |widths: [usize; NUM_STAGES], full_group_width: usize, group_width: usize| {
            widths.map(|w| {
                let groups = (w as f64 * full.bottleneck_ratio) as usize / full_group_width;
                (groups * group_width) * 2
            })
        };
        Self {
            slow_stem_channels: full.slow_stem_channels.map(scale),
            fast_stem_channels: full.fast_stem_channels.map(scale),
            slow_widths: stage_widths(full.slow_widths, full.slow_group_width, slow_group_width),
            fast_widths: stage_widths(full.fast_widths, full.fast_group_width, fast_group_width),
            depths,
            slow_group_width,
            fast_group_width,
            fusion_channels: full.fusion_channels.map(scale),
            ..full
        }
    }

    /// The same encoder with its fast path `factor` times wider: the fast stem's channels, the
    /// fast stages' widths and their group width (so the group counts, 1, 2, 6, 6, stay). The
    /// tiny encoder's fast path (2–24 channels, 24 of V's 216 dimensions) is what hypothesis H4
    /// of docs/tempo-half.md suspects of losing tempo; `tiny().widen_fast_path(2)` is the wider
    /// fast path that page tests (stem 4, widths 8, 16, 48, 48; V has 240 dimensions). The slow
    /// path and the lateral fusions are unchanged (a fusion reads whatever width the fast stage
    /// has).
    pub fn widen_fast_path(mut self, factor: usize) -> Self {
        let factor = factor.max(1);
        self.fast_stem_channels = self.fast_stem_channels.map(|c| c * factor);
        self.fast_widths = self.fast_widths.map(|w| w * factor);
        self.fast_group_width *= factor;
        self
    }

    /// Dimension of the pooled embedding V: last slow width + last fast width (1728 at full size).
    pub fn embedding_dim(&self) -> usize {
        self.slow_widths[NUM_STAGES - 1] + self.fast_widths[NUM_STAGES - 1]
    }

    /// Total number of blocks of one path (12 for F0); sets the stochastic-depth schedule.
    pub fn num_blocks(&self) -> usize {
        self.depths.iter().sum()
    }

    /// Output channels of fusion `k`'s 1×1 convolution (appended to slow stage k's input).
    pub fn fusion_out_channels(&self, k: usize) -> usize {
        self.fusion_channels[k] * self.fusion_expansions[k]
    }

    /// Checks that the configuration describes a buildable network.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |msg: String| Err(ModelError::InvalidConfig(msg));
        for (name, values) in [
            ("slow_stem_channels", &self.slow_stem_channels),
            ("fast_stem_channels", &self.fast_stem_channels),
            ("slow_widths", &self.slow_widths),
            ("fast_widths", &self.fast_widths),
            ("depths", &self.depths),
            ("fusion_channels", &self.fusion_channels),
            ("fusion_expansions", &self.fusion_expansions),
            ("freq_downsamples", &self.freq_downsamples),
        ] {
            if values.contains(&0) {
                return bad(format!("encoder.{name} = {values:?}: every entry must be at least 1"));
            }
        }
        if self.slow_group_width == 0 || self.fast_group_width == 0 {
            return bad("encoder.slow_group_width and encoder.fast_group_width must be at least 1".into());
        }
        for (name, value, lo, hi) in [
            ("bottleneck_ratio", self.bottleneck_ratio, f64::MIN_POSITIVE, 1.0),
            ("se_ratio", self.se_ratio, f64::MIN_POSITIVE, 1.0),
            ("alpha", self.alpha, 0.0, f64::MAX),
            ("stochastic_depth_rate", self.stochastic_depth_rate, 0.0, 1.0),
        ] {
            if !(value.is_finite() && value >= lo && value <= hi) {
                return bad(format!("encoder.{name} = {value} is outside [{lo}, {hi}]"));
            }
        }
        // Weight standardisation subtracts each output channel's kernel mean, so a convolution
        // with fan-in 1 has an all-zero kernel and kills its path: every 1×1 convolution (fusion
        // expansion, block conv2 and the fast path's first block) needs at least 2 inputs.
        for (name, value) in [
            (
                "fusion_channels",
                self.fusion_channels.iter().min().copied().unwrap_or(0),
            ),
            ("fast_stem_channels[3]", self.fast_stem_channels[3]),
        ] {
            if value < 2 {
                return bad(format!(
                    "encoder.{name} = {value}: a 1×1 weight-standardised convolution needs at least 2 input channels \
                     (with one, standardisation zeroes its kernel)"
                ));
            }
        }
        for k in 0..NUM_STAGES {
            for path in [Path::Slow, Path::Fast] {
                let shape = self.stage_shape(path, k)?;
                if shape.bottleneck < 2 {
                    return bad(format!(
                        "encoder stage {k} ({path:?} path) has a bottleneck of {} channel(s); at least 2 are needed \
                         (a 1×1 weight-standardised convolution with one input has a zero kernel)",
                        shape.bottleneck
                    ));
                }
            }
            if self.se_hidden(self.slow_widths[k]) == 0 || self.se_hidden(self.fast_widths[k]) == 0 {
                return bad(format!(
                    "encoder.se_ratio = {} leaves stage {k} with an empty squeeze-excite layer",
                    self.se_ratio
                ));
            }
        }
        Ok(())
    }

    /// Width, bottleneck width and group count of one stage of one path.
    pub(crate) fn stage_shape(&self, path: Path, stage: usize) -> Result<StageShape, ModelError> {
        let (widths, group_width, name) = match path {
            Path::Slow => (&self.slow_widths, self.slow_group_width, "slow"),
            Path::Fast => (&self.fast_widths, self.fast_group_width, "fast"),
        };
        let width = widths[stage];
        let bottleneck = (width as f64 * self.bottleneck_ratio) as usize;
        if bottleneck == 0 || !bottleneck.is_multiple_of(group_width) {
            return Err(ModelError::InvalidConfig(format!(
                "encoder.{name}_widths[{stage}] = {width}: its bottleneck width {bottleneck} (× bottleneck_ratio {}) \
                 must be a positive multiple of {name}_group_width = {group_width}; use EncoderConfig::scaled to build small models",
                self.bottleneck_ratio
            )));
        }
        Ok(StageShape {
            width,
            bottleneck,
            groups: bottleneck / group_width,
        })
    }

    /// Squeeze-excite hidden width for a block of `channels` outputs.
    pub(crate) fn se_hidden(&self, channels: usize) -> usize {
        (channels as f64 * self.se_ratio) as usize
    }

    /// β of every block of every stage (MULE's schedule, which differs from DeepMind's): the first block
    /// of a stage divides by the stage's expected std (1 for stage 1, √(1+α²) after), later blocks
    /// by a running √(e² + α²).
    pub fn betas(&self) -> [Vec<f64>; NUM_STAGES] {
        let alpha2 = self.alpha * self.alpha;
        std::array::from_fn(|stage| {
            let stage_std = if stage == 0 { 1.0 } else { (1.0 + alpha2).sqrt() };
            let mut betas = Vec::with_capacity(self.depths[stage]);
            let mut expected = (stage_std * stage_std + alpha2).sqrt();
            for block in 0..self.depths[stage] {
                if block == 0 {
                    betas.push(1.0 / stage_std);
                } else {
                    betas.push(1.0 / expected);
                    expected = (expected * expected + alpha2).sqrt();
                }
            }
            betas
        })
    }

    /// Drop probability of block `index` (0-based, counted over the whole path).
    pub fn drop_probability(&self, index: usize) -> f64 {
        self.stochastic_depth_rate * index as f64 / self.num_blocks() as f64
    }
}

/// One of the two SlowFast paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Low time resolution, wide.
    Slow,
    /// High time resolution, narrow.
    Fast,
}

/// The encoder plus one projection head per head name (LOEV), optionally with LOEV++ branches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoevModelConfig {
    /// The SF-NFNet encoder.
    pub encoder: EncoderConfig,
    /// Head names in order: the invariant head first, then one per variant augmentation.
    pub heads: Vec<String>,
    /// Output sizes of the projection layers (input = branch embedding size); ReLU between
    /// layers, none after the last.
    pub projection_dims: Vec<usize>,
    /// LOEV++ / MULE++: blocks 1… of the last stage of both paths are duplicated per head.
    pub plusplus: bool,
}

impl Default for LoevModelConfig {
    fn default() -> Self {
        Self {
            encoder: EncoderConfig::full(),
            heads: vec!["invariant".into(), "pitch_shift".into(), "time_stretch".into()],
            projection_dims: vec![1728, 1728, 512],
            plusplus: false,
        }
    }
}

impl burn::config::Config for EncoderConfig {}
impl burn::config::Config for LoevModelConfig {}

impl LoevModelConfig {
    /// A model with the given encoder and heads, the seed's projection sizes
    /// (1728 → 1728 → 512) and no LOEV++ branches.
    pub fn new(encoder: EncoderConfig, heads: Vec<String>) -> Self {
        Self {
            encoder,
            heads,
            ..Self::default()
        }
    }

    /// The CPU demo model: [`EncoderConfig::tiny`] with projections d_E → d_E → 128
    /// (216 → 216 → 216 → 128). The seed's 1728 → 1728 → 512 heads would hold 4.2 M parameters each
    /// next to a 0.55 M encoder and cost a third of a training step.
    pub fn demo(heads: Vec<String>, plusplus: bool) -> Self {
        let encoder = EncoderConfig::tiny();
        let d = encoder.embedding_dim();
        Self {
            encoder,
            heads,
            projection_dims: vec![d, d, 128],
            plusplus,
        }
    }

    /// The encoder alone, without projection heads: a model that embeds into V only, as the
    /// published MULE weights do (they were released without their projector).
    pub fn encoder_only(encoder: EncoderConfig) -> Self {
        Self {
            encoder,
            heads: Vec::new(),
            projection_dims: Vec::new(),
            plusplus: false,
        }
    }

    /// Sets the projection layer sizes.
    pub fn with_projection_dims(mut self, dims: Vec<usize>) -> Self {
        self.projection_dims = dims;
        self
    }

    /// Turns the LOEV++ / MULE++ branches on or off.
    pub fn with_plusplus(mut self, plusplus: bool) -> Self {
        self.plusplus = plusplus;
        self
    }

    /// Checks the encoder and the heads.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.encoder.validate()?;
        let bad = |msg: String| Err(ModelError::InvalidConfig(msg));
        if self.heads.is_empty() {
            // An encoder without heads: published weights (MULE's release is the encoder alone),
            // which embed into `v` only. Training always builds at least one head.
            if self.plusplus {
                return bad("plusplus needs heads: its branches are one per head".into());
            }
            return Ok(());
        }
        for (i, name) in self.heads.iter().enumerate() {
            if name.is_empty() || self.heads[..i].contains(name) {
                return bad(format!(
                    "heads = {:?}: head names must be non-empty and unique",
                    self.heads
                ));
            }
        }
        if self.projection_dims.is_empty() || self.projection_dims.contains(&0) {
            return bad(format!(
                "projection_dims = {:?}: give at least one positive size",
                self.projection_dims
            ));
        }
        if self.plusplus && self.encoder.depths[NUM_STAGES - 1] < 2 {
            return bad(format!(
                "plusplus needs at least 2 blocks in the last stage (block 0 is shared, blocks 1… are duplicated per head); encoder.depths = {:?}",
                self.encoder.depths
            ));
        }
        Ok(())
    }

    /// Dimension of each branch embedding V^k (and of V without LOEV++).
    pub fn branch_dim(&self) -> usize {
        self.encoder.embedding_dim()
    }

    /// Dimension of [`crate::ModelOutput::embedding`]: d_E, or heads × d_E for LOEV++ (V^++).
    pub fn embedding_dim(&self) -> usize {
        if self.plusplus {
            self.heads.len() * self.branch_dim()
        } else {
            self.branch_dim()
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_widened_fast_path_is_the_one_docs_tempo_half_names_and_builds() {
        let wide = EncoderConfig::tiny().widen_fast_path(2);
        assert_eq!(wide.fast_stem_channels, [4, 4, 4, 4]);
        assert_eq!(wide.fast_widths, [8, 16, 48, 48]);
        assert_eq!(wide.fast_group_width, 4);
        assert_eq!(wide.slow_widths, EncoderConfig::tiny().slow_widths);
        assert_eq!(wide.embedding_dim(), 240);
        wide.validate().expect("a valid encoder");
        assert_eq!(EncoderConfig::tiny().widen_fast_path(1), EncoderConfig::tiny());
    }
    use super::*;

    #[test]
    fn mule_betas_match_the_reference_table() {
        let betas = EncoderConfig::full().betas();
        let expected: [&[f64]; 4] = [
            &[1.0],
            &[0.980581, 0.962250],
            &[0.980581, 0.962250, 0.944911, 0.928477, 0.912871, 0.898027],
            &[0.980581, 0.962250, 0.944911],
        ];
        for (got, want) in betas.iter().zip(expected) {
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn stochastic_depth_schedule_is_rate_times_index_over_blocks() {
        let c = EncoderConfig::full();
        assert_eq!(c.num_blocks(), 12);
        assert_eq!(c.drop_probability(0), 0.0);
        assert!((c.drop_probability(11) - 0.1 * 11.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn scaled_configs_keep_group_counts_and_validate() {
        for m in [1.0, 0.5, 0.3, 0.125, 0.0625, 0.01] {
            assert!(
                EncoderConfig::scaled(m, [1, 1, 1, 1])
                    .fast_stem_channels
                    .iter()
                    .all(|&c| c >= MIN_SCALED_WIDTH)
            );
            let c = EncoderConfig::scaled(m, [1, 1, 2, 2]);
            c.validate().unwrap();
            for k in 0..NUM_STAGES {
                assert_eq!(c.stage_shape(Path::Slow, k).unwrap().groups, [1, 2, 6, 6][k]);
                assert_eq!(c.stage_shape(Path::Fast, k).unwrap().groups, [1, 2, 6, 6][k]);
            }
        }
        assert_eq!(EncoderConfig::scaled(1.0, [1, 2, 6, 3]), EncoderConfig::full());
        assert_eq!(EncoderConfig::full().embedding_dim(), 1728);
        assert_eq!(EncoderConfig::scaled(0.125, [1, 2, 6, 3]).embedding_dim(), 216);
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let mut c = EncoderConfig::full();
        c.slow_widths[2] = 1000;
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("slow_widths[2]") && err.contains("slow_group_width"),
            "{err}"
        );

        let mut c = EncoderConfig::test();
        c.fast_stem_channels[3] = 1;
        assert!(c.validate().unwrap_err().to_string().contains("fast_stem_channels[3]"));
        let mut c = EncoderConfig::test();
        c.fast_group_width = 1;
        c.fast_widths = [2, 4, 12, 12];
        assert!(c.validate().unwrap_err().to_string().contains("bottleneck of 1"));

        let mut m = LoevModelConfig::new(EncoderConfig::scaled(0.0625, [1, 1, 1, 1]), vec!["invariant".into()]);
        m.plusplus = true;
        assert!(m.validate().unwrap_err().to_string().contains("plusplus"));
        m.heads = vec!["a".into(), "a".into()];
        assert!(m.validate().is_err());

        let unknown = toml_like_json("{\"encoder\": {\"depth\": [1,1,1,1]}}");
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    }

    fn toml_like_json(text: &str) -> Result<LoevModelConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn config_round_trips_through_json_with_defaults_for_missing_keys() {
        let c: LoevModelConfig = serde_json::from_str("{\"plusplus\": true}").unwrap();
        assert_eq!(c.encoder, EncoderConfig::full());
        assert!(c.plusplus);
        let text = serde_json::to_string(&c).unwrap();
        let back: LoevModelConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }
}
