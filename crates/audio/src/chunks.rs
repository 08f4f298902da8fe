//! Crops of the `M` views of one anchor track.
//!
//! Per anchor one strategy is drawn with [`CropProbabilities`]:
//! * [`CropStrategy::Same`]: every view reads the same stretch of audio. Views can need different
//!   source lengths (a time-stretched view reads `rate × view length` samples), so the crops
//!   share their **centre**, not their start.
//! * [`CropStrategy::Adjacent`]: the views are consecutive, non-overlapping crops (view `k + 1`
//!   starts where view `k` ends), placed at a random offset.
//! * [`CropStrategy::Random`]: every view has its own uniformly drawn start.
//!
//! **Short-track policy.** Crops never fail. When the drawn strategy does not fit in the track
//! (adjacent views longer than the track together, or a view longer than the track), it falls
//! back to `Random`, and the returned strategy says so. A view longer than the whole track
//! starts at 0 and [`read_crop`] zero-pads it past the end of the track. Callers that want to
//! skip short tracks instead do so when building the cache (`min_seconds`).

use rand::RngExt;
use serde::{Deserialize, Serialize};

use loev_core::rng::Rng;

/// How the crops of one anchor relate to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropStrategy {
    /// All views read the same audio (centres aligned).
    Same,
    /// Consecutive, non-overlapping crops.
    Adjacent,
    /// Independent uniformly placed crops.
    Random,
}

impl CropStrategy {
    /// The name used in records and configuration (`same`, `adjacent`, `random`).
    pub fn name(self) -> &'static str {
        match self {
            CropStrategy::Same => "same",
            CropStrategy::Adjacent => "adjacent",
            CropStrategy::Random => "random",
        }
    }
}

/// Probabilities of drawing each [`CropStrategy`] per anchor. They need not sum to 1; they are
/// normalised by their sum. The default is uniform.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropProbabilities {
    /// Weight of [`CropStrategy::Same`].
    pub same: f64,
    /// Weight of [`CropStrategy::Adjacent`].
    pub adjacent: f64,
    /// Weight of [`CropStrategy::Random`].
    pub random: f64,
}

impl Default for CropProbabilities {
    fn default() -> Self {
        Self {
            same: 1.0 / 3.0,
            adjacent: 1.0 / 3.0,
            random: 1.0 / 3.0,
        }
    }
}

impl CropProbabilities {
    /// Checks that every weight is finite and non-negative and that at least one is positive,
    /// so a config error is reported where the config is read rather than silently fixed.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("same", self.same),
            ("adjacent", self.adjacent),
            ("random", self.random),
        ] {
            if !p.is_finite() || p < 0.0 {
                return Err(format!(
                    "crop probability `{name}` must be a finite number >= 0, got {p}"
                ));
            }
        }
        if self.same + self.adjacent + self.random <= 0.0 {
            return Err(
                "crop probabilities `same`, `adjacent` and `random` are all 0; set at least one above 0".into(),
            );
        }
        Ok(())
    }

    /// Draws one strategy. Invalid weights (see [`Self::validate`]) fall back to uniform.
    pub fn draw(&self, rng: &mut Rng) -> CropStrategy {
        let probs = if self.validate().is_ok() {
            *self
        } else {
            Self::default()
        };
        let total = probs.same + probs.adjacent + probs.random;
        let u = rng.random_range(0.0..total);
        if u < probs.same {
            CropStrategy::Same
        } else if u < probs.same + probs.adjacent {
            CropStrategy::Adjacent
        } else if probs.random > 0.0 {
            CropStrategy::Random
        } else if probs.adjacent > 0.0 {
            // Only reachable through rounding at the upper edge.
            CropStrategy::Adjacent
        } else {
            CropStrategy::Same
        }
    }
}

/// One crop of a track, in source samples. `start + len` may exceed the track length for a track
/// shorter than the view; [`read_crop`] zero-pads the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Crop {
    /// First source sample.
    pub start: usize,
    /// Number of source samples.
    pub len: usize,
}

/// Crops for the views of one anchor. `lengths[k]` is the number of source samples view `k`
/// needs. Returns the strategy actually used (after the short-track fallback, see the module
/// doc) and one crop per entry of `lengths`.
pub fn sample_crops(
    track_len: usize,
    lengths: &[usize],
    probs: &CropProbabilities,
    rng: &mut Rng,
) -> (CropStrategy, Vec<Crop>) {
    let drawn = probs.draw(rng);
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let total: usize = lengths.iter().fold(0usize, |acc, &l| acc.saturating_add(l));
    match drawn {
        CropStrategy::Same if longest <= track_len => {
            // A centre c such that every crop fits: start_k = c - len_k / 2 >= 0 and
            // start_k + len_k <= track_len. Both bounds come from the longest crop, so lo <= hi.
            let lo = lengths.iter().map(|&l| l / 2).max().unwrap_or(0);
            let hi = lengths
                .iter()
                .map(|&l| track_len - (l - l / 2))
                .min()
                .unwrap_or(track_len);
            let centre = rng.random_range(lo..=hi.max(lo));
            let crops = lengths
                .iter()
                .map(|&l| Crop {
                    start: centre - l / 2,
                    len: l,
                })
                .collect();
            (CropStrategy::Same, crops)
        }
        CropStrategy::Adjacent if total <= track_len => {
            let mut start = rng.random_range(0..=track_len - total);
            let crops = lengths
                .iter()
                .map(|&l| {
                    let crop = Crop { start, len: l };
                    start += l;
                    crop
                })
                .collect();
            (CropStrategy::Adjacent, crops)
        }
        _ => {
            let crops = lengths
                .iter()
                .map(|&l| {
                    let start = if l <= track_len {
                        rng.random_range(0..=track_len - l)
                    } else {
                        0
                    };
                    Crop { start, len: l }
                })
                .collect();
            (CropStrategy::Random, crops)
        }
    }
}

