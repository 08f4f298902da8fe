//! The decode-once audio cache: every track decoded, down-mixed and resampled to 16 kHz once,
//! then read through a memory map so training crops never re-decode compressed audio.
//!
//! # Directory format (version 1)
//! * `samples.f32`: the raw little-endian `f32` samples (16 kHz mono) of all tracks,
//!   concatenated with no header. Track `i` is `samples[offset_i .. offset_i + len_i]`.
//! * `index.json`: `{"format": "loev-audio-cache", "version": 1, "sample_rate": 16000,
//!   "total_samples": N, "tracks": [{"id", "source", "offset", "len", "metadata": {..}}]}`.
//!   `id` is unique: the path relative to the source folder (`/`-separated), or for a manifest
//!   its `id` column when it has one, else the path as listed. `metadata` holds every other
//!   manifest column as strings. `source` is the decoded file (empty for in-memory tracks).
//! * `skipped.csv`: `path,reason` for every file that could not be used (unreadable, corrupt,
//!   truncated, empty, unsupported, shorter than `min_seconds`, duplicate id).
//! * `report.json`: the [`CacheBuildReport`] of the build.
//!
//! The cache is built in a temporary sibling folder (`.<name>.building-PID`) and renamed into
//! place at the end, so a cache folder is always complete. Rebuilding over an existing cache
//! replaces it; any other non-empty folder is left alone (an error). A build fails cleanly: on
//! any error (a full disk mid-way included) its temporary folder is removed, and the partial
//! folders of builds that died before they could clean up (killed, power cut) are removed by
//! the next build into the same place, which reports them. The whole build holds an exclusive
//! lock on the output (the sibling lock file `.<name>.lock`, see [`crate::lock`]), so a second
//! build into the same folder is refused with the first one's process id instead of both
//! writing it.
//!
//! Every track is exactly [`crate::decode::load_mono`] of its source (the same code path), so a
//! crop read from the cache equals, bit for bit, the same crop of a direct decode. Short tracks
//! are kept (crops zero-pad, see [`crate::chunks`]) unless `min_seconds` asks to skip them.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SAMPLE_RATE;
use crate::decode::load_mono;
use crate::manifest::{Manifest, ManifestError};
use loev_core::io::atomic_write;

const FORMAT_NAME: &str = "loev-audio-cache";
const FORMAT_VERSION: u32 = 1;
const SAMPLES_FILE: &str = "samples.f32";
const INDEX_FILE: &str = "index.json";
const SKIPPED_FILE: &str = "skipped.csv";
const REPORT_FILE: &str = "report.json";

pub use crate::walk::{AUDIO_EXTENSIONS, is_audio_file};

/// Where the audio comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSource {
    /// A folder scanned recursively for audio files.
    Folder(PathBuf),
    /// A CSV/TSV manifest (see [`crate::manifest`]).
    Manifest(PathBuf),
}

impl CacheSource {
    /// A folder if `path` is a directory, a manifest otherwise.
    pub fn from_path(path: &Path) -> Self {
        if path.is_dir() {
            CacheSource::Folder(path.to_path_buf())
        } else {
            CacheSource::Manifest(path.to_path_buf())
        }
    }

    /// The folder or manifest path.
    pub fn path(&self) -> &Path {
        match self {
            CacheSource::Folder(p) | CacheSource::Manifest(p) => p,
        }
    }
}

/// One track of the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackEntry {
    /// Unique track id (see the module doc).
    pub id: String,
    /// The decoded file; empty for tracks built from memory.
    pub source: PathBuf,
    /// First sample in `samples.f32`.
    pub offset: u64,
    /// Number of samples.
    pub len: u64,
    /// Manifest columns other than `path`.
    pub metadata: BTreeMap<String, String>,
}

/// Options of [`AudioCache::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct CacheBuildOptions {
    /// Decoding threads; 0 = all cores.
    pub threads: usize,
    /// Show a progress bar with ETA on stderr.
    pub progress: bool,
    /// Skip (and report) tracks shorter than this many seconds.
    pub min_seconds: f64,
}

impl Default for CacheBuildOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            progress: false,
            min_seconds: 0.0,
        }
    }
}

