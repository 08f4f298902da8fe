//! Gain: scale the view by a drawn number of decibels (Table IV: p 0.7, −15…+5 dB).

use crate::effects;

ranged_transform! {
    /// Gain: p 0.7, −15…+5 dB.
    GainConfig {
        name: "gain",
        p: 0.7,
        params: {
            /// Gain range in dB.
            db: [-15.0, 5.0] within [-120.0, 60.0],
        },
        default_toml: "[gain]\np = 0.7\ndb = [-15.0, 5.0]\n",
        render: |_, draw, x, _| effects::apply_gain(x, draw.param("db")),
    }
}
