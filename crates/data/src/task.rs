//! The task data model shared by the loaders, the built-in corpus and the evaluation suite.
//!
//! A [`TaskDataset`] is one supervised task: tracks (audio path, split, labels) plus the output
//! vocabulary `classes`. [`TaskDataset::target`] turns a track's labels into what a probe is
//! trained on: a multi-hot vector (tagging) or a class index (key, pitch, tempo).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::labels::{KEY_CLASSES, Key, TEMPO_CLASSES, TempoBinning, tempo_class};
use crate::split::Split;
pub use crate::split::SplitCounts;

/// What a task predicts, which fixes its loss, its targets and its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Multi-label tags (BCE; macro ROC-AUC and AP).
    Tagging,
    /// 24 major/minor keys in MARBLE order (CE; mir_eval weighted score).
    Key,
    /// MIDI pitch of a single note, classes = the pitches present (CE; accuracy).
    Pitch,
    /// Integer BPM 0…299 (CE; Acc1/Acc2).
    Tempo,
}

impl TaskKind {
    /// The lower-case name used in reports and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Tagging => "tagging",
            TaskKind::Key => "key",
            TaskKind::Pitch => "pitch",
            TaskKind::Tempo => "tempo",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every label a track may carry. A loader fills the fields its dataset annotates; a task
/// reads the one its kind needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackLabels {
    /// Musical key.
    pub key: Option<Key>,
    /// Tempo in BPM, unquantised (the class comes from [`TaskDataset::tempo_binning`]), so that
    /// a probe's time-stretch augmentation can scale it exactly.
    pub tempo: Option<f64>,
    /// Tags, in the spelling of the task's `classes`.
    pub tags: Vec<String>,
    /// MIDI pitch (0–127) of a single note.
    pub pitch: Option<u8>,
    /// Instrument (family) of a single note.
    pub instrument: Option<String>,
}

/// One track of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskTrack {
    /// Stable identifier, unique within the task (MTT clip id, Jamendo track id, file stem…).
    pub id: String,
    /// The audio file (after resolution of converted copies, see [`crate::check`]).
    pub path: PathBuf,
    /// Which partition the track belongs to in this task.
    pub split: Split,
    /// Sub-dataset of origin (AllTempo's `gtzan`, `hainsworth`, …), when the task pools several.
    pub group: Option<String>,
    /// The track's labels.
    pub labels: TrackLabels,
}

/// What a probe is trained on for one track.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One entry per class, 1.0 where the track has the tag (tagging).
    MultiHot(Vec<f32>),
    /// A class index into `classes` (key, pitch, tempo).
    Class(usize),
    /// The track has no usable label for this task (the evaluation excludes and counts it).
    None,
}

/// One supervised task: tracks with audio paths, labels and splits, and its output vocabulary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDataset {
    /// Task name used in reports and result tables (e.g. `mtt`, `gs-key`, `alltempo-gtzan`).
    pub name: String,
    /// What the task predicts.
    pub kind: TaskKind,
    /// The tracks, in a deterministic order.
    pub tracks: Vec<TaskTrack>,
    /// Output vocabulary: tag names (tagging), the 24 key names in MARBLE order (key), MIDI
    /// numbers as text, ascending (pitch), `"0"`…`"299"` (tempo).
    pub classes: Vec<String>,
    /// How a tempo in BPM becomes a class (tempo tasks only).
    pub tempo_binning: TempoBinning,
    /// The benchmark this task is one leave-one-dataset-out fold of (AllTempo's folds say
    /// `alltempo`), so that result tables report the mean over its folds.
    #[serde(default)]
    pub fold_of: Option<String>,
}

impl TaskDataset {
    /// A task with the default tempo binning (truncation, as LOEV); see
    /// [`TaskDataset::key_classes`] and [`TaskDataset::tempo_classes`] for the fixed vocabularies.
    pub fn new(name: impl Into<String>, kind: TaskKind, classes: Vec<String>, tracks: Vec<TaskTrack>) -> Self {
        Self {
            name: name.into(),
            kind,
            tracks,
            classes,
            tempo_binning: TempoBinning::default(),
            fold_of: None,
        }
    }

    /// The 24 key class names in MARBLE order (C major … B major, C minor … B minor).
    pub fn key_classes() -> Vec<String> {
        (0..KEY_CLASSES)
            .filter_map(|i| Key::from_class_index(i).ok())
            .map(|k| k.to_string())
            .collect()
    }

