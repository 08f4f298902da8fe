//! Distortion: tanh saturation after a drawn drive (Table IV: p 0.6, 1…10 dB).

use loev_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, check_range, draw_probability, uniform};
use crate::AugmentError;
use crate::effects;

/// Distortion: p 0.6, drive 1…10 dB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistortionConfig {
    /// Probability of applying.
    pub p: f64,
    /// Drive range in dB (gain before the tanh).
    pub drive_db: [f64; 2],
}

impl Default for DistortionConfig {
    fn default() -> Self {
        Self {
            p: 0.6,
            drive_db: [1.0, 10.0],
        }
    }
}

impl EffectConfig for DistortionConfig {
    const NAME: &'static str = "distortion";
    const DEFAULT_TOML: &'static str = "[distortion]
p = 0.6
drive_db = [1.0, 10.0]       # y = tanh(10^(drive/20) · x)
";

    fn probability(&self) -> f64 {
        self.p
    }

    fn set_probability(&mut self, p: f64) {
        self.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        check_p("distortion.p", self.p)?;
        check_range("distortion.drive_db", self.drive_db, -60.0, 60.0)
    }

    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        if draw_probability(rng, self.p) {
            EffectDraw::applied(&[("drive_db", uniform(rng, self.drive_db))])
        } else {
            EffectDraw::skipped()
        }
    }

    fn render(&self, draw: &EffectDraw, x: &mut [f32], _sample_rate: u32) {
        effects::distort(x, draw.param("drive_db"));
    }
}
