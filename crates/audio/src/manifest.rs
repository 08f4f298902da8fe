//! Manifests: a CSV or TSV table listing audio files plus optional metadata columns.
//!
//! * The first non-blank line is the header. The delimiter is a tab if the header holds one,
//!   else a comma (a header with just `path` is a one-column table).
//! * A column named `path` (case-insensitive) is required; relative paths resolve against the
//!   manifest's folder. Every other column is kept, as strings, in [`ManifestRow::fields`].
//! * Quoted fields (`"a, b"`, `""` for a quote), CRLF line ends, a UTF-8 byte-order mark,
//!   spaces around fields and blank lines are accepted. A row with a different number of fields
//!   than the header, an empty path or a duplicate column name is an error naming the line.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use loev_core::io::atomic_write;

/// Why a manifest could not be read. Every variant names the manifest file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Io {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The bytes are not UTF-8 text.
    #[error("manifest {path} is not UTF-8 text; save it as UTF-8 CSV or TSV")]
    NotText {
        /// The manifest.
        path: PathBuf,
    },
    /// No header line.
    #[error("manifest {path} is empty; it needs a header line with a `path` column, then one line per audio file")]
    Empty {
        /// The manifest.
        path: PathBuf,
    },
    /// The header has no `path` column.
    #[error(
        "manifest {path} has no `path` column (columns: {columns:?}); name the column holding the audio file paths `path`"
    )]
    MissingPathColumn {
        /// The manifest.
        path: PathBuf,
        /// The header's columns.
        columns: Vec<String>,
    },
    /// The header is malformed (duplicate or empty column names).
    #[error("manifest {path}: bad header: {reason}")]
    BadHeader {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data row is malformed.
    #[error("manifest {path}, line {line}: {reason}")]
    BadRow {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// One listed audio file and its metadata columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// The audio file (resolved against the manifest's folder when relative).
    pub path: PathBuf,
    /// Every non-`path` column, by column name.
    pub fields: BTreeMap<String, String>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// All header columns in file order, `path` included.
    pub columns: Vec<String>,
    /// The data rows in file order.
    pub rows: Vec<ManifestRow>,
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self::from_bytes(&bytes, &base_dir, path)
    }

    /// Parses a manifest's raw file bytes: text that is not UTF-8 is an error naming `origin`.
    pub fn from_bytes(bytes: &[u8], base_dir: &Path, origin: &Path) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotText {
            path: origin.to_path_buf(),
        })?;
        Self::parse(text, base_dir, origin)
    }

    /// Parses manifest text; relative paths resolve against `base_dir`; `origin` names the
    /// manifest in error messages.
    pub fn parse(text: &str, base_dir: &Path, origin: &Path) -> Result<Self, ManifestError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let header_line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| ManifestError::Empty {
                path: origin.to_path_buf(),
            })?;
        let delimiter = if header_line.contains('\t') { b'\t' } else { b',' };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());

        let mut columns: Option<Vec<String>> = None;
        let mut path_index = 0;
        let mut rows = Vec::new();
        for result in reader.records() {
            let record = result.map_err(|e| csv_error(origin, &e))?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.iter().all(|f| f.is_empty()) {
                continue; // blank (or whitespace-only) line
            }
            let Some(cols) = &columns else {
                let cols: Vec<String> = record.iter().map(str::to_string).collect();
                for (i, c) in cols.iter().enumerate() {
                    if c.is_empty() {
                        return Err(ManifestError::BadHeader {
                            path: origin.to_path_buf(),
                            reason: format!("column {} has no name", i + 1),
                        });
                    }
                    if cols[..i].contains(c) {
                        return Err(ManifestError::BadHeader {
                            path: origin.to_path_buf(),
                            reason: format!("column `{c}` appears twice"),
                        });
                    }
                }
                let matches: Vec<usize> = cols
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.eq_ignore_ascii_case("path"))
                    .map(|(i, _)| i)
                    .collect();
                match matches.as_slice() {
                    [i] => path_index = *i,
                    [] => {
                        return Err(ManifestError::MissingPathColumn {
                            path: origin.to_path_buf(),
                            columns: cols,
                        });
                    }
                    _ => {
                        return Err(ManifestError::BadHeader {
                            path: origin.to_path_buf(),
                            reason: "more than one column is named `path` (names are compared case-insensitively)"
                                .into(),
                        });
                    }
                }
                columns = Some(cols);
                continue;
            };
            if record.len() != cols.len() {
                return Err(ManifestError::BadRow {
                    path: origin.to_path_buf(),
                    line,
                    reason: format!(
                        "{} fields, but the header has {} columns; quote fields that contain the delimiter",
                        record.len(),
                        cols.len()
                    ),
                });
            }
            let raw_path = &record[path_index];
            if raw_path.is_empty() {
                return Err(ManifestError::BadRow {
                    path: origin.to_path_buf(),
                    line,
                    reason: "the `path` field is empty".into(),
                });
            }
            let listed = PathBuf::from(raw_path);
            let path = if listed.is_absolute() {
                listed
            } else {
                base_dir.join(listed)
            };
            let fields = cols
                .iter()
                .zip(record.iter())
                .enumerate()
                .filter(|(i, _)| *i != path_index)
                .map(|(_, (c, v))| (c.clone(), v.to_string()))
                .collect();
            rows.push(ManifestRow { path, fields });
        }
        let columns = columns.ok_or_else(|| ManifestError::Empty {
            path: origin.to_path_buf(),
        })?;
        Ok(Self { columns, rows })
    }

    /// Writes the manifest as CSV, atomically. Paths under the manifest's folder are written
    /// relative to it (so the folder can be moved); others stay as they are. Columns keep the
    /// order of [`Self::columns`] (`path` first when missing there), then any field names not
    /// listed, sorted.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let base_dir = path.parent().unwrap_or(Path::new(""));
        let mut columns: Vec<String> = self.columns.clone();
        if !columns.iter().any(|c| c.eq_ignore_ascii_case("path")) {
            columns.insert(0, "path".to_string());
        }
        let mut extra: Vec<&String> = self
            .rows
            .iter()
            .flat_map(|r| r.fields.keys())
            .filter(|k| !columns.contains(k))
            .collect();
        extra.sort();
        extra.dedup();
        columns.extend(extra.into_iter().cloned());

        let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
        writer.write_record(&columns).map_err(io::Error::other)?;
        for row in &self.rows {
            let rel = relative_to(&row.path, base_dir);
            let rel = rel.to_string_lossy();
            let record: Vec<&str> = columns
                .iter()
                .map(|c| {
                    if c.eq_ignore_ascii_case("path") {
                        rel.as_ref()
                    } else {
                        row.fields.get(c).map(String::as_str).unwrap_or("")
                    }
                })
                .collect();
            writer.write_record(&record).map_err(io::Error::other)?;
        }
        let bytes = writer.into_inner().map_err(|e| io::Error::other(e.to_string()))?;
        atomic_write(path, &bytes)
    }
}

