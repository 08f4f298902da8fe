//! The tracked augmentation chain: `plan` draws every decision and parameter of a view from
//! the view's seeded generator (cheap), `render` applies them to audio. The plan converts
//! into a serialisable [`ViewRecord`] holding, per transform, whether it was applied and
//! with which parameters.
//!
//! Rendering order of the exact method: pitch shift + time stretch (one Signalsmith pass over
//! the source crop, which is `ceil(rate × view_len)` samples long), then gain, polarity
//! inversion, coloured noise, filter, reverb, distortion. Every step keeps the view length.
//!
//! The spectral method ([`AugmentChain::render_spectral_power`]) runs the same effects first,
//! on the whole source crop (the seed's Table IV order, T_B then T_V), and then reads the
//! view's mel power from the crop's STFT through a [`SpectralWarp`]: no waveform is made.

use std::collections::BTreeMap;

use loev_audio::frontend::{FrontEnd, SpectralWarp};
use loev_core::rng::{Rng, rng_from_seed};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::config::{ChainConfig, FILTER_KINDS, StretchMethod};
use crate::effects::{self, ReverbParams};
use crate::filters::FilterCascade;
use crate::stretch::with_thread_stretcher;

/// Which filter the one-of step chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    /// 4th-order Butterworth low-pass.
    LowPass,
    /// 4th-order Butterworth high-pass.
    HighPass,
    /// Band-pass.
    BandPass,
    /// Band-stop.
    BandStop,
}

impl FilterKind {
    /// The transform name of this filter kind (as used in `variant`).
    pub fn name(self) -> &'static str {
        match self {
            FilterKind::LowPass => FILTER_KINDS[0],
            FilterKind::HighPass => FILTER_KINDS[1],
            FilterKind::BandPass => FILTER_KINDS[2],
            FilterKind::BandStop => FILTER_KINDS[3],
        }
    }

    fn from_index(index: usize) -> Self {
        match index {
            0 => FilterKind::LowPass,
            1 => FilterKind::HighPass,
            2 => FilterKind::BandPass,
            _ => FilterKind::BandStop,
        }
    }
}

/// The filter drawn for a view: its kind is always drawn; `applied` says whether it ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FilterPlan {
    /// The chosen filter.
    pub kind: FilterKind,
    /// Whether it was applied (its own p).
    pub applied: bool,
    /// Cutoff (low/high-pass) or centre (band) frequency in Hz; 0 when not applied.
    pub freq_hz: f64,
    /// Bandwidth fraction (band filters only; 0 otherwise).
    pub bandwidth_fraction: f64,
}

/// Coloured-noise parameters of a view; `seed` drives the noise samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisePlan {
    /// Signal-to-noise ratio in dB.
    pub snr_db: f64,
    /// Spectral decay exponent (power ∝ 1/f^decay).
    pub decay: f64,
    /// Seed of the noise generator.
    pub seed: u64,
}

/// Every decision of one view; `None` = not applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPlan {
    /// Transposition in semitones.
    pub pitch_semitones: Option<f64>,
    /// Playback rate (> 1 = faster).
    pub stretch_rate: Option<f64>,
    /// Gain in dB.
    pub gain_db: Option<f64>,
    /// Sign flip.
    pub polarity_inverted: bool,
    /// Coloured noise.
    pub noise: Option<NoisePlan>,
    /// One-of filter.
    pub filter: FilterPlan,
    /// Reverb.
    pub reverb: Option<ReverbParams>,
    /// Distortion drive in dB.
    pub distortion_db: Option<f64>,
}

impl ViewPlan {
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
        let mut transforms = Vec::with_capacity(8);
        let one = |name: &str, key: &str, value: Option<f64>| AppliedTransform {
            name: name.to_string(),
            applied: value.is_some(),
            choice: None,
            params: value
                .map(|v| BTreeMap::from([(key.to_string(), v)]))
                .unwrap_or_default(),
        };
        transforms.push(one("pitch_shift", "semitones", self.pitch_semitones));
        transforms.push(one("time_stretch", "rate", self.stretch_rate));
        transforms.push(one("gain", "db", self.gain_db));
        transforms.push(AppliedTransform {
            name: "polarity_inversion".to_string(),
            applied: self.polarity_inverted,
            choice: None,
            params: BTreeMap::new(),
        });
        transforms.push(AppliedTransform {
            name: "colored_noise".to_string(),
            applied: self.noise.is_some(),
            choice: None,
            params: self
                .noise
                .map(|n| BTreeMap::from([("snr_db".to_string(), n.snr_db), ("decay".to_string(), n.decay)]))
                .unwrap_or_default(),
        });
        let filter = self.filter;
        let mut filter_params = BTreeMap::new();
        if filter.applied {
            match filter.kind {
                FilterKind::LowPass | FilterKind::HighPass => {
                    filter_params.insert("cutoff_hz".to_string(), filter.freq_hz);
                }
                FilterKind::BandPass | FilterKind::BandStop => {
                    filter_params.insert("center_hz".to_string(), filter.freq_hz);
                    filter_params.insert("bandwidth_fraction".to_string(), filter.bandwidth_fraction);
                }
            }
        }
        transforms.push(AppliedTransform {
            name: "filter".to_string(),
            applied: filter.applied,
            choice: Some(filter.kind.name().to_string()),
            params: filter_params,
        });
        transforms.push(AppliedTransform {
            name: "reverb".to_string(),
            applied: self.reverb.is_some(),
            choice: None,
            params: self
                .reverb
                .map(|r| BTreeMap::from([("room_size".to_string(), r.room_size), ("wet".to_string(), r.wet)]))
                .unwrap_or_default(),
        });
        transforms.push(one("distortion", "drive_db", self.distortion_db));
        ViewRecord {
            view_len,
            source_len: self.source_len(view_len),
            transforms,
            crop: None,
            mixup: None,
        }
    }
}

