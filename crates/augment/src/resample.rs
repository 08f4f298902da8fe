//! Band-limited fractional resampling to an exact output length (Kaiser-windowed sinc,
//! table-driven), used to turn a time-stretch into a transposition.
//!
//! Output sample `j` is the band-limited value of the input at position
//! `j × in_len / out_len`, so timing is kept exactly (no delay). When reading faster than
//! one input sample per output sample, the kernel is widened to low-pass at the output's
//! Nyquist frequency (no aliasing). Edges are reflected.

use std::sync::OnceLock;

/// Zero crossings of the sinc on each side of the kernel centre.
const ZERO_CROSSINGS: usize = 12;
/// Table entries per zero crossing (linear interpolation between them).
const TABLE_RESOLUTION: usize = 256;
/// Kaiser window shape: about 70 dB of stop-band attenuation with 12 zero crossings.
const KAISER_BETA: f64 = 7.0;
/// Cutoff as a fraction of the lower of the two Nyquist frequencies (transition band room).
const CUTOFF: f64 = 0.95;

fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// `sinc(u) · kaiser(u / ZERO_CROSSINGS)` sampled at `u = i / TABLE_RESOLUTION`.
fn kernel_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let len = ZERO_CROSSINGS * TABLE_RESOLUTION + 2;
        let norm = bessel_i0(KAISER_BETA);
        (0..len)
            .map(|i| {
                let u = i as f64 / TABLE_RESOLUTION as f64;
                if u >= ZERO_CROSSINGS as f64 {
                    return 0.0;
                }
                let sinc = if u == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
                };
                let r = u / ZERO_CROSSINGS as f64;
                let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / norm;
                (sinc * window) as f32
            })
            .collect()
    })
}

/// Phases of the per-call polyphase bank (weights are interpolated linearly between
/// neighbouring phases, so the timing error is far below 1/(2·PHASES) of a sample).
const PHASES: usize = 256;

/// Reflects index `k` into `0..len` (whole-sample symmetric reflection).
fn reflect(k: i64, len: i64) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let mut m = k.rem_euclid(period);
    if m >= len {
        m = period - m;
    }
    m as usize
}

/// The kernel `g(u)` at any `u ≥ 0` from the fine table (linear interpolation).
fn kernel(table: &[f32], u: f64) -> f32 {
    let position = u * TABLE_RESOLUTION as f64;
    let index = position as usize;
    if index + 1 >= table.len() {
        return 0.0;
    }
    let frac = (position - index as f64) as f32;
    table[index] + (table[index + 1] - table[index]) * frac
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent partial sums let the compiler vectorise the loop.
    let mut acc = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Resamples `input` so that it fills `out` exactly (`out[j]` = input at `j·in/out`).
pub fn resample_into(input: &[f32], out: &mut [f32]) {
    if out.is_empty() {
        return;
    }
    if input.is_empty() {
        out.fill(0.0);
        return;
    }
    if input.len() == out.len() {
        out.copy_from_slice(input);
        return;
    }
    let table = kernel_table();
    let step = input.len() as f64 / out.len() as f64;
    let cutoff = CUTOFF * (1.0 / step).min(1.0);
    // Taps k = n − half + 1 … n + half around n = ⌊position⌋.
    let half = (ZERO_CROSSINGS as f64 / cutoff).ceil() as usize;
    let taps = 2 * half;

    // Polyphase bank for this cutoff: row q holds the weights for fractional position q/PHASES,
    // each row normalised to unit sum (exact DC gain).
    let mut bank = vec![0.0f32; (PHASES + 1) * taps];
    for (q, row) in bank.chunks_exact_mut(taps).enumerate() {
        let phase = q as f64 / PHASES as f64;
        for (t, weight) in row.iter_mut().enumerate() {
            let distance = (phase + half as f64 - 1.0 - t as f64).abs();
            *weight = kernel(table, cutoff * distance);
        }
        let sum: f32 = row.iter().sum();
        if sum.abs() > 1e-6 {
            row.iter_mut().for_each(|w| *w /= sum);
        }
    }

    // The input with `half + 1` reflected samples on each side, so every window is in range.
    let pad = half + 1;
    let len = input.len() as i64;
    let mut padded = Vec::with_capacity(input.len() + 2 * pad);
    padded.extend((0..pad).map(|i| input[reflect(i as i64 - pad as i64, len)]));
    padded.extend_from_slice(input);
    padded.extend((0..pad).map(|i| input[reflect(len + i as i64, len)]));

    for (j, sample) in out.iter_mut().enumerate() {
        let position = j as f64 * step;
        let n = position.floor();
        let q = (position - n) * PHASES as f64;
        let q0 = (q as usize).min(PHASES - 1);
        let frac = (q - q0 as f64) as f32;
        // Window start in `padded`: (n − half + 1) + pad.
        let start = n as usize + pad + 1 - half;
        let window = &padded[start..start + taps];
        let low = dot(&bank[q0 * taps..(q0 + 1) * taps], window);
        let high = dot(&bank[(q0 + 1) * taps..(q0 + 2) * taps], window);
        *sample = low + (high - low) * frac;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn sine_frequency_scales_exactly_and_level_is_kept() {
        let freq = 1000.0;
        let input: Vec<f32> = (0..20_000)
            .map(|i| (2.0 * PI * freq * i as f64 / 16_000.0).sin() as f32)
            .collect();
        for out_len in [15_000usize, 25_000] {
            let mut out = vec![0.0f32; out_len];
            resample_into(&input, &mut out);
            // Sample j is the input at position j·step: compare with the analytic sine.
            let step = input.len() as f64 / out_len as f64;
            let mut max_error = 0.0f64;
            for (j, &v) in out.iter().enumerate().take(out_len - 400).skip(400) {
                let expected = (2.0 * PI * freq * j as f64 * step / 16_000.0).sin();
                max_error = max_error.max((f64::from(v) - expected).abs());
            }
            assert!(max_error < 2e-3, "{out_len}: {max_error}");
        }
    }

    #[test]
    fn downsampling_removes_what_would_alias() {
        // 7 kHz read 1.5× faster would land at 10.5 kHz (> 8 kHz): it must be filtered out.
        let input: Vec<f32> = (0..30_000)
            .map(|i| (2.0 * PI * 7_000.0 * i as f64 / 16_000.0).sin() as f32)
            .collect();
        let mut out = vec![0.0f32; 20_000];
        resample_into(&input, &mut out);
        let rms = (out[500..19_500].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / 19_000.0).sqrt();
        assert!(rms < 1e-3, "{rms}");
    }
}
