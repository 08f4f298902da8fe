//! loev-bench: the speed benchmarks behind `loev bench …`. Each prints its figures and the
//! ratio against its anchor measured in the same run; nothing here is asserted.
//!
//! * [`audio`] — decode + resample speed (× real time) and front-end speed (slices/s), against
//!   librosa.
//! * [`augment`] — augmentation chain + log-mel views/s, per stage and over loader workers,
//!   against the Python anchor (audiomentations + pedalboard + librosa).
//! * [`model`] — one training step of the encoder + head, against PyTorch.
//! * [`train`] — training throughput (views/s) and data-wait share of presets.
//! * [`python_anchor`] — runs the anchor scripts under `bench/` (`$LOEV_PYTHON`, else
//!   `python3`); a missing interpreter, library or script skips the anchor, it is not an error.
//!
//! Each bench takes a plain options struct (its `Default` is the CLI's defaults) and its `run`
//! prints to stdout.
//!
//! ```no_run
//! let options = loev_bench::audio::Options {
//!     seconds: 10.0,
//!     no_anchor: true,
//!     ..Default::default()
//! };
//! loev_bench::audio::run(&options)?;
//! # Ok::<(), loev_bench::BenchError>(())
//! ```

pub mod audio;
pub mod augment;
mod error;
pub mod model;
pub mod python_anchor;
pub mod train;

pub use error::BenchError;
