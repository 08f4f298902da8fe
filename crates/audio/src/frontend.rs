//! The log-mel front end. The default configuration is MULE's exactly, with
//! librosa semantics (`librosa.feature.melspectrogram`, then MULE's compression and slicer):
//!
//! * STFT: `n_fft` 2048, periodic Hann window of `win_length` 400 zero-padded to the centre of
//!   the frame, hop 160, `center=True` with reflect padding of `n_fft / 2` on both sides, so a
//!   signal of `n` samples gives `1 + n / hop` frames; power spectrum (`power` 2).
//! * Mel filterbank: 96 triangular filters on the HTK mel scale from 0 to 8000 Hz, each scaled
//!   to unit L2 norm (librosa `norm=2.0`), applied to the power spectrum.
//! * Compression `log10(10000 · x + 1)` ("log10_nonneg"); a non-finite value (only from
//!   non-finite input) becomes −9999999999, as in MULE.
//! * Model inputs: `frames` (300) frames, each slice standardised by its own mean and population
//!   standard deviation, floored at `std_floor` (0.01).
//!
//! Mel count, FFT and window sizes, frame count, mel scale, filter norm and compression are
//! configuration, so e.g. the 128-mel × 400-frame input of Wang et al. is a config change.
//! The FFT plan and the (sparse) filterbank are built once in [`FrontEnd::new`]; a call
//! allocates its buffers once, never per frame.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex, num_complex::Complex};
use serde::{Deserialize, Serialize};

/// The value MULE writes for a non-finite compressed magnitude.
const SMALLEST_MAGNITUDE: f32 = -9_999_999_999.0;

/// The mel scale formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelScale {
    /// `2595 · log10(1 + f / 700)` (librosa `htk=True`, MULE).
    Htk,
    /// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above (librosa default).
    Slaney,
}

/// How each triangular filter is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterNorm {
    /// Unit L2 norm per filter (librosa `norm=2.0`, MULE).
    L2,
    /// Constant energy per band: `2 / (f_{i+2} − f_i)` (librosa `norm='slaney'`).
    Slaney,
    /// Peak 1 (librosa `norm=None`).
    None,
}

/// Padding of the signal ends when frames are centred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// Mirror without repeating the edge sample (numpy `reflect`; MULE).
    Reflect,
    /// Zeros (librosa ≥ 0.10 default).
    Constant,
}

/// Magnitude compression of the mel power.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Compression {
    /// `log10(scale · x + 1)`, non-negative (MULE's `log10_nonneg`, scale 10000).
    Log10Nonneg {
        /// Multiplier inside the log.
        scale: f64,
    },
    /// Decibels `10 · log10(max(x, amin))`, optionally clipped to `top_db` below the maximum of
    /// the computed array (librosa `power_to_db` with `ref=1`).
    Db {
        /// Floor of the power before the log.
        amin: f64,
        /// Dynamic range kept below the maximum; none when absent.
        top_db: Option<f64>,
    },
    /// Natural log `ln(x + eps)`.
    Ln {
        /// Offset inside the log.
        eps: f64,
    },
    /// No compression.
    Linear,
}

/// Front-end configuration (TOML: the field names below; unknown keys are errors). The default
/// is MULE's front end exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontEndConfig {
    /// Sample rate of the input signal in Hz.
    pub sample_rate: u32,
    /// FFT size.
    pub n_fft: usize,
    /// Periodic Hann window length, centred in the FFT frame.
    pub win_length: usize,
    /// Hop between frames, in samples.
    pub hop_length: usize,
    /// Centre frames on `t · hop` by padding `n_fft / 2` samples at both ends.
    pub center: bool,
    /// How the ends are padded when `center` is true.
    pub pad_mode: PadMode,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest filter edge in Hz.
    pub fmin: f64,
    /// Highest filter edge in Hz (at most `sample_rate / 2`).
    pub fmax: f64,
    /// Mel scale formula.
    pub mel_scale: MelScale,
    /// Filter normalisation.
    pub filter_norm: FilterNorm,
    /// Exponent of the magnitude spectrum (2 = power).
    pub power: f64,
    /// Compression of the mel spectrogram.
    pub compression: Compression,
    /// Frames per model input slice.
    pub frames: usize,
    /// Standardise each slice (mean 0, std 1).
    pub standardize: bool,
    /// Floor of the standard deviation used to standardise.
    pub std_floor: f64,
}

impl Default for FrontEndConfig {
    fn default() -> Self {
        Self {
            sample_rate: crate::SAMPLE_RATE,
            n_fft: 2048,
            win_length: 400,
            hop_length: 160,
            center: true,
            pad_mode: PadMode::Reflect,
            n_mels: 96,
            fmin: 0.0,
            fmax: 8000.0,
            mel_scale: MelScale::Htk,
            filter_norm: FilterNorm::L2,
            power: 2.0,
            compression: Compression::Log10Nonneg { scale: 10_000.0 },
            frames: 300,
            standardize: true,
            std_floor: 0.01,
        }
    }
}

