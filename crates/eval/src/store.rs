//! Embedding folders: what `loev embed` writes and `loev probe` / `loev retrieve` read.
//!
//! ```text
//! OUT/
//!   embeddings.json     model, front end, slicing, spaces (name, dim), format, stretch settings
//!   index.csv           one row per track: path (the embedding file), id, audio, slices,
//!                       seconds, and every label column of the input manifest (split, key,
//!                       tempo, tags, pitch, instrument, kind, group, …)
//!   stretched.csv       (with --stretch-copies K) time-stretched copies of the tracks
//!                       that have a tempo: path, id, source (the original id), rate, tempo
//!                       (scaled by the rate), split
//!   skipped.csv         (shard folders only, when something was skipped) path, id,
//!                       position, reason: entries a folder walk left out (a dangling link;
//!                       id and position empty), then each input file that could not be
//!                       decoded, with its track id and position in the input
//!   progress.jsonl      (only while a run is unfinished) the tracks finished so far, which a
//!                       rerun with the same input, model and settings takes over
//!   tracks/NNNNN_<id>.safetensors      tensors `timestamps` [T] (slice centres, s, f32),
//!                                      `<space>/timeline` [T, D], `<space>/mean` [D] (f32)
//!   tracks/NNNNN_<id>/                 the same as .npy files: timestamps.npy,
//!                                      <space>.timeline.npy, <space>.mean.npy (the index
//!                                      lists the folder's timestamps.npy)
//! ```
//!
//! `index.csv` is a labelled manifest (the loev manifest convention) whose `path` column points
//! at the embedding files, so [`loev_data::load_manifest_tasks`] reads its tasks directly and
//! every track id matches the input's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use loev_audio::manifest::{Manifest, ManifestRow};
use loev_core::io::{atomic_write, read_npy_f32, write_npy_f32};
use loev_core::output::{OutputError, OutputFolder, Protected};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// One embedding space of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceInfo {
    /// Name used in files and tables (`v`, `v_<head>`, `z_<head>`).
    pub name: String,
    /// Dimension.
    pub dim: usize,
    /// What it is, for humans.
    pub description: String,
}

/// One space of one track.
#[derive(Clone, Debug, PartialEq)]
pub struct SpaceEmbedding {
    /// Space name.
    pub name: String,
    /// Dimension D.
    pub dim: usize,
    /// `[T × D]`, row-major (one row per slice).
    pub timeline: Vec<f32>,
    /// `[D]`: mean of the timeline over time (the track embedding).
    pub mean: Vec<f32>,
}

impl SpaceEmbedding {
    /// Row `t` of the timeline.
    pub fn row(&self, t: usize) -> &[f32] {
        &self.timeline[t * self.dim..(t + 1) * self.dim]
    }

    /// Number of rows T.
    pub fn len(&self) -> usize {
        self.timeline.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when the timeline has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every space of one track.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackEmbedding {
    /// Centre time of each slice in seconds.
    pub timestamps: Vec<f64>,
    /// One entry per space, in the model's output order (`v` first).
    pub spaces: Vec<SpaceEmbedding>,
}

impl TrackEmbedding {
    /// The space called `name`.
    pub fn space(&self, name: &str) -> Option<&SpaceEmbedding> {
        self.spaces.iter().find(|s| s.name == name)
    }
}

/// File name of the metadata.
pub const META_FILE: &str = "embeddings.json";
/// File name of the track index.
pub const INDEX_FILE: &str = "index.csv";
/// File name of the index of time-stretched copies.
pub const STRETCHED_FILE: &str = "stretched.csv";

/// The columns of `stretched.csv` after `path` (written by `loev embed` and by the merge of
/// its shards).
pub(crate) fn stretched_columns() -> Vec<String> {
    ["id", "source", "rate", "tempo", "split", "slices"]
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Sub-folder of the per-track files.
pub const TRACKS_DIR: &str = "tracks";
/// File name of the list of skipped inputs.
pub const SKIPPED_FILE: &str = "skipped.csv";
/// File name of the journal of an unfinished run (removed when the run finishes).
pub const PROGRESS_FILE: &str = "progress.jsonl";

/// How the per-track arrays are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingFormat {
    /// One safetensors file per track.
    #[default]
    Safetensors,
    /// One folder of `.npy` files per track.
    Npy,
}

impl std::str::FromStr for EmbeddingFormat {
    type Err = EvalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "safetensors" => Ok(Self::Safetensors),
            "npy" => Ok(Self::Npy),
            other => Err(EvalError::Invalid(format!(
                "format '{other}': expected npy or safetensors"
            ))),
        }
    }
}

