//! RBJ biquad filters (Robert Bristow-Johnson's "Audio EQ Cookbook" formulas, bilinear
//! transform with frequency pre-warping), cascaded for steeper slopes.
//!
//! Design responses (what the tests check against):
//! * low-pass / high-pass: 4th-order Butterworth, two sections with Q = 0.5412 and 1.3066;
//!   −3.01 dB at the cutoff, 24 dB/octave beyond it, flat pass band.
//! * band-pass: two identical constant-peak RBJ band-pass sections with Q = 1 / bandwidth
//!   fraction; 0 dB at the centre, −6.02 dB at the analog band edges
//!   f_c·(√(1 + b²/4) ± b/2) (so the −3 dB bandwidth of one section is b·f_c), 12 dB/octave
//!   skirts far from the centre.
//! * band-stop: two identical RBJ notch sections with Q = 1 / bandwidth fraction; a zero at
//!   the centre (−∞ dB), −6.02 dB at the same analog band edges, 0 dB far away.
//!
//! Frequencies at or above Nyquist are clamped just below it so that no user value makes
//! the filter unstable.

use std::f64::consts::PI;

/// Q values of the two second-order sections of a 4th-order Butterworth filter:
/// 1 / (2 cos(π/8)) and 1 / (2 cos(3π/8)).
pub const BUTTERWORTH4_Q: [f64; 2] = [0.541_196_100_146_197, 1.306_562_964_876_376_7];

/// One second-order section, normalised so that a0 = 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

/// Which RBJ prototype to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiquadKind {
    /// Second-order low-pass.
    LowPass,
    /// Second-order high-pass.
    HighPass,
    /// Band-pass with 0 dB peak gain at the centre.
    BandPass,
    /// Notch (band-stop) with a zero at the centre.
    Notch,
}

impl Biquad {
    /// The RBJ cookbook section of `kind` at `freq_hz` with quality factor `q`.
    pub fn new(kind: BiquadKind, freq_hz: f64, q: f64, sample_rate: f64) -> Self {
        let nyquist = sample_rate / 2.0;
        let freq = freq_hz.clamp(1e-3, nyquist * 0.999);
        let q = q.max(1e-3);
        let w0 = 2.0 * PI * freq / sample_rate;
        let (sin_w0, cos_w0) = w0.sin_cos();
        let alpha = sin_w0 / (2.0 * q);
        let (b0, b1, b2) = match kind {
            BiquadKind::LowPass => ((1.0 - cos_w0) / 2.0, 1.0 - cos_w0, (1.0 - cos_w0) / 2.0),
            BiquadKind::HighPass => ((1.0 + cos_w0) / 2.0, -(1.0 + cos_w0), (1.0 + cos_w0) / 2.0),
            BiquadKind::BandPass => (alpha, 0.0, -alpha),
            BiquadKind::Notch => (1.0, -2.0 * cos_w0, 1.0),
        };
        let a0 = 1.0 + alpha;
        Self {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: -2.0 * cos_w0 / a0,
            a2: (1.0 - alpha) / a0,
        }
    }

    /// The complex response magnitude in dB at `freq_hz` (the design the tests compare
    /// against).
    pub fn response_db(&self, freq_hz: f64, sample_rate: f64) -> f64 {
        let w = 2.0 * PI * freq_hz / sample_rate;
        let (z1r, z1i) = (w.cos(), -w.sin()); // e^{-jw}
        let (z2r, z2i) = ((2.0 * w).cos(), -(2.0 * w).sin()); // e^{-2jw}
        let num = (self.b0 + self.b1 * z1r + self.b2 * z2r, self.b1 * z1i + self.b2 * z2i);
        let den = (1.0 + self.a1 * z1r + self.a2 * z2r, self.a1 * z1i + self.a2 * z2i);
        let num_power = num.0 * num.0 + num.1 * num.1;
        let den_power = den.0 * den.0 + den.1 * den.1;
        10.0 * (num_power / den_power).log10()
    }