/// What a build did; also written to `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheBuildReport {
    /// Tracks in the cache.
    pub tracks: usize,
    /// Files not used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Total audio in the cache, in seconds.
    pub seconds_of_audio: f64,
    /// Wall-clock time of the build, in seconds.
    pub wall_seconds: f64,
    /// The folder or manifest the cache was built from (empty for in-memory tracks).
    pub source: PathBuf,
    /// The cache folder.
    pub cache_dir: PathBuf,
    /// The list of skipped files (`skipped.csv`).
    pub skipped_report: PathBuf,
    /// Partial builds that processes which died (killed, full disk, power cut) had left next to
    /// the cache, removed by this build.
    #[serde(default)]
    pub removed_partials: Vec<PathBuf>,
    /// The process id named in a lock file that a dead process had left (the lock was taken
    /// over), if any.
    #[serde(default)]
    pub lock_taken_over_from: Option<String>,
}

/// Why a cache could not be built or opened. Every variant names the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or folder could not be read or written.
    #[error(
        "cannot read or write {}: {cause}; check that it is readable, the output folder is writable \
         and the disk has space",
        path.display()
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error. Shown in the message, so deliberately not a chained `source`: a
        /// printer of the error chain would repeat it.
        cause: io::Error,
    },
    /// Another process is building the same cache.
    #[error(transparent)]
    Locked(#[from] loev_core::lock::LockError),
    /// The source folder or manifest is unusable.
    #[error("cannot use {} as a source: {reason}", path.display())]
    Source {
        /// The source.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifest could not be parsed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The output folder exists, is not empty and is not a cache.
    #[error("{} exists and is not a loev cache; choose another output folder or empty it", path.display())]
    OutputExists {
        /// The output folder.
        path: PathBuf,
    },
    /// Not a single track could be used.
    #[error("no usable audio in {}: {skipped} file(s) skipped{}", input.display(), first_reason.as_ref().map(|r| format!(", e.g. {r}")).unwrap_or_else(|| " (no wav/flac/mp3/ogg files found)".into()))]
    NoTracks {
        /// The folder or manifest (empty for in-memory tracks).
        input: PathBuf,
        /// How many files were skipped.
        skipped: usize,
        /// The first skipped file and its reason.
        first_reason: Option<String>,
    },
    /// Two in-memory tracks share an id.
    #[error("track id `{id}` is used twice; track ids must be unique")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// The cache folder is incomplete or inconsistent.
    #[error("{} is not a valid loev cache ({reason}); rebuild it with `loev cache build`", path.display())]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |cause| CacheError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexFile {
    format: String,
    version: u32,
    sample_rate: u32,
    total_samples: u64,
    tracks: Vec<TrackEntry>,
}

enum Storage {
    /// The memory-mapped `samples.f32` (little-endian hosts).
    #[cfg(target_endian = "little")]
    Mapped(memmap2::Mmap),
    /// Samples held in memory (an empty cache, or a big-endian host).
    Owned(Vec<f32>),
}

/// An opened cache: the index plus the memory-mapped samples. `Send + Sync`: share it through
/// an `Arc` across loader threads; [`Self::track`] is zero-copy.
pub struct AudioCache {
    dir: PathBuf,
    sample_rate: u32,
    entries: Vec<TrackEntry>,
    by_id: HashMap<String, usize>,
    storage: Storage,
}

impl std::fmt::Debug for AudioCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioCache")
            .field("dir", &self.dir)
            .field("tracks", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl AudioCache {
    /// Decodes every file of `source` in parallel into a new cache at `out_dir`. Files that
    /// cannot be used are skipped and reported (in the returned report and `skipped.csv`);
    /// the build fails only when no track at all is usable or on I/O errors of the output.
    pub fn build(
        source: &CacheSource,
        out_dir: &Path,
        opts: &CacheBuildOptions,
    ) -> Result<CacheBuildReport, CacheError> {
        let started = Instant::now();
        let guard = BuildGuard::start(out_dir)?;
        check_output(out_dir)?;
        let (inputs, mut skipped) = list_inputs(source)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| CacheError::Source {
                path: source.path().to_path_buf(),
                reason: format!("cannot start {} decoding threads: {e}", opts.threads),
            })?;
        let threads = pool.current_num_threads();
        let progress = if opts.progress {
            progress_bar(inputs.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };

        let mut writer = CacheWriter::create(out_dir, &guard)?;
        let min_samples = (opts.min_seconds.max(0.0) * SAMPLE_RATE as f64).ceil() as u64;
        for batch in inputs.chunks((threads * 8).max(8)) {
            let decoded: Vec<_> = pool.install(|| {
                batch
                    .par_iter()
                    .map(|input| {
                        let result = load_mono(&input.path);
                        progress.inc(1);
                        result
                    })
                    .collect()
            });
            for (input, result) in batch.iter().zip(decoded) {
                match result {
                    Ok(samples) if (samples.len() as u64) < min_samples => skipped.push((
                        input.path.clone(),
                        format!(
                            "too short: {:.2} s < min_seconds {}",
                            samples.len() as f64 / SAMPLE_RATE as f64,
                            opts.min_seconds
                        ),
                    )),
                    Ok(samples) => {
                        if let Some(first) = writer.ids.get(&input.id) {
                            let first = writer.entries[*first].source.display().to_string();
                            skipped.push((
                                input.path.clone(),
                                format!("duplicate track id `{}` (already used by {first})", input.id),
                            ));
                            continue;
                        }
                        writer.push(input.id.clone(), input.path.clone(), &samples, input.metadata.clone())?;
                    }
                    Err(e) => skipped.push((input.path.clone(), e.reason())),
                }
            }
        }
        progress.finish_and_clear();
        if writer.entries.is_empty() {
            return Err(CacheError::NoTracks {
                input: source.path().to_path_buf(),
                skipped: skipped.len(),
                first_reason: skipped.first().map(|(p, r)| format!("{}: {r}", p.display())),
            });
        }
        writer.finish(source.path(), skipped, started, guard)
    }

    /// Writes a cache of in-memory tracks `(id, 16 kHz mono samples, metadata)` (e.g. the
    /// synthetic corpus). Ids must be unique and there must be at least one track.
    pub fn build_from_tracks(
        tracks: impl IntoIterator<Item = (String, Vec<f32>, BTreeMap<String, String>)>,
        out_dir: &Path,
    ) -> Result<CacheBuildReport, CacheError> {
        let started = Instant::now();
        let guard = BuildGuard::start(out_dir)?;
        check_output(out_dir)?;
        let mut writer = CacheWriter::create(out_dir, &guard)?;
        for (id, samples, metadata) in tracks {
            if writer.ids.contains_key(&id) {
                return Err(CacheError::DuplicateId { id });
            }
            writer.push(id, PathBuf::new(), &samples, metadata)?;
        }
        if writer.entries.is_empty() {
            return Err(CacheError::NoTracks {
                input: PathBuf::new(),
                skipped: 0,
                first_reason: None,
            });
        }
        writer.finish(Path::new(""), Vec::new(), started, guard)
    }

    /// Opens a cache folder, checking that the index and the samples agree.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        let index_path = dir.join(INDEX_FILE);
        let corrupt = |path: &Path, reason: String| CacheError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let text =
            fs::read_to_string(&index_path).map_err(|e| corrupt(&index_path, format!("cannot read the index: {e}")))?;
        let index: IndexFile =
            serde_json::from_str(&text).map_err(|e| corrupt(&index_path, format!("unreadable index: {e}")))?;
        if index.format != FORMAT_NAME || index.version != FORMAT_VERSION {
            return Err(corrupt(
                &index_path,
                format!(
                    "format {} version {}, expected {FORMAT_NAME} version {FORMAT_VERSION}",
                    index.format, index.version
                ),
            ));
        }
        let mut by_id = HashMap::with_capacity(index.tracks.len());
        for (i, t) in index.tracks.iter().enumerate() {
            if t.offset.checked_add(t.len).is_none_or(|end| end > index.total_samples) {
                return Err(corrupt(
                    &index_path,
                    format!("track `{}` lies outside the {} samples", t.id, index.total_samples),
                ));
            }
            if by_id.insert(t.id.clone(), i).is_some() {
                return Err(corrupt(&index_path, format!("track id `{}` appears twice", t.id)));
            }
        }
        let samples_path = dir.join(SAMPLES_FILE);
        let file =
            File::open(&samples_path).map_err(|e| corrupt(&samples_path, format!("cannot open the samples: {e}")))?;
        let bytes = file.metadata().map_err(io_err(&samples_path))?.len();
        if Some(bytes) != index.total_samples.checked_mul(4) {
            return Err(corrupt(
                &samples_path,
                format!(
                    "{bytes} bytes, but the index lists {} samples (4 bytes each)",
                    index.total_samples
                ),
            ));
        }
        let storage = if bytes == 0 {
            Storage::Owned(Vec::new())
        } else {
            map_samples(&file, &samples_path)?
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            sample_rate: index.sample_rate,
            entries: index.tracks,
            by_id,
            storage,
        })
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache holds no track.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index entry of track `i` (panics if `i >= len()`, like slice indexing).
    pub fn entry(&self, i: usize) -> &TrackEntry {
        &self.entries[i]
    }

    /// All index entries.
    pub fn entries(&self) -> &[TrackEntry] {
        &self.entries
    }

    /// The position of the track with this id.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The 16 kHz mono samples of track `i`, straight from the map (panics if `i >= len()`).
    pub fn track(&self, i: usize) -> &[f32] {
        let e = &self.entries[i];
        &self.samples()[e.offset as usize..(e.offset + e.len) as usize]
    }

    /// Sample rate of every track (16 kHz).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Total audio, in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples().len() as f64 / self.sample_rate.max(1) as f64
    }

    /// The build report stored with the cache.
    pub fn report(&self) -> Result<CacheBuildReport, CacheError> {
        let path = self.dir.join(REPORT_FILE);
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text).map_err(|e| CacheError::Corrupt {
            path,
            reason: format!("unreadable report: {e}"),
        })
    }

    fn samples(&self) -> &[f32] {
        match &self.storage {
            #[cfg(target_endian = "little")]
            Storage::Mapped(map) => {
                // SAFETY: the map is page-aligned and its length a multiple of 4 (checked in
                // `open`), every bit pattern is a valid f32, and the file is little-endian like
                // the host.
                let (head, samples, tail) = unsafe { map.align_to::<f32>() };
                debug_assert!(head.is_empty() && tail.is_empty());
                samples
            }
            Storage::Owned(v) => v,
        }
    }
}

