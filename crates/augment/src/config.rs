//! The augmentation chain as configuration (TOML). Defaults are the seed paper's Table IV.
//!
//! Every range is written `[low, high]` and drawn uniformly; `p` is the probability that a
//! view receives the transform. Unknown keys are errors naming the key.

use serde::{Deserialize, Serialize};

use crate::AugmentError;
pub use crate::stretch::StretchPreset;
use crate::transforms::{EffectSet, REGISTRY, check_p, check_range, transform_names};

/// The header and the variant list of the documented default chain file.
const DEFAULT_HEAD_TOML: &str = r#"# loev augmentation chain (the seed paper's Table IV). Every view draws every transform
# independently with probability p; ranges are [low, high], drawn uniformly.
# Rendering order: pitch shift + time stretch (one pass), then the base chain in the order
# below (gain, polarity inversion, coloured noise, filter, reverb, distortion, …). Every view
# keeps exactly the view length.

# Transforms tracked per view: t_k = 1 iff variant[k] was applied. Any transform name
# below can be listed (filter kinds too: low_pass, high_pass, band_pass, band_stop, or
# `filter` for any of them); each gets its own LOEV head.
variant = ["pitch_shift", "time_stretch"]

[pitch_shift]
p = 0.5
semitones = [-4.0, 4.0]      # continuous; exact transposition (band-limited resampling)

[time_stretch]
p = 0.5
rate = [0.7, 1.3]            # > 1 = faster; a view reads ceil(rate × view length) samples
"#;

/// The stretcher section of the documented default chain file.
const DEFAULT_STRETCHER_TOML: &str = r#"# How pitch shift and time stretch are rendered. method = "spectral" (the default): the
# other transforms run on the source span first, then the log-mel is read from its STFT
# with the hop scaled by the rate and the mel filters moved by the shift (no waveform;
# about 4x faster). "exact": Signalsmith Stretch synthesises the waveform, then the other
# transforms and the log-mel follow. A [stretcher] section without `method` means "exact".
# preset (exact only): "default" (120 ms blocks, 30 ms hop) or "cheaper" (100 ms blocks,
# 40 ms hop; about 25 % faster).
[stretcher]
method = "spectral"
preset = "default"
"#;

/// The default chain as a commented TOML file (`loev augment --print-default-config`): the
/// variant chain, every registered transform's section in order, the stretcher. A test
/// checks that it parses to [`ChainConfig::default`].
pub fn default_chain_toml() -> String {
    let mut text = DEFAULT_HEAD_TOML.to_string();
    for registration in REGISTRY {
        text.push('\n');
        text.push_str(registration.default_toml);
    }
    text.push('\n');
    text.push_str(DEFAULT_STRETCHER_TOML);
    text
}

/// The whole chain: the list of variant transforms, the variant chain (pitch shift, time
/// stretch and how they are rendered), and one section per transform of the base chain
/// ([`REGISTRY`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChainConfig {
    /// Transforms tracked per view; their order defines the tracking vector t ∈ {0,1}^K
    /// (and the LOEV heads). Default: pitch shift and time stretch.
    pub variant: Vec<String>,
    /// Transposition (Signalsmith Stretch), continuous semitones.
    pub pitch_shift: PitchShiftConfig,
    /// Playback-rate change (Signalsmith Stretch); > 1 = faster.
    pub time_stretch: TimeStretchConfig,
    /// Signalsmith Stretch settings shared by pitch shift and time stretch.
    pub stretcher: StretcherConfig,
    /// The base chain: one top-level section per registered transform (`[gain]`, …). An
    /// unknown section or key is an error naming it.
    #[serde(flatten)]
    pub effects: EffectSet,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            variant: vec!["pitch_shift".to_string(), "time_stretch".to_string()],
            pitch_shift: PitchShiftConfig::default(),
            time_stretch: TimeStretchConfig::default(),
            stretcher: StretcherConfig::default(),
            effects: EffectSet::default(),
        }
    }
}

