//! Musical keys: 24 classes (12 tonics × major/minor), their names and parsing.
//!
//! Shared by the dataset loaders (labels), the built-in corpus (which composes in a key) and
//! the evaluation (key scores).

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
