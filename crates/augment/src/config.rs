//! The augmentation chain as configuration (TOML). Defaults are the seed paper's Table IV.
//!
//! Every range is written `[low, high]` and drawn uniformly; `p` is the probability that a
//! view receives the transform. Unknown keys are errors naming the key.

use serde::{Deserialize, Serialize};

use crate::AugmentError;

/// Every transform name the chain knows, in rendering order (filter kinds after `filter`).
/// Any of them can be listed in `variant`.
pub const TRANSFORM_NAMES: [&str; 12] = [
    "pitch_shift",
    "time_stretch",
    "gain",
    "polarity_inversion",
    "colored_noise",
    "filter",
    "low_pass",
    "high_pass",
    "band_pass",
    "band_stop",
    "reverb",
    "distortion",
];

/// The four filters of the one-of filter step, in the order they are indexed when drawn.
pub const FILTER_KINDS: [&str; 4] = ["low_pass", "high_pass", "band_pass", "band_stop"];

/// The default chain as a commented TOML file (`loev augment --print-default-config`);
/// a test checks that it parses to [`ChainConfig::default`].
pub const DEFAULT_CHAIN_TOML: &str = r#"# loev augmentation chain (the seed paper's Table IV). Every view draws every transform
# independently with probability p; ranges are [low, high], drawn uniformly.
# Rendering order: pitch shift + time stretch (one pass), gain, polarity inversion,
# coloured noise, filter, reverb, distortion. Every view keeps exactly the view length.

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

[gain]
p = 0.7
db = [-15.0, 5.0]

[polarity_inversion]
p = 0.8

[colored_noise]
p = 0.8
snr_db = [3.0, 30.0]         # relative to the view's mean power
decay = [-2.0, 2.0]          # power ∝ 1/f^decay: 0 white, 1 pink, 2 brown (−3.01·decay dB/octave)

# One of the four filters is chosen uniformly, then applied with its own p.
[filter.low_pass]
p = 0.5
cutoff_hz = [150.0, 7000.0]  # 4th-order Butterworth, −3 dB at the cutoff

[filter.high_pass]
p = 0.5
cutoff_hz = [200.0, 2400.0]  # 4th-order Butterworth, −3 dB at the cutoff

[filter.band_pass]
p = 0.5
center_hz = [200.0, 4000.0]
bandwidth_fraction = [0.5, 2.0]  # Q = 1 / fraction; two RBJ sections, 0 dB at the centre

[filter.band_stop]
p = 0.3
center_hz = [200.0, 4000.0]
bandwidth_fraction = [0.5, 2.0]  # two RBJ notch sections

[reverb]
p = 0.5
room_size = [0.2, 1.0]       # Freeverb-style; larger rooms decay longer
wet = [0.0, 1.0]             # output = (1 − wet)·dry + wet·reverberated

[distortion]
p = 0.6
drive_db = [1.0, 10.0]       # y = tanh(10^(drive/20) · x)

# How pitch shift and time stretch are rendered. method = "spectral" (the default): the
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

/// The whole chain: one section per transform plus the list of variant transforms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// Transforms tracked per view; their order defines the tracking vector t ∈ {0,1}^K
    /// (and the LOEV heads). Default: pitch shift and time stretch.
    pub variant: Vec<String>,
    /// Gain in dB.
    pub gain: GainConfig,
    /// Sign flip.
    pub polarity_inversion: PolarityConfig,
    /// Additive Gaussian noise with a power-law spectrum.
    pub colored_noise: NoiseConfig,
    /// One of four filters, chosen uniformly, then applied with its own probability.
    pub filter: FilterConfig,
    /// Freeverb-style reverb.
    pub reverb: ReverbConfig,
    /// tanh saturation.
    pub distortion: DistortionConfig,
    /// Transposition (Signalsmith Stretch), continuous semitones.
    pub pitch_shift: PitchShiftConfig,
    /// Playback-rate change (Signalsmith Stretch); > 1 = faster.
    pub time_stretch: TimeStretchConfig,
    /// Signalsmith Stretch settings shared by pitch shift and time stretch.
    pub stretcher: StretcherConfig,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            variant: vec!["pitch_shift".to_string(), "time_stretch".to_string()],
            gain: GainConfig::default(),
            polarity_inversion: PolarityConfig::default(),
            colored_noise: NoiseConfig::default(),
            filter: FilterConfig::default(),
            reverb: ReverbConfig::default(),
            distortion: DistortionConfig::default(),
            pitch_shift: PitchShiftConfig::default(),
            time_stretch: TimeStretchConfig::default(),
            stretcher: StretcherConfig::default(),
        }
    }
}

/// Gain: p 0.7, −15…+5 dB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GainConfig {
    /// Probability of applying.
    pub p: f64,
    /// Gain range in dB.
    pub db: [f64; 2],
}

impl Default for GainConfig {
    fn default() -> Self {
        Self {
            p: 0.7,
            db: [-15.0, 5.0],
        }
    }
}

