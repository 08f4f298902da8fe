//! Exclusive locks on the folders loev writes (run folders, caches), so that two processes
//! never write the same one at once, and the clean-up of what a dead process left behind.
//!
//! A lock is a small file holding the holder's process id, locked with the operating system's
//! advisory file lock ([`File::try_lock`]). The OS releases that lock when its holder exits,
//! however it exits (`kill -9`, a crash, a power cut of the process), so a lock can never be left
//! stale: a lock file whose process is gone is taken over, with a warning that names the dead
//! process. A second live process is refused with the holder's id.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds the lock.
    #[error(
        "{} is in use by another loev process (PID {holder}); wait for it to finish or stop it \
         (lock file {})",
        what.display(),
        lock_file.display()
    )]
    Held {
        /// The folder or file that is locked.
        what: PathBuf,
        /// The lock file.
        lock_file: PathBuf,
        /// The holder's process id as written in the lock file ("unknown" if unreadable).
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {}: {cause}; check that the folder is writable", lock_file.display())]
    Io {
        /// The lock file.
        lock_file: PathBuf,
        /// The I/O error. Shown in the message, so deliberately not a chained `source`: a
        /// printer of the error chain would repeat it.
        cause: io::Error,
    },
}

/// An exclusive lock, held until dropped. Dropping removes the lock file.
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    lock_file: PathBuf,
    /// Set when the lock file named a process that had died (the lock was taken over).
    taken_over_from: Option<String>,
}

impl FolderLock {
    /// Locks `what` through the lock file `lock_file` (created if missing; its folder must
    /// exist). Refuses with [`LockError::Held`] naming the holder's PID if another process
    /// holds it.
    pub fn acquire(lock_file: &Path, what: &Path) -> Result<Self, LockError> {
        let io_err = |cause| LockError::Io {
            lock_file: lock_file.to_path_buf(),
            cause,
        };
        let mut attempts = 0;
        let mut file = loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(lock_file)
                .map_err(io_err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Held {
                        what: what.to_path_buf(),
                        lock_file: lock_file.to_path_buf(),
                        holder: read_holder(&mut file).unwrap_or_else(|| "unknown".into()),
                    });
                }
                Err(fs::TryLockError::Error(source)) => return Err(io_err(source)),
            }
            // A holder that released the lock between our open and our lock removed the file
            // first (see `Drop`): the lock we hold is then on a file nobody else will open, and
            // a third process could lock a new file at the same path. Lock the file at the
            // path, whatever it is now.
            if is_file_at(&file, lock_file) {
                break file;
            }
            attempts += 1;
            if attempts >= 100 {
                return Err(io_err(io::Error::other(
                    "the lock file is replaced faster than it can be locked",
                )));
            }
        };
        // We hold the OS lock: any PID written in the file belongs to a process that exited
        // without removing it (killed, crashed).
        let previous = read_holder(&mut file).filter(|pid| *pid != std::process::id().to_string());
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.flush().map_err(io_err)?;
        Ok(Self {
            file,
            lock_file: lock_file.to_path_buf(),
            taken_over_from: previous,
        })
    }

    /// Locks the folder `dir` (which must exist) through `dir/.loev.lock`.
    pub fn acquire_folder(dir: &Path) -> Result<Self, LockError> {
        Self::acquire(&dir.join(LOCK_FILE_NAME), dir)
    }

    /// The process id named in a lock file that this lock took over from a process that had
    /// exited without releasing it, if any. Callers print it as a warning.
    pub fn taken_over_from(&self) -> Option<&str> {
        self.taken_over_from.as_deref()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.lock_file
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock, so no other process can have locked it.
        let _ = fs::remove_file(&self.lock_file);
        let _ = self.file.unlock();
    }
}

/// The lock file that [`FolderLock::acquire_folder`] creates inside a locked folder; folder
/// listings that look for user content skip it.
pub const LOCK_FILE_NAME: &str = ".loev.lock";

/// True when `file` is the file that `path` names now (always true where this cannot be told).
fn is_file_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

fn read_holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    let pid = text.trim();
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.to_string())
}

/// True when process `pid` is running (Linux: `/proc/PID` exists). On systems without `/proc`
/// every process is assumed alive, so nothing of a live process is ever removed.
pub fn process_is_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

/// Removes the partial outputs that dead processes left in `parent`: entries named
/// `{prefix}{PID}` (e.g. `.cache.building-4711`) whose PID is not running. The current
/// process's own entries and those of live processes are kept. Returns what was removed, for
/// the caller to report.
pub fn remove_stale_partials(parent: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || process_is_alive(pid) {
            continue;
        }
        let path = entry.path();
        let result = if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loev-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_and_freed_on_drop() {
        let dir = temp_dir("second");
        let first = FolderLock::acquire_folder(&dir).expect("first lock");
        assert!(first.taken_over_from().is_none());
        let refused = FolderLock::acquire_folder(&dir).expect_err("second lock must be refused");
        let message = refused.to_string();
        assert!(message.contains(&std::process::id().to_string()), "{message}");
        assert!(message.contains(&dir.display().to_string()), "{message}");
        drop(first);
        assert!(!dir.join(LOCK_FILE_NAME).exists(), "the lock file is removed on drop");
        FolderLock::acquire_folder(&dir).expect("free again after drop");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = temp_dir("stale");
        // A PID far above Linux's pid_max (4,194,304) is never running.
        fs::write(dir.join(LOCK_FILE_NAME), "999999999\n").expect("stale lock file");
        let lock = FolderLock::acquire_folder(&dir).expect("stale lock is taken over");
        assert_eq!(lock.taken_over_from(), Some("999999999"));
        let written = fs::read_to_string(dir.join(LOCK_FILE_NAME)).expect("lock file");
        assert_eq!(written.trim(), std::process::id().to_string());
        drop(lock);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn partials_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = temp_dir("partials");
        let dead = dir.join(".out.building-999999999");
        let mine = dir.join(format!(".out.building-{}", std::process::id()));
        let other = dir.join(".unrelated.building-x");
        for folder in [&dead, &mine, &other] {
            fs::create_dir_all(folder.join("inner")).expect("partial");
        }
        let removed = remove_stale_partials(&dir, ".out.building-").expect("clean");
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists() && mine.exists() && other.exists());
        fs::remove_dir_all(&dir).ok();
    }
}
