//! Loaders for the benchmark datasets in their distributed on-disk formats. Each dataset has a
//! fixed layout under its root folder, listed in [`DatasetName::layout`] and printed by
//! `loev data list`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::options::LoadOptions;
use crate::report::LoadReport;
use crate::split::Split;
use crate::task::{TaskDataset, TaskTrack, TrackLabels};
use crate::verify::finalize;
use tempo::TempoSource;

pub mod key;
pub mod mtg;
pub mod mtt;
pub mod nsynth;
pub mod tempo;

/// The supported benchmark datasets (and protocol combinations of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// MagnaTagATune top-50 tagging.
    Mtt,
    /// MTG-Jamendo top-50 tagging.
    MtgJamendo,
    /// The LOEV key task: GiantSteps-MTG-key (train/valid) + GiantSteps key (test).
    GsKey,
    /// GiantSteps key alone (604 tracks, all test).
    GiantstepsKey,
    /// GiantSteps-MTG-key alone (train/valid).
    GiantstepsMtgKey,
    /// NSynth pitch.
    Nsynth,
    /// GTZAN tempo alone (fault-filtered split).
    GtzanTempo,
    /// ACM-MIRUM tempo alone (all test).
    AcmMirum,
    /// Hainsworth tempo alone (all test).
    Hainsworth,
    /// GiantSteps tempo alone (all test).
    GiantstepsTempo,
    /// AllTempo leave-one-dataset-out over GTZAN, Hainsworth, ACM-MIRUM and GiantSteps.
    Alltempo,
}

impl DatasetName {
    /// Every dataset, in the order `loev data list` prints them.
    pub const ALL: [DatasetName; 11] = [
        DatasetName::Mtt,
        DatasetName::MtgJamendo,
        DatasetName::GsKey,
        DatasetName::GiantstepsKey,
        DatasetName::GiantstepsMtgKey,
        DatasetName::Nsynth,
        DatasetName::GtzanTempo,
        DatasetName::AcmMirum,
        DatasetName::Hainsworth,
        DatasetName::GiantstepsTempo,
        DatasetName::Alltempo,
    ];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mtt => "mtt",
            DatasetName::MtgJamendo => "mtg-jamendo",
            DatasetName::GsKey => "gs-key",
            DatasetName::GiantstepsKey => "giantsteps-key",
            DatasetName::GiantstepsMtgKey => "giantsteps-mtg-key",
            DatasetName::Nsynth => "nsynth",
            DatasetName::GtzanTempo => "gtzan-tempo",
            DatasetName::AcmMirum => "acm-mirum",
            DatasetName::Hainsworth => "hainsworth",
            DatasetName::GiantstepsTempo => "giantsteps-tempo",
            DatasetName::Alltempo => "alltempo",
        }
    }

    /// The folder layout the loader expects under the root, and where to get the files.
    pub fn layout(self) -> &'static str {
        match self {
            DatasetName::Mtt => {
                "<root>/annotations_final.csv (tab-separated despite the name) and the mp3 folders <root>/0 … <root>/f \
                 (mirg.city.ac.uk/datasets/magnatagatune: cat mp3.zip.00* > mp3.zip, unzip into <root>). \
                 Won split: copy split/mtat/{train,valid,test}.npy of minzwon/sota-music-tagging-models to <root>/split/mtat."
            }
            DatasetName::MtgJamendo => {
                "<root> = a clone of MTG/mtg-jamendo-dataset (data/splits/split-0/autotagging_top50tags-*.tsv); audio in \
                 <root>/audio/NN/ID.low.mp3 (scripts/download/download.py --dataset raw_30s --type audio-low --unpack <root>/audio) \
                 or elsewhere with --audio-dir."
            }
            DatasetName::GsKey => {
                "<root>/giantsteps-key-dataset and <root>/giantsteps-mtg-key-dataset: clones of the GiantSteps repositories \
                 with their audio downloaded by audio_dl.sh into audio/<ID>.LOFI.mp3."
            }
            DatasetName::GiantstepsKey => {
                "<root> = a clone of GiantSteps/giantsteps-key-dataset: annotations/key/<ID>.LOFI.key, audio/<ID>.LOFI.mp3 (audio_dl.sh)."
            }
            DatasetName::GiantstepsMtgKey => {
                "<root> = a clone of GiantSteps/giantsteps-mtg-key-dataset: annotations/annotations.txt, audio/<ID>.LOFI.mp3 (audio_dl.sh)."
            }
            DatasetName::Nsynth => {
                "<root>/nsynth-{train,valid,test}/examples.json and .../audio/<note_str>.wav (the unpacked \
                 nsynth-*.jsonwav.tar.gz archives of magenta)."
            }
            DatasetName::GtzanTempo => {
                "<root>/gtzan_tempo_beat/tempo/gtzan_<genre>_<NNNNN>.bpm (TempoBeatDownbeat/gtzan_tempo_beat) and \
                 <root>/audio/<genre>/<genre>.<NNNNN>.wav (GTZAN genres folders); the fault-filtered split lists ship with loev."
            }
            DatasetName::AcmMirum => {
                "<root>/acm-mirum/Annotations/acm_mirum_tempos.mf (or <root>/acm_mirum_tempos.mf; Percival 2014) and \
                 <root>/Audio/<ID>.clip.mp3."
            }
            DatasetName::Hainsworth => {
                "<root>/beat_and_downbeat_annotations/<name>.beats (or mirdata's <root>/annotations/beats) and <root>/audio/<name>.wav."
            }
            DatasetName::GiantstepsTempo => {
                "<root> = a clone of GiantSteps/giantsteps-tempo-dataset: annotations_v2/tempo/<ID>.LOFI.bpm \
                 (annotations/tempo for v1), audio/<ID>.LOFI.mp3 (audio_dl.sh)."
            }
            DatasetName::Alltempo => {
                "<root>/gtzan, <root>/hainsworth, <root>/acm_mirum, <root>/giantsteps, each laid out as for gtzan-tempo, \
                 hainsworth, acm-mirum and giantsteps-tempo (the synesis/LOEV AllTempo layout)."
            }
        }
    }

    fn expected() -> String {
        DatasetName::ALL
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        DatasetName::ALL
            .into_iter()
            .find(|d| d.as_str() == wanted)
            .ok_or_else(|| DataError::UnknownDataset {
                name: text.to_string(),
                expected: DatasetName::expected(),
            })
    }
}

