//! Coloured noise: add Gaussian noise with a power-law spectrum at a drawn SNR (Table IV:
//! p 0.8, SNR 3…30 dB, decay −2…2). The noise samples come from a generator seeded per view.

use loev_core::rng::rng_from_seed;

use crate::effects;

ranged_transform! {
    /// Coloured noise: p 0.8, SNR 3…30 dB, decay −2…2 (power ∝ 1/f^decay, i.e. −3.01·decay
    /// dB/octave).
    NoiseConfig {
        name: "colored_noise",
        p: 0.8,
        seeded: true,
        params: {
            /// Signal-to-noise ratio range in dB (relative to the view's mean power).
            snr_db: [3.0, 30.0] within [-60.0, 200.0],
            /// Spectral decay exponent range: 0 white, 1 pink, 2 brown, −1 blue.
            decay: [-2.0, 2.0] within [-6.0, 6.0],
        },
        default_toml: "[colored_noise]
p = 0.8
snr_db = [3.0, 30.0]         # relative to the view's mean power
decay = [-2.0, 2.0]          # power ∝ 1/f^decay: 0 white, 1 pink, 2 brown (−3.01·decay dB/octave)
",
        render: |_, draw, x, _| {
            let mut rng = rng_from_seed(draw.seed);
            effects::add_colored_noise(x, draw.param("snr_db"), draw.param("decay"), &mut rng);
        },
    }
}