#[cfg(target_endian = "little")]
fn map_samples(file: &File, path: &Path) -> Result<Storage, CacheError> {
    // SAFETY: the cache is written once (atomically, by renaming its folder) and only read
    // afterwards; modifying samples.f32 while it is mapped is unsupported, as documented.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(io_err(path))?;
    let (head, _, tail) = unsafe { map.align_to::<f32>() };
    if !head.is_empty() || !tail.is_empty() {
        return Err(CacheError::Corrupt {
            path: path.to_path_buf(),
            reason: "the samples are not 4-byte aligned".into(),
        });
    }
    Ok(Storage::Mapped(map))
}

#[cfg(target_endian = "big")]
fn map_samples(file: &File, path: &Path) -> Result<Storage, CacheError> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut &*file, &mut bytes).map_err(io_err(path))?;
    Ok(Storage::Owned(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    ))
}

/// Files that could not be used, with the reason.
type SkippedFiles = Vec<(PathBuf, String)>;

/// One file to decode.
struct Input {
    id: String,
    path: PathBuf,
    metadata: BTreeMap<String, String>,
}

/// The files of a source, plus the ones already known to be unusable.
fn list_inputs(source: &CacheSource) -> Result<(Vec<Input>, SkippedFiles), CacheError> {
    let mut skipped = Vec::new();
    match source {
        CacheSource::Folder(root) => {
            if !root.is_dir() {
                return Err(CacheError::Source {
                    path: root.clone(),
                    reason: "not a folder".into(),
                });
            }
            let walk = crate::walk::find_audio_files(root).map_err(io_err(root))?;
            skipped.extend(walk.skipped);
            let inputs = walk
                .files
                .into_iter()
                .map(|path| {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    let id = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    Input {
                        id,
                        path,
                        metadata: BTreeMap::new(),
                    }
                })
                .collect();
            Ok((inputs, skipped))
        }
        CacheSource::Manifest(manifest_path) => {
            if manifest_path.is_file() && is_audio_file(manifest_path) {
                return Err(CacheError::Source {
                    path: manifest_path.clone(),
                    reason: "this is a single audio file, but a cache is built from a folder of audio \
                             files or a .csv/.tsv manifest that lists them; pass the folder that holds it \
                             (or a manifest)"
                        .into(),
                });
            }
            if !manifest_path.is_file() {
                return Err(CacheError::Source {
                    path: manifest_path.clone(),
                    reason: "neither a folder nor a manifest file".into(),
                });
            }
            let manifest = Manifest::read(manifest_path)?;
            // The folder relative paths were resolved against (as in `Manifest::read`).
            let base = match manifest_path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let inputs = manifest
                .rows
                .into_iter()
                .map(|row| {
                    let listed = row
                        .path
                        .strip_prefix(base)
                        .unwrap_or(&row.path)
                        .to_string_lossy()
                        .into_owned();
                    let id = row
                        .fields
                        .get("id")
                        .filter(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or(listed);
                    Input {
                        id,
                        path: row.path,
                        metadata: row.fields,
                    }
                })
                .collect();
            Ok((inputs, skipped))
        }
    }
}

/// Fails early when `out_dir` exists, is not empty and is not a cache.
fn check_output(out_dir: &Path) -> Result<(), CacheError> {
    if !out_dir.exists() {
        return Ok(());
    }
    if !out_dir.is_dir() {
        return Err(CacheError::OutputExists {
            path: out_dir.to_path_buf(),
        });
    }
    let is_cache = out_dir.join(INDEX_FILE).is_file();
    let is_empty = fs::read_dir(out_dir).map_err(io_err(out_dir))?.next().is_none();
    if is_cache || is_empty {
        Ok(())
    } else {
        Err(CacheError::OutputExists {
            path: out_dir.to_path_buf(),
        })
    }
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} decoding [{elapsed_precise}] {wide_bar} {pos}/{len} files, ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::new(len).with_style(style)
}

