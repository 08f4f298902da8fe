//! loev-augment: the tracked augmentation chain of LOEV and the multi-view
//! batches the training loop consumes.
//!
//! Every transform reports whether it was applied and with which parameters, so that each
//! view carries its tracking vector t ∈ {0,1}^K over the variant transforms.
//!
//! * [`config`]: the chain as TOML ([`ChainConfig`], defaults = the seed paper's Table IV).
//! * [`chain`]: [`AugmentChain::plan`] draws a view's decisions from its seeded generator,
//!   [`AugmentChain::render`] applies them; [`ViewPlan::record`] gives the serialisable
//!   [`ViewRecord`] with [`ViewRecord::tracking`].
//! * [`batch`]: [`build_batch`] (a pure function of seed and batch index) and
//!   [`BatchLoader`] (worker threads, bounded queue, batches in index order).
//! * DSP: [`stretch`] (Signalsmith Stretch pitch shift / time stretch, time-aligned, with
//!   the deterministic [`pitch_shift`], [`time_stretch`] and [`stretch_and_shift`] also used
//!   by evaluation), [`resample`], [`filters`] (RBJ biquads), [`effects`] (gain, polarity,
//!   coloured noise, reverb, distortion).
//!
//! ```no_run
//! use loev_core::rng::derived_rng;
//! use loev_augment::{AugmentChain, ChainConfig};
//!
//! let chain = AugmentChain::new(ChainConfig::default())?;
//! let audio = vec![0.0f32; 80_000]; // 16 kHz mono
//! let (view, record) = chain.augment(&audio, 48_000, &mut derived_rng(7, &[0]));
//! assert_eq!(view.len(), 48_000);
//! let t = record.tracking(chain.variant_names()); // [pitch shifted?, time stretched?]
//! # Ok::<(), loev_augment::AugmentError>(())
//! ```

pub mod batch;
pub mod chain;
pub mod config;
pub mod effects;
pub mod filters;
pub mod resample;
pub mod stretch;
pub mod transforms;
pub mod views;

pub use batch::{Batch, BatchLoader, DataConfig, LoaderConfig, anchor_tracks, build_batch, mixup};
pub use chain::{AugmentChain, CropRecord, MixupRecord, ViewPlan, ViewRecord};
pub use config::{ChainConfig, StretchMethod};
pub use stretch::{StretchPreset, Stretcher, pitch_shift, stretch_and_shift, time_stretch};
pub use transforms::{AppliedTransform, EffectConfig, FilterKind};

/// Everything that can go wrong while configuring or running the augmentation pipeline.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// A public DSP function was called with an argument outside its domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The chain configuration is invalid; the message names the key.
    #[error("augmentation config: {0}")]
    Config(String),
    /// The audio cache holds no track.
    #[error("the audio cache holds no track; build it from a folder or manifest with `loev cache build`")]
    EmptyCache,
    /// The worker threads could not be started.
    #[error("cannot start the augmentation workers: {0}")]
    Workers(String),
    /// The batch loader's producer stopped (after an error, already returned once).
    #[error("the batch loader has stopped")]
    LoaderStopped,
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