    /// Filters `x` in place (transposed direct form II, f64 state), from rest.
    pub fn run(&self, x: &mut [f32]) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for sample in x.iter_mut() {
            let input = f64::from(*sample);
            let output = self.b0 * input + s1;
            s1 = self.b1 * input - self.a1 * output + s2;
            s2 = self.b2 * input - self.a2 * output;
            *sample = output as f32;
        }
    }
}

/// A cascade of biquad sections.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterCascade {
    sections: Vec<Biquad>,
}

impl FilterCascade {
    /// 4th-order Butterworth low-pass (−3.01 dB at `cutoff_hz`).
    pub fn low_pass(cutoff_hz: f64, sample_rate: f64) -> Self {
        let sections = BUTTERWORTH4_Q
            .iter()
            .map(|&q| Biquad::new(BiquadKind::LowPass, cutoff_hz, q, sample_rate))
            .collect();
        Self { sections }
    }

    /// 4th-order Butterworth high-pass (−3.01 dB at `cutoff_hz`).
    pub fn high_pass(cutoff_hz: f64, sample_rate: f64) -> Self {
        let sections = BUTTERWORTH4_Q
            .iter()
            .map(|&q| Biquad::new(BiquadKind::HighPass, cutoff_hz, q, sample_rate))
            .collect();
        Self { sections }
    }

    /// Two band-pass sections with Q = 1 / `bandwidth_fraction` (0 dB at `center_hz`).
    pub fn band_pass(center_hz: f64, bandwidth_fraction: f64, sample_rate: f64) -> Self {
        let section = Biquad::new(BiquadKind::BandPass, center_hz, 1.0 / bandwidth_fraction, sample_rate);
        Self {
            sections: vec![section; 2],
        }
    }

    /// Two notch sections with Q = 1 / `bandwidth_fraction` (a zero at `center_hz`).
    pub fn band_stop(center_hz: f64, bandwidth_fraction: f64, sample_rate: f64) -> Self {
        let section = Biquad::new(BiquadKind::Notch, center_hz, 1.0 / bandwidth_fraction, sample_rate);
        Self {
            sections: vec![section; 2],
        }
    }

    /// The design response in dB at `freq_hz`.
    pub fn response_db(&self, freq_hz: f64, sample_rate: f64) -> f64 {
        self.sections.iter().map(|s| s.response_db(freq_hz, sample_rate)).sum()
    }

    /// Filters `x` in place through every section (one pass over the samples; the
    /// sections' recursions overlap in the CPU).
    pub fn run(&self, x: &mut [f32]) {
        match self.sections.as_slice() {
            [a, b] => {
                let (mut a1, mut a2, mut b1, mut b2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for sample in x.iter_mut() {
                    let input = f64::from(*sample);
                    let middle = a.b0 * input + a1;
                    a1 = a.b1 * input - a.a1 * middle + a2;
                    a2 = a.b2 * input - a.a2 * middle;
                    let output = b.b0 * middle + b1;
                    b1 = b.b1 * middle - b.a1 * output + b2;
                    b2 = b.b2 * middle - b.a2 * output;
                    *sample = output as f32;
                }
            }
            sections => sections.iter().for_each(|section| section.run(x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 16_000.0;

    #[test]
    fn designs_hit_their_nominal_values() {
        for cutoff in [150.0, 1000.0, 7000.0] {
            assert!((FilterCascade::low_pass(cutoff, FS).response_db(cutoff, FS) + 3.0103).abs() < 1e-6);
            assert!((FilterCascade::high_pass(cutoff, FS).response_db(cutoff, FS) + 3.0103).abs() < 1e-6);
        }
        for (centre, bw) in [(200.0, 0.5), (1000.0, 1.0), (4000.0, 2.0)] {
            assert!(FilterCascade::band_pass(centre, bw, FS).response_db(centre, FS).abs() < 1e-6);
            assert!(FilterCascade::band_stop(centre, bw, FS).response_db(centre, FS) < -100.0);
        }
        // Slopes: one octave further into the stop band costs about 24 dB (Butterworth 4).
        let lp = FilterCascade::low_pass(250.0, FS);
        let drop = lp.response_db(1000.0, FS) - lp.response_db(2000.0, FS);
        assert!((drop - 24.0).abs() < 2.0, "octave drop {drop}");
    }
}