/// The samples of `crop`, zero-padded where it runs past the end of `track`.
pub fn read_crop(track: &[f32], crop: &Crop) -> Vec<f32> {
    let mut out = vec![0.0; crop.len];
    read_crop_into(track, crop, &mut out);
    out
}

/// Like [`read_crop`], into a caller-owned buffer of `crop.len` samples (no allocation). Only
/// `out[..crop.len]` is written; samples past the end of the track are set to 0.
pub fn read_crop_into(track: &[f32], crop: &Crop, out: &mut [f32]) {
    let len = crop.len.min(out.len());
    let available = track.len().saturating_sub(crop.start).min(len);
    if available > 0 {
        out[..available].copy_from_slice(&track[crop.start..crop.start + available]);
    }
    out[available..len].fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_core::rng::rng_from_seed;

    fn only(strategy: CropStrategy) -> CropProbabilities {
        CropProbabilities {
            same: (strategy == CropStrategy::Same) as u8 as f64,
            adjacent: (strategy == CropStrategy::Adjacent) as u8 as f64,
            random: (strategy == CropStrategy::Random) as u8 as f64,
        }
    }

    #[test]
    fn same_crops_share_their_centre_and_fit() {
        let mut rng = rng_from_seed(1);
        for _ in 0..500 {
            let lengths = [48_000, 60_000, 36_000, 48_000];
            let (s, crops) = sample_crops(100_000, &lengths, &only(CropStrategy::Same), &mut rng);
            assert_eq!(s, CropStrategy::Same);
            let centre = crops[0].start + crops[0].len / 2;
            for (c, &l) in crops.iter().zip(&lengths) {
                assert_eq!(c.len, l);
                assert_eq!(c.start + c.len / 2, centre);
                assert!(c.start + c.len <= 100_000);
            }
        }
    }

    #[test]
    fn adjacent_crops_are_consecutive_and_fit() {
        let mut rng = rng_from_seed(2);
        let mut starts = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let lengths = [10, 20, 30];
            let (s, crops) = sample_crops(100, &lengths, &only(CropStrategy::Adjacent), &mut rng);
            assert_eq!(s, CropStrategy::Adjacent);
            assert_eq!(crops[1].start, crops[0].start + 10);
            assert_eq!(crops[2].start, crops[1].start + 20);
            assert!(crops[2].start + 30 <= 100);
            starts.insert(crops[0].start);
        }
        // Every offset 0..=40 is reachable.
        assert_eq!(starts.len(), 41);
    }

    #[test]
    fn short_tracks_fall_back_to_random_and_pad() {
        let mut rng = rng_from_seed(3);
        let (s, crops) = sample_crops(50, &[30, 30], &only(CropStrategy::Adjacent), &mut rng);
        assert_eq!(s, CropStrategy::Random);
        assert!(crops.iter().all(|c| c.start + c.len <= 50));
        let (s, crops) = sample_crops(10, &[30, 5], &only(CropStrategy::Same), &mut rng);
        assert_eq!(s, CropStrategy::Random);
        assert_eq!(crops[0].start, 0);
        let track: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        let x = read_crop(&track, &crops[0]);
        assert_eq!(x.len(), 30);
        assert_eq!(&x[..10], &track[..]);
        assert!(x[10..].iter().all(|&v| v == 0.0));
        assert_eq!(read_crop(&[], &Crop { start: 5, len: 3 }), vec![0.0; 3]);
    }

    #[test]
    fn strategies_follow_the_probabilities_and_seed() {
        let probs = CropProbabilities {
            same: 0.5,
            adjacent: 0.0,
            random: 0.5,
        };
        let mut rng = rng_from_seed(4);
        let mut counts = [0usize; 3];
        for _ in 0..4000 {
            match probs.draw(&mut rng) {
                CropStrategy::Same => counts[0] += 1,
                CropStrategy::Adjacent => counts[1] += 1,
                CropStrategy::Random => counts[2] += 1,
            }
        }
        assert_eq!(counts[1], 0);
        assert!((1800..2200).contains(&counts[0]), "{counts:?}");
        let a = sample_crops(1000, &[100, 200], &CropProbabilities::default(), &mut rng_from_seed(9));
        let b = sample_crops(1000, &[100, 200], &CropProbabilities::default(), &mut rng_from_seed(9));
        assert_eq!(a, b);
        assert!(
            CropProbabilities {
                same: 0.0,
                adjacent: 0.0,
                random: 0.0
            }
            .validate()
            .is_err()
        );
        assert!(
            CropProbabilities {
                same: -1.0,
                adjacent: 1.0,
                random: 0.0
            }
            .validate()
            .is_err()
        );
    }
}
