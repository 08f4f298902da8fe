//! Tempo datasets (GTZAN, Hainsworth, ACM-MIRUM, GiantSteps tempo) and the AllTempo
//! leave-one-dataset-out protocol (one task per held-out dataset: its tracks are test, the other
//! datasets' tracks are split 90/10 into train and valid), in the folder layout of synesis/LOEV's
//! AllTempo.
//!
//! * GTZAN: `gtzan_tempo_beat/tempo/gtzan_<genre>_<NNNNN>.bpm` (numpy scientific notation),
//!   restricted to the fault-filtered split lists (`assets/gtzan/*_filtered.txt`, 930 tracks);
//!   audio `audio/<genre>/<genre>.<NNNNN>.wav`.
//! * Hainsworth: tempo = 60 / mean inter-beat interval of `<name>.beats` (first column), as
//!   LOEV computes it; a first time of -1 means no beats; audio `audio/<name>.wav`.
//! * ACM-MIRUM: Percival's `acm_mirum_tempos.mf` (`<path>\t<bpm>`); audio `Audio/<ID>.clip.mp3`.
//! * GiantSteps: `annotations_v2/tempo/<ID>.LOFI.bpm` (or v1); audio `audio/<ID>.LOFI.mp3`.
//!   Three v2 files are 0 BPM: kept as class 0 (LOEV) or dropped, per [`ZeroTempo`], and
//!   reported either way.
//!
//! Every file is parsed by its first numeric token. Tempi whose class falls outside 0…299 are
//! excluded and reported (GTZAN jazz.00031 at 321.6 BPM).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::datasets::{DatasetName, require, require_any};
use crate::error::DataError;
use crate::labels::tempo_class;
use crate::options::{GiantstepsTempoVersion, LoadOptions, ZeroTempo};
use crate::report::{FileProblem, LoadReport};
use crate::split::Split;
use crate::task::{TaskDataset, TaskKind, TaskTrack, TrackLabels};
use crate::text::{files_with_suffix, first_number, name_without, read_text, split_train_valid};

/// One of the four AllTempo datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TempoSource {
    /// GTZAN (fault-filtered).
    Gtzan,
    /// Hainsworth.
    Hainsworth,
    /// ACM-MIRUM.
    AcmMirum,
    /// GiantSteps tempo.
    Giantsteps,
}

impl TempoSource {
    /// The four, in AllTempo's order.
    pub const ALL: [TempoSource; 4] = [
        TempoSource::Gtzan,
        TempoSource::Hainsworth,
        TempoSource::AcmMirum,
        TempoSource::Giantsteps,
    ];

    /// Group name (and id prefix, and the `alltempo_holdout` value).
    pub fn name(self) -> &'static str {
        match self {
            TempoSource::Gtzan => "gtzan",
            TempoSource::Hainsworth => "hainsworth",
            TempoSource::AcmMirum => "acm-mirum",
            TempoSource::Giantsteps => "giantsteps",
        }
    }

    /// Its folder under the AllTempo root.
    pub fn folder(self) -> &'static str {
        match self {
            TempoSource::Gtzan => "gtzan",
            TempoSource::Hainsworth => "hainsworth",
            TempoSource::AcmMirum => "acm_mirum",
            TempoSource::Giantsteps => "giantsteps",
        }
    }

    /// Where its audio lies under its root by default.
    pub fn default_audio_dir(self, root: &Path) -> PathBuf {
        match self {
            TempoSource::AcmMirum => root.join("Audio"),
            _ => root.join("audio"),
        }
    }

    /// The standalone dataset of the same data.
    pub fn dataset(self) -> DatasetName {
        match self {
            TempoSource::Gtzan => DatasetName::GtzanTempo,
            TempoSource::Hainsworth => DatasetName::Hainsworth,
            TempoSource::AcmMirum => DatasetName::AcmMirum,
            TempoSource::Giantsteps => DatasetName::GiantstepsTempo,
        }
    }
}

/// An annotated tempo item before splitting.
#[derive(Clone, Debug, PartialEq)]
struct TempoItem {
    id: String,
    path: PathBuf,
    tempo: f64,
    /// GTZAN's own split (from the filtered lists).
    own_split: Option<Split>,
}

/// The exclusion kind of an annotation without a readable tempo.
const UNREADABLE: &str = "unreadable tempo";

/// The exclusion of a tempo file with no number in it.
fn no_number(file: &Path) -> (&'static str, String) {
    (UNREADABLE, format!("no number in {}", file.display()))
}