/// Polarity inversion: p 0.8.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolarityConfig {
    /// Probability of applying.
    pub p: f64,
}

impl Default for PolarityConfig {
    fn default() -> Self {
        Self { p: 0.8 }
    }
}

/// Coloured noise: p 0.8, SNR 3…30 dB, decay −2…2 (power ∝ 1/f^decay, i.e. −3.01·decay
/// dB/octave).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Probability of applying.
    pub p: f64,
    /// Signal-to-noise ratio range in dB (relative to the view's mean power).
    pub snr_db: [f64; 2],
    /// Spectral decay exponent range: 0 white, 1 pink, 2 brown, −1 blue.
    pub decay: [f64; 2],
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            p: 0.8,
            snr_db: [3.0, 30.0],
            decay: [-2.0, 2.0],
        }
    }
}

/// The one-of filter step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// 4th-order Butterworth low-pass.
    pub low_pass: LowPassConfig,
    /// 4th-order Butterworth high-pass.
    pub high_pass: HighPassConfig,
    /// Band-pass (two RBJ sections).
    pub band_pass: BandPassConfig,
    /// Band-stop (two RBJ notch sections).
    pub band_stop: BandStopConfig,
}

/// Low-pass: p 0.5 once chosen, cutoff 150…7000 Hz.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LowPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Cutoff range in Hz (−3 dB point).
    pub cutoff_hz: [f64; 2],
}

impl Default for LowPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            cutoff_hz: [150.0, 7000.0],
        }
    }
}

/// High-pass: p 0.5 once chosen, cutoff 200…2400 Hz.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Cutoff range in Hz (−3 dB point).
    pub cutoff_hz: [f64; 2],
}

impl Default for HighPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            cutoff_hz: [200.0, 2400.0],
        }
    }
}

/// Band-pass: p 0.5 once chosen, centre 200…4000 Hz, bandwidth fraction 0.5…2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandPassConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Centre frequency range in Hz.
    pub center_hz: [f64; 2],
    /// Bandwidth as a fraction of the centre frequency (Q = 1 / fraction).
    pub bandwidth_fraction: [f64; 2],
}

impl Default for BandPassConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            center_hz: [200.0, 4000.0],
            bandwidth_fraction: [0.5, 2.0],
        }
    }
}

/// Band-stop: p 0.3 once chosen, centre 200…4000 Hz, bandwidth fraction 0.5…2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandStopConfig {
    /// Probability of applying once this filter is chosen.
    pub p: f64,
    /// Centre frequency range in Hz.
    pub center_hz: [f64; 2],
    /// Bandwidth as a fraction of the centre frequency (Q = 1 / fraction).
    pub bandwidth_fraction: [f64; 2],
}

impl Default for BandStopConfig {
    fn default() -> Self {
        Self {
            p: 0.3,
            center_hz: [200.0, 4000.0],
            bandwidth_fraction: [0.5, 2.0],
        }
    }
}

/// Reverb: p 0.5, room size 0.2…1, wet 0…1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReverbConfig {
    /// Probability of applying.
    pub p: f64,
    /// Room size range (0…1); larger rooms decay longer.
    pub room_size: [f64; 2],
    /// Wet/dry crossfade range (0 = dry, 1 = reverberated only).
    pub wet: [f64; 2],
}

impl Default for ReverbConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            room_size: [0.2, 1.0],
            wet: [0.0, 1.0],
        }
    }
}

/// Distortion: p 0.6, drive 1…10 dB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistortionConfig {
    /// Probability of applying.
    pub p: f64,
    /// Drive range in dB (gain before the tanh).
    pub drive_db: [f64; 2],
}

