//! Label estimators written for the recoverability tests: they recover key, tempo and
//! pitch from the audio alone, with textbook methods that know nothing about how the
//! corpus was generated.
//!
//! * key: a chroma vector (STFT magnitudes folded onto pitch classes, 65 Hz–2.1 kHz)
//!   summed over the track, correlated with the 24 rotations of the Krumhansl–Kessler
//!   probe-tone profiles; the best correlation wins.
//! * tempo: a spectral-flux onset-strength envelope (log magnitude, 100 frames/s), its
//!   autocorrelation scored by a harmonic comb over the candidate beat periods of
//!   40–240 BPM with the usual log-normal tempo prior (120 BPM, one octave), then a
//!   duple-meter octave check (strong off-beats mean the beat is twice as fast).
//! * pitch: a harmonic-sum spectrum of the held part of the note (2 s, 0.5 Hz bins):
//!   whitened log magnitudes (above their ±40 Hz local mean) at the first ten harmonics of
//!   each candidate f0 on a 5-cent grid over MIDI 20–109, where a harmonic position without
//!   a peak counts against the candidate.

#![allow(dead_code)]

use std::sync::Arc;

use loev_core::key::{Key, Mode};
use realfft::{RealFftPlanner, RealToComplex};

/// The analysis sample rate (the corpus renders at 16 kHz).
pub const FS: f64 = 16_000.0;

/// Magnitude spectra of Hann-windowed frames (`frame` samples, every `hop` samples).
pub struct Stft {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    frame: usize,
    hop: usize,
}

impl Stft {
    pub fn new(frame: usize, hop: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(frame);
        let window = (0..frame)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / frame as f64).cos()) as f32)
            .collect();
        Self {
            fft,
            window,
            frame,
            hop,
        }
    }

    /// Calls `visit(frame_index, magnitudes)` for every full frame.
    pub fn for_each(&self, signal: &[f32], mut visit: impl FnMut(usize, &[f32])) {
        let mut input = self.fft.make_input_vec();
        let mut output = self.fft.make_output_vec();
        let mut magnitudes = vec![0f32; output.len()];
        let mut index = 0;
        let mut start = 0;
        while start + self.frame <= signal.len() {
            for ((x, s), w) in input
                .iter_mut()
                .zip(&signal[start..start + self.frame])
                .zip(&self.window)
            {
                *x = s * w;
            }
            self.fft.process(&mut input, &mut output).expect("fft sizes match");
            for (m, c) in magnitudes.iter_mut().zip(&output) {
                *m = c.norm();
            }
            visit(index, &magnitudes);
            index += 1;
            start += self.hop;
        }
    }

    pub fn bin_hz(&self) -> f64 {
        FS / self.frame as f64
    }
}

/// Krumhansl–Kessler probe-tone profiles (C major, C minor).
const KK_MAJOR: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const KK_MINOR: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

/// The chroma vector of a signal: STFT magnitude folded onto pitch classes.
pub fn chroma(signal: &[f32]) -> [f64; 12] {
    let stft = Stft::new(4096, 2048);
    let bin_hz = stft.bin_hz();
    let (low, high) = ((65.0 / bin_hz) as usize, (2100.0 / bin_hz) as usize);
    let classes: Vec<usize> = (0..=high)
        .map(|k| (((12.0 * (k.max(1) as f64 * bin_hz / 440.0).log2()).round() as i64 + 69).rem_euclid(12)) as usize)
        .collect();
    let mut chroma = [0f64; 12];
    stft.for_each(signal, |_, mags| {
        for k in low..=high {
            chroma[classes[k]] += mags[k] as f64;
        }
    });
    chroma
}

fn pearson(a: &[f64; 12], b: &[f64; 12]) -> f64 {
    let ma = a.iter().sum::<f64>() / 12.0;
    let mb = b.iter().sum::<f64>() / 12.0;
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-12)
}

