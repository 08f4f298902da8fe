//! The tracked augmentation chain: `plan` draws every decision and parameter of a view from
//! the view's seeded generator (cheap), `render` applies them to audio. The plan converts
//! into a serialisable [`ViewRecord`] holding, per transform, whether it was applied and
//! with which parameters.
//!
//! Rendering order of the exact method: pitch shift + time stretch (one Signalsmith pass over
//! the source crop, which is `ceil(rate × view_len)` samples long), then the base chain in
//! [`REGISTRY`] order (gain, polarity inversion, coloured noise, filter, reverb, distortion,
//! …). Every step keeps the view length.
//!
//! The spectral method ([`AugmentChain::render_spectral_power`]) runs the same effects first,
//! on the whole source crop (the seed's Table IV order, T_B then T_V), and then reads the
//! view's mel power from the crop's STFT through a [`SpectralWarp`]: no waveform is made.

use std::collections::BTreeMap;

use loev_audio::frontend::{FrontEnd, SpectralWarp};
use loev_core::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::config::{ChainConfig, StretchMethod};
use crate::stretch::with_thread_stretcher;
pub use crate::transforms::AppliedTransform;
use crate::transforms::{EffectDraw, REGISTRY, draw_probability, uniform};

/// Every decision of one view.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPlan {
    /// Transposition in semitones (`None` = not applied).
    pub pitch_semitones: Option<f64>,
    /// Playback rate, > 1 = faster (`None` = not applied).
    pub stretch_rate: Option<f64>,
    /// One draw per transform of the base chain, in [`REGISTRY`] order.
    pub effects: Vec<EffectDraw>,
}

impl ViewPlan {
    /// A view with the given pitch shift and time stretch and no base-chain transform.
    pub fn variant_only(pitch_semitones: Option<f64>, stretch_rate: Option<f64>) -> Self {
        Self {
            pitch_semitones,
            stretch_rate,
            effects: REGISTRY.iter().map(|_| EffectDraw::skipped()).collect(),
        }
    }

    /// Source samples this view reads for a view of `view_len` samples:
    /// `ceil(rate × view_len)` when time-stretched, else `view_len`.
    pub fn source_len(&self, view_len: usize) -> usize {
        match self.stretch_rate {
            Some(rate) => (rate * view_len as f64).ceil() as usize,
            None => view_len,
        }
    }

    /// The serialisable record of this plan (crop and mixup are filled in by the batch
    /// builder).
    pub fn record(&self, view_len: usize) -> ViewRecord {
        let one = |name: &str, key: &str, value: Option<f64>| AppliedTransform {
            name: name.to_string(),
            applied: value.is_some(),
            choice: None,
            params: value
                .map(|v| BTreeMap::from([(key.to_string(), v)]))
                .unwrap_or_default(),
        };
        let mut transforms = vec![
            one("pitch_shift", "semitones", self.pitch_semitones),
            one("time_stretch", "rate", self.stretch_rate),
        ];
        transforms.extend(
            REGISTRY
                .iter()
                .zip(&self.effects)
                .map(|(registration, draw)| draw.record(registration.name)),
        );
        ViewRecord {
            view_len,
            source_len: self.source_len(view_len),
            transforms,
            crop: None,
            mixup: None,
        }
    }
}

/// Where a view's source audio came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropRecord {
    /// Cache index of the track.
    pub track: u32,
    /// The anchor's chunk strategy (`same`, `adjacent`, `random`).
    pub strategy: String,
    /// First source sample.
    pub start: usize,
    /// Source samples read (`source_len`).
    pub len: usize,
}

/// MULE-mixup of a view: `x ← λ·x + (1−λ)·x_partner` in the waveform domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixupRecord {
    /// Index (within the batch) of the partner view.
    pub partner: usize,
    /// Mixing weight λ ~ Beta(5, 2).
    pub lambda: f64,
}

/// Everything applied to one view, serialisable (e.g. into `views.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewRecord {
    /// Output samples.
    pub view_len: usize,
    /// Source samples read.
    pub source_len: usize,
    /// One entry per transform, in rendering order.
    pub transforms: Vec<AppliedTransform>,
    /// The source crop (batches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropRecord>,
    /// The mixup partner (when the mixup baseline is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixup: Option<MixupRecord>,
}

impl ViewRecord {
    /// Whether transform `name` was applied. The alternative of a one-of transform (a filter
    /// kind, `low_pass`, …) counts as applied when the step chose it and applied it; the
    /// step itself (`filter`) when any alternative was applied.
    pub fn applied(&self, name: &str) -> bool {
        self.transforms
            .iter()
            .any(|t| t.applied && (t.name == name || t.choice.as_deref() == Some(name)))
    }

    /// The tracking vector over `variant`: `t_k = 1` iff `variant[k]` was applied.
    pub fn tracking(&self, variant: &[String]) -> Vec<u8> {
        variant.iter().map(|name| u8::from(self.applied(name))).collect()
    }

    /// The record of transform `name` (the one-of step is `filter`).
    pub fn transform(&self, name: &str) -> Option<&AppliedTransform> {
        self.transforms.iter().find(|t| t.name == name)
    }
}

/// A validated chain, ready to plan and render views.
#[derive(Clone, Debug)]
pub struct AugmentChain {
    config: ChainConfig,
    sample_rate: u32,
}

