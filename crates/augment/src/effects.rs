//! The small effects of the chain: gain, polarity, coloured noise, a Freeverb-style reverb
//! and tanh distortion.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use loev_core::rng::Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

/// Multiplies by `10^(db/20)`.
pub fn apply_gain(x: &mut [f32], db: f64) {
    let factor = 10f64.powf(db / 20.0) as f32;
    x.iter_mut().for_each(|s| *s *= factor);
}

/// Flips the sign of every sample.
pub fn invert_polarity(x: &mut [f32]) {
    x.iter_mut().for_each(|s| *s = -*s);
}

/// Soft saturation as in pedalboard's `Distortion`: `y = tanh(10^(drive/20)·x)`.
/// Harmonic distortion grows monotonically with the drive.
pub fn distort(x: &mut [f32], drive_db: f64) {
    let gain = 10f64.powf(drive_db / 20.0) as f32;
    x.iter_mut().for_each(|s| *s = fast_tanh(gain * *s));
}

/// `tanh` from the 9th-order Lambert continued fraction, clamped to ±1: max error 7e-6
/// (−103 dB), monotonic, and about 10× faster than `f32::tanh` (it vectorises).
pub fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-7.0, 7.0);
    let x2 = x * x;
    let numerator = x * ((((x2 + 990.0) * x2 + 135_135.0) * x2 + 4_729_725.0) * x2 + 34_459_425.0);
    let denominator = (((45.0 * x2 + 13_860.0) * x2 + 945_945.0) * x2 + 16_216_200.0) * x2 + 34_459_425.0;
    (numerator / denominator).clamp(-1.0, 1.0)
}

/// Mean power (mean square) of a signal, in f64.
pub fn mean_power(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64
}

thread_local! {
    static FFT_PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
    /// `ln(f_k / 1 kHz)` of the rFFT bins, per transform length used on this thread.
    static LOG_FREQUENCIES: RefCell<HashMap<usize, Vec<f32>>> = RefCell::new(HashMap::new());
}

/// Transform lengths whose log-frequency tables a thread keeps. The view length is one; the
/// spectral method's source spans add one per 5-smooth length between 0.7 and 1.3 views
/// (about 70), so all fit.
const LOG_FREQUENCY_TABLES: usize = 128;

/// Runs `f` with `ln(f_k / 1 kHz)` for the `len / 2 + 1` rFFT bins of a `len`-point
/// transform (bin 0 holds 0 and is not used), cached per thread and length.
fn with_log_frequencies<R>(len: usize, f: impl FnOnce(&[f32]) -> R) -> R {
    LOG_FREQUENCIES.with(|cell| {
        let mut cache = cell.borrow_mut();
        if !cache.contains_key(&len) && cache.len() >= LOG_FREQUENCY_TABLES {
            cache.clear();
        }
        let table = cache.entry(len).or_insert_with(|| {
            let bin_hz = f64::from(loev_audio::SAMPLE_RATE) / len as f64;
            (0..len / 2 + 1)
                .map(|k| {
                    if k == 0 {
                        0.0
                    } else {
                        (k as f64 * bin_hz / 1000.0).ln() as f32
                    }
                })
                .collect()
        });
        f(table)
    })
}

/// The smallest length ≥ `len` whose prime factors are 2, 3 and 5 only.
fn fast_fft_len(len: usize) -> usize {
    let smooth = |mut n: usize| {
        for p in [2, 3, 5] {
            while n.is_multiple_of(p) {
                n /= p;
            }
        }
        n == 1
    };
    (len.max(1)..).find(|&n| smooth(n)).unwrap_or(len)
}

fn inverse_fft(len: usize) -> Arc<dyn ComplexToReal<f32>> {
    FFT_PLANNER.with(|planner| planner.borrow_mut().plan_fft_inverse(len))
}

/// Gaussian noise of `len` samples whose power spectral density falls as `1/f^decay`
/// (0 = white, 1 = pink, 2 = brown, negative = blue/violet), i.e. a slope of
/// `−10·log10(2)·decay ≈ −3.01·decay` dB per octave. The rFFT of white Gaussian noise
/// (i.i.d. complex Gaussian bins, real at Nyquist) is drawn directly and shaped by
/// `(f / 1 kHz)^(−decay/2)`, the DC bin zeroed; one inverse FFT gives the noise, scaled to
/// unit mean power. The FFT runs at the next length ≥ `len` with no prime factor above 5
/// (`len` itself for the 3 s view, 48000 samples) and the noise is cut to `len`: a length
/// with a large prime factor (a time-stretched source span can have any length) would
/// otherwise take a many times slower transform.
pub fn colored_noise(len: usize, decay: f64, rng: &mut Rng) -> Vec<f32> {
    if len < 2 {
        return vec![0.0; len];
    }
    let fft_len = fast_fft_len(len);
    let inverse = inverse_fft(fft_len);
    let mut spectrum: Vec<Complex<f32>> = inverse.make_input_vec();
    let exponent = (-decay / 2.0) as f32;
    with_log_frequencies(fft_len, |log_f| {
        for (bin, &ln) in spectrum.iter_mut().zip(log_f).skip(1) {
            let (re, im): (f32, f32) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
            *bin = Complex::new(re, im) * (exponent * ln).exp();
        }
    });
    spectrum[0] = Complex::new(0.0, 0.0);
    // The inverse needs a real Nyquist bin (same expected power as the others).
    if fft_len.is_multiple_of(2)
        && let Some(last) = spectrum.last_mut()
    {
        *last = Complex::new(last.norm(), 0.0);
    }
    let mut noise = inverse.make_output_vec();
    let mut scratch = inverse.make_scratch_vec();
    // The planner's transforms only fail on wrong buffer lengths, which are made here.
    if inverse
        .process_with_scratch(&mut spectrum, &mut noise, &mut scratch)
        .is_err()
    {
        return vec![0.0; len];
    }
    noise.truncate(len);
    let power = mean_power(&noise);
    if power > 0.0 {
        let scale = (1.0 / power).sqrt() as f32;
        noise.iter_mut().for_each(|s| *s *= scale);
    }
    noise
}

