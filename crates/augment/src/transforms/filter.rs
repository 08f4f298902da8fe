//! The one-of filter step: one of four filters is chosen uniformly, then applied with its own
//! probability (Table IV). `variant` may list `filter` (any of them) or one kind.

use loev_core::rng::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, check_range, draw_probability, uniform};
use crate::AugmentError;
use crate::filters::FilterCascade;

/// The four filters of the one-of filter step, in the order they are indexed when drawn.
pub const FILTER_KINDS: [&str; 4] = ["low_pass", "high_pass", "band_pass", "band_stop"];

/// Which filter the one-of step chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    /// 4th-order Butterworth low-pass.
    LowPass,
    /// 4th-order Butterworth high-pass.
    HighPass,
    /// Band-pass.
    BandPass,
    /// Band-stop.
    BandStop,
}

impl FilterKind {
    /// The transform name of this filter kind (as used in `variant`).
    pub fn name(self) -> &'static str {
        FILTER_KINDS[self as usize]
    }

    fn from_index(index: usize) -> Self {
        match index {
            0 => FilterKind::LowPass,
            1 => FilterKind::HighPass,
            2 => FilterKind::BandPass,
            _ => FilterKind::BandStop,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        FILTER_KINDS.iter().position(|k| *k == name).map(Self::from_index)
    }
}

/// The one-of filter step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// 4th-order Butterworth low-pass.
    pub low_pass: LowPassConfig,
    /// 4th-order Butterworth high-pass.
    pub high_pass: HighPassConfig,
    /// Band-pass (two RBJ sections).
    pub band_pass: BandPassConfig,
    /// Band-stop (two RBJ notch sections).
    pub band_stop: BandStopConfig,
}

/// Low-pass: p 0.5 once chosen, cutoff 150…7000 Hz.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LowPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Cutoff range in Hz (−3 dB point).
    pub cutoff_hz: [f64; 2],
}

impl Default for LowPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            cutoff_hz: [150.0, 7000.0],
        }
    }
}

/// High-pass: p 0.5 once chosen, cutoff 200…2400 Hz.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Cutoff range in Hz (−3 dB point).
    pub cutoff_hz: [f64; 2],
}

impl Default for HighPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            cutoff_hz: [200.0, 2400.0],
        }
    }
}

/// Band-pass: p 0.5 once chosen, centre 200…4000 Hz, bandwidth fraction 0.5…2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Centre frequency range in Hz.
    pub center_hz: [f64; 2],
    /// Bandwidth as a fraction of the centre frequency (Q = 1 / fraction).
    pub bandwidth_fraction: [f64; 2],
}

impl Default for BandPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            center_hz: [200.0, 4000.0],
            bandwidth_fraction: [0.5, 2.0],
        }
    }
}

/// Band-stop: p 0.3 once chosen, centre 200…4000 Hz, bandwidth fraction 0.5…2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandStopConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Centre frequency range in Hz.
    pub center_hz: [f64; 2],
    /// Bandwidth as a fraction of the centre frequency (Q = 1 / fraction).
    pub bandwidth_fraction: [f64; 2],
}

impl Default for BandStopConfig {
    fn default() -> Self {
        Self {
            p: 0.3,
            center_hz: [200.0, 4000.0],
            bandwidth_fraction: [0.5, 2.0],
        }
    }
}

impl FilterConfig {
    /// The probability of applying `kind` once chosen, its frequency range, and its
    /// bandwidth range (band filters).
    fn settings(&self, kind: FilterKind) -> (f64, [f64; 2], Option<[f64; 2]>) {
        match kind {
            FilterKind::LowPass => (self.low_pass.p, self.low_pass.cutoff_hz, None),
            FilterKind::HighPass => (self.high_pass.p, self.high_pass.cutoff_hz, None),
            FilterKind::BandPass => (
                self.band_pass.p,
                self.band_pass.center_hz,
                Some(self.band_pass.bandwidth_fraction),
            ),
            FilterKind::BandStop => (
                self.band_stop.p,
                self.band_stop.center_hz,
                Some(self.band_stop.bandwidth_fraction),
            ),
        }
    }
}