impl Default for DistortionConfig {
    fn default() -> Self {
        Self {
            p: 0.6,
            drive_db: [1.0, 10.0],
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

/// Signalsmith Stretch presets (analysis block and hop, in seconds at any sample rate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StretchPreset {
    /// 120 ms blocks, 30 ms hop: Signalsmith's default quality.
    #[default]
    Default,
    /// 100 ms blocks, 40 ms hop: about 25 % faster, slightly more phasiness.
    Cheaper,
}

impl StretchPreset {
    /// Block and hop in samples at `sample_rate`.
    pub fn block_and_interval(self, sample_rate: u32) -> (usize, usize) {
        let (block, interval) = match self {
            StretchPreset::Default => (0.12, 0.03),
            StretchPreset::Cheaper => (0.10, 0.04),
        };
        (
            (block * f64::from(sample_rate)) as usize,
            (interval * f64::from(sample_rate)) as usize,
        )
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
        let f = &self.filter;
        Some(match name {
            "gain" => self.gain.p,
            "polarity_inversion" => self.polarity_inversion.p,
            "colored_noise" => self.colored_noise.p,
            "filter" => (f.low_pass.p + f.high_pass.p + f.band_pass.p + f.band_stop.p) / 4.0,
            "low_pass" => f.low_pass.p / 4.0,
            "high_pass" => f.high_pass.p / 4.0,
            "band_pass" => f.band_pass.p / 4.0,
            "band_stop" => f.band_stop.p / 4.0,
            "reverb" => self.reverb.p,
            "distortion" => self.distortion.p,
            "pitch_shift" => self.pitch_shift.p,
            "time_stretch" => self.time_stretch.p,
            _ => return None,
        })
    }

    /// Sets the probability of every transform of the base chain T_B (gain, polarity, noise,
    /// the four filters, reverb, distortion), leaving the variant chain as it is: 0 turns the
    /// base chain off (MULE-mixup), 1 applies all of it to every view (benchmarks).
    pub fn set_base_probability(&mut self, p: f64) {
        self.gain.p = p;
        self.polarity_inversion.p = p;
        self.colored_noise.p = p;
        self.filter.low_pass.p = p;
        self.filter.high_pass.p = p;
        self.filter.band_pass.p = p;
        self.filter.band_stop.p = p;
        self.reverb.p = p;
        self.distortion.p = p;
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
            if !TRANSFORM_NAMES.contains(&name.as_str()) {
                return Err(AugmentError::Config(format!(
                    "variant: unknown transform `{name}` (known: {})",
                    TRANSFORM_NAMES.join(", ")
                )));
            }
            if seen.contains(&name) {
                return Err(AugmentError::Config(format!("variant: `{name}` is listed twice")));
            }
            seen.push(name);
        }
        let nyquist = f64::from(loev_audio::SAMPLE_RATE) / 2.0;
        let f = &self.filter;
        check_p("gain.p", self.gain.p)?;
        check_range("gain.db", self.gain.db, -120.0, 60.0)?;
        check_p("polarity_inversion.p", self.polarity_inversion.p)?;
        check_p("colored_noise.p", self.colored_noise.p)?;
        check_range("colored_noise.snr_db", self.colored_noise.snr_db, -60.0, 200.0)?;
        check_range("colored_noise.decay", self.colored_noise.decay, -6.0, 6.0)?;
        check_p("filter.low_pass.p", f.low_pass.p)?;
        check_range("filter.low_pass.cutoff_hz", f.low_pass.cutoff_hz, 1.0, nyquist)?;
        check_p("filter.high_pass.p", f.high_pass.p)?;
        check_range("filter.high_pass.cutoff_hz", f.high_pass.cutoff_hz, 1.0, nyquist)?;
        check_p("filter.band_pass.p", f.band_pass.p)?;
        check_range("filter.band_pass.center_hz", f.band_pass.center_hz, 1.0, nyquist)?;
        check_range(
            "filter.band_pass.bandwidth_fraction",
            f.band_pass.bandwidth_fraction,
            0.01,
            10.0,
        )?;
        check_p("filter.band_stop.p", f.band_stop.p)?;
        check_range("filter.band_stop.center_hz", f.band_stop.center_hz, 1.0, nyquist)?;
        check_range(
            "filter.band_stop.bandwidth_fraction",
            f.band_stop.bandwidth_fraction,
            0.01,
            10.0,
        )?;
        check_p("reverb.p", self.reverb.p)?;
        check_range("reverb.room_size", self.reverb.room_size, 0.0, 1.0)?;
        check_range("reverb.wet", self.reverb.wet, 0.0, 1.0)?;
        check_p("distortion.p", self.distortion.p)?;
        check_range("distortion.drive_db", self.distortion.drive_db, -60.0, 60.0)?;
        check_p("pitch_shift.p", self.pitch_shift.p)?;
        let limit = crate::stretch::SEMITONE_LIMIT;
        check_range("pitch_shift.semitones", self.pitch_shift.semitones, -limit, limit)?;
        check_p("time_stretch.p", self.time_stretch.p)?;
        // Rates below 0.5 make Signalsmith randomise phases, above 4 it skips most input.
        check_range("time_stretch.rate", self.time_stretch.rate, 0.5, 4.0)?;
        Ok(())
    }
}

fn check_p(key: &str, p: f64) -> Result<(), AugmentError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(AugmentError::Config(format!(
            "{key} = {p}: a probability must lie in 0…1"
        )))
    }
}

fn check_range(key: &str, range: [f64; 2], min: f64, max: f64) -> Result<(), AugmentError> {
    let [low, high] = range;
    if !(low.is_finite() && high.is_finite()) || low > high {
        return Err(AugmentError::Config(format!(
            "{key} = [{low}, {high}]: expected [low, high] with low ≤ high"
        )));
    }
    if low < min || high > max {
        return Err(AugmentError::Config(format!(
            "{key} = [{low}, {high}]: values must lie in {min}…{max}"
        )));
    }
    Ok(())
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
        assert_eq!(ChainConfig::from_toml_str(DEFAULT_CHAIN_TOML).unwrap(), config);
        assert_eq!(config.probability("band_stop"), Some(0.3 / 4.0));
        assert_eq!(config.filter.high_pass.cutoff_hz, [200.0, 2400.0]);
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
        assert_eq!(config.gain.db, [-3.0, 3.0]);
        assert_eq!(config.variant, vec!["reverb".to_string()]);
    }
}
