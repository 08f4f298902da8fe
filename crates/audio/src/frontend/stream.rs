//! The log-mel spectrogram of a signal that arrives in pieces ([`MelStream`]), for extraction
//! whose memory must not grow with the track's length (`loev embed` of an hour-long file).
//!
//! Every frame is computed with the same window, FFT, filterbank and compression as
//! [`FrontEnd::log_mel`], so the frames equal it bit for bit. A frame is computed as soon as
//! the samples it covers have arrived and cannot be touched by the end padding; the last
//! frames (whose window reaches past the end) are computed by [`MelStream::finish`], once the
//! length is known. The stream keeps at most about two FFT frames of samples.

use std::sync::Arc;

use realfft::num_complex::Complex;

use super::{Compression, FrontEnd, PadMode, spectrum_power};

impl FrontEnd {
    /// True when the spectrogram can be computed piece by piece ([`MelStream`]): every
    /// compression except decibels clipped at `top_db` below the maximum, which needs the
    /// maximum of the whole track before the first frame can be compressed.
    pub fn can_stream(&self) -> bool {
        !matches!(self.cfg.compression, Compression::Db { top_db: Some(_), .. })
    }
}

/// A log-mel spectrogram computed piece by piece (see the module doc). Frames come out
/// frame-major: `n_mels` values per frame, in time order.
pub struct MelStream {
    fe: FrontEnd,
    /// Samples kept: `audio[i]` is sample `base + i` of the signal.
    audio: Vec<f32>,
    base: usize,
    /// Samples pushed so far.
    total: usize,
    /// The next frame to compute.
    next_frame: usize,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for MelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelStream")
            .field("total", &self.total)
            .field("next_frame", &self.next_frame)
            .finish_non_exhaustive()
    }
}

impl MelStream {
    /// A stream for `fe`. Returns `None` when the front end cannot stream
    /// ([`FrontEnd::can_stream`]).
    pub fn new(fe: &FrontEnd) -> Option<Self> {
        if !fe.can_stream() {
            return None;
        }
        let fft: &Arc<dyn realfft::RealToComplex<f32>> = &fe.fft;
        let spectrum = fft.make_output_vec();
        Some(Self {
            frame: fft.make_input_vec(),
            power: vec![0.0; spectrum.len()],
            scratch: fft.make_scratch_vec(),
            spectrum,
            fe: fe.clone(),
            audio: Vec::new(),
            base: 0,
            total: 0,
            next_frame: 0,
        })
    }

    /// Frames computed so far.
    pub fn frames_done(&self) -> usize {
        self.next_frame
    }

    /// Samples kept in memory now (for the memory bound's tests).
    pub fn samples_held(&self) -> usize {
        self.audio.len()
    }

    fn pad(&self) -> usize {
        if self.fe.cfg.center { self.fe.cfg.n_fft / 2 } else { 0 }
    }

    /// Index in the signal of the first windowed sample of frame `t` (may be negative).
    fn first_sample(&self, t: usize) -> isize {
        (t * self.fe.cfg.hop_length + self.fe.window_offset) as isize - self.pad() as isize
    }

    /// Feeds samples; appends every frame that is now final to `out`.
    pub fn push(&mut self, x: &[f32], out: &mut Vec<f32>) {
        self.audio.extend_from_slice(x);
        self.total += x.len();
        let win = self.fe.cfg.win_length as isize;
        // A frame is final when its samples are all here and the start padding, which reads
        // sample -i for i < 0, reads the same samples whatever the final length (total > pad).
        while self.total > self.pad()
            && self.next_frame < self.fe.n_frames(self.total)
            && self.first_sample(self.next_frame) + win <= self.total as isize
        {
            self.compute_frame(self.next_frame, None, out);
            self.next_frame += 1;
        }
        // Keep what the remaining frames (and the end padding) can still read.
        let keep_from = (self.first_sample(self.next_frame) - 2 * self.fe.cfg.n_fft as isize).max(0) as usize;
        if self.total > self.pad() && keep_from > self.base + self.fe.cfg.n_fft {
            self.audio.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }

    /// Ends the signal: appends the remaining frames to `out` and returns the number of frames
    /// of the whole spectrogram (`FrontEnd::n_frames` of the length).
    pub fn finish(mut self, out: &mut Vec<f32>) -> usize {
        let n_frames = self.fe.n_frames(self.total);
        if self.total == 0 {
            // As `log_mel`: the frames of an empty signal hold the compressed value of silence.
            let first_value = out.len();
            out.resize(first_value + n_frames * self.fe.cfg.n_mels, 0.0);
            self.fe.compress(&mut out[first_value..]);
            return n_frames;
        }
        let n = self.total;
        for t in self.next_frame..n_frames {
            self.compute_frame(t, Some(n), out);
        }
        n_frames
    }

    /// Computes frame `t` into `out`; `end` is the signal's length once known (end padding).
    fn compute_frame(&mut self, t: usize, end: Option<usize>, out: &mut Vec<f32>) {
        let cfg = &self.fe.cfg;
        let win = cfg.win_length;
        let offset = self.fe.window_offset;
        let first = self.first_sample(t);
        self.frame.fill(0.0);
        for k in 0..win {
            let i = first + k as isize;
            let value = match end {
                None => self.at(reflect_start(i, cfg.pad_mode)),
                Some(n) => padded_index(n, i, cfg.pad_mode).map_or(0.0, |j| self.at(Some(j))),
            };
            self.frame[offset + k] = value * self.fe.window[k];
        }
        // Lengths come from the plan itself, so this cannot fail.
        let _ = self
            .fe
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch);
        spectrum_power(&self.spectrum, cfg.power, &mut self.power);
        let first_value = out.len();
        for filter in &self.fe.filters {
            let bins = &self.power[filter.start..filter.start + filter.weights.len()];
            let acc: f32 = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
            out.push(acc);
        }
        self.fe.compress(&mut out[first_value..]);
    }

