//! Labels, tasks and datasets for evaluation: musical keys and the mir_eval key score, tempo
//! accuracies, splits, the task data model shared by the built-in corpus and the evaluation
//! suite, loaders for the benchmark datasets in their distributed formats, and the generic
//! labelled manifest. No deep-learning dependency.
//!
//! ```no_run
//! use loev_data::{DatasetName, LoadOptions, Split, load_dataset};
//! let (tasks, report) = load_dataset(DatasetName::Mtt, "/data/mtt".as_ref(), &LoadOptions::default())?;
//! for task in &tasks {
//!     println!("{}", task.summary());
//!     let train = task.split(Split::Train).count();
//!     # let _ = train;
//! }
//! println!("{report}"); // missing / corrupt audio and excluded items, never dropped silently
//! # Ok::<(), loev_data::DataError>(())
//! ```

pub mod check;
pub mod datasets;
mod error;
pub mod fixtures;
pub mod labels;
pub mod manifest_tasks;
pub mod options;
pub mod report;
pub use loev_core::split;
pub mod task;
mod text;
pub mod verify;

pub use check::{CheckReport, check_dataset, check_manifest};
pub use datasets::{DatasetName, load_dataset};
pub use error::DataError;
pub use manifest_tasks::load_manifest_tasks;
pub use options::{AudioCheck, GiantstepsTempoVersion, LoadOptions, MtgAudio, MttSplit, ZeroTempo};
pub use report::{Excluded, FileProblem, LoadReport};
pub use split::Split;
pub use task::{DatasetSummary, SplitCounts, Target, TaskDataset, TaskKind, TaskTrack, TrackLabels};
