//! Distortion: tanh saturation after a drawn drive (Table IV: p 0.6, 1…10 dB).

use crate::effects;

ranged_transform! {
    /// Distortion: p 0.6, drive 1…10 dB.
    DistortionConfig {
        name: "distortion",
        p: 0.6,
        params: {
            /// Drive range in dB (gain before the tanh).
            drive_db: [1.0, 10.0] within [-60.0, 60.0],
        },
        default_toml: "[distortion]
p = 0.6
drive_db = [1.0, 10.0]       # y = tanh(10^(drive/20) · x)
",
        render: |_, draw, x, _| effects::distort(x, draw.param("drive_db")),
    }
}