/// The item `id` with audio at `path` and the tempo its annotation gives, or `None` when the
/// annotation gave none: then the item is reported excluded with `tempo`'s (kind, detail).
fn annotated(
    source: TempoSource,
    id: String,
    path: PathBuf,
    tempo: Result<f64, (&str, String)>,
    report: &mut LoadReport,
) -> Option<TempoItem> {
    match tempo {
        Ok(tempo) => Some(TempoItem {
            id,
            path,
            tempo,
            own_split: None,
        }),
        Err((kind, detail)) => {
            report.exclude(source.name(), id, kind, detail);
            None
        }
    }
}

const GTZAN_LISTS: [(&str, Split); 3] = [
    (include_str!("../../assets/gtzan/train_filtered.txt"), Split::Train),
    (include_str!("../../assets/gtzan/valid_filtered.txt"), Split::Valid),
    (include_str!("../../assets/gtzan/test_filtered.txt"), Split::Test),
];

/// The fault-filtered GTZAN tracks (`<genre>.<NNNNN>`) with their split, in list order.
pub fn gtzan_filtered_tracks() -> Vec<(String, Split)> {
    GTZAN_LISTS
        .iter()
        .flat_map(|(text, split)| {
            text.lines().filter_map(move |line| {
                let name = line.trim().rsplit('/').next()?.strip_suffix(".wav")?;
                (!name.is_empty()).then(|| (name.to_string(), *split))
            })
        })
        .collect()
}

fn load_gtzan(root: &Path, audio: &Path, report: &mut LoadReport) -> Result<Vec<TempoItem>, DataError> {
    let source = TempoSource::Gtzan;
    let dir = require(source.dataset(), root.join("gtzan_tempo_beat").join("tempo"))?;
    let listed = gtzan_filtered_tracks();
    let listed_names: HashSet<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    for file in files_with_suffix(&dir, ".bpm")? {
        let stem = name_without(&file, ".bpm");
        let name = stem.strip_prefix("gtzan_").unwrap_or(&stem).replacen('_', ".", 1);
        if !listed_names.contains(name.as_str()) {
            report.exclude(
                source.name(),
                format!("gtzan_{name}"),
                "not in the fault-filtered split",
                file.display().to_string(),
            );
        }
    }
    let mut items = Vec::new();
    for (name, split) in listed {
        let id = format!("gtzan_{name}");
        let Some((genre, number)) = name.split_once('.') else {
            continue;
        };
        let file = dir.join(format!("gtzan_{genre}_{number}.bpm"));
        if !file.is_file() {
            report.exclude(
                source.name(),
                id,
                "no tempo annotation",
                format!("{} not found", file.display()),
            );
            continue;
        }
        let tempo = first_number(&read_text(&file)?).ok_or_else(|| no_number(&file));
        let path = audio.join(genre).join(format!("{name}.wav"));
        items.extend(annotated(source, id, path, tempo, report).map(|item| TempoItem {
            own_split: Some(split),
            ..item
        }));
    }
    Ok(items)
}

/// Tempo of a `.beats` file as LOEV computes it: 60 / mean inter-beat interval (first column).
pub(crate) fn tempo_from_beats(text: &str) -> Result<f64, String> {
    let times: Vec<f64> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .collect();
    if times.first().is_some_and(|&t| t < 0.0) {
        return Err("no beats annotated (first time is negative)".into());
    }
    if times.len() < 2 {
        return Err(format!("{} beat(s); at least 2 are needed for a tempo", times.len()));
    }
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    if !(mean.is_finite() && mean > 0.0) {
        return Err(format!("mean inter-beat interval {mean} s is not positive"));
    }
    Ok(60.0 / mean)
}

fn load_hainsworth(root: &Path, audio: &Path, report: &mut LoadReport) -> Result<Vec<TempoItem>, DataError> {
    let source = TempoSource::Hainsworth;
    let dir = require_any(
        source.dataset(),
        &[
            root.join("beat_and_downbeat_annotations"),
            root.join("annotations").join("beats"),
        ],
    )?;
    let mut items = Vec::new();
    for file in files_with_suffix(&dir, ".beats")? {
        let name = name_without(&file, ".beats");
        let id = format!("hainsworth_{name}");
        let tempo = tempo_from_beats(&read_text(&file)?).map_err(|reason| ("no beats", reason));
        items.extend(annotated(source, id, audio.join(format!("{name}.wav")), tempo, report));
    }
    Ok(items)
}