/// A front-end configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum FrontEndError {
    /// One key has an impossible value.
    #[error("front-end config: `{key}` {reason}")]
    InvalidConfig {
        /// The config key.
        key: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

/// A compressed mel spectrogram.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    /// Number of mel bands.
    pub n_mels: usize,
    /// Number of frames.
    pub n_frames: usize,
    /// `[n_mels][n_frames]`, mel-major (the MULE/librosa layout).
    pub data: Vec<f32>,
}

/// One triangular filter: its first FFT bin and weights.
#[derive(Debug, Clone)]
struct Filter {
    start: usize,
    weights: Vec<f32>,
}

/// What one STFT analysis reads with: the window, its offset inside the FFT frame, and the
/// mel filters applied to the power spectrum.
#[derive(Clone, Copy)]
struct Analysis<'a> {
    window: &'a [f32],
    offset: usize,
    filters: &'a [Filter],
}

/// A triangular filter before sampling: edges and peak in Hz, and the factor its
/// normalisation applied, so that the same filter can be evaluated at warped frequencies.
#[derive(Debug, Clone, Copy)]
struct Triangle {
    low_hz: f64,
    peak_hz: f64,
    high_hz: f64,
    scale: f32,
}

impl Triangle {
    /// The unnormalised triangle at `f` Hz (librosa's formula).
    fn at(&self, f: f64) -> f32 {
        let lower = (f - self.low_hz) / (self.peak_hz - self.low_hz);
        let upper = (self.high_hz - f) / (self.high_hz - self.peak_hz);
        lower.min(upper).max(0.0) as f32
    }
}

/// How the spectral augmentation method reads a view straight from the STFT of its source
/// span, instead of synthesising a transformed waveform first.
///
/// * **Time stretch** by `time_rate` (> 1 = faster): frame `t` is centred on source sample
///   `round(t · hop_length · time_rate)` with the window unchanged, so a span of
///   `ceil(time_rate · view_samples)` samples gives exactly `frames` frames and the content
///   plays `time_rate` times faster. No resynthesis, so no phase to reconstruct.
/// * **Pitch shift** by `pitch_ratio = 2^(semitones / 12)`: content at `f` moves to
///   `pitch_ratio · f`, so mel band `m` of the shifted view is the unshifted power spectrum
///   weighted by the band's triangle at `pitch_ratio · f`. Content that lands above the top
///   band (`fmax`) falls out of every band, and bands whose source would lie above the
///   Nyquist frequency stay empty, as they do after a waveform pitch shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralWarp {
    /// Playback-rate factor (1 = unchanged).
    pub time_rate: f64,
    /// Frequency factor (1 = unchanged).
    pub pitch_ratio: f64,
}

impl SpectralWarp {
    /// No stretch, no shift: [`FrontEnd::warped_mel_power`] then equals the plain front end.
    pub const IDENTITY: Self = Self {
        time_rate: 1.0,
        pitch_ratio: 1.0,
    };

    /// A warp from the planned transforms (`None` = not applied).
    pub fn new(stretch_rate: Option<f64>, pitch_semitones: Option<f64>) -> Self {
        Self {
            time_rate: stretch_rate.unwrap_or(1.0),
            pitch_ratio: pitch_semitones.map_or(1.0, |s| 2f64.powf(s / 12.0)),
        }
    }
}

