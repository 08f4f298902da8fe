//! Cheap synthesis primitives: a table sine, band-limited (PolyBLEP) saw and pulse
//! oscillators, exponentially decaying partials, envelopes, synth filters, a tuned
//! delay loop for plucked strings and seeded noise.
//!
//! Everything here runs per sample inside the note renderers, so it favours a few
//! multiply-adds per sample over accuracy that nobody can hear (the table sine is within
//! 1e-6 of `sin`). These are voice-level tools with per-sample modulation; the static
//! biquads of the augmentation chain serve a different purpose.

use std::f64::consts::TAU;
use std::sync::LazyLock;

use loev_core::rng::Rng;
use rand::RngExt;

/// The sample rate the synthesiser renders at, as f64.
pub(crate) const FS: f64 = loev_audio::SAMPLE_RATE as f64;

/// Partials above this frequency are skipped so nothing aliases (Nyquist is 8 kHz).
pub(crate) const MAX_PARTIAL_HZ: f64 = 7_600.0;

const SINE_BITS: u32 = 12;
const SINE_SIZE: usize = 1 << SINE_BITS;
const FRAC_BITS: u32 = 32 - SINE_BITS;
const FRAC_SCALE: f32 = 1.0 / (1u32 << FRAC_BITS) as f32;

static SINE_TABLE: LazyLock<Vec<f32>> = LazyLock::new(|| {
    (0..=SINE_SIZE)
        .map(|i| (TAU * i as f64 / SINE_SIZE as f64).sin() as f32)
        .collect()
});

/// The frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz, equal temperament).
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * 2f64.powf((midi - 69.0) / 12.0)
}

/// A 32-bit fixed-point phase increment for `freq` Hz (one full turn = 2^32).
pub(crate) fn phase_increment(freq: f64) -> u32 {
    ((freq / FS).rem_euclid(1.0) * 4_294_967_296.0) as u32
}

/// `sin(2π · phase / 2^32)` from the table with linear interpolation.
#[inline]
pub(crate) fn table_sin(phase: u32) -> f32 {
    let table = &*SINE_TABLE;
    let index = (phase >> FRAC_BITS) as usize;
    let frac = (phase & ((1 << FRAC_BITS) - 1)) as f32 * FRAC_SCALE;
    let a = table[index];
    a + frac * (table[index + 1] - a)
}

/// A sine oscillator on a fixed-point phase.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SineOsc {
    phase: u32,
    increment: u32,
}

impl SineOsc {
    /// An oscillator at `freq` Hz starting at phase `start` (in turns).
    pub(crate) fn new(freq: f64, start: f64) -> Self {
        Self {
            phase: (start.rem_euclid(1.0) * 4_294_967_296.0) as u32,
            increment: phase_increment(freq),
        }
    }

    /// The next sample.
    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        let y = table_sin(self.phase);
        self.phase = self.phase.wrapping_add(self.increment);
        y
    }

    /// The next sample with the phase offset by `offset` turns (phase modulation / FM).
    #[inline]
    pub(crate) fn next_modulated(&mut self, offset: f32) -> f32 {
        let shift = (offset * 4_294_967_296.0) as i64 as u32;
        let y = table_sin(self.phase.wrapping_add(shift));
        self.phase = self.phase.wrapping_add(self.increment);
        y
    }

    /// The next sample with the frequency scaled by `ratio` for this step (vibrato).
    #[inline]
    pub(crate) fn next_scaled(&mut self, ratio: f32) -> f32 {
        let y = table_sin(self.phase);
        self.phase = self.phase.wrapping_add((self.increment as f32 * ratio) as u32);
        y
    }
}

/// An exponentially decaying sinusoid computed by the two-pole resonator recurrence
/// `y[n] = 2 r cos(ω) y[n-1] − r² y[n-2]`: one partial of a struck or plucked tone for two
/// multiply-adds per sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecayingPartial {
    a1: f64,
    a2: f64,
    y1: f64,
    y2: f64,
}

impl DecayingPartial {
    /// A partial at `freq` Hz with initial amplitude `amplitude`, whose amplitude falls by
    /// 60 dB in `t60` seconds, starting at phase `start` (turns).
    pub(crate) fn new(freq: f64, amplitude: f64, t60: f64, start: f64) -> Self {
        let omega = TAU * freq / FS;
        let r = (-6.907_755_279 / (t60.max(1e-3) * FS)).exp();
        let phi = TAU * start;
        // y[0] = A sin(phi), y[-1] = A r^-1 sin(phi - ω): the recurrence then gives
        // A r^n sin(phi + nω).
        Self {
            a1: 2.0 * r * omega.cos(),
            a2: -r * r,
            y1: amplitude * phi.sin(),
            y2: amplitude / r * (phi - omega).sin(),
        }
    }

