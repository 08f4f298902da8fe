//! The base chain's transforms, each a type of its own, and the registry that lists them.
//!
//! A transform is one file here: its TOML section as a typed struct (defaults, ranges), how
//! a view draws it ([`EffectConfig::draw`]), how it changes the audio
//! ([`EffectConfig::render`]), its validation and its documented default section. The chain
//! ([`crate::AugmentChain`]), the configuration ([`crate::ChainConfig`]), the records
//! ([`crate::ViewRecord`]) and the tracking vector all come from [`REGISTRY`], so adding a
//! transform is its file plus one line there. Pitch shift and time stretch are not here: they
//! are the variant chain, rendered together by Signalsmith Stretch or the spectral warp.
//!
//! Order matters: views draw the transforms in registry order from one generator, so a new
//! transform goes at the end, where it leaves every earlier draw — and the batches of every
//! existing configuration — unchanged.

/// Defines a transform that is applied with probability `p` and draws each of its parameters
/// uniformly from a `[low, high]` range, in the order listed (the record's parameters have
/// the same names): its TOML section (a struct with `p` and one range per parameter, each
/// checked against the limits after `within`), its defaults, its documented default section
/// and its [`EffectConfig`] implementation. `seeded` transforms also draw a seed for a
/// generator of their own, after their parameters. The caller writes the rendering, as a
/// function `fn(&Self, &EffectDraw, &mut [f32], sample_rate)`.
macro_rules! ranged_transform {
    (
        $(#[$doc:meta])*
        $config:ident {
            name: $name:literal,
            p: $p:expr,
            $(seeded: $seeded:literal,)?
            params: { $( $(#[$param_doc:meta])* $param:ident: [$low:expr, $high:expr] within [$min:expr, $max:expr], )* },
            default_toml: $toml:expr,
            render: $render:expr,
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $config {
            /// Probability of applying.
            pub p: f64,
            $( $(#[$param_doc])* pub $param: [f64; 2], )*
        }

        impl Default for $config {
            fn default() -> Self {
                Self { p: $p, $( $param: [$low, $high], )* }
            }
        }

        impl $crate::transforms::EffectConfig for $config {
            const NAME: &'static str = $name;
            const DEFAULT_TOML: &'static str = $toml;

            fn probability(&self) -> f64 {
                self.p
            }

            fn set_probability(&mut self, p: f64) {
                self.p = p;
            }

            fn validate(&self) -> Result<(), $crate::AugmentError> {
                $crate::transforms::check_p(concat!($name, ".p"), self.p)?;
                $( $crate::transforms::check_range(concat!($name, ".", stringify!($param)), self.$param, $min, $max)?; )*
                Ok(())
            }

            fn draw(&self, rng: &mut loev_core::rng::Rng) -> $crate::transforms::EffectDraw {
                if !$crate::transforms::draw_probability(rng, self.p) {
                    return $crate::transforms::EffectDraw::skipped();
                }
                let params = [$( (stringify!($param), $crate::transforms::uniform(rng, self.$param)), )*];
                let draw = $crate::transforms::EffectDraw::applied(&params);
                $(
                    let draw = if $seeded {
                        $crate::transforms::EffectDraw { seed: rand::RngExt::random::<u64>(rng), ..draw }
                    } else {
                        draw
                    };
                )?
                draw
            }

            fn render(&self, draw: &$crate::transforms::EffectDraw, x: &mut [f32], sample_rate: u32) {
                let render: fn(&Self, &$crate::transforms::EffectDraw, &mut [f32], u32) = $render;
                render(self, draw, x, sample_rate);
            }
        }
    };
}

mod compressor;
mod distortion;
mod filter;
mod gain;
mod noise;
mod polarity;
mod reverb;

use std::collections::BTreeMap;
use std::fmt;

use loev_core::rng::Rng;
use rand::RngExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::AugmentError;

pub use distortion::DistortionConfig;
pub use filter::{
    BandPassConfig, BandStopConfig, FILTER_KINDS, FilterConfig, FilterKind, HighPassConfig, LowPassConfig,
};
pub use gain::GainConfig;
pub use noise::NoiseConfig;
pub use polarity::PolarityConfig;
pub use reverb::ReverbConfig;

/// What happened to one transform of one view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedTransform {
    /// Transform name (see [`transform_names`]); the one-of step is `filter`.
    pub name: String,
    /// Whether the transform changed the audio.
    pub applied: bool,
    /// For `filter`: the kind chosen by the one-of step (applied or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// Drawn parameters (empty when not applied).
    pub params: BTreeMap<String, f64>,
}

/// Every base-chain transform, in drawing and rendering order. Adding a transform: its file
/// in this folder and one line here, at the end.
pub const REGISTRY: &[Registration] = &[
    Registration::of::<GainConfig>(),
    Registration::of::<PolarityConfig>(),
    Registration::of::<NoiseConfig>(),
    Registration::of::<FilterConfig>(),
    Registration::of::<ReverbConfig>(),
    Registration::of::<DistortionConfig>(),
    Registration::of::<compressor::CompressorConfig>(),
];

/// What one view drew for one transform: the record, plus a seed for transforms that make
/// random signals of their own (noise).
#[derive(Clone, Debug, PartialEq)]
pub struct EffectDraw {
    /// Whether it changes the audio.
    pub applied: bool,
    /// For a one-of transform (the filter): the alternative chosen, applied or not.
    pub choice: Option<&'static str>,
    /// Drawn parameters by name (empty when not applied).
    pub params: BTreeMap<String, f64>,
    /// Seed of the transform's own generator (0 when it has none).
    pub seed: u64,
}

impl EffectDraw {
    /// Not applied, nothing drawn.
    pub fn skipped() -> Self {
        Self {
            applied: false,
            choice: None,
            params: BTreeMap::new(),
            seed: 0,
        }
    }

    /// Applied with `params`.
    pub fn applied(params: &[(&str, f64)]) -> Self {
        Self {
            applied: true,
            choice: None,
            params: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            seed: 0,
        }
    }

    /// Parameter `name` (0 when absent: only a transform's own render reads its parameters,
    /// and it draws them all).
    pub fn param(&self, name: &str) -> f64 {
        self.params.get(name).copied().unwrap_or(0.0)
    }

    /// The serialisable record of this draw for the transform called `name`.
    pub fn record(&self, name: &str) -> AppliedTransform {
        AppliedTransform {
            name: name.to_string(),
            applied: self.applied,
            choice: self.choice.map(str::to_string),
            params: self.params.clone(),
        }
    }
}

/// A uniform draw in `[low, high]`.
pub fn uniform(rng: &mut Rng, [low, high]: [f64; 2]) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// True with probability `p`.
pub fn draw_probability(rng: &mut Rng, p: f64) -> bool {
    // `random_bool` rejects p outside 0…1; the config is validated, but stay total.
    rng.random::<f64>() < p
}

/// A probability key must lie in 0…1.
pub fn check_p(key: &str, p: f64) -> Result<(), AugmentError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(AugmentError::Config(format!(
            "{key} = {p}: a probability must lie in 0…1"
        )))
    }
}

/// A range key must be `[low, high]` with `min ≤ low ≤ high ≤ max`.
pub fn check_range(key: &str, range: [f64; 2], min: f64, max: f64) -> Result<(), AugmentError> {
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

/// One transform of the base chain: its TOML section, drawing and rendering.
pub trait EffectConfig:
    Clone + fmt::Debug + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Its name: the TOML section, the record's `name`, and what `variant` lists.
    const NAME: &'static str;
    /// Other names `variant` may list for one alternative of a one-of transform (the filter
    /// kinds); a view has such a name applied when it chose and applied that alternative.
    const KINDS: &'static [&'static str] = &[];
    /// Its default section, commented, for the documented default chain file.
    const DEFAULT_TOML: &'static str;

    /// The probability that a view receives the transform (all alternatives together).
    fn probability(&self) -> f64;
    /// The probability that a view receives alternative `kind` (one of [`Self::KINDS`]).
    fn kind_probability(&self, _kind: &str) -> Option<f64> {
        None
    }
    /// Sets the probability of applying (of every alternative).
    fn set_probability(&mut self, p: f64);
    /// Checks probabilities and ranges; errors name the key (`gain.db`).
    fn validate(&self) -> Result<(), AugmentError>;
    /// Draws one view's decision and parameters from `rng`.
    fn draw(&self, rng: &mut Rng) -> EffectDraw;
    /// Applies a draw to the audio in place (only called when `draw.applied`).
    fn render(&self, draw: &EffectDraw, x: &mut [f32], sample_rate: u32);
}

/// A transform of the base chain behind a pointer: [`EffectConfig`] without its static parts,
/// so that the chain can hold every registered transform in one list.
pub trait Effect: fmt::Debug + Send + Sync {
    /// See [`EffectConfig::NAME`].
    fn name(&self) -> &'static str;
    /// The probability of `name` (the transform or one of its kinds); `None` if neither.
    fn probability_of(&self, name: &str) -> Option<f64>;
    /// See [`EffectConfig::set_probability`].
    fn set_probability(&mut self, p: f64);
    /// See [`EffectConfig::validate`].
    fn validate(&self) -> Result<(), AugmentError>;
    /// See [`EffectConfig::draw`].
    fn draw(&self, rng: &mut Rng) -> EffectDraw;
    /// See [`EffectConfig::render`].
    fn render(&self, draw: &EffectDraw, x: &mut [f32], sample_rate: u32);
    /// The section as a TOML value.
    fn to_toml(&self) -> toml::Value;
    /// A copy.
    fn clone_box(&self) -> Box<dyn Effect>;
    /// The typed section, for reading and setting its fields.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// The typed section.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: EffectConfig> Effect for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn probability_of(&self, name: &str) -> Option<f64> {
        if name == T::NAME {
            Some(self.probability())
        } else {
            self.kind_probability(name)
        }
    }
    fn set_probability(&mut self, p: f64) {
        EffectConfig::set_probability(self, p);
    }
    fn validate(&self) -> Result<(), AugmentError> {
        EffectConfig::validate(self)
    }
    fn draw(&self, rng: &mut Rng) -> EffectDraw {
        EffectConfig::draw(self, rng)
    }
    fn render(&self, draw: &EffectDraw, x: &mut [f32], sample_rate: u32) {
        EffectConfig::render(self, draw, x, sample_rate);
    }
    fn to_toml(&self) -> toml::Value {
        // Plain structs of numbers: serialising cannot fail.
        toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()))
    }
    fn clone_box(&self) -> Box<dyn Effect> {
        Box::new(self.clone())
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A registered transform: its names, its documented default, and how to read its section.
#[derive(Clone, Copy)]
pub struct Registration {
    /// See [`EffectConfig::NAME`].
    pub name: &'static str,
    /// See [`EffectConfig::KINDS`].
    pub kinds: &'static [&'static str],
    /// See [`EffectConfig::DEFAULT_TOML`].
    pub default_toml: &'static str,
    load: LoadSection,
}

/// Reads a transform's TOML section (its defaults when absent).
type LoadSection = fn(Option<toml::Value>) -> Result<Box<dyn Effect>, String>;

impl Registration {
    /// The registration of transform `T`.
    pub const fn of<T: EffectConfig>() -> Self {
        Self {
            name: T::NAME,
            kinds: T::KINDS,
            default_toml: T::DEFAULT_TOML,
            load: load::<T>,
        }
    }
}

fn load<T: EffectConfig>(section: Option<toml::Value>) -> Result<Box<dyn Effect>, String> {
    match section {
        None => Ok(Box::new(T::default())),
        Some(value) => T::deserialize(value)
            .map(|t| Box::new(t) as Box<dyn Effect>)
            .map_err(|e| format!("[{}] {e}", T::NAME)),
    }
}

/// Every name `variant` may list: pitch shift, time stretch, then each registered transform
/// and its kinds, in order.
pub fn transform_names() -> Vec<&'static str> {
    let mut names = vec!["pitch_shift", "time_stretch"];
    for registration in REGISTRY {
        names.push(registration.name);
        names.extend_from_slice(registration.kinds);
    }
    names
}

