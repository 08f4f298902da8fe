//! The recipes of the seed paper's Table I as data: for each preset, the objective, the
//! variant augmentations its chain applies, whether it is a "++" model and whether it trains
//! with mixup. Training builds its presets from this table (`loev_train::preset`), and the
//! Python bindings read a preset's chain and heads from it without linking the trainer.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use loev_augment::ChainConfig;
use loev_model::EncoderConfig;
use serde::{Deserialize, Serialize};

use crate::heads::{Heads, ObjectiveKind, chain_heads};

/// A preset or chain configuration that names no recipe loev knows.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// No such preset.
    #[error(
        "unknown preset '{0}': expected one of {list} (optionally with a size suffix: {sizes})",
        list = PRESET_NAMES.join(", "),
        sizes = ModelSize::ALL.map(|s| format!("':{s}'")).join(", ")
    )]
    UnknownPreset(String),
    /// A preset's size suffix is not a size.
    #[error("model size '{0}': expected full, tiny or test")]
    UnknownSize(String),
    /// A chain configuration file is invalid.
    #[error(transparent)]
    Chain(#[from] loev_augment::AugmentError),
    /// A configuration read as TOML chain text is invalid (or was meant as something else).
    #[error(
        "{0} (the configuration is read as TOML text: give `default`, a preset name ({list}), a .toml file or TOML text)",
        list = PRESET_NAMES.join(", ")
    )]
    ChainText(loev_augment::AugmentError),
}

/// The variant augmentations a preset can apply, in tracking-column order.
const VARIANTS: [&str; 2] = ["pitch_shift", "time_stretch"];

/// One model of the seed paper's Table I.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// Its name (`loev-ps`, `mule++-psts`, …).
    pub name: &'static str,
    /// MULE (all heads invariant) or LOEV (leave-one-out heads).
    pub objective: ObjectiveKind,
    /// Pitch shift in the chain (tracked and applied).
    pub pitch_shift: bool,
    /// Time stretch in the chain (tracked and applied).
    pub time_stretch: bool,
    /// LOEV++ / MULE++: one last-stage branch per head.
    pub plusplus: bool,
    /// MULE's original recipe: views differ by their crop and by mixup only.
    pub mixup: bool,
}

const fn preset(name: &'static str, objective: ObjectiveKind, pitch_shift: bool, time_stretch: bool) -> Preset {
    Preset {
        name,
        objective,
        pitch_shift,
        time_stretch,
        plusplus: false,
        mixup: false,
    }
}

const fn plusplus(preset: Preset) -> Preset {
    Preset {
        plusplus: true,
        ..preset
    }
}

/// Every preset, in the order `loev pretrain --list-presets` prints them.
pub const PRESETS: [Preset; 10] = [
    Preset {
        mixup: true,
        ..preset("mule-mixup", ObjectiveKind::Mule, false, false)
    },
    preset("mule-b", ObjectiveKind::Mule, false, false),
    preset("mule-ps", ObjectiveKind::Mule, true, false),
    preset("mule-ts", ObjectiveKind::Mule, false, true),
    preset("mule-psts", ObjectiveKind::Mule, true, true),
    plusplus(preset("mule++-psts", ObjectiveKind::Mule, true, true)),
    preset("loev-ps", ObjectiveKind::Loev, true, false),
    preset("loev-ts", ObjectiveKind::Loev, false, true),
    preset("loev-psts", ObjectiveKind::Loev, true, true),
    plusplus(preset("loev++-psts", ObjectiveKind::Loev, true, true)),
];

/// The presets' names, in [`PRESETS`] order.
pub const PRESET_NAMES: [&str; PRESETS.len()] = {
    let mut names = [""; PRESETS.len()];
    let mut i = 0;
    while i < PRESETS.len() {
        names[i] = PRESETS[i].name;
        i += 1;
    }
    names
};

impl Preset {
    /// The preset called `name` (without a size suffix).
    pub fn named(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name == name)
    }

    /// A preset with an optional size suffix, `name[:full|:tiny|:test]` (default full).
    pub fn parse(spec: &str) -> Result<(&'static Preset, ModelSize), RecipeError> {
        let (name, size) = match spec.split_once(':') {
            Some((name, size)) => (name, size.parse::<ModelSize>()?),
            None => (spec, ModelSize::Full),
        };
        let preset = Self::named(name).ok_or_else(|| RecipeError::UnknownPreset(spec.to_string()))?;
        Ok((preset, size))
    }

    /// The augmentation chain this preset trains with: the seed's Table IV chain with only the
    /// preset's variant augmentations applied and tracked (and, for MULE-mixup, no base chain).
    pub fn chain(&self) -> ChainConfig {
        let mut chain = ChainConfig::default();
        if !self.pitch_shift {
            chain.pitch_shift.p = 0.0;
        }
        if !self.time_stretch {
            chain.time_stretch.p = 0.0;
        }
        chain.variant = VARIANTS
            .iter()
            .zip([self.pitch_shift, self.time_stretch])
            .filter(|(_, on)| *on)
            .map(|(name, _)| name.to_string())
            .collect();
        if self.mixup {
            chain.set_base_probability(0.0);
        }
        chain
    }

    /// The heads this preset trains.
    pub fn heads(&self) -> Heads {
        chain_heads(self.objective, self.plusplus, &self.chain())
    }
}

