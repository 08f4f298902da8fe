//! Verifying the audio a dataset lists: existence (with converted copies), a header probe, or a
//! full decode. Every loader ends here, so no loader can drop a file silently.
//!
//! **Converted audio.** Benchmark users often convert the distributed mp3s to wav (LOEV did for
//! MTT and MTG-Jamendo). When a listed file is absent, a file with the same stem and one of the
//! extensions `wav`, `flac`, `mp3`, `ogg` is used instead, and the report notes how many were
//! found this way.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::options::{AudioCheck, LoadOptions};
use crate::report::{FileProblem, LoadReport};
use crate::task::TaskDataset;

/// Extensions tried, in order, for a converted copy of a listed file that is absent.
pub const CONVERTED_EXTENSIONS: [&str; 4] = ["wav", "flac", "mp3", "ogg"];

/// The result of checking one listed audio file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioStatus {
    /// Usable; the path is the listed file or its converted copy.
    Found(PathBuf),
    /// Neither the file nor a converted copy exists.
    Missing,
    /// The file exists but failed the check; the reason says why.
    Corrupt(String),
}

/// The listed file if it is a file, else the first converted copy that is.
pub fn resolve_audio(listed: &Path) -> Option<PathBuf> {
    if listed.is_file() {
        return Some(listed.to_path_buf());
    }
    let own = listed.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    CONVERTED_EXTENSIONS
        .iter()
        .filter(|ext| own.as_deref() != Some(**ext))
        .map(|ext| listed.with_extension(ext))
        .find(|p| p.is_file())
}

/// Checks one listed file at the given thoroughness.
pub fn check_audio_file(listed: &Path, check: AudioCheck) -> AudioStatus {
    let Some(path) = resolve_audio(listed) else {
        return AudioStatus::Missing;
    };
    let verdict = match check {
        AudioCheck::Exists => Ok(()),
        AudioCheck::Probe => probe_header(&path).map(|_| ()),
        AudioCheck::Decode => match loev_audio::decode::decode_file(&path) {
            Ok(decoded) if decoded.frames == 0 => Err("decodes to no samples".to_string()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.reason()),
        },
    };
    match verdict {
        Ok(()) => AudioStatus::Found(path),
        Err(reason) => AudioStatus::Corrupt(reason),
    }
}

/// Recognises an audio container from its first bytes; returns its name, or why the file is
/// not audio loev can read. Cheap: reads at most 16 bytes.
pub fn probe_header(path: &Path) -> Result<&'static str, String> {
    let mut head = [0u8; 16];
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    sniff(&head[..filled])
}

/// The container named by a file's first bytes.
fn sniff(head: &[u8]) -> Result<&'static str, String> {
    if head.is_empty() {
        return Err("empty: zero-length file".into());
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return Ok("wav");
    }
    if head.starts_with(b"fLaC") {
        return Ok("flac");
    }
    if head.starts_with(b"OggS") {
        return Ok("ogg");
    }
    if head.starts_with(b"ID3") {
        return Ok("mp3");
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok("matroska");
    }
    if head.len() >= 3 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 {
        let layer = (head[1] >> 1) & 0b11;
        let bitrate = head[2] >> 4;
        let rate = (head[2] >> 2) & 0b11;
        if layer != 0 && bitrate != 0b1111 && rate != 0b11 {
            return Ok("mp3");
        }
    }
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Err("not audio: an MP4/M4A container, which loev cannot decode; convert it to flac or wav".into());
    }
    Err("not audio: no wav, flac, mp3, ogg or matroska header in the first bytes".into())
}

