//! Output folders that loev owns: claimed before anything is written, locked while written,
//! never the input.
//!
//! A command that writes a folder of results (`loev embed -o`, `loev augment -o`, `loev analyze
//! -o`, `loev probe --out`) claims it through [`OutputFolder::claim`] first. The claim
//!
//! * refuses a folder that is, holds or lies inside what the command reads (see
//!   [`Protected`]): loev never writes into its input, and `--force` does not change that;
//! * accepts a new folder, an empty one, or one that loev made (it holds the marker file
//!   [`MARKER_FILE`] naming what kind of output it is); a folder of other files, or loev output
//!   of another kind, is refused unless the user names it with `--force`;
//! * takes the folder's lock ([`crate::lock::FolderLock`], `.loev.lock`), so a second writer is
//!   refused with the holder's PID, and a killed writer never leaves it stuck;
//! * writes the marker, so the next run recognises the folder as its own.
//!
//! Writers that replace a set of files (the tracks of an embedding folder) remove what the
//! previous run left with [`OutputFolder::prune`], so that after a run the folder holds exactly
//! what its index lists, also after an earlier run was killed.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::lock::{FolderLock, LOCK_FILE_NAME, LockError};

/// The file that marks a folder as loev's output: one line, `loev <kind>`.
pub const MARKER_FILE: &str = ".loev-output";

/// Why an output folder cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The folder holds files loev did not write.
    #[error(
        "{} holds files that loev did not write (first: {}); choose a new or empty folder, or pass --force to \
         write {kind} into it anyway",
        dir.display(),
        entry.display()
    )]
    NotOurs {
        /// The folder.
        dir: PathBuf,
        /// Its first entry (by name) that is not loev's.
        entry: PathBuf,
        /// What would be written.
        kind: String,
    },
    /// The folder holds loev output of another kind.
    #[error(
        "{} holds loev {found} output, not {wanted}; choose another folder, or pass --force to write into it anyway",
        dir.display()
    )]
    OtherKind {
        /// The folder.
        dir: PathBuf,
        /// The kind its marker names.
        found: String,
        /// The kind that would be written.
        wanted: String,
    },
    /// The output would be written into what the command reads.
    #[error(
        "{} {relation} the input {}: loev never writes into its input; choose an output folder outside it",
        dir.display(),
        input.display()
    )]
    IntoInput {
        /// The output folder.
        dir: PathBuf,
        /// The input it collides with.
        input: PathBuf,
        /// How: "is", "lies inside", "holds", "is the folder of".
        relation: &'static str,
    },
    /// The path exists and is not a folder.
    #[error("{} exists and is not a folder; give a folder for the output", .0.display())]
    NotAFolder(PathBuf),
    /// Another process writes the folder.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The folder or its marker cannot be created or read.
    #[error("cannot {action} {}: {cause}; check that the folder is writable", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error (shown in the message, so not a chained source).
        cause: io::Error,
    },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OutputError + 'a {
    move |cause| OutputError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    }
}

/// What a command reads, which its output must stay clear of.
#[derive(Clone, Debug, Default)]
pub struct Protected {
    /// Folders read as a whole (a folder of audio): the output may not be one of them, lie
    /// inside one, or hold one.
    pub folders: Vec<PathBuf>,
    /// Files read (an audio file, a manifest, each file a manifest lists): the output may not
    /// be the folder a file lies in (its wavs would sit beside the output's files) or a folder
    /// above it.
    pub files: Vec<PathBuf>,
}

impl Protected {
    /// The input of a command, sorted into a folder or a file by what is on disk.
    pub fn input(path: &Path) -> Self {
        let mut protected = Self::default();
        protected.add(path);
        protected
    }

    /// Adds a path (a folder when it is one on disk, else a file).
    pub fn add(&mut self, path: &Path) {
        if path.is_dir() {
            self.folders.push(path.to_path_buf());
        } else {
            self.files.push(path.to_path_buf());
        }
    }
}

/// An output folder claimed for writing (see the module documentation); the lock is held until
/// this is dropped.
#[derive(Debug)]
pub struct OutputFolder {
    root: PathBuf,
    lock: FolderLock,
}

/// The marker's kind of a folder, if it has a marker.
pub fn marker_kind(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(MARKER_FILE)).ok()?;
    text.lines().next()?.strip_prefix("loev ").map(|k| k.trim().to_string())
}