/// Adds coloured noise (see [`colored_noise`]) at `snr_db` relative to the mean power of
/// `x`. A silent `x` stays silent (the SNR has no reference).
pub fn add_colored_noise(x: &mut [f32], snr_db: f64, decay: f64, rng: &mut Rng) {
    let signal_power = mean_power(x);
    if signal_power <= 0.0 {
        return;
    }
    let noise = colored_noise(x.len(), decay, rng);
    let scale = (signal_power / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
    x.iter_mut().zip(&noise).for_each(|(s, n)| *s += scale * n);
}

/// Freeverb's comb delays at 44.1 kHz (Jezar's published tuning), rescaled to the rate used.
const COMB_TUNING_44K: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// Freeverb's all-pass delays at 44.1 kHz.
const ALLPASS_TUNING_44K: [usize; 4] = [556, 441, 341, 225];
const INPUT_GAIN: f32 = 0.015;
const WET_SCALE: f32 = 3.0;
const ALLPASS_FEEDBACK: f32 = 0.5;
/// Damping of the comb loop filters (Freeverb's default 0.5 × its scale 0.4).
const DAMPING: f32 = 0.2;

/// Parameters of [`reverb`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReverbParams {
    /// 0…1; the comb feedback is `0.7 + 0.28·room_size` (Freeverb), so larger rooms decay
    /// longer.
    pub room_size: f64,
    /// 0…1 crossfade: `y = (1 − wet)·x + wet·reverb(x)`.
    pub wet: f64,
}

/// A mono Freeverb-style reverb: eight parallel low-pass-feedback comb filters followed by
/// four series all-pass filters, delays scaled to `sample_rate`. Output length = input
/// length (the tail beyond the view is cut, as a crop of a longer reverberant signal).
pub fn reverb(x: &mut [f32], params: ReverbParams, sample_rate: u32) {
    if x.is_empty() {
        return;
    }
    let scale = f64::from(sample_rate) / 44_100.0;
    let delay = |d: usize| ((d as f64 * scale).round() as usize).max(1);
    let feedback = (0.7 + 0.28 * params.room_size.clamp(0.0, 1.0)) as f32;
    let wet = params.wet.clamp(0.0, 1.0) as f32;

    // The eight combs run side by side (independent recursions, so the CPU overlaps them).
    let mut buffers: Vec<Vec<f32>> = COMB_TUNING_44K.iter().map(|&t| vec![0.0f32; delay(t)]).collect();
    let mut indices = [0usize; COMB_TUNING_44K.len()];
    let mut stores = [0.0f32; COMB_TUNING_44K.len()];
    let mut acc = vec![0.0f32; x.len()];
    for (out, &input) in acc.iter_mut().zip(x.iter()) {
        let scaled = input * INPUT_GAIN;
        let mut sum = 0.0f32;
        for ((buffer, index), store) in buffers.iter_mut().zip(indices.iter_mut()).zip(stores.iter_mut()) {
            let delayed = buffer[*index];
            *store = delayed * (1.0 - DAMPING) + *store * DAMPING;
            buffer[*index] = scaled + *store * feedback;
            *index += 1;
            if *index == buffer.len() {
                *index = 0;
            }
            sum += delayed;
        }
        *out = sum;
    }
    for &tuning in &ALLPASS_TUNING_44K {
        let mut buffer = vec![0.0f32; delay(tuning)];
        let mut index = 0;
        for sample in acc.iter_mut() {
            let delayed = buffer[index];
            buffer[index] = *sample + delayed * ALLPASS_FEEDBACK;
            *sample = delayed - *sample;
            index += 1;
            if index == buffer.len() {
                index = 0;
            }
        }
    }
    for (sample, wet_sample) in x.iter_mut().zip(&acc) {
        *sample = (1.0 - wet) * *sample + wet * WET_SCALE * wet_sample;
    }
}
