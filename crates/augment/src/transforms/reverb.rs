//! Reverb: a Freeverb-style room mixed with the dry view (Table IV: p 0.5, room size 0.2…1,
//! wet 0…1).

use crate::effects::{self, ReverbParams};

ranged_transform! {
    /// Reverb: p 0.5, room size 0.2…1, wet 0…1.
    ReverbConfig {
        name: "reverb",
        p: 0.5,
        params: {
            /// Room size range (0…1); larger rooms decay longer.
            room_size: [0.2, 1.0] within [0.0, 1.0],
            /// Wet/dry crossfade range (0 = dry, 1 = reverberated only).
            wet: [0.0, 1.0] within [0.0, 1.0],
        },
        default_toml: "[reverb]
p = 0.5
room_size = [0.2, 1.0]       # Freeverb-style; larger rooms decay longer
wet = [0.0, 1.0]             # output = (1 − wet)·dry + wet·reverberated
",
        render: |_, draw, x, sample_rate| {
            let params = ReverbParams {
                room_size: draw.param("room_size"),
                wet: draw.param("wet"),
            };
            effects::reverb(x, params, sample_rate);
        },
    }
}
