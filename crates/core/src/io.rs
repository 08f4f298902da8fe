//! Atomic file output shared by every crate: a run never leaves a half-written file behind.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use npyz::WriterBuilder;

/// Writes a file atomically: the bytes go to a temporary file in the same directory, are
/// flushed to disk, and the temporary is renamed over `path`. A crash or a full disk leaves
/// either the old file or the new one, never a truncated mix. The parent directory is created
/// if needed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_with(path, |file| file.write_all(bytes))
}

/// Like [`atomic_write`], but the content is produced by `write` into the temporary file.
///
/// The temporary is `.<name>.tmp<PID>` beside `path`. A process killed while writing leaves its
/// temporary behind; the first atomic write of a later process into the same folder removes
/// every such temporary whose process is gone ([`remove_stale_temporaries`]).
pub fn atomic_write_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a file path: {}", path.display()),
        )
    })?;
    clean_once(&parent);
    let tmp = parent.join(format!(".{}.tmp{}", file_name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the stale temporaries of [`atomic_write_with`] from `dir` once per process and
/// folder (a folder of 100,000 track files is listed once, not once per file).
fn clean_once(dir: &Path) {
    static CLEANED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let first = match CLEANED.lock() {
        Ok(mut cleaned) => cleaned.get_or_insert_with(HashSet::new).insert(key),
        Err(_) => false,
    };
    if first {
        // Best effort: a temporary that cannot be removed now is tried again by a later process.
        let _ = remove_stale_temporaries(dir);
    }
}

/// Removes the temporaries of [`atomic_write_with`] (`.<name>.tmp<PID>`) in `dir` whose
/// process is no longer running; those of live processes (this one included) are kept.
/// Returns what was removed.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.rsplit_once(".tmp"))
            .filter(|(stem, pid)| stem.len() > 1 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || crate::lock::process_is_alive(pid) || !entry.file_type()?.is_file() {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed.push(entry.path()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    removed.sort();
    Ok(removed)
}

/// Writes a little-endian f32 `.npy` array (C order) atomically.
pub fn write_npy_f32(path: &Path, shape: &[u64], data: &[f32]) -> io::Result<()> {
    let expected: u64 = shape.iter().product();
    if expected != data.len() as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "npy shape {shape:?} holds {expected} values but {} were given",
                data.len()
            ),
        ));
    }
    atomic_write_with(path, |file| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(io::BufWriter::new(file))
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}

/// Reads an f32 `.npy` array: its shape and its values in C order.
pub fn read_npy_f32(path: &Path) -> io::Result<(Vec<u64>, Vec<f32>)> {
    let bytes = fs::read(path)?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let shape = npy.shape().to_vec();
    let data = npy.into_vec::<f32>()?;
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_no_temp_left() {
        let dir = std::env::temp_dir().join(format!("loev-io-test-{}", std::process::id()));
        let path = dir.join("x.npy");
        write_npy_f32(&path, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]).unwrap();
        let (shape, data) = read_npy_f32(&path).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.5]);
        assert!(write_npy_f32(&path, &[4], &[1.0]).is_err());
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A killed writer's temporary (here of a PID above Linux's pid_max, never running) is
    /// removed by the next atomic write into its folder; a live process's is kept.
    #[test]
    fn stale_temporaries_of_dead_writers_are_removed() {
        let dir = std::env::temp_dir().join(format!("loev-io-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let dead = dir.join(".model.safetensors.tmp999999999");
        let live = dir.join(format!(".model.safetensors.tmp{}", std::process::id()));
        let users = dir.join(".notes.tmpx");
        for path in [&dead, &live, &users] {
            fs::write(path, "partial").unwrap();
        }
        atomic_write(&dir.join("other.txt"), b"x").unwrap();
        assert!(!dead.exists(), "the dead writer's temporary is removed");
        assert!(live.exists() && users.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
