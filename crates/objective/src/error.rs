//! The errors of the objective crate: each names the value at fault.

/// Errors in the loss inputs.
#[derive(Debug, thiserror::Error)]
pub enum LossError {
    /// The labels, embeddings or heads disagree in size.
    #[error("contrastive loss: {0}")]
    Shape(String),
}

/// A preset or chain configuration that names no recipe loev knows.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// No such preset.
    #[error(
        "unknown preset '{0}': expected one of {list} (optionally with a size suffix: {sizes})",
        list = crate::presets::PRESET_NAMES.join(", "),
        sizes = crate::presets::ModelSize::ALL.map(|s| format!("':{s}'")).join(", ")
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
        list = crate::presets::PRESET_NAMES.join(", ")
    )]
    ChainText(loev_augment::AugmentError),
}