    /// The tempo class names `"0"` … `"299"`.
    pub fn tempo_classes() -> Vec<String> {
        (0..TEMPO_CLASSES).map(|i| i.to_string()).collect()
    }

    /// The index of a class name, if it is in the vocabulary.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    /// The training target of `track` for this task; [`Target::None`] when the track lacks the
    /// label or its value is outside the vocabulary (tempo ≥ 300 BPM, an unlisted pitch).
    /// Tags outside the vocabulary are ignored.
    pub fn target(&self, track: &TaskTrack) -> Target {
        match self.kind {
            TaskKind::Tagging => {
                let mut hot = vec![0.0f32; self.classes.len()];
                for tag in &track.labels.tags {
                    if let Some(i) = self.class_index(tag) {
                        hot[i] = 1.0;
                    }
                }
                Target::MultiHot(hot)
            }
            TaskKind::Key => match track.labels.key {
                Some(key) => Target::Class(key.class_index()),
                None => Target::None,
            },
            TaskKind::Pitch => match track.labels.pitch.and_then(|p| self.class_index(&p.to_string())) {
                Some(i) => Target::Class(i),
                None => Target::None,
            },
            TaskKind::Tempo => match track.labels.tempo.and_then(|bpm| tempo_class(bpm, self.tempo_binning)) {
                Some(i) => Target::Class(i),
                None => Target::None,
            },
        }
    }

    /// The tracks of one split, in order.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &TaskTrack> {
        self.tracks.iter().filter(move |t| t.split == split)
    }

    /// Counts per split, per class and per group.
    pub fn summary(&self) -> DatasetSummary {
        let mut tracks = SplitCounts::default();
        let mut unlabelled = SplitCounts::default();
        let mut per_class = vec![SplitCounts::default(); self.classes.len()];
        let mut groups: BTreeMap<String, SplitCounts> = BTreeMap::new();
        for track in &self.tracks {
            tracks.add(track.split);
            if let Some(group) = &track.group {
                groups.entry(group.clone()).or_default().add(track.split);
            }
            match self.target(track) {
                Target::MultiHot(hot) => {
                    for (i, &v) in hot.iter().enumerate() {
                        if v > 0.0 {
                            per_class[i].add(track.split);
                        }
                    }
                }
                Target::Class(i) => per_class[i].add(track.split),
                Target::None => unlabelled.add(track.split),
            }
        }
        DatasetSummary {
            name: self.name.clone(),
            kind: self.kind,
            classes: self.classes.len(),
            tracks,
            unlabelled,
            class_counts: self.classes.iter().cloned().zip(per_class).collect(),
            groups: groups.into_iter().collect(),
        }
    }
}