impl EffectConfig for FilterConfig {
    const NAME: &'static str = "filter";
    const KINDS: &'static [&'static str] = &FILTER_KINDS;
    const DEFAULT_TOML: &'static str = "# One of the four filters is chosen uniformly, then applied with its own p.
[filter.low_pass]
p = 0.5
cutoff_hz = [150.0, 7000.0]  # 4th-order Butterworth, −3 dB at the cutoff

[filter.high_pass]
p = 0.5
cutoff_hz = [200.0, 2400.0]  # 4th-order Butterworth, −3 dB at the cutoff

[filter.band_pass]
p = 0.5
center_hz = [200.0, 4000.0]
bandwidth_fraction = [0.5, 2.0]  # Q = 1 / fraction; two RBJ sections, 0 dB at the centre

[filter.band_stop]
p = 0.3
center_hz = [200.0, 4000.0]
bandwidth_fraction = [0.5, 2.0]  # two RBJ notch sections
";

    fn probability(&self) -> f64 {
        (self.low_pass.p + self.high_pass.p + self.band_pass.p + self.band_stop.p) / 4.0
    }

    fn kind_probability(&self, kind: &str) -> Option<f64> {
        FilterKind::from_name(kind).map(|k| self.settings(k).0 / FILTER_KINDS.len() as f64)
    }

    fn set_probability(&mut self, p: f64) {
        self.low_pass.p = p;
        self.high_pass.p = p;
        self.band_pass.p = p;
        self.band_stop.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        let nyquist = f64::from(loev_core::SAMPLE_RATE) / 2.0;
        check_p("filter.low_pass.p", self.low_pass.p)?;
        check_range("filter.low_pass.cutoff_hz", self.low_pass.cutoff_hz, 1.0, nyquist)?;
        check_p("filter.high_pass.p", self.high_pass.p)?;
        check_range("filter.high_pass.cutoff_hz", self.high_pass.cutoff_hz, 1.0, nyquist)?;
        for (key, p, center, bandwidth) in [
            (
                "band_pass",
                self.band_pass.p,
                self.band_pass.center_hz,
                self.band_pass.bandwidth_fraction,
            ),
            (
                "band_stop",
                self.band_stop.p,
                self.band_stop.center_hz,
                self.band_stop.bandwidth_fraction,
            ),
        ] {
            check_p(&format!("filter.{key}.p"), p)?;
            check_range(&format!("filter.{key}.center_hz"), center, 1.0, nyquist)?;
            check_range(&format!("filter.{key}.bandwidth_fraction"), bandwidth, 0.01, 10.0)?;
        }
        Ok(())
    }

    /// The kind is always drawn (and recorded as the choice), then its own probability, then
    /// its frequency and (band filters) bandwidth.
    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        let kind = FilterKind::from_index(rng.random_range(0..FILTER_KINDS.len()));
        let (p, freq_range, bandwidth_range) = self.settings(kind);
        let mut draw = EffectDraw::skipped();
        if draw_probability(rng, p) {
            let freq = uniform(rng, freq_range);
            draw = match bandwidth_range {
                None => EffectDraw::applied(&[("cutoff_hz", freq)]),
                Some(range) => EffectDraw::applied(&[("center_hz", freq), ("bandwidth_fraction", uniform(rng, range))]),
            };
        }
        draw.choice = Some(kind.name());
        draw
    }

    fn render(&self, draw: &EffectDraw, x: &mut [f32], sample_rate: u32) {
        let fs = f64::from(sample_rate);
        let Some(kind) = draw.choice.and_then(FilterKind::from_name) else {
            return;
        };
        let cascade = match kind {
            FilterKind::LowPass => FilterCascade::low_pass(draw.param("cutoff_hz"), fs),
            FilterKind::HighPass => FilterCascade::high_pass(draw.param("cutoff_hz"), fs),
            FilterKind::BandPass => {
                FilterCascade::band_pass(draw.param("center_hz"), draw.param("bandwidth_fraction"), fs)
            }
            FilterKind::BandStop => {
                FilterCascade::band_stop(draw.param("center_hz"), draw.param("bandwidth_fraction"), fs)
            }
        };
        cascade.run(x);
    }
}