/// Pitch shift: p 0.5, −4…+4 semitones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PitchShiftConfig {
    /// Probability of applying.
    pub p: f64,
    /// Transposition range in semitones (continuous).
    pub semitones: [f64; 2],
}

impl Default for PitchShiftConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            semitones: [-4.0, 4.0],
        }
    }
}

/// Time stretch: p 0.5, rate 0.7…1.3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeStretchConfig {
    /// Probability of applying.
    pub p: f64,
    /// Playback-rate range (> 1 = faster); a view reads `ceil(rate × view_len)` samples.
    pub rate: [f64; 2],
}

impl Default for TimeStretchConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            rate: [0.7, 1.3],
        }
    }
}

/// How pitch shift and time stretch are rendered, and Signalsmith Stretch's settings.
///
/// The default method is `spectral`. A `[stretcher]` section that does not name a method
/// means `exact`: such a section only ever held the Signalsmith preset, and every run
/// configuration written before the method existed has one, so those runs resume with the
/// batches they started with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StretcherConfig {
    /// `spectral` (read straight from the STFT of the source span; no waveform) or `exact`
    /// (a Signalsmith waveform, then the front end). See [`StretchMethod`].
    #[serde(default = "StretchMethod::unnamed")]
    pub method: StretchMethod,
    /// Signalsmith's preset (the exact method only).
    pub preset: StretchPreset,
}

impl Default for StretcherConfig {
    fn default() -> Self {
        Self {
            method: StretchMethod::Spectral,
            preset: StretchPreset::default(),
        }
    }
}

/// How a view's pitch shift and time stretch reach the model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StretchMethod {
    /// Signalsmith Stretch synthesises the shifted/stretched waveform of the source crop,
    /// then the other transforms run on the view and the front end computes its log-mel.
    /// Every view is also a waveform one can listen to (`loev augment`).
    Exact,
    /// The other transforms run first on the source span's waveform (the seed's Table IV
    /// order, T_B then T_V); the log-mel is then read from the span's STFT with the hop
    /// scaled by the stretch rate and the mel filters evaluated at the shifted frequencies
    /// (`loev_audio::frontend::SpectralWarp`). No waveform is synthesised: several times
    /// faster, for feeding a GPU. Records and tracking are the same as for `exact`. The
    /// default: on the built-in corpus it keeps the seed's pitch effect (docs/augmentation.md).
    Spectral,
}

impl StretchMethod {
    /// The method of a `[stretcher]` section that names none: `exact` (see
    /// [`StretcherConfig`]).
    pub fn unnamed() -> Self {
        Self::Exact
    }

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Spectral => "spectral",
        }
    }
}

/// Parses the configuration-file name (`exact` or `spectral`), as command-line flags take it.
impl std::str::FromStr for StretchMethod {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Exact, Self::Spectral]
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| format!("unknown stretch method `{name}` (expected `exact` or `spectral`)"))
    }
}

