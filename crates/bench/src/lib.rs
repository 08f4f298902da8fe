//! loev-bench: the speed benchmarks behind `loev bench …`. Each prints its figures and the
//! ratio against its anchor measured in the same run; nothing here is asserted.
//!
//! * [`audio`] — decode + resample speed (× real time) and front-end speed (slices/s), against
//!   librosa.
//! * [`augment`] — augmentation chain + log-mel views/s, per stage and over loader workers,
//!   against the Python anchor (audiomentations + pedalboard + librosa).
//! * [`embed`] — embedding 30 s and 10 min tracks with the full MULE encoder, against
//!   mule-torch (an independent PyTorch port of MULE) on the same weights.
//! * [`model`] — one training step of the encoder + head, against PyTorch; [`step`] times it.
//! * [`train`] — training throughput (views/s) and data-wait share of presets.
//! * [`python_anchor`] — runs the anchor scripts under `bench/` (`$LOEV_PYTHON`, else
//!   `python3`); a missing interpreter, library or script skips the anchor, it is not an error.
//!
//! Each bench takes an options struct, which is also its command-line flags (`clap::Args`, with
//! the CLI's defaults), and its `run` prints to stdout.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     options: loev_bench::audio::Options,
//! }
//!
//! let options = Cli::parse_from(["bench", "--seconds", "10", "--no-anchor"]).options;
//! loev_bench::audio::run(&options)?;
//! # Ok::<(), loev_bench::BenchError>(())
//! ```

pub mod audio;
pub mod augment;
pub mod embed;
mod error;
pub mod model;
pub mod python_anchor;
pub mod step;
pub mod train;

pub use error::BenchError;

/// Runs `bench` in `work_dir`, or, without one, in a temporary folder named after the bench
/// that is removed afterwards (also when the bench fails).
fn in_work_dir(
    work_dir: Option<&std::path::Path>,
    bench_name: &str,
    bench: impl FnOnce(&std::path::Path) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let (dir, temporary) = match work_dir {
        Some(dir) => (dir.to_path_buf(), false),
        None => (
            std::env::temp_dir().join(format!("loev-bench-{bench_name}-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|source| BenchError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let result = bench(&dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}
