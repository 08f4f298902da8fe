//! Sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! The output holds `round(len · to / from)` samples, aligned with the input (the resampler's
//! delay is trimmed). Resamplers are costly to build, so each thread keeps one per rate pair;
//! every call resets it first, so results never depend on earlier calls or on the thread.

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

/// Resamples mono `x` from `from_hz` to `to_hz`. Equal rates return a copy.
pub fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    let error = |detail: String| AudioError::Resample {
        path: PathBuf::new(),
        from_hz,
        to_hz,
        detail,
    };
    if from_hz == 0 || to_hz == 0 {
        return Err(error("sample rates must be above 0 Hz".into()));
    }
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
}