/// Counts of a task per split, class and group; `Display` prints a readable table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Task name.
    pub name: String,
    /// Task kind.
    pub kind: TaskKind,
    /// Vocabulary size.
    pub classes: usize,
    /// Tracks per split.
    pub tracks: SplitCounts,
    /// Tracks whose target is [`Target::None`], per split.
    pub unlabelled: SplitCounts,
    /// Positive tracks per class and split, in vocabulary order.
    pub class_counts: Vec<(String, SplitCounts)>,
    /// Tracks per group and split (empty when the task has no groups).
    pub groups: Vec<(String, SplitCounts)>,
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}, {} classes): {} tracks: {}",
            self.name,
            self.kind,
            self.classes,
            self.tracks.total(),
            self.tracks
        )?;
        if self.unlabelled.total() > 0 {
            writeln!(f, "  without a usable label: {}", self.unlabelled)?;
        }
        for (group, counts) in &self.groups {
            writeln!(f, "  group {group}: {counts}")?;
        }
        let present: Vec<&(String, SplitCounts)> = self.class_counts.iter().filter(|(_, c)| c.total() > 0).collect();
        let absent = self.class_counts.len() - present.len();
        writeln!(
            f,
            "  per class (train/valid/test){}:",
            if absent > 0 {
                format!(", {absent} classes with no track not shown")
            } else {
                String::new()
            }
        )?;
        let width = present.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
        for (name, c) in present {
            writeln!(f, "    {name:<width$}  {}/{}/{}", c.train, c.valid, c.test)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Mode;

    fn track(id: &str, split: Split, labels: TrackLabels) -> TaskTrack {
        TaskTrack {
            id: id.into(),
            path: PathBuf::from(format!("{id}.wav")),
            split,
            group: None,
            labels,
        }
    }

    fn tempo_labels(bpm: f64) -> TrackLabels {
        TrackLabels {
            tempo: Some(bpm),
            ..Default::default()
        }
    }

    fn pitch_labels(pitch: u8) -> TrackLabels {
        TrackLabels {
            pitch: Some(pitch),
            ..Default::default()
        }
    }

    #[test]
    fn targets_follow_the_vocabulary() {
        let tagging = TaskDataset::new(
            "t",
            TaskKind::Tagging,
            vec!["rock".into(), "piano".into(), "no voice".into()],
            vec![track(
                "a",
                Split::Train,
                TrackLabels {
                    tags: vec!["no voice".into(), "rock".into(), "unlisted".into()],
                    ..Default::default()
                },
            )],
        );
        assert_eq!(
            tagging.target(&tagging.tracks[0]),
            Target::MultiHot(vec![1.0, 0.0, 1.0])
        );

        let key = TaskDataset::new("k", TaskKind::Key, TaskDataset::key_classes(), vec![]);
        assert_eq!(key.classes.len(), 24);
        assert_eq!(key.classes[3], "Eb major");
        assert_eq!(key.classes[13], "Db minor");
        let t = track(
            "k",
            Split::Test,
            TrackLabels {
                key: Some(Key::new(6, Mode::Minor)),
                ..Default::default()
            },
        );
        assert_eq!(key.target(&t), Target::Class(18));
        assert_eq!(key.classes[18], "Gb minor");
        assert_eq!(
            key.target(&track("n", Split::Test, TrackLabels::default())),
            Target::None
        );

        let mut tempo = TaskDataset::new("b", TaskKind::Tempo, TaskDataset::tempo_classes(), vec![]);
        let fast = track("f", Split::Train, tempo_labels(127.9));
        assert_eq!(tempo.target(&fast), Target::Class(127));
        tempo.tempo_binning = TempoBinning::Round;
        assert_eq!(tempo.target(&fast), Target::Class(128));
        let too_fast = track("g", Split::Train, tempo_labels(321.6));
        assert_eq!(tempo.target(&too_fast), Target::None);

        let pitch = TaskDataset::new("p", TaskKind::Pitch, vec!["36".into(), "60".into()], vec![]);
        assert_eq!(
            pitch.target(&track("p", Split::Valid, pitch_labels(60))),
            Target::Class(1)
        );
        assert_eq!(pitch.target(&track("q", Split::Valid, pitch_labels(61))), Target::None);
    }

    #[test]
    fn summary_counts_splits_classes_and_groups() {
        let mut tracks = vec![
            track("a", Split::Train, tempo_labels(120.0)),
            track("b", Split::Train, tempo_labels(120.5)),
            track("c", Split::Test, tempo_labels(90.0)),
            track("d", Split::Valid, tempo_labels(400.0)),
        ];
        tracks[2].group = Some("gtzan".into());
        let task = TaskDataset::new("tempo", TaskKind::Tempo, TaskDataset::tempo_classes(), tracks);
        let s = task.summary();
        assert_eq!(
            s.tracks,
            SplitCounts {
                train: 2,
                valid: 1,
                test: 1
            }
        );
        assert_eq!(
            s.unlabelled,
            SplitCounts {
                train: 0,
                valid: 1,
                test: 0
            }
        );
        assert_eq!(
            s.class_counts[120].1,
            SplitCounts {
                train: 2,
                valid: 0,
                test: 0
            }
        );
        assert_eq!(s.class_counts[90].1.test, 1);
        assert_eq!(
            s.groups,
            vec![(
                "gtzan".to_string(),
                SplitCounts {
                    train: 0,
                    valid: 0,
                    test: 1
                }
            )]
        );
        assert_eq!(task.split(Split::Train).count(), 2);
        let text = s.to_string();
        assert!(
            text.contains("tempo (tempo, 300 classes): 4 tracks: train 2, valid 1, test 1"),
            "{text}"
        );
        assert!(text.contains("298 classes with no track not shown"), "{text}");
    }
}
