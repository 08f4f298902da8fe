//! Label assignment: which key, tempo, instruments, style, duration and split each track
//! (and each note) gets.
//!
//! Labels are not drawn independently per item: each label cycles through a seeded
//! permutation of its values, the tempo over the track index and every other label over the
//! tempo family's index, so a corpus covers the keys, tempi, instrument sets and styles
//! evenly. Because the key cycle (24 families) and the tempo cycle (121 tracks) are coprime,
//! no two tracks of a corpus of a few thousand share a (key, tempo) pair (independent tracks:
//! none of the first 24 × 121 = 2904; families of two: none of the first 2784). Everything is
//! a pure function of (seed, index), so items can be generated in any order or in parallel.

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
///
/// A track belongs to a *tempo family* (`CorpusConfig::tempo_family_size` consecutive
/// tracks): one composition rendered at the family's tempi. Everything but `tempo` is a
/// property of the family, so the members of a family differ in tempo only.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TrackPlan {
    /// The family (the composition) the track renders.
    pub family: usize,
    pub key: Key,
    pub tempo: u32,
    /// The slowest tempo of the family. The arrangement choices that depend on tempo (chords
    /// per bar, the rock ballad feel) are made at this tempo for every member, so that a
    /// member's tempo changes nothing but the tempo.
    pub arrangement_tempo: u32,
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

/// The styles played at every tempo of `tempi`, as a bit mask over [`DrumStyle::ALL`]. Rock
/// and shuffle are played at every tempo, so the mask is never empty.
fn style_mask(tempi: impl IntoIterator<Item = u32>) -> u8 {
    tempi.into_iter().fold(u8::MAX, |mask, tempo| {
        mask & DrumStyle::ALL
            .iter()
            .enumerate()
            .filter(|(_, s)| plays_at(**s, tempo))
            .fold(0u8, |m, (k, _)| m | (1 << k))
    })
}

/// How often each style mask occurs for a family of `size` tempi drawn independently and
/// uniformly from the tempo range, as (mask, number of tempo tuples).
fn family_masks(size: usize) -> Vec<(u8, f64)> {
    // Tempi with the same mask are interchangeable: count tuples of masks, not of tempi.
    let mut single: Vec<(u8, f64)> = Vec::new();
    for tempo in MIN_TEMPO..=MAX_TEMPO {
        let mask = style_mask([tempo]);
        match single.iter_mut().find(|(m, _)| *m == mask) {
            Some((_, n)) => *n += 1.0,
            None => single.push((mask, 1.0)),
        }
    }
    let mut masks = vec![(u8::MAX, 1.0)];
    for _ in 0..size {
        let mut next: Vec<(u8, f64)> = Vec::new();
        for &(a, na) in &masks {
            for &(b, nb) in &single {
                match next.iter_mut().find(|(m, _)| *m == a & b) {
                    Some((_, n)) => *n += na * nb,
                    None => next.push((a & b, na * nb)),
                }
            }
        }
        masks = next;
    }
    masks
}

/// Per-style weights that make every style equally frequent over families of `size`
/// uniformly drawn tempi although the styles cover different tempo ranges (iterative
/// proportional fitting: a style's share is the sum over masks of its weight among the
/// styles of the mask). A family plays a style that fits all of its tempi.
fn style_weights(size: usize) -> [f64; 5] {
    let masks = family_masks(size);
    let total_count: f64 = masks.iter().map(|(_, n)| n).sum();
    let mut weights = [1.0f64; 5];
    for _ in 0..200 {
        let mut shares = [0.0f64; 5];
        for &(mask, count) in &masks {
            let total: f64 = (0..5).filter(|k| mask & (1 << k) != 0).map(|k| weights[k]).sum();
            for (k, share) in shares.iter_mut().enumerate() {
                if mask & (1 << k) != 0 {
                    *share += weights[k] / total * count / total_count;
                }
            }
        }
        for (w, share) in weights.iter_mut().zip(shares) {
            *w *= (1.0 / DrumStyle::ALL.len() as f64) / share.max(1e-9);
        }
    }
    weights
}

/// The largest tempo family (see [`CorpusConfig::tempo_family_size`]).
pub const MAX_TEMPO_FAMILY_SIZE: usize = 4;

/// [`style_weights`] for family sizes 1 to [`MAX_TEMPO_FAMILY_SIZE`], computed once.
static STYLE_WEIGHTS: std::sync::LazyLock<Vec<[f64; 5]>> =
    std::sync::LazyLock::new(|| (1..=MAX_TEMPO_FAMILY_SIZE).map(style_weights).collect());

/// The tempo of track `index`: the tracks walk a seeded permutation of the tempo range
/// (`tempi`, offsets from [`MIN_TEMPO`]), whatever the families.
fn tempo_at(tempi: &[usize], index: usize) -> u32 {
    MIN_TEMPO + tempi[index % tempi.len()] as u32
}