/// The front end: an FFT plan and a filterbank built once, shareable across threads.
#[derive(Clone)]
pub struct FrontEnd {
    cfg: FrontEndConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Periodic Hann of `win_length`.
    window: Vec<f32>,
    /// Offset of the window inside the FFT frame.
    window_offset: usize,
    filters: Vec<Filter>,
    /// The filters before sampling (for [`FrontEnd::warped_mel_power`]).
    triangles: Vec<Triangle>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl FrontEnd {
    /// Validates `cfg` and builds the FFT plan and filterbank.
    pub fn new(cfg: FrontEndConfig) -> Result<Self, FrontEndError> {
        validate(&cfg)?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        let window: Vec<f32> = (0..cfg.win_length)
            .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / cfg.win_length as f64).cos()) as f32)
            .collect();
        let window_offset = (cfg.n_fft - cfg.win_length) / 2;
        let (filters, triangles) = mel_filters(&cfg);
        Ok(Self {
            cfg,
            fft,
            window,
            window_offset,
            filters,
            triangles,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FrontEndConfig {
        &self.cfg
    }

    /// The mel filterbank as a dense `[n_mels][n_fft / 2 + 1]` matrix (mel-major), the weights
    /// applied to the power spectrum; for comparing with a filterbank stored by another
    /// implementation.
    pub fn filterbank(&self) -> Vec<f32> {
        let n_bins = self.cfg.n_fft / 2 + 1;
        let mut dense = vec![0.0f32; self.filters.len() * n_bins];
        for (row, filter) in dense.chunks_exact_mut(n_bins).zip(&self.filters) {
            row[filter.start..filter.start + filter.weights.len()].copy_from_slice(&filter.weights);
        }
        dense
    }

    /// Number of frames of a signal of `len` samples.
    pub fn n_frames(&self, len: usize) -> usize {
        if self.cfg.center {
            1 + len / self.cfg.hop_length
        } else if len >= self.cfg.n_fft {
            1 + (len - self.cfg.n_fft) / self.cfg.hop_length
        } else {
            0
        }
    }

    /// Samples of one view: `frames · hop_length` (48000 = 3 s at the default), which gives
    /// `frames + 1` STFT frames of which the model input keeps the first `frames`.
    pub fn view_samples(&self) -> usize {
        self.cfg.frames * self.cfg.hop_length
    }

    /// Values of one model input: `n_mels · frames` (the `out` length of [`Self::view_input`]).
    pub fn input_len(&self) -> usize {
        self.cfg.n_mels * self.cfg.frames
    }

    /// The compressed mel spectrogram of `x` (librosa semantics, see the module doc).
    pub fn log_mel(&self, x: &[f32]) -> LogMel {
        let n_frames = self.n_frames(x.len());
        let mut data = vec![0.0; self.cfg.n_mels * n_frames];
        self.mel_power_into(x, n_frames, &mut data, n_frames);
        self.compress(&mut data);
        LogMel {
            n_mels: self.cfg.n_mels,
            n_frames,
            data,
        }
    }

    /// One model input `[n_mels][frames]` (mel-major) from one view `x`: frames `0..frames` of
    /// `log_mel(x)`, standardised when configured. `x` normally holds [`Self::view_samples`]
    /// samples; frames past the end of a shorter `x` hold the compressed value of silence.
    ///
    /// # Panics
    /// If `out.len() != n_mels · frames` (a caller bug, not an input problem).
    pub fn view_input(&self, x: &[f32], out: &mut [f32]) {
        let frames = self.cfg.frames;
        assert_eq!(
            out.len(),
            self.cfg.n_mels * frames,
            "view_input: `out` must hold n_mels · frames values"
        );
        let available = self.n_frames(x.len()).min(frames);
        self.mel_power_into(x, available, out, frames);
        for m in 0..self.cfg.n_mels {
            out[m * frames + available..(m + 1) * frames].fill(0.0);
        }
        self.finish_input(out);
    }

    /// The uncompressed mel power `[n_mels][frames]` of one view read from its source span `x`
    /// through `warp` (see [`SpectralWarp`]); frames past the end of a short `x` are 0.
    /// [`Self::finish_input`] then turns it into a model input. With
    /// [`SpectralWarp::IDENTITY`] the two calls give exactly [`Self::view_input`].
    ///
    /// # Panics
    /// If `out.len() != n_mels · frames` (a caller bug, not an input problem).
    pub fn warped_mel_power(&self, x: &[f32], warp: SpectralWarp, out: &mut [f32]) {
        let frames = self.cfg.frames;
        assert_eq!(
            out.len(),
            self.cfg.n_mels * frames,
            "warped_mel_power: `out` must hold n_mels · frames values"
        );
        let hop = self.cfg.hop_length as f64 * warp.time_rate;
        let position = |t: usize| {
            if warp.time_rate == 1.0 {
                t * self.cfg.hop_length
            } else {
                (t as f64 * hop).round() as usize
            }
        };
        // Frames whose position lies inside the signal (as `n_frames` counts them).
        let fits = |t: usize| {
            let p = position(t);
            if self.cfg.center {
                p <= x.len()
            } else {
                p + self.cfg.n_fft <= x.len()
            }
        };
        let available = (0..frames).take_while(|&t| fits(t)).count();
        out.fill(0.0);
        if warp.pitch_ratio == 1.0 {
            let plain = Analysis {
                window: &self.window,
                offset: self.window_offset,
                filters: &self.filters,
            };
            self.mel_power_at(x, available, position, plain, out, frames);
        } else {
            let window = self.scaled_window(warp.pitch_ratio);
            let filters = self.warped_filters(warp.pitch_ratio);
            let warped = Analysis {
                window: &window,
                offset: (self.cfg.n_fft - window.len()) / 2,
                filters: &filters,
            };
            self.mel_power_at(x, available, position, warped, out, frames);
        }
    }

    /// The analysis window of a view shifted by `pitch_ratio`: the periodic Hann stretched to
    /// `pitch_ratio × win_length` samples (at most `n_fft`), scaled to the same energy.
    ///
    /// Reading the spectrum at warped frequencies also scales every spectral peak's width by
    /// `pitch_ratio`, whereas the waveform shifted for real is analysed with the unchanged
    /// window and keeps the window's peak width. A window longer by `pitch_ratio` narrows the
    /// peaks by as much, so the warped read sees peaks exactly as wide as the real shift
    /// would; equal energy keeps a sinusoid's band power.
    fn scaled_window(&self, pitch_ratio: f64) -> Vec<f32> {
        let len = ((self.cfg.win_length as f64 * pitch_ratio).round() as usize).clamp(1, self.cfg.n_fft);
        let mut window: Vec<f64> = (0..len)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / len as f64).cos())
            .collect();
        let energy = |w: &[f64]| w.iter().map(|v| v * v).sum::<f64>();
        let target: f64 = self.window.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let scale = (target / energy(&window).max(f64::MIN_POSITIVE)).sqrt();
        window.iter_mut().for_each(|v| *v *= scale);
        window.into_iter().map(|v| v as f32).collect()
    }

    /// Compresses and (when configured) standardises `[n_mels][frames]` mel power in place:
    /// the last step of [`Self::view_input`].
    pub fn finish_input(&self, out: &mut [f32]) {
        self.compress(out);
        if self.cfg.standardize {
            standardize(out, self.cfg.std_floor);
        }
    }

    /// The filterbank read by a view shifted by `pitch_ratio`: filter `m` evaluated at
    /// `pitch_ratio · f` on the FFT bins, with the normalisation of the unshifted filter.
    fn warped_filters(&self, pitch_ratio: f64) -> Vec<Filter> {
        let bin_hz = self.cfg.sample_rate as f64 / self.cfg.n_fft as f64;
        let n_bins = self.cfg.n_fft / 2 + 1;
        self.triangles
            .iter()
            .map(|tri| {
                // Bins whose warped frequency lies strictly inside the triangle.
                let first = ((tri.low_hz / pitch_ratio / bin_hz).floor().max(0.0) as usize).min(n_bins);
                let last = ((tri.high_hz / pitch_ratio / bin_hz).ceil().max(0.0) as usize).min(n_bins - 1);
                let weights: Vec<f32> = (first..=last.max(first))
                    .map(|k| tri.at(pitch_ratio * k as f64 * bin_hz) * tri.scale)
                    .collect();
                let start = weights.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = weights.iter().rposition(|&w| w != 0.0).map_or(start, |e| e + 1);
                Filter {
                    start: (first + start).min(n_bins),
                    weights: weights[start..end].to_vec(),
                }
            })
            .collect()
    }

    /// MULE's slicer: one slice of `frames` frames centred on every multiple of `hop_frames`
    /// (200 = 2 s at the default) after 0, each centre clamped so the slice lies inside the
    /// spectrogram; each slice standardised when configured. Returns (centre time in seconds of
    /// the audio the slice covers, slice `[n_mels][frames]`).
    ///
    /// Where MULE returns nothing (a spectrogram of at most `hop_frames` frames, i.e. < 2 s) or
    /// an ill-formed slice (fewer than `frames` frames), this returns one slice from frame 0,
    /// padded at the end with the compressed value of silence. `hop_frames` 0 is read as 1.
    pub fn slices(&self, mel: &LogMel, hop_frames: usize) -> Vec<(f64, Vec<f32>)> {
        let frames = self.cfg.frames;
        let hop_frames = hop_frames.max(1);
        let seconds_per_frame = self.cfg.hop_length as f64 / self.cfg.sample_rate as f64;
        let n_mels = mel.n_mels;
        let n = mel.n_frames;
        let back = frames / 2;
        let silence = self.compressed_silence();
        slice_starts(n, frames, hop_frames)
            .into_iter()
            .map(|start| {
                let mut slice = vec![silence; n_mels * frames];
                let available = n.saturating_sub(start).min(frames);
                for m in 0..n_mels {
                    let src = &mel.data[m * n + start..m * n + start + available];
                    slice[m * frames..m * frames + available].copy_from_slice(src);
                }
                if self.cfg.standardize {
                    standardize(&mut slice, self.cfg.std_floor);
                }
                // The centre of the audio the slice covers (MULE's centre for a full slice).
                let centre = if available == frames {
                    (start + back) as f64
                } else {
                    start as f64 + available as f64 / 2.0
                };
                (centre * seconds_per_frame, slice)
            })
            .collect()
    }

    /// The compressed value of a silent bin.
    fn compressed_silence(&self) -> f32 {
        let mut v = [0.0f32];
        self.compress(&mut v);
        v[0]
    }

    /// Mel power of frames `0..n_frames` of `x` into `out[m · stride + t]`.
    fn mel_power_into(&self, x: &[f32], n_frames: usize, out: &mut [f32], stride: usize) {
        let hop = self.cfg.hop_length;
        let plain = Analysis {
            window: &self.window,
            offset: self.window_offset,
            filters: &self.filters,
        };
        self.mel_power_at(x, n_frames, |t| t * hop, plain, out, stride);
    }

    /// Mel power through `analysis` of frames `0..n_frames` of `x`, frame `t` starting (before
    /// centring) at sample `position(t)`, into `out[m · stride + t]`.
    fn mel_power_at(
        &self,
        x: &[f32],
        n_frames: usize,
        position: impl Fn(usize) -> usize,
        analysis: Analysis<'_>,
        out: &mut [f32],
        stride: usize,
    ) {
        let Analysis {
            window,
            offset: window_offset,
            filters,
        } = analysis;
        if n_frames == 0 || x.is_empty() {
            return;
        }
        let cfg = &self.cfg;
        let n_fft = cfg.n_fft;
        let pad = if cfg.center { n_fft / 2 } else { 0 };
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; spectrum.len()];
        let len = x.len() as isize;
        for t in 0..n_frames {
            frame.fill(0.0);
            // Sample index (in x) of frame position `window_offset`.
            let first = (position(t) + window_offset) as isize - pad as isize;
            let dst = &mut frame[window_offset..window_offset + window.len()];
            if first >= 0 && first + window.len() as isize <= len {
                let src = &x[first as usize..first as usize + window.len()];
                for ((d, &s), &w) in dst.iter_mut().zip(src).zip(window) {
                    *d = s * w;
                }
            } else {
                for (k, (d, &w)) in dst.iter_mut().zip(window).enumerate() {
                    *d = padded_sample(x, first + k as isize, cfg.pad_mode) * w;
                }
            }
            // Lengths come from the plan itself, so this cannot fail.
            let _ = self.fft.process_with_scratch(&mut frame, &mut spectrum, &mut scratch);
            spectrum_power(&spectrum, cfg.power, &mut power);
            for (m, filter) in filters.iter().enumerate() {
                let bins = &power[filter.start..filter.start + filter.weights.len()];
                let acc: f32 = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
                out[m * stride + t] = acc;
            }
        }
    }

    /// Applies the configured compression in place.
    fn compress(&self, data: &mut [f32]) {
        match self.cfg.compression {
            Compression::Log10Nonneg { scale } => {
                let scale = scale as f32;
                for v in data.iter_mut() {
                    *v = (scale * *v + 1.0).log10();
                }
            }
            Compression::Db { amin, top_db } => {
                let amin = amin as f32;
                for v in data.iter_mut() {
                    *v = 10.0 * v.max(amin).log10();
                }
                if let Some(top_db) = top_db {
                    let max = data
                        .iter()
                        .copied()
                        .filter(|v| v.is_finite())
                        .fold(f32::NEG_INFINITY, f32::max);
                    let floor = max - top_db as f32;
                    for v in data.iter_mut() {
                        *v = v.max(floor);
                    }
                }
            }
            Compression::Ln { eps } => {
                let eps = eps as f32;
                for v in data.iter_mut() {
                    *v = (*v + eps).ln();
                }
            }
            Compression::Linear => {}
        }
        for v in data.iter_mut() {
            if !v.is_finite() {
                *v = SMALLEST_MAGNITUDE;
            }
        }
    }
}