    /// The next sample.
    #[inline]
    pub(crate) fn next(&mut self) -> f64 {
        let y = self.y1;
        let next = self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = next;
        y
    }
}

#[inline]
fn poly_blep(t: f64, dt: f64) -> f64 {
    if t < dt {
        let x = t / dt;
        x + x - x * x - 1.0
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt;
        x * x + x + x + 1.0
    } else {
        0.0
    }
}

/// A band-limited sawtooth or pulse (PolyBLEP) for the subtractive voices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlepOsc {
    phase: f64,
    increment: f64,
    /// Pulse width in (0, 1); `None` makes a sawtooth.
    width: Option<f64>,
}

impl BlepOsc {
    /// A sawtooth at `freq` Hz starting at phase `start` (turns).
    pub(crate) fn saw(freq: f64, start: f64) -> Self {
        Self {
            phase: start.rem_euclid(1.0),
            increment: freq / FS,
            width: None,
        }
    }

    /// A pulse wave at `freq` Hz of duty cycle `width`.
    pub(crate) fn pulse(freq: f64, width: f64, start: f64) -> Self {
        Self {
            phase: start.rem_euclid(1.0),
            increment: freq / FS,
            width: Some(width.clamp(0.05, 0.95)),
        }
    }

    /// The next sample with the frequency scaled by `ratio` for this step (vibrato).
    #[inline]
    pub(crate) fn next_scaled(&mut self, ratio: f64) -> f32 {
        let dt = self.increment * ratio;
        let t = self.phase;
        let y = match self.width {
            None => 2.0 * t - 1.0 - poly_blep(t, dt),
            Some(w) => {
                let naive = if t < w { 1.0 } else { -1.0 };
                let t2 = (t - w).rem_euclid(1.0);
                naive + poly_blep(t, dt) - poly_blep(t2, dt) + (1.0 - 2.0 * w)
            }
        };
        self.phase += dt;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
        y as f32
    }

    /// The next sample at the nominal frequency.
    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        self.next_scaled(1.0)
    }
}

/// An ADSR envelope: linear attack, exponential decay to the sustain level, exponential
/// release after the gate closes. Times in seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adsr {
    pub attack: f64,
    pub decay: f64,
    pub sustain: f64,
    pub release: f64,
}

impl Adsr {
    /// An envelope of `attack`, `decay` and `release` seconds with the `sustain` level.
    pub(crate) const fn new(attack: f64, decay: f64, sustain: f64, release: f64) -> Self {
        Self {
            attack,
            decay,
            sustain,
            release,
        }
    }

    /// The envelope values for a note held `gate` samples, over `total` samples (gate plus
    /// release tail). The release is a 60 dB exponential fall over `release` seconds.
    pub(crate) fn iter(&self, gate: usize, total: usize) -> AdsrIter {
        let attack = (self.attack * FS).max(1.0);
        let decay_coeff = (-6.907_755_279 / (self.decay.max(1e-3) * FS)).exp();
        let release_coeff = (-6.907_755_279 / (self.release.max(1e-3) * FS)).exp();
        AdsrIter {
            n: 0,
            gate,
            total,
            attack_step: 1.0 / attack,
            attack_samples: attack as usize,
            decay_coeff,
            release_coeff,
            sustain: self.sustain,
            level: 0.0,
            over: 1.0 - self.sustain,
        }
    }

    /// The samples of release tail worth rendering (until −60 dB).
    pub(crate) fn tail_samples(&self) -> usize {
        (self.release * FS) as usize
    }
}

/// Sample-by-sample values of an [`Adsr`].
pub(crate) struct AdsrIter {
    n: usize,
    gate: usize,
    total: usize,
    attack_step: f64,
    attack_samples: usize,
    decay_coeff: f64,
    release_coeff: f64,
    sustain: f64,
    level: f64,
    /// Decaying part above the sustain level.
    over: f64,
}

impl Iterator for AdsrIter {
    type Item = f32;

    #[inline]
    fn next(&mut self) -> Option<f32> {
        if self.n >= self.total {
            return None;
        }
        if self.n < self.gate {
            if self.n < self.attack_samples {
                self.level = (self.level + self.attack_step).min(1.0);
            } else {
                self.over *= self.decay_coeff;
                self.level = self.sustain + self.over;
            }
        } else {
            self.level *= self.release_coeff;
        }
        self.n += 1;
        Some(self.level as f32)
    }
}

/// A one-pole low-pass filter (6 dB/octave) whose cutoff may change every sample.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OnePole {
    state: f32,
    coeff: f32,
}

impl OnePole {
    /// A low-pass at `cutoff` Hz.
    pub(crate) fn low_pass(cutoff: f64) -> Self {
        let mut filter = Self::default();
        filter.set_cutoff(cutoff);
        filter
    }