/// Which encoder size a preset builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSize {
    /// MULE's SF-NFNet-F0 (62.3 M parameters).
    Full,
    /// The demo / CPU size.
    Tiny,
    /// A very small model for unit tests.
    Test,
}

impl ModelSize {
    /// Every size, as a preset's suffix names it.
    pub const ALL: [ModelSize; 3] = [ModelSize::Full, ModelSize::Tiny, ModelSize::Test];

    /// The encoder of this size.
    pub fn encoder(self) -> EncoderConfig {
        match self {
            ModelSize::Full => EncoderConfig::full(),
            ModelSize::Tiny => EncoderConfig::tiny(),
            ModelSize::Test => EncoderConfig::test(),
        }
    }

    /// The name in preset suffixes and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            ModelSize::Full => "full",
            ModelSize::Tiny => "tiny",
            ModelSize::Test => "test",
        }
    }
}

impl FromStr for ModelSize {
    type Err = RecipeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|size| size.name() == text)
            .ok_or_else(|| RecipeError::UnknownSize(text.to_string()))
    }
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An augmentation chain with the objective it is trained under: what a chain configuration
/// given without a whole run configuration (the Python `Augmenter` and `positive_masks`)
/// means for the heads.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// The chain.
    pub chain: ChainConfig,
    /// The objective.
    pub objective: ObjectiveKind,
    /// LOEV++ / MULE++.
    pub plusplus: bool,
}

impl Recipe {
    /// `default` (the seed's Table IV chain), a preset (`loev-ps`, `mule-b:tiny`, …: its chain
    /// and objective), a `.toml` chain file or TOML chain text. A chain given as TOML is
    /// trained with the LOEV objective (one leave-out head per applied variant), which is what
    /// tracking its variants is for.
    pub fn parse(config: &str) -> Result<Self, RecipeError> {
        let loev = |chain| Recipe {
            chain,
            objective: ObjectiveKind::Loev,
            plusplus: false,
        };
        if config == "default" {
            return Ok(loev(ChainConfig::default()));
        }
        let name = config.split(':').next().unwrap_or(config);
        if Preset::named(name).is_some() {
            let (preset, _) = Preset::parse(config)?;
            return Ok(Recipe {
                chain: preset.chain(),
                objective: preset.objective,
                plusplus: preset.plusplus,
            });
        }
        let path = Path::new(config);
        if !config.contains('\n') && path.extension().is_some_and(|e| e == "toml") {
            return Ok(loev(ChainConfig::from_toml_file(path)?));
        }
        ChainConfig::from_toml_str(config)
            .map(loev)
            .map_err(RecipeError::ChainText)
    }

    /// The heads trained with this recipe (the same function training uses).
    pub fn heads(&self) -> Heads {
        chain_heads(self.objective, self.plusplus, &self.chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_with_every_size_and_name_the_sizes_when_unknown() {
        for name in PRESET_NAMES {
            for size in ModelSize::ALL {
                let (preset, parsed) = Preset::parse(&format!("{name}:{size}")).unwrap();
                assert_eq!((preset.name, parsed), (name, size));
            }
        }
        let err = Preset::parse("simclr:test").unwrap_err().to_string();
        assert!(err.contains("':full', ':tiny', ':test'"), "{err}");
        assert!(Preset::parse("loev-ps:huge").unwrap_err().to_string().contains("huge"));
    }

    #[test]
    fn a_recipe_is_a_preset_or_a_loev_chain() {
        let recipe = Recipe::parse("mule++-psts:tiny").unwrap();
        assert_eq!((recipe.objective, recipe.plusplus), (ObjectiveKind::Mule, true));
        assert_eq!(recipe.heads().names(), ["invariant", "pitch_shift", "time_stretch"]);
        let recipe = Recipe::parse("variant = [\"pitch_shift\"]\n").unwrap();
        assert_eq!(recipe.objective, ObjectiveKind::Loev);
        assert_eq!(recipe.heads().names(), ["invariant", "pitch_shift"]);
        assert!(
            Recipe::parse("variant = [\"pitch\"]\n")
                .unwrap_err()
                .to_string()
                .contains("pitch")
        );
    }
}