/// `x[i]` extended past its ends by `mode` (numpy `np.pad` semantics for `reflect`).
fn padded_sample(x: &[f32], i: isize, mode: PadMode) -> f32 {
    let n = x.len() as isize;
    if (0..n).contains(&i) {
        return x[i as usize];
    }
    match mode {
        PadMode::Constant => 0.0,
        PadMode::Reflect => {
            if n == 1 {
                return x[0];
            }
            let period = 2 * (n - 1);
            let mut j = i.rem_euclid(period);
            if j >= n {
                j = period - j;
            }
            x[j as usize]
        }
    }
}

fn spectrum_power(spectrum: &[Complex<f32>], power: f64, out: &mut [f32]) {
    if power == 2.0 {
        for (o, c) in out.iter_mut().zip(spectrum) {
            *o = c.re * c.re + c.im * c.im;
        }
    } else if power == 1.0 {
        for (o, c) in out.iter_mut().zip(spectrum) {
            *o = (c.re * c.re + c.im * c.im).sqrt();
        }
    } else {
        let half = (power / 2.0) as f32;
        for (o, c) in out.iter_mut().zip(spectrum) {
            *o = (c.re * c.re + c.im * c.im).powf(half);
        }
    }
}

/// Start frames of MULE's slices for a spectrogram of `n_frames` frames: one slice of
/// `frames` frames centred on every multiple of `hop_frames` after 0, each centre clamped so the
/// slice lies inside the spectrogram; a single slice from frame 0 when none fits. This is the
/// rule of [`FrontEnd::slices`], usable without cutting the slices (streaming extraction).
pub fn slice_starts(n_frames: usize, frames: usize, hop_frames: usize) -> Vec<usize> {
    let hop_frames = hop_frames.max(1);
    let back = frames / 2;
    let forward = frames - back;
    let mut starts = Vec::new();
    if n_frames >= frames {
        let mut t = hop_frames;
        while t < n_frames {
            let c = t.max(back).min(n_frames - forward);
            starts.push(c - back);
            t += hop_frames;
        }
    }
    if starts.is_empty() {
        starts.push(0);
    }
    starts
}

