//! Sharded embedding: `loev embed --shard K/N` embeds a deterministic 1/N of an input, and
//! `loev embed merge` joins the N shard folders into the folder one unsharded `loev embed`
//! writes, byte for byte.
//!
//! **Which tracks a shard takes.** The input's tracks are numbered in the order `loev embed`
//! lists them ([`crate::embed::list_inputs`]: a manifest's rows in file order, a folder's audio
//! files sorted by path), which depends only on the input, never on the machine or on the order
//! the shards run in. Shard K (counted from 0, as Slurm's `SLURM_ARRAY_TASK_ID` and the
//! Kubernetes `JOB_COMPLETION_INDEX` count) takes the tracks at positions p with p mod N = K:
//! round robin rather than contiguous ranges, so that the shards' sizes differ by at most one
//! track and a catalogue listed by album, artist or length spreads evenly over them. A track
//! keeps its position in its file's name (`tracks/NNNNN_<id>…`) and in the seed of its
//! time-stretched copies, so a shard writes exactly the files an unsharded run writes for its
//! tracks, and the merge copies them.
//!
//! **What the merge checks.** Every shard records its K and N, its number of tracks, and the
//! checksums of the input's track list, of the model file and of the front end
//! ([`ShardRecord`]). The merge refuses, naming the folder: a folder that is not a finished shard,
//! shards of different N, inputs, models, front ends or settings, two folders of one shard, a
//! missing shard, a shard whose index and `skipped.csv` do not account for all of its tracks,
//! and a track that two shards both hold. It writes its output like `loev embed` (claimed,
//! locked, `embeddings.json` last) and only reads the shards.
//!
//! **What a shard folder holds beyond an unsharded one.** `embeddings.json` records the shard
//! ([`ShardRecord`]); `skipped.csv` lists the inputs of the shard that could not be decoded, so
//! that the merge can account for every track; `progress.jsonl`, while the shard is unfinished,
//! is the journal a rerun resumes from. The merged folder has none of these, like an unsharded
//! one: the merge reports the skipped inputs instead ([`MergeSummary::skipped`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use loev_audio::manifest::Manifest;
use loev_core::io::atomic_write;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::store::{
    EmbeddingMeta, EmbeddingSet, INDEX_FILE, IndexRow, SKIPPED_FILE, STRETCHED_FILE, ShardRecord, SkippedRow,
    read_skipped, track_position, write_index, write_meta,
};

/// Shard K of N (K from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K, from 0 to N − 1.
    pub index: usize,
    /// N ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Whether the track at input position `position` belongs to this shard.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = EvalError;

    /// `K/N` with 0 ≤ K < N.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| {
            EvalError::Invalid(format!(
                "--shard {text}: {why}; give K/N with K from 0 to N-1 (as SLURM_ARRAY_TASK_ID and \
                 JOB_COMPLETION_INDEX count), e.g. --shard 0/4"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(|| invalid("no `/`"))?;
        let index: usize = k.trim().parse().map_err(|_| invalid("K is not a whole number"))?;
        let count: usize = n.trim().parse().map_err(|_| invalid("N is not a whole number"))?;
        if count == 0 {
            return Err(invalid("N must be at least 1"));
        }
        if index >= count {
            return Err(invalid("K must be less than N"));
        }
        Ok(Self { index, count })
    }
}

/// What [`merge_shards`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Shards merged (N).
    pub shards: usize,
    /// Tracks in the merged index.
    pub tracks: usize,
    /// Time-stretched copies.
    pub stretched: usize,
    /// The inputs no shard could use, with the reason, in input order (from the shards'
    /// `skipped.csv`; the merged folder, like an unsharded one, has none).
    pub skipped: Vec<(PathBuf, String)>,
}

/// One shard, opened and checked.
struct OpenShard {
    set: EmbeddingSet,
    record: ShardRecord,
}

/// A row of a shard's index or `stretched.csv`: the track's input position, its file relative
/// to the shard folder, and its columns.
type PositionedRow = (usize, PathBuf, BTreeMap<String, String>);

