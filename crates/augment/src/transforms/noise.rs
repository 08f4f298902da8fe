//! Coloured noise: add Gaussian noise with a power-law spectrum at a drawn SNR (Table IV:
//! p 0.8, SNR 3…30 dB, decay −2…2).

use loev_core::rng::{Rng, rng_from_seed};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{EffectConfig, EffectDraw, check_p, check_range, draw_probability, uniform};
use crate::AugmentError;
use crate::effects;

/// Coloured noise: p 0.8, SNR 3…30 dB, decay −2…2 (power ∝ 1/f^decay, i.e. −3.01·decay
/// dB/octave).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Probability of applying.
    pub p: f64,
    /// Signal-to-noise ratio range in dB (relative to the view's mean power).
    pub snr_db: [f64; 2],
    /// Spectral decay exponent range: 0 white, 1 pink, 2 brown, −1 blue.
    pub decay: [f64; 2],
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            p: 0.8,
            snr_db: [3.0, 30.0],
            decay: [-2.0, 2.0],
        }
    }
}

impl EffectConfig for NoiseConfig {
    const NAME: &'static str = "colored_noise";
    const DEFAULT_TOML: &'static str = "[colored_noise]
p = 0.8
snr_db = [3.0, 30.0]         # relative to the view's mean power
decay = [-2.0, 2.0]          # power ∝ 1/f^decay: 0 white, 1 pink, 2 brown (−3.01·decay dB/octave)
";

    fn probability(&self) -> f64 {
        self.p
    }

    fn set_probability(&mut self, p: f64) {
        self.p = p;
    }

    fn validate(&self) -> Result<(), AugmentError> {
        check_p("colored_noise.p", self.p)?;
        check_range("colored_noise.snr_db", self.snr_db, -60.0, 200.0)?;
        check_range("colored_noise.decay", self.decay, -6.0, 6.0)
    }

    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        if !draw_probability(rng, self.p) {
            return EffectDraw::skipped();
        }
        let snr_db = uniform(rng, self.snr_db);
        let decay = uniform(rng, self.decay);
        EffectDraw {
            seed: rng.random::<u64>(),
            ..EffectDraw::applied(&[("snr_db", snr_db), ("decay", decay)])
        }
    }

    fn render(&self, draw: &EffectDraw, x: &mut [f32], _sample_rate: u32) {
        effects::add_colored_noise(
            x,
            draw.param("snr_db"),
            draw.param("decay"),
            &mut rng_from_seed(draw.seed),
        );
    }
}
