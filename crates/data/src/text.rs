//! Small parsing helpers shared by the loaders: tolerant text reading, word lists, the first
//! numeric token of a tempo file, sorted folder listings, seeded split assignment.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;

use crate::error::DataError;
use crate::split::Split;

/// Reads a text file: invalid UTF-8 is replaced (annotation files are not always clean UTF-8)
/// and a byte-order mark is dropped.
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// The entries of a word list, one a line (the vocabularies in `assets/`): lines trimmed, blank
/// lines skipped.
pub(crate) fn word_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The first finite number in a tempo or beat file, whatever its format: a bare integer
/// (GiantSteps v1), a float (v2), numpy scientific notation (GTZAN), `bpm<TAB>nan<TAB>conf`
/// (Hainsworth, mirdata), `T1<TAB>T2<TAB>w` (MIREX). Lines starting with `#` are comments.
pub(crate) fn first_number(text: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split(|c: char| c.is_whitespace() || c == ',' || c == ';'))
        .filter_map(|token| token.trim().parse::<f64>().ok())
        .find(|x| x.is_finite())
}

/// Files directly inside `dir` whose name ends with `suffix`, sorted by name.
pub(crate) fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(suffix) && !name.starts_with('.') && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The file name of `path` without `suffix` (e.g. `1234.LOFI.bpm` → `1234.LOFI`).
pub(crate) fn name_without(path: &Path, suffix: &str) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(suffix).map(str::to_string).unwrap_or(name)
}

/// FNV-1a of a string: a stable stream index for [`loev_core::rng::derive_seed`].
pub(crate) fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Splits `count` items (in the caller's deterministic order) into train and valid as
/// `torch.utils.data.random_split` does in LOEV/synesis: a seeded permutation, the first
/// `floor(count · (1 − valid_fraction))` are train, the rest valid.
pub(crate) fn split_train_valid(count: usize, valid_fraction: f64, seed: u64, stream: &str) -> Vec<Split> {
    let train_len = ((count as f64) * (1.0 - valid_fraction)).floor() as usize;
    assign_by_permutation(count, &[train_len, count - train_len.min(count), 0], seed, stream)
}

/// Splits `count` items into train / valid / test with the given fractions (normalised):
/// `floor` for train and valid, the rest test.
pub(crate) fn split_three_ways(count: usize, fractions: [f64; 3], seed: u64, stream: &str) -> Vec<Split> {
    let sum: f64 = fractions.iter().sum();
    let train = (((count as f64) * fractions[0] / sum).floor() as usize).min(count);
    let valid = (((count as f64) * fractions[1] / sum).floor() as usize).min(count - train);
    assign_by_permutation(count, &[train, valid, count - train - valid], seed, stream)
}

fn assign_by_permutation(count: usize, sizes: &[usize; 3], seed: u64, stream: &str) -> Vec<Split> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut rng = loev_core::rng::derived_rng(seed, &[stream_of(stream)]);
    order.shuffle(&mut rng);
    let mut splits = vec![Split::Train; count];
    for (rank, &index) in order.iter().enumerate() {
        splits[index] = if rank < sizes[0] {
            Split::Train
        } else if rank < sizes[0] + sizes[1] {
            Split::Valid
        } else {
            Split::Test
        };
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_number_reads_every_tempo_format() {
        assert_eq!(first_number("126"), Some(126.0));
        assert_eq!(first_number("127.0\n"), Some(127.0));
        assert_eq!(first_number("1.258700000000000045e+02\n"), Some(125.87));
        assert_eq!(first_number("100.16\tnan\t1.00\n"), Some(100.16));
        assert_eq!(first_number("#@format: tempo\n 94.0000 \r\n"), Some(94.0));
        assert_eq!(first_number("nan\t88"), Some(88.0));
        assert_eq!(first_number("tempo"), None);
        assert_eq!(first_number(""), None);
    }

    #[test]
    fn seeded_splits_have_exact_sizes_and_repeat() {
        let a = split_train_valid(25, 0.1, 7, "x");
        assert_eq!(a.iter().filter(|s| **s == Split::Train).count(), 22); // floor(22.5)
        assert_eq!(a.iter().filter(|s| **s == Split::Valid).count(), 3);
        assert_eq!(a, split_train_valid(25, 0.1, 7, "x"));
        assert_ne!(a, split_train_valid(25, 0.1, 8, "x"));
        assert_eq!(
            split_train_valid(8, 0.1, 1, "y")
                .iter()
                .filter(|s| **s == Split::Valid)
                .count(),
            1
        );
        assert!(split_train_valid(0, 0.1, 1, "y").is_empty());
        let b = split_three_ways(10, [0.8, 0.1, 0.1], 3, "m");
        let count = |s: Split| b.iter().filter(|x| **x == s).count();
        assert_eq!(
            (count(Split::Train), count(Split::Valid), count(Split::Test)),
            (8, 1, 1)
        );
    }
}
