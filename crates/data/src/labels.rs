//! Key and tempo labels with the metrics that judge them.
//!
//! Semantics follow the references the benchmark uses (see `reference/evaluation.md` §1):
//! `mir_eval.key.weighted_score` 0.8.2 with its default ascending-fifth rule, and Gouyon's
//! Acc1/Acc2 (tolerance relative to the scaled reference) with LOEV's variant of Acc2 as an
//! explicit paper-parity mode.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of key classes (12 tonics × major/minor).
pub const KEY_CLASSES: usize = 24;

/// Pitch-class names with flats, the spelling used for class names and file output.
pub const PITCH_CLASS_NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];

/// Major or minor. `other` keys of mir_eval are not part of the 24-class task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Major mode.
    Major,
    /// Minor mode.
    Minor,
}

/// A musical key: a tonic pitch class (0 = C … 11 = B) and a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Tonic pitch class, 0 = C, 1 = C#/Db, …, 11 = B.
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

/// Why a key or tempo label could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The text is not a key of the form `<tonic> <major|minor>`.
    #[error("'{0}' is not a key: expected '<tonic> <major|minor>' such as 'Eb minor' or 'F# major'")]
    NotAKey(String),
    /// A class index outside 0..24.
    #[error("key class {0} is out of range 0..24")]
    KeyClassOutOfRange(usize),
}

impl Key {
    /// A key from tonic and mode; the tonic is taken modulo 12.
    pub fn new(tonic: u8, mode: Mode) -> Self {
        Self {
            tonic: tonic % 12,
            mode,
        }
    }

    /// Class index in MARBLE order: C major … B major = 0…11, C minor … B minor = 12…23.
    pub fn class_index(self) -> usize {
        self.tonic as usize + if self.mode == Mode::Minor { 12 } else { 0 }
    }

    /// The key of a class index (inverse of [`Key::class_index`]).
    pub fn from_class_index(index: usize) -> Result<Self, LabelError> {
        if index >= KEY_CLASSES {
            return Err(LabelError::KeyClassOutOfRange(index));
        }
        let mode = if index < 12 { Mode::Major } else { Mode::Minor };
        Ok(Self::new((index % 12) as u8, mode))
    }

    /// The key transposed by `semitones` (any sign).
    pub fn transposed(self, semitones: i32) -> Self {
        Self::new((self.tonic as i32 + semitones).rem_euclid(12) as u8, self.mode)
    }

    /// The relative key (C major ↔ A minor).
    pub fn relative(self) -> Self {
        match self.mode {
            Mode::Major => Self::new((self.tonic + 9) % 12, Mode::Minor),
            Mode::Minor => Self::new((self.tonic + 3) % 12, Mode::Major),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {}", PITCH_CLASS_NAMES[self.tonic as usize], mode)
    }
}

/// Parses a tonic name: a letter, then any number of `#`/`b` (also `♯`/`♭`), case-insensitive.
/// Wider than mir_eval's table (it also reads `Cb`, `E#`) because dataset files use them.
pub fn parse_tonic(text: &str) -> Option<u8> {
    let mut chars = text.trim().chars();
    let letter = chars.next()?.to_ascii_lowercase();
    let base: i32 = match letter {
        'c' => 0,
        'd' => 2,
        'e' => 4,
        'f' => 5,
        'g' => 7,
        'a' => 9,
        'b' => 11,
        _ => return None,
    };
    let mut offset = 0i32;
    for c in chars {
        match c {
            '#' | '♯' => offset += 1,
            'b' | 'B' | '♭' => offset -= 1,
            _ => return None,
        }
    }
    Some((base + offset).rem_euclid(12) as u8)
}

impl FromStr for Key {
    type Err = LabelError;

