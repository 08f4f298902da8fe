//! loev-eval: what the embeddings are worth.
//!
//! * [`embed`] — streaming extraction of per-track embedding timelines (MULE slicer: 3 s
//!   slices, centres every 2 s) for every embedding space of a model, with bounded memory;
//!   [`store`] writes and reads them (safetensors or `.npy`, plus an index CSV that is a
//!   labelled manifest of the embedding files).
//! * [`probe`] — shallow MLP probes trained on slice embeddings and tested on track means
//!   (tagging, key, pitch, tempo), several seeds → mean ± std.
//! * [`retrieval`] — cosine KNN retrieval scored by tag precision@k, weighted key score and
//!   tempo Acc1 of the neighbours.
//! * [`invariance`] — cosine distance between clean and pitch-shifted / time-stretched track
//!   embeddings, per space, with a CSV and a plot.
//! * [`metrics`] — ROC-AUC / AP (scikit-learn semantics), key and tempo scores.
//! * [`tables`] — Markdown + CSV result tables laid out like the seed paper's Tables I and II.

pub mod embed;
pub mod equivariance;
mod error;
pub mod invariance;
pub mod metrics;
mod plot;
pub use plot::{plot_invariance, plot_retrieval};
pub mod probe;
pub mod retrieval;
pub mod store;
pub mod tables;

pub use error::EvalError;