/// `embeddings.json`: how the folder was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingMeta {
    /// Layout version of this folder.
    pub format_version: u32,
    /// Where the weights came from.
    pub model: String,
    /// The spaces, in file order.
    pub spaces: Vec<SpaceInfo>,
    /// Array format.
    pub format: EmbeddingFormat,
    /// Slice length in seconds.
    pub slice_seconds: f64,
    /// Hop between slice centres in seconds.
    pub hop_seconds: f64,
    /// Sample rate of the audio the model saw.
    pub sample_rate: u32,
    /// The input the tracks came from.
    pub input: String,
    /// Time-stretched copies per eligible track (0 = none).
    pub stretch_copies: usize,
    /// Range of the stretch rates, drawn uniformly.
    pub stretch_range: (f64, f64),
    /// Seed of the stretch rates.
    pub stretch_seed: u64,
    /// Which shard of its input this folder holds (`loev embed --shard K/N`); absent in a
    /// folder of a whole input, so that a merged folder equals an unsharded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// What a shard folder records so that `loev embed merge` can check that its shards belong
/// together: which shard it is, how many tracks it and the whole input have, and FNV-1a 64
/// checksums (16 hex digits) of the input's track list, of the model file and of the front end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// K: which shard, from 0.
    pub index: usize,
    /// N: how many shards the input was cut into.
    pub count: usize,
    /// Tracks of the input that fall to this shard (embedded or skipped).
    pub tracks: usize,
    /// Tracks of the whole input.
    pub input_tracks: usize,
    /// Checksum of the whole input's ordered track list (ids, audio paths, label columns).
    pub input_checksum: String,
    /// Checksum of the model file's bytes.
    pub model_checksum: String,
    /// Checksum of the front end's settings.
    pub frontend_checksum: String,
}

/// The layout version written by this code.
pub const FORMAT_VERSION: u32 = 1;

/// The kind an embedding folder's marker names ([`loev_core::output::MARKER_FILE`]).
pub const OUTPUT_KIND: &str = "embeddings";

/// Claims `out` for `loev embed` ([`OutputFolder::claim`]: a new or empty folder, an embedding
/// folder loev made, or any folder with `force`; locked while written; never what `protected`
/// names) and marks it unfinished: the files that describe a finished folder
/// (`embeddings.json`, `index.csv`, `stretched.csv`) are removed before any track is written,
/// so a run killed half-way never leaves an index that lists a mix of two runs' tracks.
pub fn claim_output(out: &Path, protected: &Protected, force: bool) -> Result<OutputFolder, EvalError> {
    let folder = OutputFolder::claim(out, OUTPUT_KIND, &[], protected, force).map_err(output_error)?;
    for name in [META_FILE, INDEX_FILE, STRETCHED_FILE, SKIPPED_FILE] {
        folder.remove(name).map_err(output_error)?;
    }
    Ok(folder)
}