impl AugmentChain {
    /// Validates `config` and builds the chain (16 kHz audio).
    pub fn new(config: ChainConfig) -> Result<Self, AugmentError> {
        config.validate()?;
        Ok(Self {
            config,
            sample_rate: loev_audio::SAMPLE_RATE,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// How pitch shift and time stretch are rendered.
    pub fn method(&self) -> StretchMethod {
        self.config.stretcher.method
    }

    /// The variant transforms, in tracking-vector order.
    pub fn variant_names(&self) -> &[String] {
        &self.config.variant
    }

    /// Draws every decision of one view from `rng`, in a fixed order: pitch, stretch, then
    /// each transform of the base chain in [`REGISTRY`] order.
    pub fn plan(&self, rng: &mut Rng) -> ViewPlan {
        let c = &self.config;
        let pitch_semitones = draw_probability(rng, c.pitch_shift.p).then(|| uniform(rng, c.pitch_shift.semitones));
        let stretch_rate = draw_probability(rng, c.time_stretch.p).then(|| uniform(rng, c.time_stretch.rate));
        let effects = c.effects.iter().map(|effect| effect.draw(rng)).collect();
        ViewPlan {
            pitch_semitones,
            stretch_rate,
            effects,
        }
    }

    /// Renders a view of exactly `view_len` samples from `source`, which should hold
    /// `plan.source_len(view_len)` samples (it is zero-padded or cut to that length
    /// otherwise, so that the rate is exactly the planned one).
    pub fn render(&self, plan: &ViewPlan, source: &[f32], view_len: usize) -> Vec<f32> {
        let wanted = plan.source_len(view_len);
        let padded;
        let source = if source.len() == wanted {
            source
        } else {
            let mut fitted = source[..source.len().min(wanted)].to_vec();
            fitted.resize(wanted, 0.0);
            padded = fitted;
            &padded
        };
        let mut x = vec![0.0f32; view_len];
        let semitones = plan.pitch_semitones.unwrap_or(0.0);
        with_thread_stretcher(self.config.stretcher.preset, |s| s.render(source, semitones, &mut x));
        self.render_effects(plan, &mut x);
        x
    }

    /// The spectral method: the uncompressed mel power `[n_mels][frames]` of the view that
    /// `plan` makes from the source crop `span` (which should hold
    /// `plan.source_len(view_samples)` samples; it is zero-padded or cut otherwise). The base
    /// effects run on the whole span, then `frontend` reads it through the plan's
    /// [`SpectralWarp`]. [`FrontEnd::finish_input`] turns the result into the model input.
    pub fn render_spectral_power(&self, plan: &ViewPlan, mut span: Vec<f32>, frontend: &FrontEnd, out: &mut [f32]) {
        span.resize(plan.source_len(frontend.view_samples()), 0.0);
        self.render_effects(plan, &mut span);
        frontend.warped_mel_power(&span, SpectralWarp::new(plan.stretch_rate, plan.pitch_semitones), out);
    }

    /// Applies the base chain of `plan` (everything but pitch/stretch) in place.
    pub fn render_effects(&self, plan: &ViewPlan, x: &mut [f32]) {
        for (effect, draw) in self.config.effects.iter().zip(&plan.effects) {
            if draw.applied {
                effect.render(draw, x, self.sample_rate);
            }
        }
    }

    /// Plans and renders one view of `view_len` samples from the start of `audio` (the
    /// source is zero-padded when `audio` is shorter than the view needs): one view
    /// without a crop strategy, for tests and quick use.
    pub fn augment(&self, audio: &[f32], view_len: usize, rng: &mut Rng) -> (Vec<f32>, ViewRecord) {
        let plan = self.plan(rng);
        let needed = plan.source_len(view_len).min(audio.len());
        let view = self.render(&plan, &audio[..needed], view_len);
        (view, plan.record(view_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_core::rng::derived_rng;

    /// Real music often starts with digital silence, and a crop can fall entirely inside it. No
    /// transform may turn silence into NaN (e.g. by normalising by the signal's level): every
    /// transform at p = 1, on silence, near-silence and a silent intro.
    #[test]
    fn every_transform_keeps_silent_views_finite() {
        let mut config = ChainConfig::default();
        config.set_base_probability(1.0);
        config.pitch_shift.p = 1.0;
        config.time_stretch.p = 1.0;
        let chain = AugmentChain::new(config).unwrap();
        let view_len = 16_000;
        let source_len = 2 * view_len;
        let silent = vec![0.0f32; source_len];
        let denormal = vec![1e-40f32; source_len];
        let intro: Vec<f32> = (0..source_len)
            .map(|i| {
                if i < 3 * view_len / 2 {
                    0.0
                } else {
                    (i as f32 * 0.05).sin() * 0.5
                }
            })
            .collect();
        for (name, audio) in [("silent", &silent), ("denormal", &denormal), ("intro", &intro)] {
            for v in 0..24 {
                let (view, record) = chain.augment(audio, view_len, &mut derived_rng(7, &[v]));
                assert_eq!(view.len(), view_len);
                assert!(
                    view.iter().all(|s| s.is_finite() && s.abs() <= 4.0),
                    "{name}, view {v}: non-finite or exploding samples after {record:?}"
                );
                if name == "silent" {
                    // Nothing has a level to scale to: silence stays silence.
                    assert!(view.iter().all(|&s| s == 0.0), "view {v}: {record:?}");
                }
            }
        }
    }
}
