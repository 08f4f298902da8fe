//! loev-eval: what the embeddings are worth.
//!
//! * [`stages`] — the evaluation stages that the CLI commands and the experiments are
//!   sequences of (open a model, embed, probe, retrieve, choose the test clips, invariance,
//!   equivariance), each with an options struct and a result; [`report`] writes their tables
//!   and plots. Policy lives there, not in the front ends.
//! * [`embed`] — streaming extraction of per-track embedding timelines (MULE slicer: 3 s
//!   slices, centres every 2 s) for every embedding space of a model, with bounded memory;
//!   [`store`] owns the embedding folder (safetensors or `.npy`, plus an index CSV that is a
//!   labelled manifest of the embedding files) and its data types.
//! * [`probe`] — shallow MLP probes trained on slice embeddings and tested on track means
//!   (tagging, key, pitch, tempo), several seeds → mean ± std.
//! * [`retrieval`] — cosine KNN retrieval scored by tag precision@k, weighted key score and
//!   tempo Acc1 of the neighbours.
//! * [`invariance`] — cosine distance between clean and pitch-shifted / time-stretched track
//!   embeddings, per space, with a CSV and a plot.
//! * [`equivariance`] — ridge probes of how well each space predicts the applied pitch shift
//!   or stretch rate (R²).
//! * [`metrics`] — the scores of a classifier's predictions: ROC-AUC / AP (scikit-learn
//!   semantics), accuracy, and the aggregates of the key and tempo scores, whose per-pair
//!   definitions (mir_eval's weighted key score, tempo Acc1/Acc2) are label semantics and live
//!   with the labels in `loev_data::labels`.
//! * [`tables`] — Markdown + CSV result tables laid out like the seed paper's Tables I and II.

pub mod embed;
pub mod equivariance;
mod error;
pub mod invariance;
pub mod metrics;
mod outcome;
mod plot;
pub use plot::{plot_invariance, plot_retrieval};
pub mod probe;
pub mod report;
pub mod retrieval;
pub mod shard;
pub mod stages;
pub mod store;
pub mod tables;

pub use error::EvalError;