/// Checks the audio of every task (each distinct file once, in parallel), removes tracks whose
/// file is missing or corrupt, points tracks at converted copies, and records every problem in
/// `report`. Duplicate ids within a task are excluded too (the first is kept).
pub(crate) fn finalize(mut tasks: Vec<TaskDataset>, report: &mut LoadReport, opts: &LoadOptions) -> Vec<TaskDataset> {
    for task in &mut tasks {
        let mut seen = HashSet::new();
        let name = task.name.clone();
        task.tracks.retain(|t| {
            let first = seen.insert(t.id.clone());
            if !first {
                report.exclude(
                    &name,
                    &t.id,
                    "duplicate id",
                    format!("{} listed again; the first entry is kept", t.path.display()),
                );
            }
            first
        });
    }

    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    let mut unique: Vec<PathBuf> = Vec::new();
    for track in tasks.iter().flat_map(|t| &t.tracks) {
        if !index.contains_key(&track.path) {
            index.insert(track.path.clone(), unique.len());
            unique.push(track.path.clone());
        }
    }

    let bar = if opts.progress && !unique.is_empty() {
        let bar = ProgressBar::new(unique.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} files, {per_sec}, ETA {eta}") {
            bar.set_style(style);
        }
        bar.set_message(match opts.audio_check {
            AudioCheck::Exists => "checking audio files exist",
            AudioCheck::Probe => "probing audio headers",
            AudioCheck::Decode => "decoding audio",
        });
        Some(bar)
    } else {
        None
    };
    let statuses: Vec<AudioStatus> = unique
        .par_iter()
        .map(|path| {
            let status = check_audio_file(path, opts.audio_check);
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            status
        })
        .collect();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let mut problems: Vec<Option<FileProblem>> = vec![None; unique.len()];
    let mut converted = 0usize;
    for (i, status) in statuses.iter().enumerate() {
        match status {
            AudioStatus::Found(path) if *path != unique[i] => converted += 1,
            AudioStatus::Found(_) => {}
            AudioStatus::Missing | AudioStatus::Corrupt(_) => {
                let reason = match status {
                    AudioStatus::Corrupt(r) => r.clone(),
                    _ => format!(
                        "not found (nor a converted copy with extension {})",
                        CONVERTED_EXTENSIONS.join("/")
                    ),
                };
                problems[i] = Some(FileProblem {
                    id: String::new(),
                    path: unique[i].clone(),
                    uses: Vec::new(),
                    reason,
                });
            }
        }
    }
    for task in &mut tasks {
        let name = task.name.clone();
        task.tracks.retain_mut(|track| {
            let i = index[&track.path];
            match &statuses[i] {
                AudioStatus::Found(path) => {
                    track.path = path.clone();
                    true
                }
                _ => {
                    if let Some(problem) = problems[i].as_mut() {
                        if problem.id.is_empty() {
                            problem.id = track.id.clone();
                        }
                        problem.uses.push((name.clone(), track.split));
                    }
                    false
                }
            }
        });
    }
    let (mut missing, mut corrupt) = (Vec::new(), Vec::new());
    for (i, problem) in problems.into_iter().enumerate() {
        if let Some(problem) = problem {
            match statuses[i] {
                AudioStatus::Missing => missing.push(problem),
                _ => corrupt.push(problem),
            }
        }
    }
    missing.sort_by(|a, b| a.path.cmp(&b.path));
    corrupt.sort_by(|a, b| a.path.cmp(&b.path));
    report.missing.extend(missing);
    report.corrupt.extend(corrupt);
    if converted > 0 {
        report.notes.push(format!(
            "{converted} listed audio files were absent but found converted (same name, extension {})",
            CONVERTED_EXTENSIONS.join("/")
        ));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_recognises_containers_and_rejects_garbage() {
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt "), Ok("wav"));
        assert_eq!(sniff(b"fLaC\x00\x00\x00\x22"), Ok("flac"));
        assert_eq!(sniff(b"OggS\x00\x02"), Ok("ogg"));
        assert_eq!(sniff(b"ID3\x04\x00\x00"), Ok("mp3"));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Ok("mp3")); // MPEG-1 layer III, 128 kbit/s, 44.1 kHz
        assert!(sniff(&[0xFF, 0xF1, 0x50, 0x80]).is_err()); // ADTS AAC (layer bits 00)
        assert!(sniff(&[0xFF, 0xFB, 0xF0, 0x64]).is_err()); // bad bitrate index
        assert!(sniff(b"\x00\x00\x00\x20ftypM4A ").unwrap_err().contains("MP4"));
        assert!(sniff(b"this is not audio").is_err());
        assert!(sniff(b"").unwrap_err().contains("zero-length"));
    }
}