/// Loads a benchmark dataset from `root` as one or more tasks (AllTempo gives one task per
/// held-out dataset). Tracks whose audio is missing or corrupt are removed from the tasks and
/// listed in the report; items excluded by the protocol are listed with reasons.
pub fn load_dataset(
    name: DatasetName,
    root: &Path,
    opts: &LoadOptions,
) -> Result<(Vec<TaskDataset>, LoadReport), DataError> {
    opts.validate()?;
    if !root.is_dir() {
        return Err(DataError::NotFound {
            dataset: name.to_string(),
            path: root.to_path_buf(),
            hint: format!("expected a folder: {}", name.layout()),
        });
    }
    if opts.audio_dir.is_some() && matches!(name, DatasetName::GsKey | DatasetName::Nsynth | DatasetName::Alltempo) {
        return Err(DataError::Options(format!(
            "audio_dir applies to datasets with one audio folder; {name} has several (load its parts separately, or link the audio into its layout: {})",
            name.layout()
        )));
    }
    let mut report = LoadReport::default();
    let tasks = match name {
        DatasetName::Mtt => vec![mtt::load(root, opts, &mut report)?],
        DatasetName::MtgJamendo => vec![mtg::load(root, opts, &mut report)?],
        DatasetName::GsKey => vec![key::load_gs_key(root, opts, &mut report)?],
        part @ (DatasetName::GiantstepsKey | DatasetName::GiantstepsMtgKey) => {
            vec![key::load_part(part, root, opts, &mut report)?]
        }
        DatasetName::Nsynth => vec![nsynth::load(root, opts, &mut report)?],
        DatasetName::GtzanTempo => vec![tempo::load_single(TempoSource::Gtzan, root, opts, &mut report)?],
        DatasetName::AcmMirum => vec![tempo::load_single(TempoSource::AcmMirum, root, opts, &mut report)?],
        DatasetName::Hainsworth => vec![tempo::load_single(TempoSource::Hainsworth, root, opts, &mut report)?],
        DatasetName::GiantstepsTempo => vec![tempo::load_single(TempoSource::Giantsteps, root, opts, &mut report)?],
        DatasetName::Alltempo => tempo::load_alltempo(root, opts, &mut report)?,
    };
    let tasks = finalize(tasks, &mut report, opts);
    Ok((tasks, report))
}

/// One annotated item of a tagging dataset (MTT, MTG-Jamendo).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TagRow {
    /// The item's id (MTT clip id, Jamendo track id).
    pub id: String,
    /// Its audio file as the annotations list it, relative to the audio root.
    pub path: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl TagRow {
    /// The row as a track of its tagging task, with its audio at `audio`.
    pub fn into_track(self, audio: PathBuf, split: Split) -> TaskTrack {
        TaskTrack {
            id: self.id,
            path: audio,
            split,
            group: None,
            labels: TrackLabels {
                tags: self.tags,
                ..Default::default()
            },
        }
    }
}

/// `path` if it exists, else a [`DataError::NotFound`] naming the dataset's layout.
pub(crate) fn require(dataset: DatasetName, path: PathBuf) -> Result<PathBuf, DataError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(DataError::NotFound {
            dataset: dataset.to_string(),
            path,
            hint: format!("expected layout: {}", dataset.layout()),
        })
    }
}

/// The first of `candidates` that exists, else a [`DataError::NotFound`] on the first.
pub(crate) fn require_any(dataset: DatasetName, candidates: &[PathBuf]) -> Result<PathBuf, DataError> {
    match candidates.iter().find(|p| p.exists()) {
        Some(p) => Ok(p.clone()),
        None => require(dataset, candidates[0].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for d in DatasetName::ALL {
            assert_eq!(d.as_str().parse::<DatasetName>().unwrap(), d);
            assert!(!d.layout().is_empty());
        }
        assert_eq!("MTG_Jamendo".parse::<DatasetName>().unwrap(), DatasetName::MtgJamendo);
        let e = "magnatagatune".parse::<DatasetName>().unwrap_err().to_string();
        assert!(e.contains("mtt, mtg-jamendo"), "{e}");
    }
}