/// The key whose rotated Krumhansl–Kessler profile correlates best with the chroma.
pub fn estimate_key(signal: &[f32]) -> Key {
    let c = chroma(signal);
    let mut best = (f64::NEG_INFINITY, Key::new(0, Mode::Major));
    for tonic in 0..12u8 {
        for (mode, profile) in [(Mode::Major, KK_MAJOR), (Mode::Minor, KK_MINOR)] {
            let rotated: [f64; 12] = std::array::from_fn(|pc| profile[(pc + 12 - tonic as usize) % 12]);
            let r = pearson(&c, &rotated);
            if r > best.0 {
                best = (r, Key::new(tonic, mode));
            }
        }
    }
    best.1
}

/// Frames per second of the onset envelope.
const ONSET_FPS: f64 = 100.0;

/// Spectral-flux onset strength: the summed positive log-magnitude increase per frame
/// (1024-sample frames, 10 ms hop), minus its local mean (0.5 s), half-wave rectified.
pub fn onset_envelope(signal: &[f32]) -> Vec<f64> {
    let hop = (FS / ONSET_FPS) as usize;
    let stft = Stft::new(1024, hop);
    let mut previous: Vec<f32> = Vec::new();
    let mut flux = Vec::new();
    stft.for_each(signal, |_, mags| {
        let log: Vec<f32> = mags.iter().map(|m| (1.0 + 1000.0 * m).ln()).collect();
        let value = if previous.is_empty() {
            0.0
        } else {
            log.iter().zip(&previous).map(|(a, b)| (a - b).max(0.0) as f64).sum()
        };
        flux.push(value);
        previous = log;
    });
    let half = (0.25 * ONSET_FPS) as usize;
    let mut prefix = vec![0.0; flux.len() + 1];
    for (i, v) in flux.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    (0..flux.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(flux.len()));
            (flux[i] - (prefix[hi] - prefix[lo]) / (hi - lo) as f64).max(0.0)
        })
        .collect()
}

fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    (0..=max_lag.min(x.len().saturating_sub(1)))
        .map(|lag| x[lag..].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() / (x.len() - lag) as f64)
        .collect()
}

fn interpolate(values: &[f64], position: f64) -> f64 {
    let i = position.floor() as usize;
    if i + 1 >= values.len() {
        return 0.0;
    }
    let frac = position - i as f64;
    values[i] * (1.0 - frac) + values[i + 1] * frac
}

/// Tempo search range (BPM), wider than the corpus's 60–180 on purpose.
const TEMPO_RANGE: (f64, f64) = (40.0, 240.0);

/// The tempo (BPM) of a signal:
/// 1. every candidate period in 40–240 BPM (0.1 BPM steps) is scored by a harmonic comb
///    over the onset autocorrelation at its first four multiples, weighted by the usual
///    log-normal tempo prior (centre 120 BPM, one octave standard deviation, as librosa's
///    default);
/// 2. duple-meter octave check: if, at the best candidate's period and phase, the onsets
///    half-way between beats are nearly as strong as those on the beats (ratio > 0.7), the
///    candidate was counting every other beat and the tempo is doubled.
pub fn estimate_tempo(signal: &[f32]) -> f64 {
    let onsets = onset_envelope(signal);
    let max_lag = (4.0 * 60.0 / TEMPO_RANGE.0 * ONSET_FPS) as usize;
    let acf = autocorrelation(&onsets, max_lag);
    let mut best = (f64::NEG_INFINITY, 0.0);
    let mut bpm = TEMPO_RANGE.0;
    while bpm <= TEMPO_RANGE.1 {
        let period = 60.0 / bpm * ONSET_FPS;
        let comb: f64 = (1..=4).map(|m| interpolate(&acf, m as f64 * period) / m as f64).sum();
        let prior = (-0.5 * (bpm / 120.0).log2().powi(2)).exp();
        if comb * prior > best.0 {
            best = (comb * prior, bpm);
        }
        bpm += 0.1;
    }
    let tempo = best.1;
    if offbeat_ratio(&onsets, 60.0 / tempo * ONSET_FPS) > 0.7 && tempo * 2.0 <= TEMPO_RANGE.1 {
        tempo * 2.0
    } else {
        tempo
    }
}

