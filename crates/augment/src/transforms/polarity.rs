//! Polarity inversion: flip the sign of the view (Table IV: p 0.8).

use crate::effects;

ranged_transform! {
    /// Polarity inversion: p 0.8.
    PolarityConfig {
        name: "polarity_inversion",
        p: 0.8,
        params: {},
        default_toml: "[polarity_inversion]\np = 0.8\n",
        render: |_, _, x, _| effects::invert_polarity(x),
    }
}