impl OutputFolder {
    /// Claims `dir` for output of `kind` (`embeddings`, `views`, …), also accepting a folder
    /// that loev made for one of `also_accepts`. Creates the folder if needed. See the module
    /// documentation for what is refused; `force` writes into a folder of other files (never
    /// into the input).
    pub fn claim(
        dir: &Path,
        kind: &str,
        also_accepts: &[&str],
        protected: &Protected,
        force: bool,
    ) -> Result<Self, OutputError> {
        check_outside_inputs(dir, protected)?;
        if fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
            return Err(OutputError::NotAFolder(dir.to_path_buf()));
        }
        fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        // The lock first: a folder that another process is writing is refused with its PID,
        // whatever that process has written so far. A refusal below drops the lock, which
        // removes its file, so a refused folder is left as it was.
        let lock = FolderLock::acquire_folder(dir)?;
        Self::check_ownership(dir, kind, also_accepts, force)?;
        let marker = dir.join(MARKER_FILE);
        if marker_kind(dir).is_none() {
            crate::io::atomic_write(&marker, format!("loev {kind}\n").as_bytes())
                .map_err(io_error("write", &marker))?;
        }
        Ok(Self {
            root: dir.to_path_buf(),
            lock,
        })
    }

    /// Whether [`OutputFolder::claim`] may write into the existing folder `dir`.
    fn check_ownership(dir: &Path, kind: &str, also_accepts: &[&str], force: bool) -> Result<(), OutputError> {
        if force {
            return Ok(());
        }
        if let Some(found) = marker_kind(dir) {
            if found == kind || also_accepts.contains(&found.as_str()) {
                return Ok(());
            }
            return Err(OutputError::OtherKind {
                dir: dir.to_path_buf(),
                found,
                wanted: kind.to_string(),
            });
        }
        let mut foreign = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
            let entry = entry.map_err(io_error("list", dir))?;
            let name = entry.file_name();
            // The lock file, and the marker's temporary that a killed claim left.
            let marker_temporary = name.to_string_lossy().starts_with(&format!(".{MARKER_FILE}.tmp"));
            if name != LOCK_FILE_NAME && name != MARKER_FILE && !marker_temporary {
                foreign.push(entry.path());
            }
        }
        foreign.sort();
        match foreign.into_iter().next() {
            None => Ok(()),
            Some(entry) => Err(OutputError::NotOurs {
                dir: dir.to_path_buf(),
                entry,
                kind: kind.to_string(),
            }),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The process id of a dead writer whose lock this claim took over, if any.
    pub fn taken_over_from(&self) -> Option<&str> {
        self.lock.taken_over_from()
    }

    /// Removes `name` from the folder if it is there (e.g. the index, before the files it
    /// lists are rewritten, so that a killed run never leaves an index of a mix of runs).
    pub fn remove(&self, name: &str) -> Result<(), OutputError> {
        let path = self.root.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path)(e)),
        }
    }

    /// Removes every entry of the sub-folder `sub` that is not in `keep` (paths as written,
    /// `root/sub/<entry>`; a path inside an entry keeps the entry) and whose name `written_by_us`
    /// recognises as one the writer makes, so that a folder written with `--force` loses none
    /// of the user's files. Returns what was removed.
    pub fn prune(
        &self,
        sub: &str,
        keep: &HashSet<PathBuf>,
        written_by_us: impl Fn(&str) -> bool,
    ) -> Result<Vec<PathBuf>, OutputError> {
        let dir = self.root.join(sub);
        let kept: HashSet<PathBuf> = keep
            .iter()
            .filter_map(|path| {
                let relative = path.strip_prefix(&dir).ok()?;
                let first = relative.components().next()?;
                Some(dir.join(first.as_os_str()))
            })
            .collect();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir)(e)),
        };
        let mut removed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("list", &dir))?;
            let path = entry.path();
            if kept.contains(&path) || !entry.file_name().to_str().is_some_and(&written_by_us) {
                continue;
            }
            let is_dir = entry.file_type().map_err(io_error("read", &path))?.is_dir();
            let result = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path)(e)),
            }
        }
        removed.sort();
        Ok(removed)
    }
}

