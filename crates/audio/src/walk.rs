//! The one folder walk of the project: every command that takes a folder of audio (cache
//! build, embed, the demo's tooling) lists it through [`find_audio_files`].
//!
//! Real music folders hold symbolic links: to other drives, to themselves (`ln -s . self`),
//! dangling ones left by a moved library. The walk follows links, visits each real folder once
//! (so link loops end), lists each real file once, and reports everything it leaves out with the
//! reason, for the caller's `skipped.csv` or summary. Results are sorted, so the same tree gives
//! the same list on every file system.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// File extensions treated as audio when a folder is scanned (case-insensitive).
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

/// What a walk found: the audio files to use and the entries it left out, with the reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FolderWalk {
    /// Audio files (by extension), each real file once, sorted by path.
    pub files: Vec<PathBuf>,
    /// Entries left out: dangling or looping links that look like audio, folders reached a
    /// second time through a link, unreadable folders, second names of the same file.
    pub skipped: Vec<(PathBuf, String)>,
}

/// True for the extensions in [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Lists the audio files under `root` (see the module doc). `root` itself must be a readable
/// folder; problems below it are reported in [`FolderWalk::skipped`], never fatal.
pub fn find_audio_files(root: &Path) -> std::io::Result<FolderWalk> {
    let mut walk = Walker::default();
    let canonical_root = fs::canonicalize(root)?;
    // Listing the root must succeed: an unreadable root is the caller's error, not a skip.
    fs::read_dir(root)?;
    walk.visit_folder(root, canonical_root);
    let mut result = FolderWalk {
        files: walk.files,
        skipped: walk.skipped,
    };
    result.files.sort();
    result.skipped.sort();
    Ok(result)
}

#[derive(Default)]
struct Walker {
    /// Real folder → the path through which it was first listed.
    folders: HashMap<PathBuf, PathBuf>,
    /// Real file → the path through which it was first listed.
    real_files: HashMap<PathBuf, PathBuf>,
    files: Vec<PathBuf>,
    skipped: Vec<(PathBuf, String)>,
}

impl Walker {
    fn visit_folder(&mut self, dir: &Path, canonical: PathBuf) {
        if let Some(first) = self.folders.get(&canonical) {
            let reason = if dir.starts_with(first) {
                format!("link loop: folder already listed as {}", first.display())
            } else {
                format!("same folder as {}, listed once", first.display())
            };
            self.skipped.push((dir.to_path_buf(), reason));
            return;
        }
        self.folders.insert(canonical, dir.to_path_buf());
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.skipped
                    .push((dir.to_path_buf(), format!("cannot list folder: {e}")));
                return;
            }
        };
        // Sorted, so which of two names of a linked folder or file is used does not depend on
        // the order the file system lists them in.
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => paths.push(entry.path()),
                Err(e) => self
                    .skipped
                    .push((dir.to_path_buf(), format!("cannot list an entry: {e}"))),
            }
        }
        paths.sort();
        for path in paths {
            self.visit_entry(path);
        }
    }

    fn visit_entry(&mut self, path: PathBuf) {
        // `metadata` follows links; it fails for dangling links and link cycles.
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
                // Only links that look like audio are reported; other broken entries are not
                // the user's music.
                if is_link && is_audio_file(&path) {
                    let target = fs::read_link(&path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    self.skipped
                        .push((path, format!("broken link (to {target}): {e}; fix or remove the link")));
                }
                return;
            }
        };
        let canonical = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if meta.is_dir() {
            self.visit_folder(&path, canonical);
        } else if meta.is_file() && is_audio_file(&path) {
            if let Some(first) = self.real_files.get(&canonical) {
                self.skipped
                    .push((path, format!("same file as {}, used once", first.display())));
                return;
            }
            self.real_files.insert(canonical, path.clone());
            self.files.push(path);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loev-walk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("a/b")).expect("tree");
        fs::write(dir.join("a/one.wav"), b"x").expect("file");
        fs::write(dir.join("a/b/two.FLAC"), b"x").expect("file");
        fs::write(dir.join("a/notes.txt"), b"x").expect("file");
        dir
    }

    #[test]
    fn link_loops_end_and_are_reported() {
        let dir = tree("loops");
        symlink(".", dir.join("a/self")).expect("link");
        symlink("..", dir.join("a/b/up")).expect("link");
        let walk = find_audio_files(&dir).expect("walk");
        assert_eq!(walk.files, vec![dir.join("a/b/two.FLAC"), dir.join("a/one.wav")]);
        let skipped: Vec<&PathBuf> = walk.skipped.iter().map(|(p, _)| p).collect();
        assert_eq!(skipped, vec![&dir.join("a/b/up"), &dir.join("a/self")]);
        assert!(
            walk.skipped.iter().all(|(_, why)| why.contains("link loop")),
            "{walk:?}"
        );
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn broken_and_duplicate_audio_links_are_reported() {
        let dir = tree("links");
        symlink("missing.wav", dir.join("a/dangling.wav")).expect("link");
        symlink("loop2.wav", dir.join("a/loop1.wav")).expect("link");
        symlink("loop1.wav", dir.join("a/loop2.wav")).expect("link");
        symlink("one.wav", dir.join("a/again.wav")).expect("link");
        symlink("missing.txt", dir.join("a/dangling.txt")).expect("link");
        let walk = find_audio_files(&dir).expect("walk");
        assert_eq!(walk.files, vec![dir.join("a/again.wav"), dir.join("a/b/two.FLAC")]);
        let reasons: Vec<(String, &str)> = walk
            .skipped
            .iter()
            .map(|(p, why)| (p.file_name().unwrap().to_string_lossy().into_owned(), why.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].0 == "dangling.wav" && reasons[0].1.contains("broken link"));
        assert!(reasons[1].0 == "loop1.wav" && reasons[1].1.contains("broken link"));
        assert!(reasons[2].0 == "loop2.wav" && reasons[2].1.contains("broken link"));
        assert!(reasons[3].0 == "one.wav" && reasons[3].1.contains("same file as"));
        fs::remove_dir_all(&dir).ok();
    }
}