impl std::fmt::Display for StretchMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ChainConfig {
    /// Parses a TOML chain (missing keys take the defaults) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, AugmentError> {
        let config: Self = toml::from_str(text).map_err(|e| AugmentError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a TOML chain file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, AugmentError> {
        let text = std::fs::read_to_string(path).map_err(|e| AugmentError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            AugmentError::Config(msg) => AugmentError::Config(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The configuration as TOML (the default chain gives the documented default file).
    pub fn to_toml_string(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The probability that a view receives transform `name` (a filter kind: its own p
    /// times the 1/4 chance of being chosen). `None` for an unknown name.
    pub fn probability(&self, name: &str) -> Option<f64> {
        match name {
            "pitch_shift" => Some(self.pitch_shift.p),
            "time_stretch" => Some(self.time_stretch.p),
            _ => self.effects.iter().find_map(|e| e.probability_of(name)),
        }
    }

    /// Sets the probability of every transform of the base chain T_B (every registered
    /// transform), leaving the variant chain as it is: 0 turns the base chain off
    /// (MULE-mixup), 1 applies all of it to every view (benchmarks).
    pub fn set_base_probability(&mut self, p: f64) {
        for effect in self.effects.iter_mut() {
            effect.set_probability(p);
        }
    }

    /// Whether transform `name` can be applied at all (p > 0). A variant transform that is
    /// not enabled keeps its tracking column at 0 (the training crate builds no head for it).
    pub fn is_enabled(&self, name: &str) -> bool {
        self.probability(name).is_some_and(|p| p > 0.0)
    }

    /// Checks names, probabilities and ranges; errors name the offending key.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let mut seen = Vec::new();
        for name in &self.variant {
            let known = transform_names();
            if !known.contains(&name.as_str()) {
                return Err(AugmentError::Config(format!(
                    "variant: unknown transform `{name}` (known: {})",
                    known.join(", ")
                )));
            }
            if seen.contains(&name) {
                return Err(AugmentError::Config(format!("variant: `{name}` is listed twice")));
            }
            seen.push(name);
        }
        for effect in self.effects.iter() {
            effect.validate()?;
        }
        check_p("pitch_shift.p", self.pitch_shift.p)?;
        let limit = crate::stretch::SEMITONE_LIMIT;
        check_range("pitch_shift.semitones", self.pitch_shift.semitones, -limit, limit)?;
        check_p("time_stretch.p", self.time_stretch.p)?;
        // Rates below 0.5 make Signalsmith randomise phases, above 4 it skips most input.
        check_range("time_stretch.rate", self.time_stretch.rate, 0.5, 4.0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_and_matches_table() {
        let config = ChainConfig::default();
        config.validate().unwrap();
        let text = config.to_toml_string();
        assert_eq!(ChainConfig::from_toml_str(&text).unwrap(), config);
        assert_eq!(ChainConfig::from_toml_str("").unwrap(), config);
        assert_eq!(ChainConfig::from_toml_str(&default_chain_toml()).unwrap(), config);
        assert_eq!(config.probability("band_stop"), Some(0.3 / 4.0));
        assert_eq!(
            config
                .effects
                .get::<crate::transforms::FilterConfig>()
                .high_pass
                .cutoff_hz,
            [200.0, 2400.0]
        );
    }

    /// The default method is spectral, but a `[stretcher]` section that names no method (as in
    /// every run configuration written before the method existed) keeps the exact method, so
    /// old runs resume with the batches they started with.
    #[test]
    fn a_stretcher_section_without_a_method_keeps_the_exact_method() {
        assert_eq!(ChainConfig::default().stretcher.method, StretchMethod::Spectral);
        let old = ChainConfig::from_toml_str("[stretcher]\npreset = \"default\"\n").unwrap();
        assert_eq!(old.stretcher.method, StretchMethod::Exact);
        let named = ChainConfig::from_toml_str("[stretcher]\nmethod = \"spectral\"\n").unwrap();
        assert_eq!(named.stretcher.method, StretchMethod::Spectral);
        let err = ChainConfig::from_toml_str("[stretcher]\nmethod = \"vocoder\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("vocoder"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let err = ChainConfig::from_toml_str("[gain]\nq = 0.5\n").unwrap_err().to_string();
        assert!(err.contains('q'), "{err}");
        let err = ChainConfig::from_toml_str("[gian]\np = 0.5\n").unwrap_err().to_string();
        assert!(err.contains("gian"), "{err}");
        let err = ChainConfig::from_toml_str("variant = [\"pitch\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pitch"), "{err}");
        let err = ChainConfig::from_toml_str("[reverb]\nwet = [0.5, 0.2]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("reverb.wet"), "{err}");
        let err = ChainConfig::from_toml_str("[filter.low_pass]\np = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("filter.low_pass.p"), "{err}");
        // Integers are accepted where floats are expected.
        let config = ChainConfig::from_toml_str("variant = [\"reverb\"]\n[gain]\ndb = [-3, 3]\n").unwrap();
        assert_eq!(config.effects.get::<crate::transforms::GainConfig>().db, [-3.0, 3.0]);
        assert_eq!(config.variant, vec!["reverb".to_string()]);
    }
}