/// What a build holds from start to end: the lock on the output (a sibling lock file,
/// `<parent>/.<name>.lock`, since the cache folder itself is replaced by a rename), and the
/// names of its partial folders. Starting a build also removes the partial folders that dead
/// processes left (a build killed or failed before it could clean up).
struct BuildGuard {
    _lock: loev_core::lock::FolderLock,
    parent: PathBuf,
    name: String,
    removed_partials: Vec<PathBuf>,
    taken_over_from: Option<String>,
}

impl BuildGuard {
    fn start(out_dir: &Path) -> Result<Self, CacheError> {
        let parent = match out_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cache".into());
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let lock = loev_core::lock::FolderLock::acquire(&parent.join(format!(".{name}.lock")), out_dir)?;
        let taken_over_from = lock.taken_over_from().map(str::to_string);
        let mut removed_partials = Vec::new();
        for prefix in [format!(".{name}.building-"), format!(".{name}.old-")] {
            removed_partials.extend(loev_core::lock::remove_stale_partials(&parent, &prefix).map_err(io_err(&parent))?);
        }
        Ok(Self {
            _lock: lock,
            parent,
            name,
            removed_partials,
            taken_over_from,
        })
    }

    /// This process's partial folder (`.<name>.building-PID`).
    fn building_dir(&self) -> PathBuf {
        self.parent
            .join(format!(".{}.building-{}", self.name, std::process::id()))
    }

