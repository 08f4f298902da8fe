//! Sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! The output holds `round(len · to / from)` samples, aligned with the input (the resampler's
//! delay is trimmed). Resamplers are costly to build, so each thread keeps one per rate pair;
//! every call resets it first, so results never depend on earlier calls or on the thread.
//!
//! [`StreamResampler`] gives the same output, sample for sample, from a signal fed in pieces:
//! it makes the same resampler calls in the same order as rubato's `process_all`, so memory
//! stays one FFT chunk however long the track is (a decoded hour need not be held at once).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::AudioError;

/// Frames per FFT chunk hint; rubato rounds it to a multiple of the rate pair's minimum block.
const CHUNK_FRAMES: usize = 1024;

thread_local! {
    static RESAMPLERS: RefCell<HashMap<(u32, u32), Fft<f32>>> = RefCell::new(HashMap::new());
}

/// Turns a resampler's complaint into an [`AudioError::Resample`] for this rate pair.
fn rate_error(from_hz: u32, to_hz: u32) -> impl Fn(String) -> AudioError {
    move |detail| AudioError::Resample {
        path: PathBuf::new(),
        from_hz,
        to_hz,
        detail,
    }
}

/// Both rates must be above 0 Hz.
fn check_rates(from_hz: u32, to_hz: u32) -> Result<(), AudioError> {
    if from_hz == 0 || to_hz == 0 {
        return Err(rate_error(from_hz, to_hz)("sample rates must be above 0 Hz".into()));
    }
    Ok(())
}

/// Resamples mono `x` from `from_hz` to `to_hz`. Equal rates return a copy.
pub fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    let error = rate_error(from_hz, to_hz);
    check_rates(from_hz, to_hz)?;
    if from_hz == to_hz {
        return Ok(x.to_vec());
    }
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let out_len = ((x.len() as u128 * to_hz as u128 + from_hz as u128 / 2) / from_hz as u128) as usize;
    RESAMPLERS.with(|cell| {
        let mut map = cell.borrow_mut();
        let resampler = match map.entry((from_hz, to_hz)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                Fft::<f32>::new(from_hz as usize, to_hz as usize, CHUNK_FRAMES, 1, FixedSync::Both)
                    .map_err(|e| error(e.to_string()))?,
            ),
        };
        let input = InterleavedSlice::new(x, 1, x.len()).map_err(|e| error(e.to_string()))?;
        let output = resampler
            .process_all(&input, x.len(), None)
            .map_err(|e| error(e.to_string()))?;
        let mut y = output.take_data();
        y.resize(out_len, 0.0);
        Ok(y)
    })
}

