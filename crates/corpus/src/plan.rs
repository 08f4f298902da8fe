//! Label assignment: which key, tempo, instruments, style, duration and split each track
//! (and each note) gets.
//!
//! Labels are not drawn independently per item: each label cycles through a seeded
//! permutation of its values over the item index, so a corpus of N tracks covers the keys,
//! tempi, instrument sets and styles evenly, and — because the key cycle (24) and the tempo
//! cycle (121) are coprime — no two of the first 24 × 121 = 2904 tracks share a
//! (key, tempo) pair. Everything is a pure function of (seed, index), so items can be
//! generated in any order or in parallel.

use loev_core::Split;
use loev_core::key::{KEY_CLASSES, Key};
use loev_core::rng::{derive_seed, derived_rng};
use rand::RngExt;

use crate::CorpusConfig;
use crate::drums::DrumStyle;
use crate::instruments::Instrument;

/// The lowest tempo of the corpus (BPM).
pub const MIN_TEMPO: u32 = 60;
/// The highest tempo of the corpus (BPM).
pub const MAX_TEMPO: u32 = 180;
/// The lowest MIDI pitch of the single notes (A0, as NSynth's piano range).
pub const MIN_NOTE_PITCH: u8 = 21;
/// The highest MIDI pitch of the single notes (C8).
pub const MAX_NOTE_PITCH: u8 = 108;

// Stream ids under the corpus seed (see `loev_core::rng::derive_seed`).
const STREAM_PERMUTATIONS: u64 = 1;
pub(crate) const STREAM_TRACK: u64 = 2;
pub(crate) const STREAM_NOTE: u64 = 3;
const STREAM_TRACK_DURATION: u64 = 4;
const STREAM_NOTE_PLAN: u64 = 5;

/// The instruments of one track, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ensemble {
    /// Plays the chords.
    pub harmony: Instrument,
    /// Plays the melody.
    pub melody: Instrument,
    /// Plays the bass line.
    pub bass: Instrument,
}

impl Ensemble {
    /// Every ensemble the corpus uses (harmony ≠ melody), in a fixed order.
    pub fn all() -> Vec<Ensemble> {
        let mut all = Vec::new();
        for harmony in Instrument::HARMONY {
            for melody in Instrument::MELODY {
                if melody == harmony {
                    continue;
                }
                for bass in Instrument::BASS {
                    all.push(Ensemble { harmony, melody, bass });
                }
            }
        }
        all
    }
}

/// Everything decided about a track before it is composed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TrackPlan {
    pub key: Key,
    pub tempo: u32,
    pub ensemble: Ensemble,
    pub style: DrumStyle,
    pub seconds: f64,
    pub split: Split,
}

/// Everything decided about a single note before it is rendered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NotePlan {
    pub pitch: u8,
    pub instrument: Instrument,
    pub velocity: f32,
    pub split: Split,
}

/// A seeded permutation of 0..n (Fisher–Yates).
fn permutation(seed: u64, which: u64, n: usize) -> Vec<usize> {
    let mut rng = derived_rng(seed, &[STREAM_PERMUTATIONS, which]);
    let mut values: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        values.swap(i, j);
    }
    values
}

/// The split fractions of the config, normalised (train, valid, test).
fn fractions(cfg: &CorpusConfig) -> [f64; 3] {
    let (train, valid, test) = cfg.splits;
    let total = train + valid + test;
    [train / total, valid / total, test / total]
}

/// The split at `position` of the sequential apportionment sequence: each position goes to
/// the split furthest below its share so far (ties: test, then valid). At the default
/// 70/15/15 every run of 8 consecutive positions holds all three splits, so every key of a
/// corpus with at least 8 tracks per key (192 tracks) appears in train, valid and test.
pub(crate) fn apportioned_split(position: usize, fractions: [f64; 3]) -> Split {
    let mut counts = [0usize; 3];
    let mut chosen = 0;
    for k in 0..=position {
        // Order of preference on ties: test (2), valid (1), train (0).
        let mut best = 2;
        let mut best_deficit = f64::NEG_INFINITY;
        for s in [2usize, 1, 0] {
            let deficit = (k + 1) as f64 * fractions[s] - counts[s] as f64;
            if fractions[s] > 0.0 && deficit > best_deficit + 1e-12 {
                best = s;
                best_deficit = deficit;
            }
        }
        counts[best] += 1;
        chosen = best;
    }
    Split::ALL[chosen]
}

