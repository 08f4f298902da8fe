//! Gain: scale the view by a drawn number of decibels (Table IV: p 0.7, −15…+5 dB).

use loev_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, check_range, draw_probability, uniform};
use crate::AugmentError;
use crate::effects;

/// Gain: p 0.7, −15…+5 dB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GainConfig {
    /// Probability of applying.
    pub p: f64,
    /// Gain range in dB.
    pub db: [f64; 2],
}

impl Default for GainConfig {
    fn default() -> Self {
        Self {
            p: 0.7,
            db: [-15.0, 5.0],
        }
    }
}

impl EffectConfig for GainConfig {
    const NAME: &'static str = "gain";
    const DEFAULT_TOML: &'static str = "[gain]\np = 0.7\ndb = [-15.0, 5.0]\n";

    fn probability(&self) -> f64 {
        self.p
    }

    fn set_probability(&mut self, p: f64) {
        self.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        check_p("gain.p", self.p)?;
        check_range("gain.db", self.db, -120.0, 60.0)
    }

    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        if draw_probability(rng, self.p) {
            EffectDraw::applied(&[("db", uniform(rng, self.db))])
        } else {
            EffectDraw::skipped()
        }
    }

    fn render(&self, draw: &EffectDraw, x: &mut [f32], _sample_rate: u32) {
        effects::apply_gain(x, draw.param("db"));
    }
}