/// A shard's rows, each with its input position.
struct ShardRows {
    columns: Vec<String>,
    index: Vec<PositionedRow>,
    stretched: Vec<PositionedRow>,
    skipped: Vec<SkippedRow>,
}

/// Joins the shard folders `dirs` (in any order) into `out`, which then equals the folder of
/// one unsharded run on the same input and model (see the module documentation for the checks).
/// `force` writes into a folder of other files, as `loev embed --force` does.
pub fn merge_shards(dirs: &[PathBuf], out: &Path, force: bool) -> Result<MergeSummary, EvalError> {
    if dirs.is_empty() {
        return Err(EvalError::Invalid(
            "no shard folders to merge: give the N folders that `loev embed --shard K/N` wrote".into(),
        ));
    }
    let mut shards: Vec<OpenShard> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let set = EmbeddingSet::open(dir)?;
        let record = set.meta.shard.clone().ok_or_else(|| {
            EvalError::format(
                dir,
                "is not a shard: its embeddings.json records no shard (it was embedded without --shard K/N)",
            )
        })?;
        shards.push(OpenShard { set, record });
    }
    let first = &shards[0];
    for other in &shards[1..] {
        if let Some(difference) = difference(first, other) {
            return Err(EvalError::Invalid(format!(
                "{} and {} are not shards of one embedding: {difference}; merge the shards of one run of \
                 `loev embed --shard K/N` (same input, model, N and settings)",
                first.set.root().display(),
                other.set.root().display()
            )));
        }
    }
    let count = first.record.count;
    let mut by_index: BTreeMap<usize, &OpenShard> = BTreeMap::new();
    for shard in &shards {
        if let Some(earlier) = by_index.insert(shard.record.index, shard) {
            return Err(EvalError::Invalid(format!(
                "{} and {} are both shard {}/{count}: give each shard's folder once",
                earlier.set.root().display(),
                shard.set.root().display(),
                shard.record.index
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(EvalError::Invalid(format!(
            "shard {} of the {count} shards of {} missing (given: {}); embed the missing shards with \
             `loev embed --shard K/{count}` and give all {count} folders",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            by_index
                .values()
                .map(|s| s.set.root().display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    // Every track of the input once: positions p mod N = K of each shard, all of them.
    let mut owner: HashMap<usize, &Path> = HashMap::new();
    let mut all = Vec::with_capacity(count);
    for shard in by_index.values() {
        let rows = shard_rows(shard)?;
        let root = shard.set.root();
        let record = &shard.record;
        let positions = rows
            .index
            .iter()
            .map(|(p, _, _)| *p)
            .chain(rows.skipped.iter().filter_map(|s| s.track.as_ref().map(|(_, p)| *p)));
        let mut accounted = 0;
        for position in positions {
            if position % count != record.index || position >= record.input_tracks {
                return Err(EvalError::format(
                    root,
                    format!(
                        "lists the track at input position {position}, which belongs to shard {}/{count}, not to \
                         this shard {}/{count}: shards must not overlap (the folder was changed after `loev embed` \
                         wrote it); embed the shard again",
                        position % count,
                        record.index
                    ),
                ));
            }
            if let Some(other) = owner.insert(position, root) {
                return Err(EvalError::Invalid(format!(
                    "{} and {} both hold the track at input position {position}: shards must not overlap; \
                     embed them again with `loev embed --shard K/{count}`",
                    other.display(),
                    root.display()
                )));
            }
            accounted += 1;
        }
        let expected = (record.index..record.input_tracks).step_by(count).count();
        if accounted != record.tracks || record.tracks != expected {
            return Err(EvalError::format(
                root,
                format!(
                    "is an unfinished shard: its index and skipped.csv account for {accounted} of the {expected} \
                     tracks of shard {}/{count}; run its `loev embed --shard {}/{count}` again (it resumes)",
                    record.index, record.index
                ),
            ));
        }
        for (position, _, _) in &rows.stretched {
            if owner.get(position) != Some(&root) {
                return Err(EvalError::format(
                    root,
                    format!("stretched.csv lists a copy of a track (position {position}) its index does not list"),
                ));
            }
        }
        all.push((*shard, rows));
    }

    let mut protected = loev_core::output::Protected::default();
    for shard in &shards {
        protected.folders.push(shard.set.root().to_path_buf());
    }
    let folder = crate::store::claim_output(out, &protected, force)?;
    let mut index = Vec::new();
    let mut stretched = Vec::new();
    let mut skipped_tracks = Vec::new();
    for (shard, rows) in &all {
        let root = shard.set.root();
        for (position, relative, fields) in &rows.index {
            copy_track(root, relative, out)?;
            index.push((*position, relative.clone(), fields.clone()));
        }
        for (order, (position, relative, fields)) in rows.stretched.iter().enumerate() {
            copy_track(root, relative, out)?;
            stretched.push(((*position, order), relative.clone(), fields.clone()));
        }
        skipped_tracks.extend(rows.skipped.iter().filter(|s| s.track.is_some()).cloned());
    }
    index.sort_by_key(|(position, _, _)| *position);
    stretched.sort_by_key(|(key, _, _)| *key);
    skipped_tracks.sort_by_key(|s| s.track.as_ref().map(|(_, p)| *p));
    // Entries a folder walk left out are the same in every shard: shard 0's, first, as in an
    // unsharded run.
    let mut skipped: Vec<SkippedRow> = all[0].1.skipped.iter().filter(|s| s.track.is_none()).cloned().collect();
    skipped.extend(skipped_tracks);
    if index.is_empty() {
        return Err(EvalError::Empty(format!(
            "no track of {} could be decoded in any shard (see the shards' skipped.csv)",
            first.set.meta.input
        )));
    }

    let to_row = |relative: &PathBuf, fields: &BTreeMap<String, String>| IndexRow {
        path: out.join(relative),
        fields: fields.clone(),
    };
    let index_rows: Vec<IndexRow> = index.iter().map(|(_, r, f)| to_row(r, f)).collect();
    let stretched_rows: Vec<IndexRow> = stretched.iter().map(|(_, r, f)| to_row(r, f)).collect();
    write_index(&out.join(INDEX_FILE), &all[0].1.columns, &index_rows)?;
    if !stretched_rows.is_empty() {
        write_index(
            &out.join(STRETCHED_FILE),
            &crate::store::stretched_columns(),
            &stretched_rows,
        )?;
    }
    crate::store::prune_tracks(&folder, index_rows.iter().chain(&stretched_rows))?;
    let meta = EmbeddingMeta {
        shard: None,
        ..all[0].0.set.meta.clone()
    };
    write_meta(out, &meta)?;
    Ok(MergeSummary {
        shards: count,
        tracks: index_rows.len(),
        stretched: stretched_rows.len(),
        skipped: skipped.into_iter().map(|s| (s.path, s.reason)).collect(),
    })
}

/// The first thing that tells two shards apart as parts of one embedding (not their K, nor
/// the paths the model and input were named by), or `None`. The front end comes before the
/// model, so that a model file that differs only in its front end is named for that.
fn difference(a: &OpenShard, b: &OpenShard) -> Option<String> {
    let (ra, rb) = (&a.record, &b.record);
    let (ma, mb) = (&a.set.meta, &b.set.meta);
    let checks: [(&str, String, String); 8] = [
        ("number of shards N", ra.count.to_string(), rb.count.to_string()),
        (
            "input (checksum of the track list)",
            format!("{} tracks, {}", ra.input_tracks, ra.input_checksum),
            format!("{} tracks, {}", rb.input_tracks, rb.input_checksum),
        ),
        (
            "front end (checksum of its settings)",
            ra.frontend_checksum.clone(),
            rb.frontend_checksum.clone(),
        ),
        (
            "model (checksum of the model file)",
            ra.model_checksum.clone(),
            rb.model_checksum.clone(),
        ),
        ("spaces", format!("{:?}", ma.spaces), format!("{:?}", mb.spaces)),
        ("format", format!("{:?}", ma.format), format!("{:?}", mb.format)),
        (
            "slicing (slice, hop, sample rate)",
            format!("{} s, {} s, {} Hz", ma.slice_seconds, ma.hop_seconds, ma.sample_rate),
            format!("{} s, {} s, {} Hz", mb.slice_seconds, mb.hop_seconds, mb.sample_rate),
        ),
        (
            "stretched copies (copies, range, seed)",
            format!("{}, {:?}, {}", ma.stretch_copies, ma.stretch_range, ma.stretch_seed),
            format!("{}, {:?}, {}", mb.stretch_copies, mb.stretch_range, mb.stretch_seed),
        ),
    ];
    if ma.format_version != mb.format_version {
        return Some(format!(
            "layout version {} against {}",
            ma.format_version, mb.format_version
        ));
    }
    checks
        .into_iter()
        .find(|(_, x, y)| x != y)
        .map(|(what, x, y)| format!("{what} differs ({x} against {y})"))
}

/// A shard's index, stretched copies and skipped inputs, with input positions from the track
/// files' names.
fn shard_rows(shard: &OpenShard) -> Result<ShardRows, EvalError> {
    let root = shard.set.root();
    let positioned = |file: &Path| -> Result<Vec<PositionedRow>, EvalError> {
        let manifest = Manifest::read(file).map_err(|e| EvalError::format(file, e.to_string()))?;
        manifest
            .rows
            .into_iter()
            .map(|row| {
                let (position, relative) = track_position(root, &row.path).ok_or_else(|| {
                    EvalError::format(
                        file,
                        format!("lists {}, which is not a track file of this folder", row.path.display()),
                    )
                })?;
                Ok((position, relative, row.fields))
            })
            .collect()
    };
    let index_file = root.join(INDEX_FILE);
    let columns = Manifest::read(&index_file)
        .map_err(|e| EvalError::format(&index_file, e.to_string()))?
        .columns
        .into_iter()
        .filter(|c| !c.eq_ignore_ascii_case("path"))
        .collect();
    let stretched_file = root.join(STRETCHED_FILE);
    Ok(ShardRows {
        columns,
        index: positioned(&index_file)?,
        stretched: if stretched_file.exists() {
            positioned(&stretched_file)?
        } else {
            Vec::new()
        },
        skipped: read_skipped(&root.join(SKIPPED_FILE))?,
    })
}

/// Copies one track's file (safetensors) or folder (npy: every file in it) from `root` to
/// `out`, each file written atomically.
fn copy_track(root: &Path, relative: &Path, out: &Path) -> Result<(), EvalError> {
    let source = root.join(relative);
    let is_npy = relative.file_name().is_some_and(|n| n == "timestamps.npy");
    let files: Vec<PathBuf> = match (is_npy, relative.parent()) {
        (true, Some(folder)) => {
            let dir = root.join(folder);
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(EvalError::io("list", &dir))? {
                let entry = entry.map_err(EvalError::io("list", &dir))?;
                let name = entry.file_name();
                if !name.to_string_lossy().starts_with('.') {
                    files.push(folder.join(name));
                }
            }
            files
        }
        _ => vec![relative.to_path_buf()],
    };
    if files.is_empty() {
        return Err(EvalError::format(
            source,
            "is missing: the shard was changed after it was written",
        ));
    }
    for file in files {
        let from = root.join(&file);
        let bytes = std::fs::read(&from).map_err(EvalError::io("read", &from))?;
        let to = out.join(&file);
        atomic_write(&to, &bytes).map_err(EvalError::io("write", &to))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_parse_and_hold_round_robin_positions() {
        let shard: Shard = "1/3".parse().unwrap();
        assert_eq!(shard, Shard { index: 1, count: 3 });
        let held: Vec<usize> = (0..8).filter(|&p| shard.holds(p)).collect();
        assert_eq!(held, vec![1, 4, 7]);
        for bad in ["3/3", "0/0", "1", "a/2", "1/b", "-1/2"] {
            let error = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(error.contains("--shard"), "{bad}: {error}");
        }
    }
}