/// The split of item `index` of a sequence under a golden-ratio low-discrepancy sequence:
/// any run of consecutive items is split in the configured proportions to within about one
/// item. Closed form, so it costs nothing for large corpora.
fn low_discrepancy_split(index: usize, fractions: [f64; 3]) -> Split {
    const GOLDEN: f64 = 0.618_033_988_749_894_8;
    let u = (index as f64 * GOLDEN + 0.5).fract();
    if u < fractions[0] {
        Split::Train
    } else if u < fractions[0] + fractions[1] {
        Split::Valid
    } else {
        Split::Test
    }
}

/// Whether `style` is played at `tempo`.
fn plays_at(style: DrumStyle, tempo: u32) -> bool {
    let (lo, hi) = style.tempo_range();
    (lo..=hi).contains(&tempo)
}

/// Per-style weights that make every style equally frequent over the uniform tempo cycle
/// although the styles cover different tempo ranges (iterative proportional fitting: a
/// style's share is the sum over tempi of its weight among the styles played there).
fn style_weights() -> [f64; 5] {
    let mut weights = [1.0f64; 5];
    let tempo_count = (MAX_TEMPO - MIN_TEMPO + 1) as f64;
    for _ in 0..200 {
        let mut shares = [0.0f64; 5];
        for tempo in MIN_TEMPO..=MAX_TEMPO {
            let total: f64 = DrumStyle::ALL
                .iter()
                .zip(&weights)
                .filter(|(s, _)| plays_at(**s, tempo))
                .map(|(_, w)| w)
                .sum();
            for (k, style) in DrumStyle::ALL.iter().enumerate() {
                if plays_at(*style, tempo) {
                    shares[k] += weights[k] / total / tempo_count;
                }
            }
        }
        for (w, share) in weights.iter_mut().zip(shares) {
            *w *= (1.0 / DrumStyle::ALL.len() as f64) / share.max(1e-9);
        }
    }
    weights
}

static STYLE_WEIGHTS: std::sync::LazyLock<[f64; 5]> = std::sync::LazyLock::new(style_weights);

/// A draw in [0, 1) for the style of track `index`. Tracks whose tempi admit the same set
/// of styles form a class; within a class the tracks, in index order, take a golden-ratio
/// sequence from a seeded start, so each class's styles come out in their weighted
/// proportions to within about one track, and the corpus's styles are balanced.
fn style_draw(seed: u64, index: usize, tempi: &[usize]) -> f64 {
    const GOLDEN: f64 = 0.618_033_988_749_894_8;
    let class_of = |slot: usize| -> u8 {
        let tempo = MIN_TEMPO + tempi[slot] as u32;
        DrumStyle::ALL
            .iter()
            .enumerate()
            .filter(|(_, s)| plays_at(**s, tempo))
            .fold(0u8, |mask, (k, _)| mask | (1 << k))
    };
    let cycle = tempi.len();
    let slot = index % cycle;
    let class = class_of(slot);
    let per_cycle = (0..cycle).filter(|&j| class_of(j) == class).count();
    let rank = (index / cycle) * per_cycle + (0..slot).filter(|&j| class_of(j) == class).count();
    let start = derived_rng(seed, &[STREAM_PERMUTATIONS, 3, class as u64]).random::<f64>();
    (start + rank as f64 * GOLDEN).fract()
}

/// The style at `tempo` for draw `u` in [0, 1): among the styles played at that tempo,
/// in proportion to their balancing weights.
fn pick_style(tempo: u32, u: f64) -> DrumStyle {
    let weights = *STYLE_WEIGHTS;
    let fitting: Vec<(DrumStyle, f64)> = DrumStyle::ALL
        .iter()
        .zip(weights)
        .filter(|(s, _)| plays_at(**s, tempo))
        .map(|(s, w)| (*s, w))
        .collect();
    let total: f64 = fitting.iter().map(|(_, w)| w).sum();
    let mut cumulative = 0.0;
    for (style, w) in &fitting {
        cumulative += w / total;
        if u < cumulative {
            return *style;
        }
    }
    fitting.last().map(|(s, _)| *s).unwrap_or(DrumStyle::Rock)
}