    /// Moves the cutoff to `cutoff` Hz.
    pub(crate) fn set_cutoff(&mut self, cutoff: f64) {
        self.coeff = (1.0 - (-TAU * cutoff.clamp(1.0, FS * 0.49) / FS).exp()) as f32;
    }

    /// Filters one sample (low-pass output).
    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> f32 {
        self.state += self.coeff * (x - self.state);
        self.state
    }
}

/// A state-variable filter (Simper's trapezoidal form): stable under fast cutoff changes,
/// with low-, band- and high-pass outputs. The subtractive voices sweep its cutoff.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Svf {
    ic1: f32,
    ic2: f32,
    a1: f32,
    a2: f32,
    a3: f32,
    k: f32,
}

/// The three outputs of one [`Svf`] step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SvfOut {
    pub low: f32,
    pub band: f32,
    pub high: f32,
}

impl Svf {
    /// A filter at `cutoff` Hz with quality `q` (0.707 = Butterworth).
    pub(crate) fn new(cutoff: f64, q: f64) -> Self {
        let mut filter = Self {
            ic1: 0.0,
            ic2: 0.0,
            a1: 0.0,
            a2: 0.0,
            a3: 0.0,
            k: 0.0,
        };
        filter.set(cutoff, q);
        filter
    }

    /// Moves cutoff and quality (costs a `tan`; callers update every few samples).
    pub(crate) fn set(&mut self, cutoff: f64, q: f64) {
        let g = (std::f64::consts::PI * cutoff.clamp(10.0, FS * 0.45) / FS).tan();
        let k = 1.0 / q.max(0.1);
        let a1 = 1.0 / (1.0 + g * (g + k));
        self.a1 = a1 as f32;
        self.a2 = (g * a1) as f32;
        self.a3 = (g * g * a1) as f32;
        self.k = k as f32;
    }

    /// Filters one sample.
    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> SvfOut {
        let v3 = x - self.ic2;
        let v1 = self.a1 * self.ic1 + self.a2 * v3;
        let v2 = self.ic2 + self.a2 * self.ic1 + self.a3 * v3;
        self.ic1 = 2.0 * v1 - self.ic1;
        self.ic2 = 2.0 * v2 - self.ic2;
        SvfOut {
            low: v2,
            band: v1,
            high: x - self.k * v1 - v2,
        }
    }
}

/// A feedback delay loop tuned to a fractional period with a first-order all-pass: the
/// core of the Karplus–Strong plucked string and of the comb-filtered noise voice.
#[derive(Clone, Debug)]
pub(crate) struct TunedLoop {
    buffer: Vec<f32>,
    position: usize,
    allpass_coeff: f32,
    allpass_x1: f32,
    allpass_y1: f32,
    last: f32,
    brightness: f32,
}

impl TunedLoop {
    /// A loop whose total delay (integer delay + the loss filter's phase delay + the
    /// all-pass delay) equals `period` samples, so the loop resonates at `FS / period`.
    /// `brightness` in [0, 1] blends the two-point average loss filter (0: full averaging,
    /// 0.5 sample of delay, dark) towards no filtering (1: no delay, bright).
    pub(crate) fn new(period: f64, brightness: f32) -> Self {
        let brightness = brightness.clamp(0.0, 1.0);
        let filter_delay = 0.5 * (1.0 - brightness as f64);
        // Keep the all-pass delay in [0.1, 1.1) where its phase delay is flat enough.
        let target = (period - filter_delay).max(2.2);
        let integer = (target - 0.1).floor().max(1.0);
        let fractional = target - integer;
        let coeff = (1.0 - fractional) / (1.0 + fractional);
        Self {
            buffer: vec![0.0; integer as usize],
            position: 0,
            allpass_coeff: coeff as f32,
            allpass_x1: 0.0,
            allpass_y1: 0.0,
            last: 0.0,
            brightness,
        }
    }

    /// The magnitude response of the loop's loss filter at `freq` Hz (per trip round the
    /// loop), so callers can set the loop gain for a wanted decay time of the fundamental.
    pub(crate) fn loss_at(&self, freq: f64) -> f64 {
        let omega = TAU * freq / FS;
        let b = self.brightness as f64;
        let re = (1.0 - b) * (1.0 + omega.cos()) / 2.0 + b;
        let im = (1.0 - b) * omega.sin() / 2.0;
        (re * re + im * im).sqrt()
    }

    /// The integer part of the delay, i.e. the excitation length of one period.
    pub(crate) fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Fills the loop with an initial excitation (one period of samples).
    pub(crate) fn excite(&mut self, excitation: impl Iterator<Item = f32>) {
        for (slot, x) in self.buffer.iter_mut().zip(excitation) {
            *slot = x;
        }
    }

