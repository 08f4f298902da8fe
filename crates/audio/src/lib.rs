//! Audio input and DSP for loev: decoding, resampling, the decode-once cache, chunk
//! sampling and the MULE log-mel front end. No deep-learning dependency.
//!
//! The path of a track: [`decode::load_mono`] (symphonia decode → mean down-mix → rubato
//! resample to [`SAMPLE_RATE`]) → [`cache::AudioCache`] (decoded once, memory-mapped) →
//! [`chunks::sample_crops`] / [`chunks::read_crop`] (the views of one anchor) →
//! [`frontend::FrontEnd::view_input`] (one standardised log-mel model input per view).
//!
//! * [`decode`]: wav, flac, mp3, ogg/vorbis to float samples; typed errors, no panics.
//! * [`resample`]: rubato FFT resampler, output length `round(len · to / from)`.
//! * [`cache`]: the on-disk cache format and its parallel builder.
//! * [`chunks`]: `same` / `adjacent` / `random` crops and the short-track policy.
//! * [`frontend`]: MULE's front end (librosa semantics) and slicer, configurable.
//! * [`manifest`]: CSV/TSV lists of audio files with metadata columns.
//! * [`wav`]: 16-bit PCM wav output. [`walk`]: the audio files of a folder, each once.
//!
//! Atomic files, `.npy` arrays and seeded streams are `loev_core`'s (`io`, `rng`).

pub mod cache;
pub mod chunks;
pub mod decode;
mod error;
pub mod frontend;
pub mod manifest;
pub mod resample;
mod riff;
pub mod walk;
pub mod wav;

pub use error::AudioError;

pub use loev_core::SAMPLE_RATE;
