//! Standalone views of one clip: what `loev augment` writes as wav files and what the Python
//! `loev.Augmenter` returns. Same seed, same views, in either.
//!
//! View `v` draws its plan from `(seed, v)`, the crops of all views from `(seed, u64::MAX)`
//! and the mixup (when asked for) from `(seed, u64::MAX − 1)`. Waveform views
//! ([`clip_views`]) are rendered with the exact method, whatever the chain's `[stretcher]
//! method`; log-mel views ([`clip_view_inputs`]) follow the method, through the trainer's own
//! rendering.

use loev_audio::chunks::{Crop, CropProbabilities, read_crop, sample_crops};
use loev_audio::frontend::FrontEnd;
use loev_core::rng::derived_rng;

use crate::batch::{mixup, render_view_inputs};
use crate::chain::{AugmentChain, CropRecord, ViewPlan, ViewRecord};

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
    let (plans, view_crops, mut records) = plan_views(chain, audio.len(), seed, n_views, view_len, crops);
    let mut waves: Vec<Vec<f32>> = plans
        .iter()
        .zip(&view_crops)
        .map(|(plan, crop)| chain.render(plan, &read_crop(audio, crop), view_len))
        .collect();
    if with_mixup {
        let mut rng = derived_rng(seed, &[u64::MAX - 1]);
        for (record, mix) in records.iter_mut().zip(mixup(&mut waves, &mut rng)) {
            record.mixup = Some(mix);
        }
    }
    ClipViews { waves, records }
}

/// The log-mel model inputs `[n_views × n_mels × frames]` of the views [`clip_views`] plans
/// (same seed, same plans, crops and records, no mixup), rendered by the chain's `[stretcher]
/// method` through [`render_view_inputs`], the trainer's own rendering: with the spectral
/// method no waveform is synthesised. With the exact method the inputs are the front end of
/// [`clip_views`]' waveforms.
pub fn clip_view_inputs(
    chain: &AugmentChain,
    frontend: &FrontEnd,
    audio: &[f32],
    seed: u64,
    n_views: usize,
    crops: &CropProbabilities,
) -> (Vec<f32>, Vec<ViewRecord>) {
    let view_len = frontend.view_samples();
    let (plans, view_crops, records) = plan_views(chain, audio.len(), seed, n_views, view_len, crops);
    let inputs = render_view_inputs(chain, frontend, &plans, |v| read_crop(audio, &view_crops[v]), &[]);
    (inputs, records)
}

/// The plans, crops and records of `n_views` views of a clip of `audio_len` samples: view `v`
/// plans from `(seed, v)`, the crops come from `(seed, u64::MAX)`.
fn plan_views(
    chain: &AugmentChain,
    audio_len: usize,
    seed: u64,
    n_views: usize,
    view_len: usize,
    crops: &CropProbabilities,
) -> (Vec<ViewPlan>, Vec<Crop>, Vec<ViewRecord>) {
    let plans: Vec<ViewPlan> = (0..n_views)
        .map(|v| chain.plan(&mut derived_rng(seed, &[v as u64])))
        .collect();
    let lengths: Vec<usize> = plans.iter().map(|p| p.source_len(view_len)).collect();
    let mut crop_rng = derived_rng(seed, &[u64::MAX]);
    let (strategy, view_crops) = sample_crops(audio_len, &lengths, crops, &mut crop_rng);
    let records = plans
        .iter()
        .zip(&view_crops)
        .map(|(plan, crop)| {
            let mut record = plan.record(view_len);
            record.crop = Some(CropRecord {
                track: 0,
                strategy: strategy.name().to_string(),
                start: crop.start,
                len: crop.len,
            });
            record
        })
        .collect();
    (plans, view_crops, records)
}
