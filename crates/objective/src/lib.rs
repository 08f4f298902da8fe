//! loev-objective: what a contrastive run optimises, apart from how it trains — the heads and
//! their objectives, the positive rule, the loss, and the presets' recipes.
//!
//! * [`heads`]: which heads an objective and an augmentation chain give ([`heads::heads`]),
//!   and how the model file records them. Training, the model file and the Python bindings
//!   all take their heads from here.
//! * [`positives`]: the positive rule ([`ViewLabels::is_positive`]) and the positive sets of
//!   a batch as booleans ([`positive_masks`]).
//! * [`loss`]: the LOEV / MULE contrastive loss on burn tensors, on one device or sharded for
//!   global negatives.
//! * [`presets`]: the models of the seed paper's Table I as data ([`PRESETS`]), their chains
//!   and sizes, and [`Recipe`] for a chain given on its own.
//!
//! It sits below `loev-train`, as a library of losses sits beside the methods that use them,
//! so that the Python wheel gets the presets and the positive rule without linking the trainer.

pub mod heads;
pub mod loss;
pub mod positives;
pub mod presets;

pub use heads::{HeadObjective, Heads, INVARIANT_HEAD, ObjectiveKind, chain_heads};
pub use loss::{
    AnchorMean, ContrastiveLoss, DEFAULT_TEMPERATURE, HeadLoss, LossSettings, contrastive_loss,
    contrastive_loss_sharded,
};
pub use positives::{LossError, ViewLabels, leave_out_separation, positive_masks};
pub use presets::{ModelSize, PRESET_NAMES, PRESETS, Preset, Recipe, RecipeError};