/// Subtracts the mean and divides by the population std (non-finite → 1, floored).
pub fn standardize(x: &mut [f32], std_floor: f64) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let mut std = var.sqrt();
    if !std.is_finite() {
        std = 1.0;
    }
    let std = std.max(std_floor);
    let (mean, inv) = (mean as f32, (1.0 / std) as f32);
    for v in x.iter_mut() {
        *v = (*v - mean) * inv;
    }
}

fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + f / 700.0).log10(),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if f >= min_log_hz {
                min_log_mel + (f / min_log_hz).ln() / logstep
            } else {
                f / f_sp
            }
        }
    }
}

fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(m / 2595.0) - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if m >= min_log_mel {
                min_log_hz * (logstep * (m - min_log_mel)).exp()
            } else {
                f_sp * m
            }
        }
    }
}

/// librosa's `filters.mel`: triangles in f64, stored in f32, then normalised per filter;
/// with each filter's triangle and normalisation factor.
fn mel_filters(cfg: &FrontEndConfig) -> (Vec<Filter>, Vec<Triangle>) {
    let n_bins = cfg.n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * cfg.sample_rate as f64 / cfg.n_fft as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(cfg.fmin, cfg.mel_scale), hz_to_mel(cfg.fmax, cfg.mel_scale));
    let points = cfg.n_mels + 2;
    let mel_f: Vec<f64> = (0..points)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (points - 1) as f64, cfg.mel_scale))
        .collect();
    (0..cfg.n_mels)
        .map(|i| {
            let mut triangle = Triangle {
                low_hz: mel_f[i],
                peak_hz: mel_f[i + 1],
                high_hz: mel_f[i + 2],
                scale: 1.0,
            };
            let mut dense: Vec<f32> = fft_freqs.iter().map(|&f| triangle.at(f)).collect();
            match cfg.filter_norm {
                FilterNorm::Slaney => {
                    let enorm = (2.0 / (triangle.high_hz - triangle.low_hz)) as f32;
                    dense.iter_mut().for_each(|w| *w *= enorm);
                    triangle.scale = enorm;
                }
                FilterNorm::L2 => {
                    let norm = dense.iter().map(|&w| w * w).sum::<f32>().sqrt();
                    if norm >= f32::MIN_POSITIVE {
                        dense.iter_mut().for_each(|w| *w /= norm);
                        triangle.scale = 1.0 / norm;
                    }
                }
                FilterNorm::None => {}
            }
            let start = dense.iter().position(|&w| w != 0.0).unwrap_or(0);
            let end = dense.iter().rposition(|&w| w != 0.0).map(|e| e + 1).unwrap_or(start);
            let filter = Filter {
                start,
                weights: dense[start..end].to_vec(),
            };
            (filter, triangle)
        })
        .unzip()
}