/// What happened to one transform of one view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedTransform {
    /// Transform name (see [`crate::config::TRANSFORM_NAMES`]); the one-of step is `filter`.
    pub name: String,
    /// Whether the transform changed the audio.
    pub applied: bool,
    /// For `filter`: the kind chosen by the one-of step (applied or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// Drawn parameters (empty when not applied).
    pub params: BTreeMap<String, f64>,
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
    /// Whether transform `name` was applied. A filter kind (`low_pass`, …) counts as applied
    /// when the one-of step chose it and applied it; `filter` when any filter was applied.
    pub fn applied(&self, name: &str) -> bool {
        if FILTER_KINDS.contains(&name) {
            return self
                .transforms
                .iter()
                .any(|t| t.name == "filter" && t.applied && t.choice.as_deref() == Some(name));
        }
        self.transforms.iter().any(|t| t.name == name && t.applied)
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

fn uniform(rng: &mut Rng, [low, high]: [f64; 2]) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

fn draw(rng: &mut Rng, p: f64) -> bool {
    // `random_bool` rejects p outside 0…1; the config is validated, but stay total.
    rng.random::<f64>() < p
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

    /// Draws every decision of one view, in a fixed order (pitch, stretch, gain, polarity,
    /// noise, filter, reverb, distortion), from `rng`.
    pub fn plan(&self, rng: &mut Rng) -> ViewPlan {
        let c = &self.config;
        let pitch_semitones = draw(rng, c.pitch_shift.p).then(|| uniform(rng, c.pitch_shift.semitones));
        let stretch_rate = draw(rng, c.time_stretch.p).then(|| uniform(rng, c.time_stretch.rate));
        let gain_db = draw(rng, c.gain.p).then(|| uniform(rng, c.gain.db));
        let polarity_inverted = draw(rng, c.polarity_inversion.p);
        let noise = draw(rng, c.colored_noise.p).then(|| NoisePlan {
            snr_db: uniform(rng, c.colored_noise.snr_db),
            decay: uniform(rng, c.colored_noise.decay),
            seed: rng.random::<u64>(),
        });
        let kind = FilterKind::from_index(rng.random_range(0..FILTER_KINDS.len()));
        let f = &c.filter;
        let (p, freq_range, bandwidth_range) = match kind {
            FilterKind::LowPass => (f.low_pass.p, f.low_pass.cutoff_hz, None),
            FilterKind::HighPass => (f.high_pass.p, f.high_pass.cutoff_hz, None),
            FilterKind::BandPass => (
                f.band_pass.p,
                f.band_pass.center_hz,
                Some(f.band_pass.bandwidth_fraction),
            ),
            FilterKind::BandStop => (
                f.band_stop.p,
                f.band_stop.center_hz,
                Some(f.band_stop.bandwidth_fraction),
            ),
        };
        let filter = if draw(rng, p) {
            let freq_hz = uniform(rng, freq_range);
            let bandwidth_fraction = bandwidth_range.map_or(0.0, |range| uniform(rng, range));
            FilterPlan {
                kind,
                applied: true,
                freq_hz,
                bandwidth_fraction,
            }
        } else {
            FilterPlan {
                kind,
                applied: false,
                freq_hz: 0.0,
                bandwidth_fraction: 0.0,
            }
        };
        let reverb = draw(rng, c.reverb.p).then(|| ReverbParams {
            room_size: uniform(rng, c.reverb.room_size),
            wet: uniform(rng, c.reverb.wet),
        });
        let distortion_db = draw(rng, c.distortion.p).then(|| uniform(rng, c.distortion.drive_db));
        ViewPlan {
            pitch_semitones,
            stretch_rate,
            gain_db,
            polarity_inverted,
            noise,
            filter,
            reverb,
            distortion_db,
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

    /// Applies the base effects of `plan` (everything but pitch/stretch) in place.
    pub fn render_effects(&self, plan: &ViewPlan, x: &mut [f32]) {
        let fs = f64::from(self.sample_rate);
        if let Some(db) = plan.gain_db {
            effects::apply_gain(x, db);
        }
        if plan.polarity_inverted {
            effects::invert_polarity(x);
        }
        if let Some(noise) = plan.noise {
            effects::add_colored_noise(x, noise.snr_db, noise.decay, &mut rng_from_seed(noise.seed));
        }
        let filter = plan.filter;
        if filter.applied {
            let cascade = match filter.kind {
                FilterKind::LowPass => FilterCascade::low_pass(filter.freq_hz, fs),
                FilterKind::HighPass => FilterCascade::high_pass(filter.freq_hz, fs),
                FilterKind::BandPass => FilterCascade::band_pass(filter.freq_hz, filter.bandwidth_fraction, fs),
                FilterKind::BandStop => FilterCascade::band_stop(filter.freq_hz, filter.bandwidth_fraction, fs),
            };
            cascade.run(x);
        }
        if let Some(params) = plan.reverb {
            effects::reverb(x, params, self.sample_rate);
        }
        if let Some(drive) = plan.distortion_db {
            effects::distort(x, drive);
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
