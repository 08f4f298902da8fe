//! Options of the loaders. The defaults reproduce the protocol of the LOEV reference code (Pons
//! MTT split, low-quality MTG-Jamendo audio, GiantSteps tempo v2 with 0-BPM files kept, tempo
//! classes by truncation, seeded 90/10 train/valid splits); every field can be set from TOML
//! (`deny_unknown_fields`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::labels::TempoBinning;

/// How thoroughly listed audio files are verified while loading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioCheck {
    /// Only that the file exists (one `stat` per file).
    #[default]
    Exists,
    /// Existence plus a header probe: the first bytes must be a wav, flac, mp3, ogg or
    /// Matroska/WebM signature (reads a few bytes per file).
    Probe,
    /// Existence plus a full decode with loev-audio (slow: decodes every file).
    Decode,
}

/// Which MagnaTagATune split to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MttSplit {
    /// Pons et al. 2018 folder split (0–b train, c valid, d–f test), clips without a top-50
    /// tag kept: the split of MARBLE v1 and the LOEV code.
    #[default]
    Pons,
    /// The cleaned split of Won et al. 2020 (`minzwon/sota-music-tagging-models`,
    /// `split/mtat/{train,valid,test}.npy`), read from the user's copy of those files
    /// ([`LoadOptions::mtt_won_split_dir`]); clips not listed are excluded and reported.
    Won,
}

/// Which MTG-Jamendo audio files to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtgAudio {
    /// The low-quality mono set, `NN/ID.low.mp3` (MARBLE and LOEV).
    #[default]
    Low,
    /// The full-quality set, `NN/ID.mp3` as listed.
    Full,
}

/// What to do with 0-BPM tempo annotations (three GiantSteps v2 files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroTempo {
    /// Keep them as class 0, as LOEV does (they always count as errors); noted in the report.
    #[default]
    Keep,
    /// Exclude them (reported as excluded).
    Drop,
}

/// Which GiantSteps tempo annotations to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GiantstepsTempoVersion {
    /// `annotations/tempo` (Knees et al. 2015, integers), as in Quinton's code.
    V1,
    /// `annotations_v2/tempo` (Schreiber & Müller 2018), as in LOEV and synesis.
    #[default]
    V2,
}

/// Loader options. `Default` is the LOEV protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadOptions {
    /// How listed audio files are verified (missing files are always detected).
    pub audio_check: AudioCheck,
    /// Show a progress bar on stderr while checking audio.
    pub progress: bool,
    /// Where the audio lives when it is not at the layout's default place (MTT: the root;
    /// MTG-Jamendo, GiantSteps, GTZAN, Hainsworth: `<root>/audio`; ACM-MIRUM: `<root>/Audio`);
    /// the file names from the annotations are joined to it. Not allowed for datasets with
    /// several audio folders (`gs-key`, `nsynth`, `alltempo`).
    pub audio_dir: Option<PathBuf>,
    /// MagnaTagATune split.
    pub mtt_split: MttSplit,
    /// Folder holding the Won et al. `train.npy`, `valid.npy`, `test.npy` (default
    /// `<root>/split/mtat`).
    pub mtt_won_split_dir: Option<PathBuf>,
    /// MTG-Jamendo split index (0 = split-0, the benchmark's).
    pub mtg_split: u8,
    /// MTG-Jamendo audio quality.
    pub mtg_audio: MtgAudio,
    /// Tempo → class rule.
    pub tempo_binning: TempoBinning,
    /// 0-BPM annotations.
    pub zero_tempo: ZeroTempo,
    /// GiantSteps tempo annotation version.
    pub giantsteps_tempo: GiantstepsTempoVersion,
    /// Keep only NSynth notes with MIDI pitch in `[min, max]` (HEAR: `[21, 108]`); `None`
    /// keeps every pitch present, as LOEV does.
    pub nsynth_pitch_range: Option<[u8; 2]>,
    /// AllTempo: build only the task that holds out this dataset (`gtzan`, `hainsworth`,
    /// `acm-mirum`, `giantsteps`); `None` builds all four leave-one-out tasks.
    pub alltempo_holdout: Option<String>,
    /// Fraction of the training pool that becomes validation where a protocol draws it at
    /// random (GiantSteps-MTG-key, AllTempo): 0.1 as LOEV.
    pub valid_fraction: f64,
    /// Train / valid / test fractions for manifest rows without a split.
    pub manifest_split_fractions: [f64; 3],
    /// Seed of every random split (LOEV's global seed is 123).
    pub seed: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            audio_check: AudioCheck::Exists,
            progress: false,
            audio_dir: None,
            mtt_split: MttSplit::Pons,
            mtt_won_split_dir: None,
            mtg_split: 0,
            mtg_audio: MtgAudio::Low,
            tempo_binning: TempoBinning::Truncate,
            zero_tempo: ZeroTempo::Keep,
            giantsteps_tempo: GiantstepsTempoVersion::V2,
            nsynth_pitch_range: None,
            alltempo_holdout: None,
            valid_fraction: 0.1,
            manifest_split_fractions: [0.8, 0.1, 0.1],
            seed: 123,
        }
    }
}

impl LoadOptions {
    /// Checks ranges that serde cannot.
    pub fn validate(&self) -> Result<(), crate::DataError> {
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return Err(crate::DataError::Options(format!(
                "valid_fraction must be in [0, 1), got {}",
                self.valid_fraction
            )));
        }
        let f = self.manifest_split_fractions;
        if f.iter().any(|x| !x.is_finite() || *x < 0.0) || f.iter().sum::<f64>() <= 0.0 {
            return Err(crate::DataError::Options(format!(
                "manifest_split_fractions must be non-negative with a positive sum, got {f:?}"
            )));
        }
        if let Some([lo, hi]) = self.nsynth_pitch_range
            && (lo > hi || hi > 127)
        {
            return Err(crate::DataError::Options(format!(
                "nsynth_pitch_range must satisfy min <= max <= 127, got [{lo}, {hi}]"
            )));
        }
        Ok(())
    }
}