/// `path` made absolute with `.`, `..` and symbolic links resolved as far as the path exists
/// (the rest is appended as written), so that two names of one folder compare equal.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other.as_os_str()),
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses an output folder that is, holds or lies inside what the command reads.
pub fn check_outside_inputs(dir: &Path, protected: &Protected) -> Result<(), OutputError> {
    let out = resolved(dir);
    let refuse = |input: &Path, relation| OutputError::IntoInput {
        dir: dir.to_path_buf(),
        input: input.to_path_buf(),
        relation,
    };
    for folder in &protected.folders {
        let input = resolved(folder);
        if out == input {
            return Err(refuse(folder, "is"));
        }
        if out.starts_with(&input) {
            return Err(refuse(folder, "lies inside"));
        }
        if input.starts_with(&out) {
            return Err(refuse(folder, "holds"));
        }
    }
    let mut seen = HashSet::new();
    for file in &protected.files {
        let Some(parent) = file.parent() else { continue };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if out == resolved(file) {
            return Err(refuse(file, "is"));
        }
        if !seen.insert(parent.to_path_buf()) {
            continue;
        }
        let input = resolved(parent);
        if out == input {
            return Err(refuse(file, "is the folder of"));
        }
        if input.starts_with(&out) {
            return Err(refuse(file, "holds"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loev-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn new_empty_and_own_folders_are_claimed_others_need_force() {
        let root = temp_dir("claim");
        let fresh = root.join("new");
        let claim = OutputFolder::claim(&fresh, "embeddings", &[], &Protected::default(), false).expect("new");
        assert_eq!(marker_kind(&fresh).as_deref(), Some("embeddings"));
        let second = OutputFolder::claim(&fresh, "embeddings", &[], &Protected::default(), false)
            .expect_err("a second writer is refused");
        assert!(second.to_string().contains(&std::process::id().to_string()), "{second}");
        drop(claim);
        OutputFolder::claim(&fresh, "embeddings", &[], &Protected::default(), false).expect("ours again");
        let other = OutputFolder::claim(&fresh, "views", &[], &Protected::default(), false).expect_err("other kind");
        assert!(other.to_string().contains("embeddings"), "{other}");
        OutputFolder::claim(&fresh, "results", &["embeddings"], &Protected::default(), false).expect("accepted kind");

        let users = root.join("users");
        fs::create_dir_all(&users).unwrap();
        fs::write(users.join("index.csv"), "mine").unwrap();
        let refused = OutputFolder::claim(&users, "embeddings", &[], &Protected::default(), false)
            .expect_err("a folder of the user's files");
        assert!(refused.to_string().contains("index.csv") && refused.to_string().contains("--force"));
        assert!(!users.join(MARKER_FILE).exists() && !users.join(LOCK_FILE_NAME).exists());
        OutputFolder::claim(&users, "embeddings", &[], &Protected::default(), true).expect("--force");

        let file = root.join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            OutputFolder::claim(&file, "views", &[], &Protected::default(), true),
            Err(OutputError::NotAFolder(_))
        ));
        fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn the_input_is_never_the_output() {
        let root = temp_dir("input");
        let audio = root.join("audio");
        fs::create_dir_all(audio.join("sub")).unwrap();
        fs::write(audio.join("sub").join("a.wav"), "x").unwrap();
        let folder = Protected::input(&audio);
        for (out, relation) in [
            (audio.clone(), "is"),
            (audio.join("emb"), "lies inside"),
            (audio.join("sub").join(".."), "is"),
            (root.clone(), "holds"),
        ] {
            let error = check_outside_inputs(&out, &folder).expect_err("into the input");
            assert!(error.to_string().contains(relation), "{out:?}: {error}");
        }
        check_outside_inputs(&root.join("emb"), &folder).expect("beside it");
        // A manifest's wavs: not beside them, not above them; inside their folder's sibling is fine.
        let wav = audio.join("sub").join("a.wav");
        let files = Protected {
            folders: Vec::new(),
            files: vec![wav.clone()],
        };
        assert!(check_outside_inputs(&audio.join("sub"), &files).is_err());
        assert!(check_outside_inputs(&audio, &files).is_err());
        assert!(check_outside_inputs(&wav, &files).is_err());
        check_outside_inputs(&audio.join("emb"), &files).expect("a sibling folder");
        check_outside_inputs(&audio.join("sub").join("emb"), &files).expect("a new folder beside the wav");
        fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn prune_keeps_exactly_the_listed_entries() {
        let root = temp_dir("prune");
        let claim = OutputFolder::claim(&root.join("out"), "embeddings", &[], &Protected::default(), false).unwrap();
        let tracks = claim.root().join("tracks");
        fs::create_dir_all(tracks.join("00001_b")).unwrap();
        fs::write(tracks.join("00001_b").join("timestamps.npy"), "x").unwrap();
        fs::write(tracks.join("00000_a.safetensors"), "x").unwrap();
        fs::write(tracks.join("00002_c.safetensors"), "x").unwrap();
        fs::write(tracks.join("users.txt"), "x").unwrap();
        let keep = HashSet::from([
            tracks.join("00000_a.safetensors"),
            tracks.join("00001_b").join("timestamps.npy"),
        ]);
        let removed = claim.prune("tracks", &keep, |name| name.starts_with("000")).unwrap();
        assert_eq!(removed, vec![tracks.join("00002_c.safetensors")]);
        assert!(tracks.join("00001_b").join("timestamps.npy").exists());
        assert!(
            tracks.join("users.txt").exists(),
            "a name the writer never makes is left alone"
        );
        fs::remove_dir_all(&root).ok();
    }
}
