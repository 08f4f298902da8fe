//! Polarity inversion: flip the sign of the view (Table IV: p 0.8).

use loev_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, draw_probability};
use crate::AugmentError;
use crate::effects;

/// Polarity inversion: p 0.8.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolarityConfig {
    /// Probability of applying.
    pub p: f64,
}

impl Default for PolarityConfig {
    fn default() -> Self {
        Self { p: 0.8 }
    }
}

impl EffectConfig for PolarityConfig {
    const NAME: &'static str = "polarity_inversion";
    const DEFAULT_TOML: &'static str = "[polarity_inversion]\np = 0.8\n";

    fn probability(&self) -> f64 {
        self.p
    }

    fn set_probability(&mut self, p: f64) {
        self.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        check_p("polarity_inversion.p", self.p)
    }

    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        if draw_probability(rng, self.p) {
            EffectDraw::applied(&[])
        } else {
            EffectDraw::skipped()
        }
    }

    fn render(&self, _draw: &EffectDraw, x: &mut [f32], _sample_rate: u32) {
        effects::invert_polarity(x);
    }
}