    /// One plucked-string step: reads the delayed sample, passes it through the loss
    /// filter, scales by `gain` and feeds it back through the tuning all-pass, adding
    /// `input` to the loop. Returns the delayed sample.
    #[inline]
    pub(crate) fn step(&mut self, input: f32, gain: f32) -> f32 {
        let delayed = self.buffer[self.position];
        let averaged = 0.5 * (delayed + self.last);
        self.last = delayed;
        let filtered = averaged + self.brightness * (delayed - averaged);
        let looped = gain * filtered + input;
        let y = self.allpass_coeff * looped + self.allpass_x1 - self.allpass_coeff * self.allpass_y1;
        self.allpass_x1 = looped;
        self.allpass_y1 = y;
        self.buffer[self.position] = y;
        self.position += 1;
        if self.position == self.buffer.len() {
            self.position = 0;
        }
        delayed
    }
}

/// White noise in [−1, 1) from the seeded generator.
#[inline]
pub(crate) fn white(rng: &mut Rng) -> f32 {
    (rng.random::<u32>() as f32) * (2.0 / 4_294_967_296.0) - 1.0
}

/// Adds `source` scaled by `gain` into `out` starting at `start`, clipping at the end of
/// `out`.
pub(crate) fn mix_into(out: &mut [f32], start: usize, source: &[f32], gain: f32) {
    if start >= out.len() {
        return;
    }
    for (o, s) in out[start..].iter_mut().zip(source) {
        *o += gain * s;
    }
}

/// Converts decibels to a linear gain.
pub(crate) fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frequency of a clean tone from its upward zero crossings (interpolated between
    /// samples), averaged over the whole signal.
    fn dominant_frequency(signal: &[f32]) -> f64 {
        let crossings: Vec<f64> = signal
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] <= 0.0 && w[1] > 0.0)
            .map(|(i, w)| i as f64 + (-w[0] / (w[1] - w[0])) as f64)
            .collect();
        let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
        (crossings.len() - 1) as f64 * FS / (last - first)
    }

    #[test]
    fn table_sine_matches_sin() {
        let mut worst = 0f64;
        for i in 0..10_000u64 {
            let phase = (i.wrapping_mul(2_654_435_761) & 0xffff_ffff) as u32;
            let exact = (TAU * phase as f64 / 4_294_967_296.0).sin();
            worst = worst.max((table_sin(phase) as f64 - exact).abs());
        }
        assert!(worst < 2e-6, "table sine error {worst}");
    }

    #[test]
    fn decaying_partial_has_its_frequency_and_decay() {
        let mut partial = DecayingPartial::new(440.0, 1.0, 1.0, 0.25);
        let samples: Vec<f32> = (0..16_000).map(|_| partial.next() as f32).collect();
        assert!((samples[0] - 1.0).abs() < 1e-6, "starts at the requested phase");
        let f = dominant_frequency(&samples[..4000]);
        assert!((f - 440.0).abs() < 4.0, "frequency {f}");
        // −60 dB after 1 s: the peak over the last 100 samples is about 10^(−3 · 0.997).
        let peak_end = samples[15_900..].iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(
            peak_end < 0.00115 && peak_end > 0.0009,
            "−60 dB after 1 s, got {peak_end}"
        );
    }

    #[test]
    fn tuned_loop_resonates_at_the_requested_pitch() {
        for brightness in [0.0, 0.3, 1.0] {
            for freq in [55.0, 261.63, 1318.5, 2093.0] {
                let mut string = TunedLoop::new(FS / freq, brightness);
                let n = string.len();
                string.excite((0..n).map(|i| (TAU * i as f64 / n as f64).sin() as f32));
                let out: Vec<f32> = (0..3000).map(|_| string.step(0.0, 0.999)).collect();
                let f = dominant_frequency(&out[100..]);
                // Within 0.5 % (9 cents): the all-pass phase delay drifts a little at high pitch.
                assert!(
                    (f / freq - 1.0).abs() < 0.005,
                    "loop at {freq} Hz (brightness {brightness}) rang at {f} Hz"
                );
            }
        }
    }

    #[test]
    fn blep_saw_is_bounded_and_tuned() {
        let mut osc = BlepOsc::saw(220.0, 0.0);
        let out: Vec<f32> = (0..16_000).map(|_| -osc.next()).collect();
        assert!(out.iter().all(|x| x.abs() <= 1.05));
        let f = dominant_frequency(&out);
        assert!((f - 220.0).abs() < 2.0, "{f}");
    }

    #[test]
    fn adsr_reaches_sustain_and_releases() {
        let env = Adsr::new(0.01, 0.1, 0.5, 0.2);
        let values: Vec<f32> = env.iter(8000, 8000 + env.tail_samples()).collect();
        assert!((values[160] - 1.0).abs() < 0.05);
        assert!((values[7999] - 0.5).abs() < 0.01);
        assert!(*values.last().unwrap() < 0.002);
    }
}