/// Removes from `tracks/` every track file or folder ([`is_track_name`]) that `rows` (the
/// index and the stretched copies) does not list: what an earlier run with more tracks,
/// another format or a killed run left, so that the folder holds exactly the tracks of its
/// index. Other names are never removed (a folder written with `--force` keeps the user's).
pub fn prune_tracks<'a>(folder: &OutputFolder, rows: impl IntoIterator<Item = &'a IndexRow>) -> Result<(), EvalError> {
    let keep: HashSet<PathBuf> = rows.into_iter().map(|r| r.path.clone()).collect();
    folder.prune(TRACKS_DIR, &keep, is_track_name).map_err(output_error)?;
    Ok(())
}

/// True for the names [`write_track`] gives (`NNNNN_<id>.safetensors`, `NNNNN_<id>/`, with 5
/// or more digits, and the temporaries of their atomic writes).
pub fn is_track_name(name: &str) -> bool {
    let name = name.strip_prefix('.').unwrap_or(name);
    position_of_name(name).is_some()
}

/// The input position in a track name (`NNNNN_<id>…`: at least 5 digits, then `_`).
fn position_of_name(name: &str) -> Option<usize> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 5 || name.as_bytes().get(digits) != Some(&b'_') || name.len() <= digits + 1 {
        return None;
    }
    name[..digits].parse().ok()
}

/// The input position of a track file or folder that `root`'s index lists (`root/tracks/
/// NNNNN_<id>…`, the position that [`track_stem`] put in its name), and its path relative to
/// `root`.
pub fn track_position(root: &Path, path: &Path) -> Option<(usize, PathBuf)> {
    let relative = path.strip_prefix(root).ok()?;
    let mut parts = relative.components();
    if parts.next()?.as_os_str() != TRACKS_DIR {
        return None;
    }
    let position = position_of_name(parts.next()?.as_os_str().to_str()?)?;
    Some((position, relative.to_path_buf()))
}

/// One row of `skipped.csv`: an input that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    /// The file, as the input named it.
    pub path: PathBuf,
    /// Its track id and position in the input; `None` for an entry a folder walk left out
    /// before it became a track (a dangling link).
    pub track: Option<(String, usize)>,
    /// Why.
    pub reason: String,
}

/// Writes `skipped.csv` (see the module documentation), atomically.
pub fn write_skipped(path: &Path, rows: &[SkippedRow]) -> Result<(), EvalError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<Vec<u8>, csv::Error> {
        writer.write_record(["path", "id", "position", "reason"])?;
        for row in rows {
            let (id, position) = match &row.track {
                Some((id, position)) => (id.clone(), position.to_string()),
                None => (String::new(), String::new()),
            };
            writer.write_record([row.path.to_string_lossy().as_ref(), &id, &position, &row.reason])?;
        }
        writer.flush()?;
        Ok(writer.get_ref().clone())
    };
    let bytes = write().map_err(|e| EvalError::format(path, e.to_string()))?;
    atomic_write(path, &bytes).map_err(EvalError::io("write", path))
}