/// At beat period `period` (frames) and the phase with the strongest beats: the mean onset
/// strength half-way between beats divided by the mean on the beats (each the maximum
/// within ±20 ms, which tolerates swing-free timing jitter).
pub fn offbeat_ratio(onsets: &[f64], period: f64) -> f64 {
    let at = |t: f64| {
        let i = t.round() as usize;
        let (lo, hi) = (i.saturating_sub(2), (i + 2).min(onsets.len().saturating_sub(1)));
        (lo..=hi).map(|k| onsets[k]).fold(0.0, f64::max)
    };
    let beats = ((onsets.len() as f64 - period) / period).floor().max(1.0) as usize;
    let mut best = (f64::NEG_INFINITY, 0.0);
    let mut phase = 0.0;
    while phase < period {
        let on: f64 = (0..beats).map(|k| at(phase + k as f64 * period)).sum();
        let off: f64 = (0..beats).map(|k| at(phase + (k as f64 + 0.5) * period)).sum();
        if on > best.0 {
            best = (on, off / on.max(1e-12));
        }
        phase += 1.0;
    }
    best.1
}

/// The MIDI pitch whose harmonic series best explains the held part of a note.
pub fn estimate_pitch(signal: &[f32]) -> u8 {
    let frame = 32_768usize;
    let start = (0.05 * FS) as usize;
    let end = (start + frame).min(signal.len());
    let mut padded = vec![0f32; frame];
    padded[..end - start].copy_from_slice(&signal[start..end]);
    let stft = Stft::new(frame, frame);
    let bin_hz = stft.bin_hz();
    let mut spectrum = Vec::new();
    stft.for_each(&padded, |_, mags| spectrum = mags.to_vec());
    // Spectral whitening: the log magnitude above its local mean (±40 Hz), so that only
    // spectral peaks count, not broadband noise (breath, bow, hammer).
    // Floored 70 dB below the strongest bin, so numerical noise between the partials of a
    // clean tone does not look like peaks.
    let floor = spectrum.iter().cloned().fold(0f32, f32::max) as f64 * 10f64.powf(-70.0 / 20.0) + 1e-12;
    let log: Vec<f64> = spectrum.iter().map(|&m| (m as f64).max(floor).log10()).collect();
    let half = (40.0 / bin_hz) as usize;
    let mut prefix = vec![0.0; log.len() + 1];
    for (i, v) in log.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    let log: Vec<f64> = (0..log.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(log.len()));
            (log[i] - (prefix[hi] - prefix[lo]) / (hi - lo) as f64).max(0.0)
        })
        .collect();
    let value_near = |hz: f64| {
        let center = hz / bin_hz;
        // ±0.8 % (14 cents): room for vibrato and slightly stretched partials.
        let radius = (center * 0.008).max(1.0);
        let (lo, hi) = (
            (center - radius).floor().max(0.0) as usize,
            ((center + radius).ceil() as usize).min(log.len() - 1),
        );
        (lo..=hi).map(|k| log[k]).fold(0.0, f64::max)
    };
    let mut best = (f64::NEG_INFINITY, 0.0);
    let mut cents = 2000.0;
    while cents <= 10_900.0 {
        let f0 = 440.0 * 2f64.powf((cents / 100.0 - 69.0) / 12.0);
        let mut score = 0.0;
        for h in 1..=10 {
            let hz = h as f64 * f0;
            if hz > 7800.0 {
                break;
            }
            // A harmonic position without a peak (less than 10 dB above the local mean)
            // counts against the candidate, so sub-octaves do not win on noise.
            score += (value_near(hz) - 0.5) * 0.85f64.powi(h - 1);
        }
        if score > best.0 {
            best = (score, cents);
        }
        cents += 5.0;
    }
    (best.1 / 100.0).round().clamp(0.0, 127.0) as u8
}
