//! The built-in corpus as training audio: its training split in an [`AudioCache`].
//!
//! Pretraining without a dataset and the demo both train on the corpus's training split only,
//! so that the validation and test splits the probes are scored on stay unseen. This is the one
//! place that turns a corpus into that cache.

use std::path::Path;

use loev_audio::cache::{AudioCache, CacheError};
use loev_core::Split;

use crate::{Corpus, CorpusConfig, CorpusError, generate};

/// Writes the training split of `corpus` as an audio cache in `dir` (replacing any cache
/// there) and opens it.
pub fn build_training_cache(corpus: Corpus, dir: &Path) -> Result<AudioCache, CorpusError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| CorpusError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let tracks = corpus
        .tracks
        .into_iter()
        .filter(|t| t.split == Split::Train)
        .map(|t| (t.id, t.audio, Default::default()));
    AudioCache::build_from_tracks(tracks, dir)?;
    Ok(AudioCache::open(dir)?)
}

/// The training cache in `dir` when it opens, else a corpus generated from `config` and cached
/// there (`on_generate` is called first, to say so).
pub fn open_or_build_training_cache(
    config: &CorpusConfig,
    dir: &Path,
    on_generate: impl FnOnce(),
) -> Result<AudioCache, CorpusError> {
    if let Ok(cache) = AudioCache::open(dir) {
        return Ok(cache);
    }
    on_generate();
    build_training_cache(generate(config)?, dir)
}

impl From<CacheError> for CorpusError {
    fn from(error: CacheError) -> Self {
        CorpusError::Cache(error.to_string())
    }
}