fn load_acm_mirum(root: &Path, audio: &Path, report: &mut LoadReport) -> Result<Vec<TempoItem>, DataError> {
    let source = TempoSource::AcmMirum;
    let file = require_any(
        source.dataset(),
        &[
            root.join("acm-mirum").join("Annotations").join("acm_mirum_tempos.mf"),
            root.join("acm_mirum_tempos.mf"),
        ],
    )?;
    let text = read_text(&file)?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (listed, rest) = line
            .split_once('\t')
            .or_else(|| line.split_once(char::is_whitespace))
            .unwrap_or((line, ""));
        let base = listed.rsplit(['/', '\\']).next().unwrap_or(listed);
        let name = base.strip_suffix(".wav").unwrap_or(base);
        let id = format!("acm-mirum_{}", name.strip_suffix(".clip").unwrap_or(name));
        let tempo = first_number(rest).ok_or_else(|| {
            let detail = format!("{}, line {}: no tempo after the path", file.display(), i + 1);
            (UNREADABLE, detail)
        });
        items.extend(annotated(source, id, audio.join(format!("{name}.mp3")), tempo, report));
    }
    Ok(items)
}

fn load_giantsteps(
    root: &Path,
    audio: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<Vec<TempoItem>, DataError> {
    let source = TempoSource::Giantsteps;
    let dir = match opts.giantsteps_tempo {
        GiantstepsTempoVersion::V2 => root.join("annotations_v2").join("tempo"),
        GiantstepsTempoVersion::V1 => root.join("annotations").join("tempo"),
    };
    let dir = require(source.dataset(), dir)?;
    let mut items = Vec::new();
    for file in files_with_suffix(&dir, ".bpm")? {
        let name = name_without(&file, ".bpm");
        let id = format!("giantsteps_{}", name.strip_suffix(".LOFI").unwrap_or(&name));
        let tempo = first_number(&read_text(&file)?).ok_or_else(|| no_number(&file));
        items.extend(annotated(source, id, audio.join(format!("{name}.mp3")), tempo, report));
    }
    Ok(items)
}

/// Loads one source's items and applies the tempo rules (range, 0 BPM), reporting exclusions.
fn load_source(
    source: TempoSource,
    root: &Path,
    audio: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<Vec<TempoItem>, DataError> {
    let items = match source {
        TempoSource::Gtzan => load_gtzan(root, audio, report)?,
        TempoSource::Hainsworth => load_hainsworth(root, audio, report)?,
        TempoSource::AcmMirum => load_acm_mirum(root, audio, report)?,
        TempoSource::Giantsteps => load_giantsteps(root, audio, opts, report)?,
    };
    let mut zero = 0usize;
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        if item.tempo < 0.0 {
            report.exclude(source.name(), item.id, "invalid tempo", format!("{} BPM", item.tempo));
        } else if item.tempo == 0.0 && opts.zero_tempo == ZeroTempo::Drop {
            report.exclude(
                source.name(),
                item.id,
                "zero tempo",
                "0 BPM (no tempo annotated)".to_string(),
            );
        } else if tempo_class(item.tempo, opts.tempo_binning).is_none() {
            report.exclude(
                source.name(),
                item.id,
                "tempo out of range",
                format!("{} BPM is outside the classes 0–299", item.tempo),
            );
        } else {
            if item.tempo == 0.0 {
                zero += 1;
            }
            kept.push(item);
        }
    }
    if zero > 0 {
        report.notes.push(format!(
            "{}: {zero} tracks annotated 0 BPM are kept as class 0 (LOEV protocol; they always count as errors; zero_tempo = \"drop\" excludes them)",
            source.name()
        ));
    }
    Ok(kept)
}

fn to_track(item: TempoItem, split: Split, source: TempoSource) -> TaskTrack {
    TaskTrack {
        id: item.id,
        path: item.path,
        split,
        group: Some(source.name().to_string()),
        labels: TrackLabels {
            tempo: Some(item.tempo),
            ..Default::default()
        },
    }
}

fn tempo_task(name: &str, tracks: Vec<TaskTrack>, opts: &LoadOptions) -> TaskDataset {
    let mut task = TaskDataset::new(name, TaskKind::Tempo, TaskDataset::tempo_classes(), tracks);
    task.tempo_binning = opts.tempo_binning;
    task
}

/// One tempo dataset on its own: GTZAN keeps its filtered train/valid/test split, the others
/// are test sets (use AllTempo to train a probe on them).
pub(crate) fn load_single(
    source: TempoSource,
    root: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<TaskDataset, DataError> {
    let audio = opts.audio_dir.clone().unwrap_or_else(|| source.default_audio_dir(root));
    let items = load_source(source, root, &audio, opts, report)?;
    let tracks = items
        .into_iter()
        .map(|item| {
            let split = item.own_split.unwrap_or(Split::Test);
            to_track(item, split, source)
        })
        .collect();
    Ok(tempo_task(source.dataset().as_str(), tracks, opts))
}

/// AllTempo: one task per held-out dataset (`alltempo-<name>`): its tracks are test, the
/// others' are split 90/10 train/valid with a seeded permutation. A sub-dataset folder that is
/// absent is reported as missing and the protocol runs over the others (at least two).
pub(crate) fn load_alltempo(
    root: &Path,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<Vec<TaskDataset>, DataError> {
    let mut loaded: Vec<(TempoSource, Vec<TempoItem>)> = Vec::new();
    for source in TempoSource::ALL {
        let dir = root.join(source.folder());
        if !dir.is_dir() {
            report.missing.push(FileProblem {
                id: source.name().to_string(),
                path: dir,
                uses: Vec::new(),
                reason: format!(
                    "AllTempo sub-dataset folder absent ({}); the leave-one-out tasks use the others",
                    source.dataset().layout()
                ),
            });
            continue;
        }
        let items = load_source(source, &dir, &source.default_audio_dir(&dir), opts, report)?;
        loaded.push((source, items));
    }
    if loaded.len() < 2 {
        return Err(DataError::NotFound {
            dataset: DatasetName::Alltempo.to_string(),
            path: root.to_path_buf(),
            hint: format!(
                "leave-one-dataset-out needs at least two of the sub-dataset folders; {}",
                DatasetName::Alltempo.layout()
            ),
        });
    }
    let holdouts: Vec<TempoSource> = match &opts.alltempo_holdout {
        None => loaded.iter().map(|(s, _)| *s).collect(),
        Some(wanted) => {
            let found = loaded.iter().map(|(s, _)| *s).find(|s| s.name() == wanted.trim());
            vec![found.ok_or_else(|| {
                DataError::Options(format!(
                    "alltempo_holdout '{wanted}' is not one of the datasets present: {}",
                    loaded.iter().map(|(s, _)| s.name()).collect::<Vec<_>>().join(", ")
                ))
            })?]
        }
    };
    let mut tasks = Vec::new();
    for holdout in holdouts {
        let name = format!("alltempo-{}", holdout.name());
        let pool: Vec<(TempoSource, &TempoItem)> = loaded
            .iter()
            .filter(|(s, _)| *s != holdout)
            .flat_map(|(s, items)| items.iter().map(move |i| (*s, i)))
            .collect();
        let splits = split_train_valid(pool.len(), opts.valid_fraction, opts.seed, &name);
        let mut tracks: Vec<TaskTrack> = pool
            .into_iter()
            .zip(splits)
            .map(|((s, item), split)| to_track(item.clone(), split, s))
            .collect();
        if let Some((_, items)) = loaded.iter().find(|(s, _)| *s == holdout) {
            tracks.extend(items.iter().map(|item| to_track(item.clone(), Split::Test, holdout)));
        }
        let mut task = tempo_task(&name, tracks, opts);
        task.fold_of = Some(DatasetName::Alltempo.to_string());
        tasks.push(task);
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtzan_lists_hold_the_930_filtered_tracks() {
        let tracks = gtzan_filtered_tracks();
        assert_eq!(tracks.len(), 930);
        let count = |s: Split| tracks.iter().filter(|(_, x)| *x == s).count();
        assert_eq!(
            (count(Split::Train), count(Split::Valid), count(Split::Test)),
            (443, 197, 290)
        );
        assert!(tracks.contains(&("jazz.00031".to_string(), Split::Valid)));
        assert!(!tracks.iter().any(|(n, _)| n == "reggae.00086"));
        let unique: HashSet<&String> = tracks.iter().map(|(n, _)| n).collect();
        assert_eq!(unique.len(), 930);
    }

    #[test]
    fn beats_give_loev_tempo() {
        assert_eq!(tempo_from_beats("0.5\t1\n1.0\t2\n1.5\t3\n2.0\t4\n"), Ok(120.0));
        assert_eq!(tempo_from_beats("0.0 1\n0.75 2\n1.5 3\n"), Ok(80.0));
        assert!(tempo_from_beats("-1.0\t0\n").unwrap_err().contains("no beats"));
        assert!(tempo_from_beats("0.3\t1\n").is_err());
        assert!(tempo_from_beats("1.0\n1.0\n").is_err());
    }
}
