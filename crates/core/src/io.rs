//! Atomic file output shared by every crate: a run never leaves a half-written file behind.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

/// Writes a file atomically: the bytes go to a temporary file in the same directory, are
/// flushed to disk, and the temporary is renamed over `path`. A crash or a full disk leaves
/// either the old file or the new one, never a truncated mix. The parent directory is created
/// if needed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_with(path, |file| file.write_all(bytes))
}

/// Like [`atomic_write`], but the content is produced by `write` into the temporary file.
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
}
