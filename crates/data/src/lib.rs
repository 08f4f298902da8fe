//! Labels, tasks and datasets for evaluation: musical keys and the mir_eval key score, tempo
//! accuracies, splits, and the task data model shared by the built-in corpus and the
//! benchmark loaders. No deep-learning dependency.

pub mod labels;
pub mod split;

pub use split::Split;