    /// Where an existing cache is moved while the new one takes its place (`.<name>.old-PID`).
    fn old_dir(&self) -> PathBuf {
        self.parent.join(format!(".{}.old-{}", self.name, std::process::id()))
    }
}

/// Writes a cache into a temporary sibling folder, then renames it into place. Dropped before
/// [`Self::finish`] succeeded (any error, at any point), it removes the temporary folder, so a
/// failed build leaves nothing behind.
struct CacheWriter {
    out_dir: PathBuf,
    tmp_dir: PathBuf,
    old_dir: PathBuf,
    samples: Option<BufWriter<File>>,
    total: u64,
    entries: Vec<TrackEntry>,
    ids: HashMap<String, usize>,
    committed: bool,
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.samples.take());
            let _ = fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

impl CacheWriter {
    fn create(out_dir: &Path, guard: &BuildGuard) -> Result<Self, CacheError> {
        let tmp_dir = guard.building_dir();
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
        }
        fs::create_dir(&tmp_dir).map_err(io_err(&tmp_dir))?;
        let mut writer = Self {
            out_dir: out_dir.to_path_buf(),
            tmp_dir,
            old_dir: guard.old_dir(),
            samples: None,
            total: 0,
            entries: Vec::new(),
            ids: HashMap::new(),
            committed: false,
        };
        let samples_path = writer.tmp_dir.join(SAMPLES_FILE);
        let file = File::create(&samples_path).map_err(io_err(&samples_path))?;
        writer.samples = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(writer)
    }

    fn push(
        &mut self,
        id: String,
        source: PathBuf,
        samples: &[f32],
        metadata: BTreeMap<String, String>,
    ) -> Result<(), CacheError> {
        let path = self.tmp_dir.join(SAMPLES_FILE);
        let writer = self
            .samples
            .as_mut()
            .ok_or_else(|| io_err(&path)(io::Error::other("the samples file is already closed")))?;
        for chunk in samples.chunks(16_384) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            writer.write_all(&bytes).map_err(io_err(&path))?;
        }
        self.ids.insert(id.clone(), self.entries.len());
        self.entries.push(TrackEntry {
            id,
            source,
            offset: self.total,
            len: samples.len() as u64,
            metadata,
        });
        self.total += samples.len() as u64;
        Ok(())
    }

    /// Writes the index and reports, then renames the folder into place. On any error the
    /// writer is dropped, which removes the temporary folder.
    fn finish(
        mut self,
        source: &Path,
        skipped: Vec<(PathBuf, String)>,
        started: Instant,
        guard: BuildGuard,
    ) -> Result<CacheBuildReport, CacheError> {
        let tmp_dir = self.tmp_dir.clone();
        let out_dir = self.out_dir.clone();
        let samples_path = tmp_dir.join(SAMPLES_FILE);
        if let Some(samples) = self.samples.take() {
            let file = samples.into_inner().map_err(|e| CacheError::Io {
                path: samples_path.clone(),
                cause: e.into_error(),
            })?;
            file.sync_all().map_err(io_err(&samples_path))?;
        }

        let tracks = self.entries.len();
        let index = IndexFile {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            sample_rate: SAMPLE_RATE,
            total_samples: self.total,
            tracks: std::mem::take(&mut self.entries),
        };
        let index_path = tmp_dir.join(INDEX_FILE);
        let json = serde_json::to_vec(&index).map_err(|e| io_err(&index_path)(e.into()))?;
        atomic_write(&index_path, &json).map_err(io_err(&index_path))?;

        let skipped_path = tmp_dir.join(SKIPPED_FILE);
        let mut csv_writer = csv::Writer::from_writer(Vec::new());
        let mut csv_bytes = || -> Result<Vec<u8>, csv::Error> {
            csv_writer.write_record(["path", "reason"])?;
            for (path, reason) in &skipped {
                csv_writer.write_record([path.to_string_lossy().as_ref(), reason.as_str()])?;
            }
            csv_writer.flush()?;
            Ok(csv_writer.get_ref().clone())
        };
        let bytes = csv_bytes().map_err(|e| io_err(&skipped_path)(io::Error::other(e.to_string())))?;
        atomic_write(&skipped_path, &bytes).map_err(io_err(&skipped_path))?;

        let report = CacheBuildReport {
            tracks,
            skipped,
            seconds_of_audio: self.total as f64 / SAMPLE_RATE as f64,
            wall_seconds: started.elapsed().as_secs_f64(),
            source: source.to_path_buf(),
            cache_dir: out_dir.clone(),
            skipped_report: out_dir.join(SKIPPED_FILE),
            removed_partials: guard.removed_partials.clone(),
            lock_taken_over_from: guard.taken_over_from.clone(),
        };
        let report_path = tmp_dir.join(REPORT_FILE);
        let json = serde_json::to_vec_pretty(&report).map_err(|e| io_err(&report_path)(e.into()))?;
        atomic_write(&report_path, &json).map_err(io_err(&report_path))?;

        // Swap into place: an existing cache (or empty folder) is moved aside, then removed.
        if out_dir.exists() {
            let old = self.old_dir.clone();
            if old.exists() {
                fs::remove_dir_all(&old).map_err(io_err(&old))?;
            }
            fs::rename(&out_dir, &old).map_err(io_err(&out_dir))?;
            if let Err(e) = fs::rename(&tmp_dir, &out_dir) {
                let _ = fs::rename(&old, &out_dir);
                return Err(io_err(&out_dir)(e));
            }
            self.committed = true;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&tmp_dir, &out_dir).map_err(io_err(&out_dir))?;
            self.committed = true;
        }
        drop(guard);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loev-cache-unit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn in_memory_tracks_round_trip_and_rebuild_replaces() {
        let root = temp_dir("memory");
        let out = root.join("cache");
        let tracks = vec![
            (
                "a".to_string(),
                vec![0.5f32, -0.25, 1.0],
                BTreeMap::from([("key".to_string(), "C major".to_string())]),
            ),
            ("b".to_string(), vec![], BTreeMap::new()),
            (
                "c".to_string(),
                (0..1000).map(|i| i as f32 * 1e-3).collect(),
                BTreeMap::new(),
            ),
        ];
        let report = AudioCache::build_from_tracks(tracks.clone(), &out).unwrap();
        assert_eq!(report.tracks, 3);
        let cache = AudioCache::open(&out).unwrap();
        assert_eq!(cache.len(), 3);
        for (i, (id, samples, meta)) in tracks.iter().enumerate() {
            assert_eq!(&cache.entry(i).id, id);
            assert_eq!(cache.track(i), samples.as_slice());
            assert_eq!(&cache.entry(i).metadata, meta);
        }
        assert_eq!(cache.find("c"), Some(2));
        drop(cache);
        // Rebuilding over a cache replaces it; a non-cache folder is refused.
        AudioCache::build_from_tracks(vec![("z".to_string(), vec![1.0], BTreeMap::new())], &out).unwrap();
        assert_eq!(AudioCache::open(&out).unwrap().len(), 1);
        let other = root.join("not-a-cache");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("notes.txt"), "keep me").unwrap();
        let err =
            AudioCache::build_from_tracks(vec![("z".to_string(), vec![1.0], BTreeMap::new())], &other).unwrap_err();
        assert!(matches!(err, CacheError::OutputExists { .. }));
        assert!(other.join("notes.txt").exists());
        let dup = vec![
            ("x".to_string(), vec![1.0], BTreeMap::new()),
            ("x".to_string(), vec![2.0], BTreeMap::new()),
        ];
        assert!(matches!(
            AudioCache::build_from_tracks(dup, &root.join("dup")),
            Err(CacheError::DuplicateId { .. })
        ));
        assert!(!root.join("dup").exists());
        // No leftovers besides the caches.
        let names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn open_rejects_inconsistent_caches() {
        let root = temp_dir("corrupt");
        let out = root.join("cache");
        AudioCache::build_from_tracks(vec![("a".to_string(), vec![0.1; 100], BTreeMap::new())], &out).unwrap();
        let samples = out.join(SAMPLES_FILE);
        let bytes = fs::read(&samples).unwrap();
        fs::write(&samples, &bytes[..bytes.len() - 4]).unwrap();
        assert!(matches!(AudioCache::open(&out), Err(CacheError::Corrupt { .. })));
        fs::write(out.join(INDEX_FILE), "{").unwrap();
        assert!(matches!(AudioCache::open(&out), Err(CacheError::Corrupt { .. })));
        assert!(matches!(
            AudioCache::open(&root.join("missing")),
            Err(CacheError::Corrupt { .. })
        ));
        fs::remove_dir_all(&root).unwrap();
    }
}
