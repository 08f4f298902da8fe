//! One module per subcommand.

pub mod analyze;
pub mod augment;
pub mod bench;
pub mod cache;
pub mod corpus;
pub mod data;
pub mod demo;
pub mod embed;
pub mod export;
pub mod features;
pub mod import;
pub mod pretrain;
pub mod probe;
pub mod retrieve;

/// The name a model gets in result tables: the last component of `path` (an embedding folder,
/// a run folder), or `model` when it has none.
pub fn model_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}