    /// Reads `"<tonic> <mode>"` (`"Eb minor"`, `"f# major"`, `"A min"`, `"C:maj"`); the mode is
    /// matched case-insensitively and `maj`/`min` abbreviations are accepted.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || LabelError::NotAKey(text.to_string());
        let cleaned = text.trim().replace(':', " ");
        let mut parts = cleaned.split_whitespace();
        let tonic = parts.next().and_then(parse_tonic).ok_or_else(err)?;
        let mode = match parts.next().map(|m| m.to_ascii_lowercase()) {
            Some(m) if m == "major" || m == "maj" => Mode::Major,
            Some(m) if m == "minor" || m == "min" => Mode::Minor,
            _ => return Err(err()),
        };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Key::new(tonic, mode))
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A key annotation as mir_eval sees it: a key, or `X` (unknown / no key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLabel {
    /// A proper major/minor key.
    Key(Key),
    /// mir_eval's 'X': uncategorised.
    Unknown,
}

/// `mir_eval.key.weighted_score(reference, estimate)` (0.8.2 defaults): 1 for the same key,
/// 0.5 when the estimate is a perfect fifth ABOVE the reference in the same mode (the rule is
/// asymmetric, as in MIREX before 2017), 0.3 for the relative key, 0.2 for the parallel key,
/// else 0. 'X' scores 1 against 'X' and 0 against any key.
pub fn key_weighted_score(reference: KeyLabel, estimate: KeyLabel) -> f64 {
    let (r, e) = match (reference, estimate) {
        (KeyLabel::Unknown, KeyLabel::Unknown) => return 1.0,
        (KeyLabel::Key(r), KeyLabel::Key(e)) => (r, e),
        _ => return 0.0,
    };
    let up = |from: u8, to: u8| (to as i32 - from as i32).rem_euclid(12);
    if r == e {
        1.0
    } else if r.mode == e.mode && up(r.tonic, e.tonic) == 7 {
        0.5
    } else if (r.mode == Mode::Major && e.mode == Mode::Minor && up(r.tonic, e.tonic) == 9)
        || (r.mode == Mode::Minor && e.mode == Mode::Major && up(r.tonic, e.tonic) == 3)
    {
        0.3
    } else if r.mode != e.mode && r.tonic == e.tonic {
        0.2
    } else {
        0.0
    }
}

/// Mean weighted key score over pairs (reference, estimate), as every pipeline reports it.
/// Returns `None` for no pairs.
pub fn mean_key_score(pairs: impl IntoIterator<Item = (Key, Key)>) -> Option<f64> {
    let (sum, n) = pairs.into_iter().fold((0.0, 0usize), |(s, n), (r, e)| {
        (s + key_weighted_score(KeyLabel::Key(r), KeyLabel::Key(e)), n + 1)
    });
    (n > 0).then(|| sum / n as f64)
}

/// Default tempo tolerance of Acc1/Acc2 (4 %).
pub const TEMPO_TOLERANCE: f64 = 0.04;

/// Number of tempo classes: integer BPM 0…299 (LOEV / synesis grid).
pub const TEMPO_CLASSES: usize = 300;

/// The octave-error factors Acc2 allows (Gouyon et al. 2006).
pub const ACC2_FACTORS: [f64; 5] = [1.0, 2.0, 3.0, 0.5, 1.0 / 3.0];

/// Acc1: the estimate is within `tolerance` (relative) of the reference.
/// A non-positive or non-finite reference never matches (GiantSteps has 0-BPM items, which
/// count as failures, as in the reference code).
pub fn tempo_acc1(reference: f64, estimate: f64, tolerance: f64) -> bool {
    tempo_matches(reference, estimate, tolerance, 1.0)
}

/// Acc2 (Gouyon): the estimate is within `tolerance` of reference × f for some f in
/// {1, 2, 3, ½, ⅓}; the tolerance is relative to the scaled reference.
pub fn tempo_acc2(reference: f64, estimate: f64, tolerance: f64) -> bool {
    ACC2_FACTORS
        .iter()
        .any(|&f| tempo_matches(reference, estimate, tolerance, f))
}

/// Acc2 as the LOEV reference code computes it (the error is divided by the UNSCALED
/// reference), for paper parity only: its effective tolerance depends on the factor.
pub fn tempo_acc2_loev(reference: f64, estimate: f64, tolerance: f64) -> bool {
    reference.is_finite()
        && reference > 0.0
        && ACC2_FACTORS
            .iter()
            .any(|&f| (estimate - reference * f).abs() / reference <= tolerance)
}

fn tempo_matches(reference: f64, estimate: f64, tolerance: f64, factor: f64) -> bool {
    let target = reference * factor;
    reference.is_finite() && reference > 0.0 && estimate.is_finite() && (target - estimate).abs() <= target * tolerance
}

/// How a BPM value becomes an integer class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TempoBinning {
    /// `int(bpm)` as LOEV and synesis do.
    #[default]
    Truncate,
    /// Nearest integer, as Quinton's reference code does.
    Round,
}

/// The tempo class (integer BPM) of a tempo, or `None` outside 0…299 or not finite.
pub fn tempo_class(bpm: f64, binning: TempoBinning) -> Option<usize> {
    if !bpm.is_finite() || bpm < 0.0 {
        return None;
    }
    let class = match binning {
        TempoBinning::Truncate => bpm.trunc(),
        TempoBinning::Round => bpm.round(),
    };
    (class < TEMPO_CLASSES as f64).then_some(class as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(text: &str) -> KeyLabel {
        if text == "X" {
            KeyLabel::Unknown
        } else {
            KeyLabel::Key(text.parse().unwrap())
        }
    }

    #[test]
    fn weighted_score_matches_mir_eval_table() {
        // The checked outputs of mir_eval 0.8.2 listed in reference/evaluation.md §1.1.
        let cases = [
            ("C major", "G major", 0.5),
            ("G major", "C major", 0.0),
            ("D minor", "A minor", 0.5),
            ("A minor", "D minor", 0.0),
            ("C major", "A minor", 0.3),
            ("A minor", "C major", 0.3),
            ("C minor", "Eb major", 0.3),
            ("C major", "C minor", 0.2),
            ("X", "X", 1.0),
            ("X", "C major", 0.0),
            ("C major", "X", 0.0),
            ("F# major", "Gb major", 1.0),
            ("C major", "D major", 0.0),
        ];
        for (r, e, want) in cases {
            assert_eq!(key_weighted_score(k(r), k(e)), want, "{r} vs {e}");
        }
    }

    #[test]
    fn key_parsing_and_classes_round_trip() {
        for index in 0..KEY_CLASSES {
            let key = Key::from_class_index(index).unwrap();
            assert_eq!(key.class_index(), index);
            assert_eq!(key.to_string().parse::<Key>().unwrap(), key);
        }
        assert_eq!("c# Minor".parse::<Key>().unwrap(), Key::new(1, Mode::Minor));
        assert_eq!("Bb:maj".parse::<Key>().unwrap(), Key::new(10, Mode::Major));
        assert_eq!("Cb major".parse::<Key>().unwrap(), Key::new(11, Mode::Major));
        assert!("H major".parse::<Key>().is_err());
        assert!("C".parse::<Key>().is_err());
        assert!("C major extra".parse::<Key>().is_err());
        assert!(Key::from_class_index(24).is_err());
        assert_eq!(Key::new(0, Mode::Major).relative(), Key::new(9, Mode::Minor));
        assert_eq!(Key::new(9, Mode::Minor).relative(), Key::new(0, Mode::Major));
        assert_eq!(Key::new(2, Mode::Major).transposed(-3), Key::new(11, Mode::Major));
    }

    #[test]
    fn tempo_accuracies_follow_gouyon_and_loev() {
        assert!(tempo_acc1(100.0, 104.0, TEMPO_TOLERANCE));
        assert!(!tempo_acc1(100.0, 104.1, TEMPO_TOLERANCE));
        assert!(tempo_acc2(100.0, 207.0, TEMPO_TOLERANCE)); // 7 <= 8 (tolerance of 200)
        assert!(!tempo_acc2_loev(100.0, 207.0, TEMPO_TOLERANCE)); // 7/100 > 4 %
        assert!(!tempo_acc2(100.0, 53.5, TEMPO_TOLERANCE)); // 3.5 > 2
        assert!(tempo_acc2_loev(100.0, 53.5, TEMPO_TOLERANCE));
        assert!(tempo_acc2(90.0, 30.0, TEMPO_TOLERANCE));
        assert!(!tempo_acc1(0.0, 0.0, TEMPO_TOLERANCE));
        assert!(!tempo_acc2(0.0, 0.0, TEMPO_TOLERANCE));
        assert!(!tempo_acc1(120.0, f64::NAN, TEMPO_TOLERANCE));
        assert_eq!(tempo_class(127.9, TempoBinning::Truncate), Some(127));
        assert_eq!(tempo_class(127.9, TempoBinning::Round), Some(128));
        assert_eq!(tempo_class(300.0, TempoBinning::Truncate), None);
        assert_eq!(tempo_class(-1.0, TempoBinning::Truncate), None);
    }
}