/// `path` relative to `base` when it lies under it (compared lexically, after dropping `.`
/// components); otherwise `path` unchanged.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let clean = |p: &Path| -> PathBuf { p.components().filter(|c| !matches!(c, Component::CurDir)).collect() };
    let (p, b) = (clean(path), clean(base));
    if b.as_os_str().is_empty() {
        return p;
    }
    match p.strip_prefix(&b) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

fn csv_error(origin: &Path, e: &csv::Error) -> ManifestError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    ManifestError::BadRow {
        path: origin.to_path_buf(),
        line,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("/data"), Path::new("/data/m.csv"))
    }

    #[test]
    fn csv_with_quotes_crlf_bom_spaces_and_blank_lines() {
        let m = parse("\u{feff}path , genre,\"title\"\r\n\r\na.wav, rock ,\"Hello, world\"\r\n  \r\n/abs/b.mp3,jazz,\"say \"\"hi\"\"\"\r\n").unwrap();
        assert_eq!(m.columns, vec!["path", "genre", "title"]);
        assert_eq!(m.rows.len(), 2);
        assert_eq!(m.rows[0].path, PathBuf::from("/data/a.wav"));
        assert_eq!(m.rows[0].fields["genre"], "rock");
        assert_eq!(m.rows[0].fields["title"], "Hello, world");
        assert_eq!(m.rows[1].path, PathBuf::from("/abs/b.mp3"));
        assert_eq!(m.rows[1].fields["title"], "say \"hi\"");
    }

    #[test]
    fn tsv_is_detected_from_the_header() {
        let m = parse("id\tPath\tkey\n1\tx/y.flac\tC major\n").unwrap();
        assert_eq!(m.rows[0].path, PathBuf::from("/data/x/y.flac"));
        assert_eq!(m.rows[0].fields["key"], "C major");
        assert_eq!(m.rows[0].fields["id"], "1");
        assert!(!m.rows[0].fields.contains_key("Path"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(parse(""), Err(ManifestError::Empty { .. })));
        assert!(matches!(parse("\n  \n"), Err(ManifestError::Empty { .. })));
        assert!(matches!(
            parse("file,genre\na,b\n"),
            Err(ManifestError::MissingPathColumn { .. })
        ));
        assert!(matches!(parse("path,a,a\n"), Err(ManifestError::BadHeader { .. })));
        let e = parse("path,genre\na.wav,rock\nb.wav\n").unwrap_err();
        assert!(matches!(e, ManifestError::BadRow { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("m.csv"));
        assert!(matches!(
            parse("path,g\n,rock\n"),
            Err(ManifestError::BadRow { line: 2, .. })
        ));
        // Header only: no rows, not an error.
        assert_eq!(parse("path\n").unwrap().rows.len(), 0);
    }

    #[test]
    fn write_then_read_round_trips_with_relative_paths() {
        let dir = std::env::temp_dir().join(format!("loev-manifest-test-{}", std::process::id()));
        let manifest_path = dir.join("m.csv");
        let m = Manifest {
            columns: vec!["path".into(), "key".into()],
            rows: vec![
                ManifestRow {
                    path: dir.join("tracks/a.wav"),
                    fields: BTreeMap::from([("key".into(), "A minor, maybe".into()), ("bpm".into(), "120".into())]),
                },
                ManifestRow {
                    path: PathBuf::from("/elsewhere/b.wav"),
                    fields: BTreeMap::from([("key".into(), "C".into())]),
                },
            ],
        };
        m.write(&manifest_path).unwrap();
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        assert!(text.starts_with("path,key,bpm\ntracks/a.wav,"), "{text}");
        let back = Manifest::read(&manifest_path).unwrap();
        assert_eq!(back.columns, vec!["path", "key", "bpm"]);
        assert_eq!(back.rows[0].path, dir.join("tracks/a.wav"));
        assert_eq!(back.rows[0].fields["key"], "A minor, maybe");
        assert_eq!(back.rows[1].path, PathBuf::from("/elsewhere/b.wav"));
        assert_eq!(back.rows[1].fields["bpm"], "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