/// A draw in [0, 1) for the style of family `family` of `size` tracks. Families whose tempi
/// admit the same set of styles form a class; within a class the families, in index order,
/// take a golden-ratio sequence from a seeded start, so each class's styles come out in their
/// weighted proportions to within about one family, and the corpus's styles are balanced.
fn style_draw(seed: u64, family: usize, size: usize, tempi: &[usize]) -> f64 {
    const GOLDEN: f64 = 0.618_033_988_749_894_8;
    let class_of = |slot: usize| style_mask((0..size).map(|m| tempo_at(tempi, slot * size + m)));
    // The families' tempi repeat after this many families.
    let cycle = tempi.len() / gcd(tempi.len(), size);
    let slot = family % cycle;
    let class = class_of(slot);
    let per_cycle = (0..cycle).filter(|&j| class_of(j) == class).count();
    let rank = (family / cycle) * per_cycle + (0..slot).filter(|&j| class_of(j) == class).count();
    let start = derived_rng(seed, &[STREAM_PERMUTATIONS, 3, class as u64]).random::<f64>();
    (start + rank as f64 * GOLDEN).fract()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The style of a family whose tempi admit the styles of `mask`, for draw `u` in [0, 1):
/// among those styles, in proportion to the balancing weights of families of `size`.
fn pick_style(mask: u8, size: usize, u: f64) -> DrumStyle {
    let weights = STYLE_WEIGHTS[size.clamp(1, MAX_TEMPO_FAMILY_SIZE) - 1];
    let fitting: Vec<(DrumStyle, f64)> = DrumStyle::ALL
        .iter()
        .zip(weights)
        .enumerate()
        .filter(|(k, _)| mask & (1 << k) != 0)
        .map(|(_, (s, w))| (*s, w))
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
///
/// Track `index` is member `index % n` of family `index / n` (n = `tempo_family_size`). Its
/// tempo is the `index`-th of the tempo cycle, as for independent tracks. Key, ensemble,
/// duration and split cycle over the *families* as they cycle over the tracks of a corpus of
/// independent tracks (n = 1); the style is drawn among those played at every tempo of the
/// family.
pub(crate) fn plan_track(seed: u64, index: usize, cfg: &CorpusConfig) -> TrackPlan {
    let size = cfg.tempo_family_size.max(1);
    let family = index / size;
    let keys = permutation(seed, 0, KEY_CLASSES);
    let tempo_count = (MAX_TEMPO - MIN_TEMPO + 1) as usize;
    let tempi = permutation(seed, 1, tempo_count);
    let ensembles = Ensemble::all();
    let ensemble_order = permutation(seed, 2, ensembles.len());
    let key = Key::from_class_index(keys[family % KEY_CLASSES]).unwrap_or(Key::new(0, loev_core::key::Mode::Major));
    let (low, high) = cfg.track_seconds;
    let seconds = if high > low {
        derived_rng(seed, &[STREAM_TRACK_DURATION, family as u64]).random_range(low..high)
    } else {
        low
    };
    let family_tempi = (0..size).map(|m| tempo_at(&tempi, family * size + m));
    let arrangement_tempo = family_tempi.clone().min().unwrap_or(MIN_TEMPO);
    let style = pick_style(style_mask(family_tempi), size, style_draw(seed, family, size, &tempi));
    TrackPlan {
        family,
        key,
        tempo: tempo_at(&tempi, index),
        arrangement_tempo,
        ensemble: ensembles[ensemble_order[family % ensembles.len()]],
        style,
        // Rounded to whole milliseconds so the manifest's `seconds` is exact.
        seconds: (seconds * 1000.0).round() / 1000.0,
        // Key j's k-th family takes position j + k of the apportionment sequence: each key
        // walks a run of consecutive positions, so every key is stratified over the splits,
        // and the keys of one cycle start at different positions, so even a corpus of one
        // cycle (24 families) has valid and test tracks. Both members of a family share it.
        split: apportioned_split(family / KEY_CLASSES + family % KEY_CLASSES, fractions(cfg)),
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
        let tempo_count = (MAX_TEMPO - MIN_TEMPO + 1) as f64;
        // Independent tracks, counted tempo by tempo.
        let weights = style_weights(1);
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
        // Pairs, counted pair by pair of tempi: a family plays a style that fits both.
        let weights = style_weights(2);
        for (k, style) in DrumStyle::ALL.iter().enumerate() {
            let mut share = 0.0;
            for a in MIN_TEMPO..=MAX_TEMPO {
                for b in MIN_TEMPO..=MAX_TEMPO {
                    if plays_at(*style, a) && plays_at(*style, b) {
                        let total: f64 = DrumStyle::ALL
                            .iter()
                            .zip(&weights)
                            .filter(|(s, _)| plays_at(**s, a) && plays_at(**s, b))
                            .map(|(_, w)| w)
                            .sum();
                        share += weights[k] / total / (tempo_count * tempo_count);
                    }
                }
            }
            assert!((share - 0.2).abs() < 1e-3, "pairs, {style}: share {share}");
        }
        let slow = style_mask([60]);
        assert_eq!(
            pick_style(slow, 1, 0.99),
            DrumStyle::Shuffle,
            "only rock and shuffle play at 60 BPM"
        );
        assert_eq!(pick_style(slow, 1, 0.0), DrumStyle::Rock);
        assert_eq!(
            style_mask([100, 170]),
            style_mask([170]),
            "four on the floor, rock, shuffle"
        );
        assert_eq!(style_mask([60, 120]), slow);
    }

    #[test]
    fn ensembles_are_distinct_roles() {
        let all = Ensemble::all();
        assert_eq!(all.len(), (8 * 8 - 6) * 2);
        assert!(all.iter().all(|e| e.harmony != e.melody));
    }
}
