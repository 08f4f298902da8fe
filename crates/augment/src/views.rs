//! Standalone views of one clip: what `loev augment` writes as wav files and what the Python
//! `loev.Augmenter` returns. Same seed, same views, in either.
//!
//! View `v` draws its plan from `(seed, v)`, the crops of all views from `(seed, u64::MAX)`
//! and the mixup (when asked for) from `(seed, u64::MAX − 1)`. The views are rendered with the
//! exact method (a waveform per view), whatever the chain's `[stretcher] method`.

use loev_audio::chunks::{CropProbabilities, read_crop, sample_crops};
use loev_core::rng::derived_rng;

use crate::batch::mixup;
use crate::chain::{AugmentChain, CropRecord, ViewRecord};

/// The waveforms and records of the views of one clip.
#[derive(Clone, Debug)]
pub struct ClipViews {
    /// One waveform of `view_len` samples per view.
    pub waves: Vec<Vec<f32>>,
    /// What was applied to each view (with its crop, and its mixup partner when mixed).
    pub records: Vec<ViewRecord>,
}

/// `n_views` views of `view_len` samples of the 16 kHz clip `audio`, cropped with strategy
/// probabilities `crops`, mixed across the views when `with_mixup`.
pub fn clip_views(
    chain: &AugmentChain,
    audio: &[f32],
    seed: u64,
    n_views: usize,
    view_len: usize,
    crops: &CropProbabilities,
    with_mixup: bool,
) -> ClipViews {
    let plans: Vec<_> = (0..n_views)
        .map(|v| chain.plan(&mut derived_rng(seed, &[v as u64])))
        .collect();
    let lengths: Vec<usize> = plans.iter().map(|p| p.source_len(view_len)).collect();
    let mut crop_rng = derived_rng(seed, &[u64::MAX]);
    let (strategy, view_crops) = sample_crops(audio.len(), &lengths, crops, &mut crop_rng);
    let mut records: Vec<ViewRecord> = plans.iter().map(|p| p.record(view_len)).collect();
    let mut waves: Vec<Vec<f32>> = Vec::with_capacity(n_views);
    for ((plan, crop), record) in plans.iter().zip(&view_crops).zip(records.iter_mut()) {
        waves.push(chain.render(plan, &read_crop(audio, crop), view_len));
        record.crop = Some(CropRecord {
            track: 0,
            strategy: strategy.name().to_string(),
            start: crop.start,
            len: crop.len,
        });
    }
    if with_mixup {
        let mut rng = derived_rng(seed, &[u64::MAX - 1]);
        for (record, mix) in records.iter_mut().zip(mixup(&mut waves, &mut rng)) {
            record.mixup = Some(mix);
        }
    }
    ClipViews { waves, records }
}