/// The base chain's sections, one per registered transform, in registry order. In TOML they
/// are top-level tables of the chain (`[gain]`, `[filter.low_pass]`, …); a missing one takes
/// its defaults and an unknown one is an error naming it.
pub struct EffectSet {
    effects: Vec<Box<dyn Effect>>,
}

impl EffectSet {
    /// The transforms in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Effect> {
        self.effects.iter().map(|e| e.as_ref())
    }

    /// The transforms in order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Effect>> {
        self.effects.iter_mut()
    }

    /// The section of transform `T`.
    pub fn get<T: EffectConfig>(&self) -> &T {
        self.effects
            .iter()
            .find_map(|e| e.as_any().downcast_ref::<T>())
            .unwrap_or_else(|| unreachable!("every registered transform has a section"))
    }

    /// The section of transform `T`, mutably.
    pub fn get_mut<T: EffectConfig>(&mut self) -> &mut T {
        self.effects
            .iter_mut()
            .find_map(|e| e.as_any_mut().downcast_mut::<T>())
            .unwrap_or_else(|| unreachable!("every registered transform has a section"))
    }

    fn from_sections(mut sections: BTreeMap<String, toml::Value>) -> Result<Self, String> {
        let effects = REGISTRY
            .iter()
            .map(|r| (r.load)(sections.remove(r.name)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = sections.keys().next() {
            let known: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
            return Err(format!(
                "unknown key `{unknown}` (sections: pitch_shift, time_stretch, stretcher, {}; and `variant`)",
                known.join(", ")
            ));
        }
        Ok(Self { effects })
    }
}

impl Default for EffectSet {
    fn default() -> Self {
        Self {
            effects: REGISTRY.iter().filter_map(|r| (r.load)(None).ok()).collect(),
        }
    }
}

impl Clone for EffectSet {
    fn clone(&self) -> Self {
        Self {
            effects: self.effects.iter().map(|e| e.clone_box()).collect(),
        }
    }
}

impl fmt::Debug for EffectSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.effects.iter()).finish()
    }
}

impl PartialEq for EffectSet {
    fn eq(&self, other: &Self) -> bool {
        self.effects.len() == other.effects.len()
            && self
                .effects
                .iter()
                .zip(&other.effects)
                .all(|(a, b)| a.to_toml() == b.to_toml())
    }
}

impl Serialize for EffectSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.effects.len()))?;
        for effect in &self.effects {
            map.serialize_entry(effect.name(), &effect.to_toml())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for EffectSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let sections = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
        Self::from_sections(sections).map_err(serde::de::Error::custom)
    }
}
