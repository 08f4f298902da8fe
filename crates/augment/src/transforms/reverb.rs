//! Reverb: a Freeverb-style room mixed with the dry view (Table IV: p 0.5, room size 0.2…1,
//! wet 0…1).

use loev_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, check_range, draw_probability, uniform};
use crate::AugmentError;
use crate::effects::{self, ReverbParams};

/// Reverb: p 0.5, room size 0.2…1, wet 0…1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReverbConfig {
    /// Probability of applying.
    pub p: f64,
    /// Room size range (0…1); larger rooms decay longer.
    pub room_size: [f64; 2],
    /// Wet/dry crossfade range (0 = dry, 1 = reverberated only).
    pub wet: [f64; 2],
}

impl Default for ReverbConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            room_size: [0.2, 1.0],
            wet: [0.0, 1.0],
        }
    }
}

impl EffectConfig for ReverbConfig {
    const NAME: &'static str = "reverb";
    const DEFAULT_TOML: &'static str = "[reverb]
p = 0.5
room_size = [0.2, 1.0]       # Freeverb-style; larger rooms decay longer
wet = [0.0, 1.0]             # output = (1 − wet)·dry + wet·reverberated
";

    fn probability(&self) -> f64 {
        self.p
    }

    fn set_probability(&mut self, p: f64) {
        self.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        check_p("reverb.p", self.p)?;
        check_range("reverb.room_size", self.room_size, 0.0, 1.0)?;
        check_range("reverb.wet", self.wet, 0.0, 1.0)
    }

    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        if !draw_probability(rng, self.p) {
            return EffectDraw::skipped();
        }
        let room_size = uniform(rng, self.room_size);
        let wet = uniform(rng, self.wet);
        EffectDraw::applied(&[("room_size", room_size), ("wet", wet)])
    }

    fn render(&self, draw: &EffectDraw, x: &mut [f32], sample_rate: u32) {
        let params = ReverbParams {
            room_size: draw.param("room_size"),
            wet: draw.param("wet"),
        };
        effects::reverb(x, params, sample_rate);
    }
}