/// Resamples a mono signal that arrives in pieces, with exactly the output of [`resample`] on
/// the whole signal (same resampler calls in the same order), holding one FFT chunk at a time.
///
/// The output length `round(len · to / from)` depends on the total length, so samples are
/// handed out only up to `floor(seen · to / from)` until [`Self::finish`] gives the rest.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal (samples pass through).
    fft: Option<Fft<f32>>,
    /// Input not yet given to the resampler (less than two chunks).
    pending_in: Vec<f32>,
    /// Resampled samples not yet handed out.
    pending_out: Vec<f32>,
    out_scratch: Vec<f32>,
    /// Startup delay (in output samples) still to drop.
    to_trim: usize,
    /// Input samples seen so far.
    seen: u64,
    /// Output samples handed out so far.
    emitted: u64,
    /// Output samples produced by the resampler so far (after trimming).
    produced: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz` (both above 0 Hz).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        let error = rate_error(from_hz, to_hz);
        check_rates(from_hz, to_hz)?;
        let fft = if from_hz == to_hz {
            None
        } else {
            let fft = Fft::<f32>::new(from_hz as usize, to_hz as usize, CHUNK_FRAMES, 1, FixedSync::Both)
                .map_err(|e| error(e.to_string()))?;
            Some(fft)
        };
        let (to_trim, out_max) = fft
            .as_ref()
            .map(|f| (f.output_delay(), f.output_frames_max()))
            .unwrap_or((0, 0));
        Ok(Self {
            from_hz,
            to_hz,
            fft,
            pending_in: Vec::new(),
            pending_out: Vec::new(),
            out_scratch: vec![0.0; out_max],
            to_trim,
            seen: 0,
            emitted: 0,
            produced: 0,
        })
    }

    fn error(&self, detail: String) -> AudioError {
        rate_error(self.from_hz, self.to_hz)(detail)
    }

    /// Output samples owed for `input` input samples: `round(input · to / from)`.
    fn out_len(&self, input: u64) -> u64 {
        ((input as u128 * self.to_hz as u128 + self.from_hz as u128 / 2) / self.from_hz as u128) as u64
    }

    /// Runs one resampler call on the first `valid` samples of `chunk` (zero-padded).
    fn process_chunk(&mut self, chunk: &[f32], valid: Option<usize>) -> Result<(), AudioError> {
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        let indexing = rubato::Indexing {
            input_offset: 0,
            output_offset: 0,
            active_channels_mask: None,
            partial_len: valid,
        };
        let input =
            InterleavedSlice::new(chunk, 1, chunk.len()).map_err(|e| self_error(self.from_hz, self.to_hz, e))?;
        let out_frames = self.out_scratch.len();
        let mut output = audioadapter_buffers::direct::InterleavedSlice::new_mut(&mut self.out_scratch, 1, out_frames)
            .map_err(|e| self_error(self.from_hz, self.to_hz, e))?;
        let (_, produced) = fft
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| self_error(self.from_hz, self.to_hz, e))?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        self.pending_out.extend_from_slice(&self.out_scratch[skip..produced]);
        self.produced += (produced - skip) as u64;
        Ok(())
    }

    /// Feeds the next samples; appends the output that is final to `out`.
    pub fn push(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.seen += x.len() as u64;
        let Some(chunk_in) = self.fft.as_ref().map(|f| f.input_frames_next()) else {
            out.extend_from_slice(x);
            self.emitted += x.len() as u64;
            return Ok(());
        };
        self.pending_in.extend_from_slice(x);
        // As in `process_all`: a full chunk is processed only while more input follows it; the
        // last (possibly full) chunk is processed as a partial one by `finish`.
        let mut start = 0;
        while self.pending_in.len() - start > chunk_in {
            let chunk = std::mem::take(&mut self.pending_in);
            let result = self.process_chunk(&chunk[start..start + chunk_in], None);
            self.pending_in = chunk;
            result?;
            start += chunk_in;
        }
        self.pending_in.drain(..start);
        // The final length is at least floor(seen · to / from): that much is safe to hand out.
        let safe = (self.seen as u128 * self.to_hz as u128 / self.from_hz as u128) as u64;
        let ready = safe.min(self.produced).saturating_sub(self.emitted) as usize;
        out.extend_from_slice(&self.pending_out[..ready]);
        self.pending_out.drain(..ready);
        self.emitted += ready as u64;
        Ok(())
    }

    /// Ends the signal; appends the remaining output to `out`, so that the whole output holds
    /// `round(len · to / from)` samples, equal to [`resample`] of the whole signal.
    pub fn finish(mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(chunk_in) = self.fft.as_ref().map(|f| f.input_frames_next()) else {
            return Ok(());
        };
        if self.seen == 0 {
            return Ok(());
        }
        let ratio = self.to_hz as f64 / self.from_hz as f64;
        let expected = (ratio * self.seen as f64).ceil() as u64;
        let mut chunk = vec![0.0f32; chunk_in];
        if !self.pending_in.is_empty() {
            let n = self.pending_in.len();
            chunk[..n].copy_from_slice(&self.pending_in);
            self.pending_in.clear();
            self.process_chunk(&chunk, Some(n))?;
            chunk[..n].fill(0.0);
        }
        // Pump zeros until the expected length is there (as `process_all` does).
        let mut guard = 0usize;
        while self.produced < expected {
            self.process_chunk(&chunk, Some(0))?;
            guard += 1;
            if guard > 1_000_000 {
                return Err(self.error("the resampler produces no output".into()));
            }
        }
        let out_len = self.out_len(self.seen);
        let owed = out_len.saturating_sub(self.emitted) as usize;
        let take = owed.min(self.pending_out.len());
        out.extend_from_slice(&self.pending_out[..take]);
        out.resize(out.len() + (owed - take), 0.0);
        Ok(())
    }
}

fn self_error(from_hz: u32, to_hz: u32, e: impl std::fmt::Display) -> AudioError {
    rate_error(from_hz, to_hz)(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_identity() {
        let x: Vec<f32> = (0..44_100).map(|i| (i as f32 * 0.01).sin()).collect();
        assert_eq!(resample(&x, 44_100, 16_000).unwrap().len(), 16_000);
        assert_eq!(resample(&x[..1000], 44_100, 16_000).unwrap().len(), 363); // 362.8 rounds up
        assert_eq!(resample(&x[..7], 8_000, 16_000).unwrap().len(), 14);
        assert_eq!(resample(&x[..100], 16_000, 16_000).unwrap(), x[..100].to_vec());
        assert!(resample(&[], 48_000, 16_000).unwrap().is_empty());
        assert!(resample(&x, 0, 16_000).is_err());
        // Same input, same output, whatever was resampled before.
        let a = resample(&x[..5000], 48_000, 16_000).unwrap();
        let _ = resample(&x, 48_000, 16_000).unwrap();
        assert_eq!(a, resample(&x[..5000], 48_000, 16_000).unwrap());
    }

    /// The streaming resampler must equal the whole-signal one bit for bit (the cache and
    /// `embed` decode through it), whatever the piece sizes and lengths.
    #[test]
    fn streaming_equals_whole_signal() {
        let x: Vec<f32> = (0..100_000)
            .map(|i| (i as f32 * 0.013).sin() * 0.5 + (i as f32 * 0.2).cos() * 0.1)
            .collect();
        for (from, to) in [
            (44_100, 16_000),
            (48_000, 16_000),
            (8_000, 16_000),
            (22_050, 16_000),
            (16_000, 16_000),
        ] {
            for len in [0usize, 1, 7, 500, 1023, 1024, 1025, 4096, 33_333, 100_000] {
                let whole = resample(&x[..len], from, to).unwrap();
                for piece in [1usize, 100, 1024, 5000, 200_000] {
                    let mut stream = StreamResampler::new(from, to).unwrap();
                    let mut out = Vec::new();
                    for p in x[..len].chunks(piece) {
                        stream.push(p, &mut out).unwrap();
                    }
                    stream.finish(&mut out).unwrap();
                    assert!(out == whole, "{from}->{to} Hz, len {len}, pieces of {piece}");
                }
            }
        }
        assert!(StreamResampler::new(0, 16_000).is_err());
    }
}
