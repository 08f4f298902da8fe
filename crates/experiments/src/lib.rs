//! loev-experiments: whole experiments assembled from the pipeline's crates. It sits on top of
//! both training and evaluation, so neither of them needs the other.
//!
//! * [`demo`] — `loev demo`: the built-in corpus → pretraining → embeddings → probes,
//!   retrieval, invariance and equivariance, with the verdict on the seed paper's claim.
//! * [`seeds`] — the demo's models over several training seeds: their spread, and the
//!   verdict by the rule of `docs/tempo-half.md`.

pub mod demo;
pub mod seeds;

/// Why an experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] loev_eval::EvalError),
    /// Pretraining failed.
    #[error(transparent)]
    Train(#[from] loev_train::TrainError),
    /// A setting or a stage's input is not usable.
    #[error("{0}")]
    Invalid(String),
}