/// Reads `skipped.csv` (no file: nothing was skipped).
pub fn read_skipped(path: &Path) -> Result<Vec<SkippedRow>, EvalError> {
    let mut reader = match csv::Reader::from_path(path) {
        Ok(reader) => reader,
        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(EvalError::format(path, e.to_string())),
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| EvalError::format(path, e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or("").to_string();
        let track = match field(2).as_str() {
            "" => None,
            position => Some((
                field(1),
                position
                    .parse()
                    .map_err(|_| EvalError::format(path, format!("position `{position}` is not a number")))?,
            )),
        };
        rows.push(SkippedRow {
            path: PathBuf::from(field(0)),
            track,
            reason: field(3),
        });
    }
    Ok(rows)
}

/// The kind of a folder of results (`loev probe --out`, `loev retrieve --out`).
pub const RESULTS_KIND: &str = "results";

/// Claims the folder that `loev probe` / `loev retrieve` write their tables to: `out`, or the
/// embedding folder `set` itself when `out` is `None`. An embedding folder that opened as one
/// is loev's (also one written before folders carried a marker); another folder must be new,
/// empty, a results or embedding folder of loev's, or named with `force`. Claimed before the
/// work, so that a folder that cannot be written is refused before hours of probing, and locked
/// until the tables are written.
pub fn claim_results_folder(set: &EmbeddingSet, out: Option<&Path>, force: bool) -> Result<OutputFolder, EvalError> {
    let same = out.is_none_or(|o| loev_core::output::resolved(o) == loev_core::output::resolved(set.root()));
    let folder = if same {
        OutputFolder::claim(set.root(), OUTPUT_KIND, &[RESULTS_KIND], &Protected::default(), true)
    } else {
        let out = out.unwrap_or(set.root());
        OutputFolder::claim(out, RESULTS_KIND, &[OUTPUT_KIND], &Protected::default(), force)
    };
    folder.map_err(output_error)
}

/// An output-folder error as an [`EvalError`]: its message already names the folder.
pub fn output_error(error: OutputError) -> EvalError {
    EvalError::Output(error.to_string())
}

/// A file-system-safe stem for track `index` with id `id`.
pub fn track_stem(index: usize, id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{index:05}_{clean}")
}

/// Writes one track's embeddings under `dir/tracks/` and returns the path the index lists
/// (the safetensors file, or the `timestamps.npy` of the npy folder).
pub fn write_track(
    dir: &Path,
    stem: &str,
    track: &TrackEmbedding,
    format: EmbeddingFormat,
) -> Result<PathBuf, EvalError> {
    let tracks = dir.join(TRACKS_DIR);
    std::fs::create_dir_all(&tracks).map_err(EvalError::io("create", &tracks))?;
    let timestamps: Vec<f32> = track.timestamps.iter().map(|&t| t as f32).collect();
    let t = timestamps.len();
    match format {
        EmbeddingFormat::Safetensors => {
            let path = tracks.join(format!("{stem}.safetensors"));
            let mut arrays: Vec<(String, Vec<usize>, Vec<u8>)> =
                vec![("timestamps".into(), vec![t], le_bytes(&timestamps))];
            for space in &track.spaces {
                arrays.push((
                    format!("{}/timeline", space.name),
                    vec![space.len(), space.dim],
                    le_bytes(&space.timeline),
                ));
                arrays.push((format!("{}/mean", space.name), vec![space.dim], le_bytes(&space.mean)));
            }
            let views = arrays
                .iter()
                .map(|(name, shape, bytes)| {
                    TensorView::new(Dtype::F32, shape.clone(), bytes)
                        .map(|v| (name.clone(), v))
                        .map_err(|e| EvalError::format(&path, e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let metadata = HashMap::from([("loev.format".to_string(), "loev-embeddings/1".to_string())]);
            let bytes =
                safetensors::serialize(views, Some(metadata)).map_err(|e| EvalError::format(&path, e.to_string()))?;
            atomic_write(&path, &bytes).map_err(EvalError::io("write", &path))?;
            Ok(path)
        }
        EmbeddingFormat::Npy => {
            let folder = tracks.join(stem);
            std::fs::create_dir_all(&folder).map_err(EvalError::io("create", &folder))?;
            let file = folder.join("timestamps.npy");
            write_npy_f32(&file, &[t as u64], &timestamps).map_err(EvalError::io("write", &file))?;
            for space in &track.spaces {
                let file = folder.join(format!("{}.timeline.npy", space.name));
                write_npy_f32(&file, &[space.len() as u64, space.dim as u64], &space.timeline)
                    .map_err(EvalError::io("write", &file))?;
                let file = folder.join(format!("{}.mean.npy", space.name));
                write_npy_f32(&file, &[space.dim as u64], &space.mean).map_err(EvalError::io("write", &file))?;
            }
            // The index lists the folder's `timestamps.npy` (a file, so that the manifest
            // loaders' existence check accepts it); `read_track` reads the whole folder.
            Ok(file)
        }
    }
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Reads the spaces `names` (all spaces of `spaces` when `names` is empty) of one track file
/// or folder written by [`write_track`].
pub fn read_track(path: &Path, spaces: &[SpaceInfo], names: &[&str]) -> Result<TrackEmbedding, EvalError> {
    let wanted: Vec<&SpaceInfo> = spaces
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name.as_str()))
        .collect();
    let npy_folder = if path.is_dir() {
        Some(path)
    } else if path.file_name().is_some_and(|n| n == "timestamps.npy") {
        path.parent()
    } else {
        None
    };
    if let Some(path) = npy_folder {
        let read = |file: PathBuf| read_npy_f32(&file).map_err(EvalError::io("read", &file));
        let (_, timestamps) = read(path.join("timestamps.npy"))?;
        let mut out = Vec::new();
        for info in wanted {
            let (_, timeline) = read(path.join(format!("{}.timeline.npy", info.name)))?;
            let (_, mean) = read(path.join(format!("{}.mean.npy", info.name)))?;
            out.push(checked_space(path, info, timeline, mean, timestamps.len())?);
        }
        return Ok(TrackEmbedding {
            timestamps: timestamps.into_iter().map(f64::from).collect(),
            spaces: out,
        });
    }
    let bytes = std::fs::read(path).map_err(EvalError::io("read", path))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| EvalError::format(path, format!("not a safetensors file: {e}")))?;
    let array = |name: &str| -> Result<Vec<f32>, EvalError> {
        let view = file
            .tensor(name)
            .map_err(|_| EvalError::format(path, format!("has no tensor `{name}`")))?;
        if view.dtype() != Dtype::F32 {
            return Err(EvalError::format(
                path,
                format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let timestamps = array("timestamps")?;
    let mut out = Vec::new();
    for info in wanted {
        let timeline = array(&format!("{}/timeline", info.name))?;
        let mean = array(&format!("{}/mean", info.name))?;
        out.push(checked_space(path, info, timeline, mean, timestamps.len())?);
    }
    Ok(TrackEmbedding {
        timestamps: timestamps.into_iter().map(f64::from).collect(),
        spaces: out,
    })
}

fn checked_space(
    path: &Path,
    info: &SpaceInfo,
    timeline: Vec<f32>,
    mean: Vec<f32>,
    rows: usize,
) -> Result<SpaceEmbedding, EvalError> {
    if timeline.len() != rows * info.dim || mean.len() != info.dim {
        return Err(EvalError::format(
            path,
            format!(
                "space `{}`: timeline of {} values and mean of {} values do not fit {rows} slices × {}",
                info.name,
                timeline.len(),
                mean.len(),
                info.dim
            ),
        ));
    }
    Ok(SpaceEmbedding {
        name: info.name.clone(),
        dim: info.dim,
        timeline,
        mean,
    })
}

/// Writes `embeddings.json`.
pub fn write_meta(dir: &Path, meta: &EmbeddingMeta) -> Result<(), EvalError> {
    let path = dir.join(META_FILE);
    let text = serde_json::to_string_pretty(meta).map_err(|e| EvalError::format(&path, e.to_string()))?;
    atomic_write(&path, text.as_bytes()).map_err(EvalError::io("write", &path))
}

/// One row of an index being written: the embedding file and its columns.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexRow {
    /// The embedding file or folder.
    pub path: PathBuf,
    /// Every other column.
    pub fields: BTreeMap<String, String>,
}

/// Writes an index CSV (`index.csv` or `stretched.csv`) with `columns` first.
pub fn write_index(path: &Path, columns: &[String], rows: &[IndexRow]) -> Result<(), EvalError> {
    let mut all = vec!["path".to_string()];
    all.extend(columns.iter().filter(|c| !c.eq_ignore_ascii_case("path")).cloned());
    let manifest = Manifest {
        columns: all,
        rows: rows
            .iter()
            .map(|r| ManifestRow {
                path: r.path.clone(),
                fields: r.fields.clone(),
            })
            .collect(),
    };
    manifest.write(path).map_err(EvalError::io("write", path))
}

/// A time-stretched copy listed in `stretched.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct StretchedCopy {
    /// Id of the original track.
    pub source: String,
    /// Playback rate (> 1 = faster); the copy's tempo is the original's × rate.
    pub rate: f64,
    /// The embedding file.
    pub path: PathBuf,
}

/// An embedding folder opened for reading.
#[derive(Clone, Debug)]
pub struct EmbeddingSet {
    root: PathBuf,
    /// Its metadata.
    pub meta: EmbeddingMeta,
}

impl EmbeddingSet {
    /// Opens a folder written by `loev embed`.
    pub fn open(dir: &Path) -> Result<Self, EvalError> {
        let path = dir.join(META_FILE);
        if !path.exists() && loev_core::output::marker_kind(dir).as_deref() == Some(OUTPUT_KIND) {
            return Err(EvalError::format(
                dir,
                "is an unfinished embedding folder: the `loev embed` that writes it is still running or was \
                 stopped before the end; run it again",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::Io {
            action: "read (is this a `loev embed` output folder?)",
            path: path.clone(),
            cause: e,
        })?;
        let meta: EmbeddingMeta =
            serde_json::from_str(&text).map_err(|e| EvalError::format(&path, format!("unreadable metadata: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(EvalError::format(
                &path,
                format!(
                    "layout version {} (this build reads {FORMAT_VERSION}): re-run loev embed",
                    meta.format_version
                ),
            ));
        }
        Ok(Self {
            root: dir.to_path_buf(),
            meta,
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `index.csv`.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// The space called `name`, or an error listing the spaces there are.
    pub fn space(&self, name: &str) -> Result<&SpaceInfo, EvalError> {
        self.meta.spaces.iter().find(|s| s.name == name).ok_or_else(|| {
            EvalError::Invalid(format!(
                "no space `{name}` in {}: it has {}",
                self.root.display(),
                self.meta
                    .spaces
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Track id → embedding file, from `index.csv`.
    pub fn files_by_id(&self) -> Result<HashMap<String, PathBuf>, EvalError> {
        let path = self.index_path();
        let manifest = Manifest::read(&path).map_err(|e| EvalError::format(&path, e.to_string()))?;
        Ok(manifest
            .rows
            .into_iter()
            .filter_map(|r| r.fields.get("id").cloned().map(|id| (id, r.path)))
            .collect())
    }

    /// The time-stretched copies (empty when there are none).
    pub fn stretched(&self) -> Result<Vec<StretchedCopy>, EvalError> {
        let path = self.root.join(STRETCHED_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let manifest = Manifest::read(&path).map_err(|e| EvalError::format(&path, e.to_string()))?;
        manifest
            .rows
            .into_iter()
            .map(|r| {
                let source = r.fields.get("source").cloned().unwrap_or_default();
                let rate = r
                    .fields
                    .get("rate")
                    .and_then(|x| x.parse::<f64>().ok())
                    .filter(|x| x.is_finite() && *x > 0.0);
                match rate {
                    Some(rate) if !source.is_empty() => Ok(StretchedCopy {
                        source,
                        rate,
                        path: r.path,
                    }),
                    _ => Err(EvalError::format(
                        &path,
                        format!("row for {} lacks a `source` id or a positive `rate`", r.path.display()),
                    )),
                }
            })
            .collect()
    }

    /// Reads one space of one embedding file.
    pub fn read_space(&self, path: &Path, space: &str) -> Result<SpaceEmbedding, EvalError> {
        self.space(space)?;
        let mut track = read_track(path, &self.meta.spaces, &[space])?;
        track
            .spaces
            .pop()
            .ok_or_else(|| EvalError::format(path, format!("no space `{space}`")))
    }
}