    /// Sample `j` of the signal (`None`: a zero of constant padding).
    fn at(&self, j: Option<usize>) -> f32 {
        let Some(j) = j else { return 0.0 };
        debug_assert!(j >= self.base, "sample {j} was dropped (kept from {})", self.base);
        self.audio.get(j.wrapping_sub(self.base)).copied().unwrap_or(0.0)
    }
}

/// The sample read at index `i` while the length is unknown: only the start can be padded.
fn reflect_start(i: isize, mode: PadMode) -> Option<usize> {
    if i >= 0 {
        Some(i as usize)
    } else {
        match mode {
            PadMode::Constant => None,
            PadMode::Reflect => Some((-i) as usize),
        }
    }
}

/// The sample read at index `i` of a signal of `n` samples extended by `mode` (numpy `np.pad`
/// semantics, as `padded_sample`); `None` for a zero of constant padding.
fn padded_index(n: usize, i: isize, mode: PadMode) -> Option<usize> {
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Reflect => {
            if n == 1 {
                return Some(0);
            }
            let period = 2 * (n - 1);
            let mut j = i.rem_euclid(period);
            if j >= n {
                j = period - j;
            }
            Some(j as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FrontEndConfig, LogMel};
    use super::*;

    fn streamed(fe: &FrontEnd, x: &[f32], piece: usize) -> LogMel {
        let mut stream = MelStream::new(fe).expect("streamable");
        let mut frames = Vec::new();
        let mut most_held = 0;
        for p in x.chunks(piece.max(1)) {
            stream.push(p, &mut frames);
            most_held = most_held.max(stream.samples_held());
        }
        let n_frames = stream.finish(&mut frames);
        let n_mels = fe.config().n_mels;
        assert_eq!(frames.len(), n_frames * n_mels);
        // The stream never holds more than a few FFT frames plus one piece.
        assert!(most_held <= 4 * fe.config().n_fft + piece, "held {most_held} samples");
        let mut data = vec![0.0; frames.len()];
        for t in 0..n_frames {
            for m in 0..n_mels {
                data[m * n_frames + t] = frames[t * n_mels + m];
            }
        }
        LogMel { n_mels, n_frames, data }
    }

    /// Streaming equals the whole-signal spectrogram bit for bit, for every length (including
    /// the short ones where reflect padding wraps) and piece size, and both padding modes.
    #[test]
    fn streaming_equals_the_whole_signal() {
        let x: Vec<f32> = (0..40_000)
            .map(|i| (i as f32 * 0.031).sin() * 0.4 + ((i * 7919) % 101) as f32 * 1e-3)
            .collect();
        for pad_mode in [PadMode::Reflect, PadMode::Constant] {
            for center in [true, false] {
                let fe = FrontEnd::new(FrontEndConfig {
                    pad_mode,
                    center,
                    ..Default::default()
                })
                .unwrap();
                for len in [0usize, 1, 2, 100, 1023, 1024, 1025, 2048, 2049, 5000, 16_000, 40_000] {
                    let whole = fe.log_mel(&x[..len]);
                    for piece in [1usize, 160, 1000, 7777, 50_000] {
                        if piece == 1 && len > 5000 {
                            continue;
                        }
                        let got = streamed(&fe, &x[..len], piece);
                        assert!(
                            got == whole,
                            "{pad_mode:?}, center {center}, len {len}, pieces of {piece}"
                        );
                    }
                }
            }
        }
        let clipped = FrontEnd::new(FrontEndConfig {
            compression: Compression::Db {
                amin: 1e-10,
                top_db: Some(80.0),
            },
            ..Default::default()
        })
        .unwrap();
        assert!(!clipped.can_stream() && MelStream::new(&clipped).is_none());
    }
}