fn validate(cfg: &FrontEndConfig) -> Result<(), FrontEndError> {
    let bad = |key: &'static str, reason: String| Err(FrontEndError::InvalidConfig { key, reason });
    let rates = crate::decode::SUPPORTED_RATES;
    if !rates.contains(&cfg.sample_rate) {
        return bad(
            "sample_rate",
            format!(
                "must be between {} and {} Hz, got {}",
                rates.start(),
                rates.end(),
                cfg.sample_rate
            ),
        );
    }
    if !(2..=1 << 20).contains(&cfg.n_fft) {
        return bad("n_fft", format!("must be between 2 and 1048576, got {}", cfg.n_fft));
    }
    if cfg.win_length == 0 || cfg.win_length > cfg.n_fft {
        return bad(
            "win_length",
            format!("must be between 1 and n_fft ({}), got {}", cfg.n_fft, cfg.win_length),
        );
    }
    if cfg.hop_length == 0 {
        return bad("hop_length", "must be at least 1".into());
    }
    if cfg.n_mels == 0 || cfg.n_mels > 4096 {
        return bad("n_mels", format!("must be between 1 and 4096, got {}", cfg.n_mels));
    }
    let nyquist = cfg.sample_rate as f64 / 2.0;
    if !cfg.fmin.is_finite() || cfg.fmin < 0.0 {
        return bad("fmin", format!("must be >= 0 Hz, got {}", cfg.fmin));
    }
    if !cfg.fmax.is_finite() || cfg.fmax <= cfg.fmin || cfg.fmax > nyquist {
        return bad(
            "fmax",
            format!(
                "must be above fmin ({}) and at most sample_rate / 2 ({nyquist}), got {}",
                cfg.fmin, cfg.fmax
            ),
        );
    }
    if !cfg.power.is_finite() || cfg.power <= 0.0 {
        return bad("power", format!("must be above 0, got {}", cfg.power));
    }
    match cfg.compression {
        Compression::Log10Nonneg { scale } if !(scale.is_finite() && scale > 0.0) => {
            return bad("compression.scale", format!("must be above 0, got {scale}"));
        }
        Compression::Db { amin, .. } if !(amin.is_finite() && amin > 0.0) => {
            return bad("compression.amin", format!("must be above 0, got {amin}"));
        }
        Compression::Db { top_db: Some(t), .. } if !(t.is_finite() && t >= 0.0) => {
            return bad("compression.top_db", format!("must be >= 0, got {t}"));
        }
        Compression::Ln { eps } if !(eps.is_finite() && eps > 0.0) => {
            return bad("compression.eps", format!("must be above 0, got {eps}"));
        }
        _ => {}
    }
    if cfg.frames == 0 {
        return bad("frames", "must be at least 1".into());
    }
    // One slice (n_mels × frames floats) and one view (frames × hop_length samples) are held
    // at once by every user of the front end: sizes no machine holds are refused here.
    let slice = loev_core::limits::bytes_of(&[cfg.frames as u128, cfg.n_mels.max(cfg.hop_length) as u128, 4]);
    if let Err(e) = loev_core::limits::check_memory(
        format_args!("frames = {}", cfg.frames),
        format_args!("one slice: frames × {} floats", cfg.n_mels.max(cfg.hop_length)),
        slice,
    ) {
        return bad("frames", format!("is too large: {e}"));
    }
    if !cfg.std_floor.is_finite() || cfg.std_floor <= 0.0 {
        return bad("std_floor", format!("must be above 0, got {}", cfg.std_floor));
    }
    Ok(())
}

