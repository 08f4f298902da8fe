//! Key and tempo labels with the metrics that judge them.
//!
//! Semantics follow the references the benchmark uses:
//! `mir_eval.key.weighted_score` 0.8.2 with its default ascending-fifth rule, and Gouyon's
//! Acc1/Acc2 (tolerance relative to the scaled reference) with LOEV's variant of Acc2 as an
//! explicit paper-parity mode.

pub use loev_core::key::{KEY_CLASSES, Key, LabelError, Mode, PITCH_CLASS_NAMES, parse_tonic};
use serde::{Deserialize, Serialize};

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
        // Outputs of mir_eval 0.8.2's `key.weighted_score` (default arguments), checked by running it.
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
