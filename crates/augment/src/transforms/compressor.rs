//! Dynamic-range compression, one of the effects of the authors' LOEV-Mix chain that the seed
//! paper's Table IV lacks: levels above a threshold are reduced by a ratio, with attack and
//! release smoothing. Off by default (p = 0), so the default chain stays Table IV's.
//!
//! Feed-forward compressor on the peak level: the detector follows `|x|` in dB with a one-pole
//! attack (rising) and release (falling) time constant; above the threshold the gain is
//! `−(level − threshold)·(1 − 1/ratio)` dB; no make-up gain. Silence stays silence (the level
//! floor is −120 dB, far below any threshold).

/// The level the detector never goes below (dB), so that silence has a finite level.
const FLOOR_DB: f64 = -120.0;

ranged_transform! {
    /// Compressor: p 0 (off), threshold −30…−10 dBFS, ratio 2…8, attack 1…20 ms, release
    /// 50…300 ms.
    CompressorConfig {
        name: "compressor",
        p: 0.0,
        params: {
            /// Threshold range in dB relative to full scale.
            threshold_db: [-30.0, -10.0] within [-80.0, 0.0],
            /// Compression ratio range (input dB above threshold per output dB above it).
            ratio: [2.0, 8.0] within [1.0, 100.0],
            /// Attack time range in milliseconds (how fast the gain falls when the level rises).
            attack_ms: [1.0, 20.0] within [0.01, 1000.0],
            /// Release time range in milliseconds (how fast the gain recovers).
            release_ms: [50.0, 300.0] within [0.01, 5000.0],
        },
        default_toml: "# Not in the seed's Table IV (the authors' LOEV-Mix chain has one): off unless p > 0.
[compressor]
p = 0.0
threshold_db = [-30.0, -10.0]  # dBFS; levels above it are reduced
ratio = [2.0, 8.0]             # dB in above the threshold per dB out
attack_ms = [1.0, 20.0]
release_ms = [50.0, 300.0]
",
        render: |_, draw, x, sample_rate| {
            compress(
                x,
                draw.param("threshold_db"),
                draw.param("ratio"),
                draw.param("attack_ms"),
                draw.param("release_ms"),
                sample_rate,
            )
        },
    }
}

/// One-pole smoothing coefficient for a time constant of `ms` at `sample_rate`.
fn coefficient(ms: f64, sample_rate: u32) -> f64 {
    (-1.0 / (ms.max(1e-3) * 1e-3 * f64::from(sample_rate))).exp()
}

/// Compresses `x` in place.
pub fn compress(x: &mut [f32], threshold_db: f64, ratio: f64, attack_ms: f64, release_ms: f64, sample_rate: u32) {
    let attack = coefficient(attack_ms, sample_rate);
    let release = coefficient(release_ms, sample_rate);
    let slope = 1.0 - 1.0 / ratio.max(1.0);
    let mut level_db = FLOOR_DB;
    for sample in x.iter_mut() {
        let input_db = (20.0 * f64::from(sample.abs()).log10()).max(FLOOR_DB);
        let a = if input_db > level_db { attack } else { release };
        level_db = a * level_db + (1.0 - a) * input_db;
        let over = level_db - threshold_db;
        if over > 0.0 {
            *sample *= 10f64.powf(-over * slope / 20.0) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::EffectConfig;

    const FS: u32 = 16_000;

    fn sine(amplitude: f32, seconds: f64) -> Vec<f32> {
        (0..(seconds * f64::from(FS)) as usize)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / FS as f32).sin())
            .collect()
    }

    fn peak_db(x: &[f32]) -> f64 {
        20.0 * f64::from(x.iter().fold(0.0f32, |m, s| m.max(s.abs()))).log10()
    }

    /// A steady tone above the threshold comes out at threshold + (level − threshold) / ratio,
    /// within the detector's ripple on a 440 Hz peak level.
    #[test]
    fn a_loud_tone_is_reduced_by_the_static_curve() {
        for (threshold, ratio) in [(-20.0, 4.0), (-30.0, 2.0), (-12.0, 8.0)] {
            let mut x = sine(0.5, 1.0);
            let level = peak_db(&x);
            compress(&mut x, threshold, ratio, 5.0, 200.0, FS);
            let settled = peak_db(&x[FS as usize / 2..]);
            let expected = threshold + (level - threshold) / ratio;
            assert!(
                (settled - expected).abs() < 1.0,
                "threshold {threshold}, ratio {ratio}: {settled:.2} dB, expected {expected:.2}"
            );
        }
    }

    #[test]
    fn quiet_audio_and_silence_pass_unchanged() {
        let quiet = sine(0.01, 0.5); // −40 dBFS peak, below a −20 dB threshold
        let mut x = quiet.clone();
        compress(&mut x, -20.0, 4.0, 5.0, 100.0, FS);
        assert_eq!(x, quiet);
        let mut silence = vec![0.0f32; 4000];
        compress(&mut silence, -60.0, 20.0, 1.0, 50.0, FS);
        assert!(silence.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn draws_lie_in_range_and_p_zero_never_applies() {
        let config = CompressorConfig {
            p: 1.0,
            ..CompressorConfig::default()
        };
        config.validate().unwrap();
        let mut rng = loev_core::rng::rng_from_seed(3);
        for _ in 0..200 {
            let draw = EffectConfig::draw(&config, &mut rng);
            assert!(draw.applied);
            for (key, range) in [
                ("threshold_db", config.threshold_db),
                ("ratio", config.ratio),
                ("attack_ms", config.attack_ms),
                ("release_ms", config.release_ms),
            ] {
                let value = draw.param(key);
                assert!((range[0]..=range[1]).contains(&value), "{key} = {value}");
            }
        }
        let off = CompressorConfig::default();
        assert!((0..200).all(|_| !EffectConfig::draw(&off, &mut rng).applied));
        let err = CompressorConfig {
            ratio: [0.5, 2.0],
            ..CompressorConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("compressor.ratio"), "{err}");
    }
}
