//! The foundation every loev crate builds on, and nothing else: kept small so that each crate
//! above it depends only on what it uses.
//!
//! * [`rng`]: the seeded generator all random draws come from (same seed ⇒ same bytes).
//! * [`checksum`]: FNV-1a 64, the cheap checksum of checkpoints and of builds across ranks.
//! * [`io`]: atomic file writes and `.npy` arrays, so a crash never leaves a half-written file.
//! * [`lock`]: exclusive folder locks and the clean-up of what a dead process left behind.
//! * [`output`]: output folders that loev owns (marker, lock, never the input).
//! * [`limits`]: sizes a user gives, checked against the machine's memory before allocating.
//! * [`panic`]: third-party panics turned into errors without their text on the terminal.
//! * [`process`]: this process's peak memory and CPU time (benchmarks and memory tests).
//! * [`SAMPLE_RATE`]: the one sample rate of every waveform inside loev.
//! * [`key`] and [`split`]: musical keys and train/valid/test partitions, shared by the
//!   dataset loaders, the built-in corpus and the evaluation.

pub mod checksum;
pub mod io;
pub mod key;
pub mod limits;
pub mod lock;
pub mod output;
pub mod panic;
pub mod process;
pub mod rng;
pub mod split;

pub use key::{Key, Mode};
pub use split::Split;

/// The sample rate of every waveform inside loev (Hz): audio is decoded, resampled and cached
/// at 16 kHz mono, as MULE's front end expects.
pub const SAMPLE_RATE: u32 = 16_000;