// Streaming log-mel for extraction in bounded memory (kept in its own file, see there).
mod stream;
pub use stream::MelStream;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_mule_and_shapes_follow_librosa() {
        let fe = FrontEnd::new(FrontEndConfig::default()).unwrap();
        assert_eq!(fe.view_samples(), 48_000);
        let x: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let mel = fe.log_mel(&x);
        assert_eq!((mel.n_mels, mel.n_frames), (96, 301));
        let mut input = vec![0.0; 96 * 300];
        fe.view_input(&x, &mut input);
        // view_input = the first 300 frames of log_mel, standardised.
        let mut expected: Vec<f32> = (0..96)
            .flat_map(|m| mel.data[m * 301..m * 301 + 300].to_vec())
            .collect();
        standardize(&mut expected, 0.01);
        let max_diff = input
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_diff < 1e-5, "{max_diff}");
        let mean: f64 = input.iter().map(|&v| v as f64).sum::<f64>() / input.len() as f64;
        let var: f64 = input.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / input.len() as f64;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{mean} {var}");
    }

    #[test]
    fn silence_uses_the_std_floor_and_filters_are_unit_l2() {
        let fe = FrontEnd::new(FrontEndConfig::default()).unwrap();
        let mut input = vec![1.0; 96 * 300];
        fe.view_input(&vec![0.0; 48_000], &mut input);
        assert!(input.iter().all(|&v| v == 0.0));
        for f in &fe.filters {
            let norm: f32 = f.weights.iter().map(|w| w * w).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        }
    }

    /// Silent and near-silent audio (real music often starts with seconds of digital silence or
    /// dither) must give finite model inputs under every compression, for both the training
    /// path (`view_input`) and the extraction path (`slices`).
    #[test]
    fn silence_and_near_silence_give_finite_inputs_under_every_compression() {
        let compressions = [
            Compression::Log10Nonneg { scale: 10_000.0 },
            Compression::Db {
                amin: 1e-10,
                top_db: Some(80.0),
            },
            Compression::Db {
                amin: 1e-10,
                top_db: None,
            },
            Compression::Ln { eps: 1e-6 },
            Compression::Linear,
        ];
        let silent = vec![0.0f32; 48_000];
        let dither: Vec<f32> = (0..48_000).map(|i| if i % 2 == 0 { 1e-30 } else { -1e-30 }).collect();
        // A silent intro followed by a tone: the silent part is one constant region of the slice.
        let intro: Vec<f32> = (0..48_000)
            .map(|i| if i < 40_000 { 0.0 } else { (i as f32 * 0.05).sin() * 0.3 })
            .collect();
        for compression in compressions {
            let fe = FrontEnd::new(FrontEndConfig {
                compression,
                ..Default::default()
            })
            .unwrap();
            for (name, x) in [
                ("silent", &silent),
                ("dither", &dither),
                ("intro", &intro),
                ("empty", &Vec::new()),
            ] {
                let mut input = vec![f32::NAN; 96 * 300];
                fe.view_input(x, &mut input);
                assert!(
                    input.iter().all(|v| v.is_finite()),
                    "{compression:?}, {name}: non-finite view input"
                );
                for (_, slice) in fe.slices(&fe.log_mel(x), 200) {
                    assert!(
                        slice.iter().all(|v| v.is_finite()),
                        "{compression:?}, {name}: non-finite slice"
                    );
                }
            }
        }
    }

    #[test]
    fn the_identity_warp_is_the_plain_front_end_and_a_warp_moves_a_tone() {
        let fe = FrontEnd::new(FrontEndConfig::default()).unwrap();
        let tone = |hz: f32, len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (std::f32::consts::TAU * hz * i as f32 / 16_000.0).sin() * 0.3)
                .collect()
        };
        let x = tone(440.0, 48_000);
        let mut plain = vec![0.0; 96 * 300];
        fe.view_input(&x, &mut plain);
        let mut warped = vec![0.0; 96 * 300];
        fe.warped_mel_power(&x, SpectralWarp::IDENTITY, &mut warped);
        fe.finish_input(&mut warped);
        assert_eq!(plain, warped);

        // A 440 Hz tone read through a +12-semitone warp peaks in the band of 880 Hz.
        let peak_band = |input: &[f32]| {
            (0..96)
                .max_by(|&a, &b| input[a * 300 + 150].total_cmp(&input[b * 300 + 150]))
                .unwrap()
        };
        let mut octave_up = vec![0.0; 96 * 300];
        fe.view_input(&tone(880.0, 48_000), &mut octave_up);
        let mut shifted = vec![0.0; 96 * 300];
        fe.warped_mel_power(&x, SpectralWarp::new(None, Some(12.0)), &mut shifted);
        fe.finish_input(&mut shifted);
        assert_eq!(peak_band(&shifted), peak_band(&octave_up));
        assert_ne!(peak_band(&shifted), peak_band(&plain));

        // A stretched read of a longer span still gives every frame.
        let long = tone(440.0, 62_400);
        let mut fast = vec![f32::NAN; 96 * 300];
        fe.warped_mel_power(&long, SpectralWarp::new(Some(1.3), None), &mut fast);
        assert!(fast.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn reflect_padding_matches_numpy() {
        // np.pad([1,2,3], 5, mode="reflect") = [2,1,2,3,2 | 1,2,3 | 2,1,2,3,2]
        let x = [1.0, 2.0, 3.0];
        let left: Vec<f32> = (-5..0).map(|i| padded_sample(&x, i, PadMode::Reflect)).collect();
        let right: Vec<f32> = (3..8).map(|i| padded_sample(&x, i, PadMode::Reflect)).collect();
        assert_eq!(left, vec![2.0, 1.0, 2.0, 3.0, 2.0]);
        assert_eq!(right, vec![2.0, 1.0, 2.0, 3.0, 2.0]);
        assert_eq!(padded_sample(&x, -1, PadMode::Constant), 0.0);
    }

    #[test]
    fn bad_configs_are_rejected_with_their_key() {
        let cases: Vec<(FrontEndConfig, &str)> = vec![
            (
                FrontEndConfig {
                    win_length: 4096,
                    ..Default::default()
                },
                "win_length",
            ),
            (
                FrontEndConfig {
                    fmax: 9000.0,
                    ..Default::default()
                },
                "fmax",
            ),
            (
                FrontEndConfig {
                    hop_length: 0,
                    ..Default::default()
                },
                "hop_length",
            ),
            (
                FrontEndConfig {
                    frames: 0,
                    ..Default::default()
                },
                "frames",
            ),
            (
                FrontEndConfig {
                    compression: Compression::Ln { eps: 0.0 },
                    ..Default::default()
                },
                "compression.eps",
            ),
        ];
        for (cfg, key) in cases {
            match FrontEnd::new(cfg) {
                Err(FrontEndError::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
                Ok(_) => panic!("{key} accepted"),
            }
        }
    }
}