/// The plan of track `index` under `seed`.
pub(crate) fn plan_track(seed: u64, index: usize, cfg: &CorpusConfig) -> TrackPlan {
    let keys = permutation(seed, 0, KEY_CLASSES);
    let tempo_count = (MAX_TEMPO - MIN_TEMPO + 1) as usize;
    let tempi = permutation(seed, 1, tempo_count);
    let ensembles = Ensemble::all();
    let ensemble_order = permutation(seed, 2, ensembles.len());
    let key = Key::from_class_index(keys[index % KEY_CLASSES]).unwrap_or(Key::new(0, loev_core::key::Mode::Major));
    let (low, high) = cfg.track_seconds;
    let seconds = if high > low {
        derived_rng(seed, &[STREAM_TRACK_DURATION, index as u64]).random_range(low..high)
    } else {
        low
    };
    let tempo = MIN_TEMPO + tempi[index % tempo_count] as u32;
    let style = pick_style(tempo, style_draw(seed, index, &tempi));
    TrackPlan {
        key,
        tempo,
        ensemble: ensembles[ensemble_order[index % ensembles.len()]],
        style,
        // Rounded to whole milliseconds so the manifest's `seconds` is exact.
        seconds: (seconds * 1000.0).round() / 1000.0,
        // Key j's k-th track takes position j + k of the apportionment sequence: each key
        // walks a run of consecutive positions, so every key is stratified over the splits,
        // and the keys of one cycle start at different positions, so even a corpus of one
        // cycle (24 tracks) has valid and test tracks.
        split: apportioned_split(index / KEY_CLASSES + index % KEY_CLASSES, fractions(cfg)),
    }
}

/// The plan of note `index` under `seed`: pitches cycle through a permutation of 21–108,
/// instruments cycle through those whose range holds the pitch.
pub(crate) fn plan_note(seed: u64, index: usize, cfg: &CorpusConfig) -> NotePlan {
    let pitch_count = (MAX_NOTE_PITCH - MIN_NOTE_PITCH + 1) as usize;
    let pitches = permutation(seed, 4, pitch_count);
    let pitch = MIN_NOTE_PITCH + pitches[index % pitch_count] as u8;
    let eligible: Vec<Instrument> = Instrument::ALL
        .into_iter()
        .filter(|i| {
            let (lo, hi) = i.note_range();
            (lo..=hi).contains(&pitch)
        })
        .collect();
    let offset = derive_seed(seed, &[STREAM_NOTE_PLAN, pitch as u64]) as usize;
    let instrument = eligible[(offset.wrapping_add(index / pitch_count)) % eligible.len()];
    let velocity = derived_rng(seed, &[STREAM_NOTE_PLAN, 1000 + index as u64]).random_range(0.5..1.0f32);
    NotePlan {
        pitch,
        instrument,
        velocity,
        split: low_discrepancy_split(index, fractions(cfg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportionment_covers_all_splits_in_every_run_of_eight() {
        let f = [0.7, 0.15, 0.15];
        for start in 0..100 {
            let run: Vec<Split> = (start..start + 8).map(|k| apportioned_split(k, f)).collect();
            for split in Split::ALL {
                assert!(run.contains(&split), "positions {start}..{}: {run:?}", start + 8);
            }
        }
        let counts = (0..100).map(|k| apportioned_split(k, f)).fold([0; 3], |mut c, s| {
            c[s as usize] += 1;
            c
        });
        assert_eq!(counts, [70, 15, 15]);
        // A zero fraction never receives items.
        assert!((0..50).all(|k| apportioned_split(k, [0.8, 0.0, 0.2]) != Split::Valid));
    }

    #[test]
    fn low_discrepancy_split_keeps_proportions() {
        let f = [0.7, 0.15, 0.15];
        let counts = (0..1000)
            .map(|k| low_discrepancy_split(k, f))
            .fold([0i32; 3], |mut c, s| {
                c[s as usize] += 1;
                c
            });
        assert!(
            (counts[0] - 700).abs() <= 3 && (counts[1] - 150).abs() <= 3,
            "{counts:?}"
        );
    }

    #[test]
    fn style_weights_balance_the_styles_over_the_tempo_range() {
        let weights = style_weights();
        let tempo_count = (MAX_TEMPO - MIN_TEMPO + 1) as f64;
        for (k, style) in DrumStyle::ALL.iter().enumerate() {
            let share: f64 = (MIN_TEMPO..=MAX_TEMPO)
                .filter(|t| plays_at(*style, *t))
                .map(|t| {
                    weights[k]
                        / DrumStyle::ALL
                            .iter()
                            .zip(&weights)
                            .filter(|(s, _)| plays_at(**s, t))
                            .map(|(_, w)| w)
                            .sum::<f64>()
                })
                .sum::<f64>()
                / tempo_count;
            assert!((share - 0.2).abs() < 1e-3, "{style}: share {share}");
        }
        assert_eq!(
            pick_style(60, 0.99),
            DrumStyle::Shuffle,
            "only rock and shuffle play at 60 BPM"
        );
        assert_eq!(pick_style(60, 0.0), DrumStyle::Rock);
    }

    #[test]
    fn ensembles_are_distinct_roles() {
        let all = Ensemble::all();
        assert_eq!(all.len(), (8 * 8 - 6) * 2);
        assert!(all.iter().all(|e| e.harmony != e.melody));
    }
}
