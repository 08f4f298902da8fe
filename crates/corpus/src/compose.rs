//! Composing and rendering one track from its plan: a chord progression in the key, a
//! voice-led accompaniment pattern, a melody from the key's scale, a bass line on the
//! chord roots and drums on the tempo grid, mixed at random levels.
//!
//! Composing ([`Score`], in musical time) and rendering (at the track's tempo) are separate,
//! and every part draws from its own stream ([`Streams`]), so the tracks of a tempo family
//! play one composition: the tempo changes where the notes fall and nothing else.
//!
//! Musical time is counted in sixteenth steps (16 per 4/4 bar). The swing ratio moves the
//! off-beat eighths (and the sixteenths around them) for every part alike, so the whole
//! band shuffles together.

use loev_core::key::{Key, Mode};
use loev_core::rng::{Rng, derived_rng};
use rand::RngExt;

use crate::drums::{self, DrumStyle, Hit, Kit};
use crate::dsp::{FS, db_to_gain, mix_into};
use crate::instruments::{Instrument, Note};
use crate::plan::{STREAM_TRACK, TrackPlan};
use crate::theory::{Chord, MAJOR_PROGRESSIONS, MINOR_PROGRESSIONS, diatonic_chord, melody_scale, nearest_midi};

/// Sixteenth steps per bar.
const BAR_STEPS: usize = 16;
/// Chords per phrase.
const PHRASE_CHORDS: usize = 4;
/// Silence before the first downbeat (seconds), so the first onset is not cut.
const LEAD_IN: f64 = 0.03;

/// Maps musical positions to sample indices for one track (tempo, swing, lead-in).
struct Grid {
    beat: f64,
    swing: f64,
}

impl Grid {
    /// Seconds from the start of the track to `step` (sixteenths, may be fractional) of
    /// bar `bar`.
    fn seconds(&self, bar: usize, step: f64) -> f64 {
        let beat_index = (step / 4.0).floor();
        let q = step - 4.0 * beat_index;
        let within = if q <= 2.0 {
            q / 2.0 * self.swing
        } else {
            self.swing + (q - 2.0) / 2.0 * (1.0 - self.swing)
        };
        LEAD_IN + (bar as f64 * 4.0 + beat_index + within) * self.beat
    }

    fn sample(&self, bar: usize, step: f64) -> usize {
        (self.seconds(bar, step) * FS).round().max(0.0) as usize
    }

    /// Samples between two positions given in absolute sixteenth steps.
    fn span(&self, from: f64, to: f64) -> usize {
        let at = |s: f64| {
            let bar = (s / BAR_STEPS as f64).floor();
            self.seconds(bar as usize, s - bar * BAR_STEPS as f64)
        };
        ((at(to) - at(from)) * FS).round().max(1.0) as usize
    }
}

/// One chord of the track's progression, placed in time.
struct ChordSlot {
    chord: Chord,
    /// Absolute start in sixteenth steps.
    start: usize,
    /// Length in sixteenth steps.
    length: usize,
}

/// A pitched event in absolute sixteenth steps.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    start: f64,
    length: f64,
    midi: i32,
    velocity: f32,
}

/// The parts of a composition, each drawing from its own random stream ([`Streams`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Part {
    Swing = 1,
    Progression,
    Mix,
    Harmony,
    Melody,
    Bass,
    Kit,
    Drums,
    DrumTiming,
    HarmonyNotes,
    MelodyNotes,
    BassNotes,
    Finish,
}

/// The random streams of one composition: one generator per part, derived from (corpus
/// seed, family, part). A part's draws never depend on how many draws another part made.
/// The tempo changes how many bars a track has and how many samples every note lasts, so
/// with one shared generator it would change every later draw; with one stream per part it
/// changes none of them. A rendered note draws from a generator of its own (part, note
/// index), since its noise takes one draw per sample.
pub(crate) struct Streams {
    seed: u64,
    family: u64,
}

impl Streams {
    pub(crate) fn new(seed: u64, family: usize) -> Self {
        Self {
            seed,
            family: family as u64,
        }
    }

    /// The generator of `part`.
    pub(crate) fn rng(&self, part: Part) -> Rng {
        derived_rng(self.seed, &[STREAM_TRACK, self.family, part as u64])
    }

    /// The generator of note `note` of `part`.
    fn note_rng(&self, part: Part, note: usize) -> Rng {
        derived_rng(self.seed, &[STREAM_TRACK, self.family, part as u64, note as u64])
    }
}

/// Mix levels and brightness per part, drawn once per composition.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mix {
    harmony_gain: f32,
    melody_gain: f32,
    bass_gain: f32,
    drum_gain: f32,
    harmony_brightness: f32,
    melody_brightness: f32,
    bass_brightness: f32,
}

impl Mix {
    fn draw(rng: &mut Rng) -> Self {
        Self {
            harmony_gain: db_to_gain(rng.random_range(-9.0..-3.0)),
            melody_gain: db_to_gain(rng.random_range(-7.0..-2.0)),
            bass_gain: db_to_gain(rng.random_range(-6.0..-1.0)),
            drum_gain: db_to_gain(rng.random_range(-4.0..0.0)),
            harmony_brightness: rng.random_range(0.8..1.2f32),
            melody_brightness: rng.random_range(0.8..1.2f32),
            bass_brightness: rng.random_range(0.8..1.2f32),
        }
    }
}

/// A composition in musical time (sixteenth steps and bars), before it meets a tempo.
#[derive(Clone, Debug, PartialEq)]
struct Score {
    swing: f64,
    mix: Mix,
    /// Chords per bar (2 at slow arrangement tempi).
    chords_per_bar: usize,
    /// Chord slots of the progression.
    slots: usize,
    harmony: Vec<Event>,
    melody: Vec<Event>,
    bass: Vec<Event>,
    /// The drum hits of every bar.
    drums: Vec<Vec<Hit>>,
}

/// Whole bars of a track of `seconds` at `tempo` (at least one).
fn bars_at(seconds: f64, tempo: u32) -> usize {
    let bar_seconds = 4.0 * 60.0 / tempo as f64;
    ((seconds - LEAD_IN) / bar_seconds).round().max(1.0) as usize
}

/// Composes the track of `plan`: as many bars as fit its duration at its tempo, with every
/// choice that depends on tempo made at the family's arrangement tempo, so that the members
/// of a family play the same music, the slower ones a prefix of it (see `TrackPlan`).
fn compose(plan: &TrackPlan, streams: &Streams) -> Score {
    let (swing_low, swing_high) = plan.style.swing_range();
    let swing = streams.rng(Part::Swing).random_range(swing_low..=swing_high);
    let bars = bars_at(plan.seconds, plan.tempo);
    // Slow tempi change chord every half bar so phrases stay a few seconds long.
    let chords_per_bar = if 240.0 / plan.arrangement_tempo as f64 > 3.2 {
        2
    } else {
        1
    };
    let slots = progression(plan.key, bars, chords_per_bar, &mut streams.rng(Part::Progression));
    let mix = Mix::draw(&mut streams.rng(Part::Mix));
    let harmony = accompaniment(plan.ensemble.harmony, &slots, &mut streams.rng(Part::Harmony));
    // Whether the melody may rest in the first phrase: decided on the shortest member.
    let long_enough = bars_at(plan.seconds, plan.arrangement_tempo) * chords_per_bar > 2 * PHRASE_CHORDS;
    let melody = melody(
        plan.key,
        plan.ensemble.melody,
        &slots,
        chords_per_bar,
        long_enough,
        &mut streams.rng(Part::Melody),
    );
    let bass = bass_line(
        plan.key,
        plan.style,
        plan.arrangement_tempo,
        &slots,
        &mut streams.rng(Part::Bass),
    );
    let drums = drum_part(plan.style, plan.arrangement_tempo, bars, &mut streams.rng(Part::Drums));
    Score {
        swing,
        mix,
        chords_per_bar,
        slots: slots.len(),
        harmony,
        melody,
        bass,
        drums,
    }
}

/// Renders a track of `plan.seconds` seconds: its composition played at its tempo.
pub(crate) fn render_track(plan: &TrackPlan, streams: &Streams) -> Vec<f32> {
    let score = compose(plan, streams);
    let total = (plan.seconds * FS).round() as usize;
    let mut out = vec![0f32; total];
    let grid = Grid {
        beat: 60.0 / plan.tempo as f64,
        swing: score.swing,
    };
    let mix = score.mix;
    let parts = [
        (
            plan.ensemble.harmony,
            &score.harmony,
            mix.harmony_gain,
            mix.harmony_brightness,
            Part::HarmonyNotes,
        ),
        (
            plan.ensemble.melody,
            &score.melody,
            mix.melody_gain,
            mix.melody_brightness,
            Part::MelodyNotes,
        ),
        (
            plan.ensemble.bass,
            &score.bass,
            mix.bass_gain,
            mix.bass_brightness,
            Part::BassNotes,
        ),
    ];
    for (instrument, events, gain, brightness, part) in parts {
        // Only the harmony part strums (a guitar's chords).
        let strum = matches!(part, Part::HarmonyNotes) && instrument == Instrument::Guitar;
        play(
            &mut out, &grid, instrument, events, gain, brightness, strum, streams, part,
        );
    }
    let kit = Kit::new(&mut streams.rng(Part::Kit));
    play_drums(
        &mut out,
        &grid,
        &kit,
        &score.drums,
        mix.drum_gain,
        &mut streams.rng(Part::DrumTiming),
    );
    finish(&mut out, &mut streams.rng(Part::Finish));
    out
}

/// The chord slots of the whole track: phrases of four chords from two functional
/// progressions in the key, each phrase starting on the tonic, the last chord the tonic.
fn progression(key: Key, bars: usize, chords_per_bar: usize, rng: &mut Rng) -> Vec<ChordSlot> {
    let table: &[[u8; 4]] = match key.mode {
        Mode::Major => &MAJOR_PROGRESSIONS,
        Mode::Minor => &MINOR_PROGRESSIONS,
    };
    let a = rng.random_range(0..table.len());
    let b = (a + rng.random_range(1..table.len())) % table.len();
    const FORMS: [[usize; 4]; 4] = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1]];
    let form = FORMS[rng.random_range(0..FORMS.len())];
    let dominant_seventh = rng.random_bool(0.5);
    let count = bars * chords_per_bar;
    let length = BAR_STEPS / chords_per_bar;
    (0..count)
        .map(|i| {
            let phrase = i / PHRASE_CHORDS;
            let progression = [table[a], table[b]][form[phrase % 4]];
            let mut degree = progression[i % PHRASE_CHORDS];
            if i + 1 == count {
                degree = 0;
            }
            ChordSlot {
                chord: diatonic_chord(key, degree, degree == 4 && dominant_seventh),
                start: i * length,
                length,
            }
        })
        .collect()
}

/// A close voicing of `chord` near `center`, voice-led from `previous` (the inversion with
/// the least total movement).
fn voice(chord: &Chord, previous: Option<&[i32]>, center: i32) -> Vec<i32> {
    let n = chord.tones.len();
    let mut best: Option<(i32, Vec<i32>)> = None;
    for inversion in 0..n {
        let mut notes = Vec::with_capacity(n);
        let first = chord.tones[inversion];
        let mut current = nearest_midi(first, center - 5);
        notes.push(current);
        for k in 1..n {
            let pc = chord.tones[(inversion + k) % n] as i32;
            current += (pc - current).rem_euclid(12).max(1);
            notes.push(current);
        }
        let cost = match previous {
            Some(prev) if prev.len() == notes.len() => prev.iter().zip(&notes).map(|(a, b)| (a - b).abs()).sum(),
            Some(prev) => {
                let centroid = |v: &[i32]| v.iter().sum::<i32>() / v.len().max(1) as i32;
                (centroid(prev) - centroid(&notes)).abs() * n as i32
            }
            None => (notes.iter().sum::<i32>() / n as i32 - center).abs(),
        };
        // Keep the voicing near the register's centre as well.
        let drift = (notes.iter().sum::<i32>() / n as i32 - center).abs();
        let cost = cost + drift / 2;
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, notes));
        }
    }
    best.map(|(_, notes)| notes).unwrap_or_default()
}

/// The accompaniment: held chords for pads, a struck or strummed pattern otherwise.
fn accompaniment(instrument: Instrument, slots: &[ChordSlot], rng: &mut Rng) -> Vec<Event> {
    let center = match instrument {
        Instrument::Guitar => 60,
        Instrument::Strings | Instrument::AirPad | Instrument::Organ => 62,
        Instrument::Brass => 58,
        _ => 64,
    };
    // Patterns as (onset step, length in steps) within a 16-step bar.
    const QUARTERS: &[(u8, u8)] = &[(0, 3), (4, 3), (8, 3), (12, 3)];
    const HALVES: &[(u8, u8)] = &[(0, 7), (8, 7)];
    const SYNCOPATED: &[(u8, u8)] = &[(0, 5), (6, 5), (12, 3)];
    const CHARLESTON: &[(u8, u8)] = &[(0, 3), (6, 2), (8, 3), (14, 2)];
    const STRUM: &[(u8, u8)] = &[(0, 4), (4, 2), (6, 2), (10, 2), (12, 2), (14, 2)];
    let pattern_choice = rng.random_range(0..5);
    let mut events = Vec::new();
    let mut previous: Option<Vec<i32>> = None;
    for slot in slots {
        let voicing = voice(&slot.chord, previous.as_deref(), center);
        if instrument.sustains() {
            for &midi in &voicing {
                events.push(Event {
                    start: slot.start as f64,
                    length: slot.length as f64 - 0.3,
                    midi,
                    velocity: rng.random_range(0.7..0.85),
                });
            }
        } else if pattern_choice == 4 || (instrument == Instrument::Mallet && pattern_choice >= 2) {
            // Broken chord in eighths, up through the voicing and its top octave.
            let mut tones = voicing.clone();
            tones.push(voicing[0] + 12);
            for (i, step) in (0..slot.length).step_by(2).enumerate() {
                let midi = tones[i % tones.len()];
                events.push(Event {
                    start: (slot.start + step) as f64,
                    length: 2.5,
                    midi,
                    velocity: rng.random_range(0.55..0.75),
                });
            }
        } else {
            let pattern = match (instrument, pattern_choice) {
                (Instrument::Guitar, 0 | 1) => STRUM,
                (_, 0) => QUARTERS,
                (_, 1) => HALVES,
                (_, 2) => SYNCOPATED,
                _ => CHARLESTON,
            };
            for &(onset, length) in pattern.iter().filter(|(onset, _)| (*onset as usize) < slot.length) {
                let accent = if onset % 4 == 0 { 0.8 } else { 0.62 };
                let length = (length as usize).min(slot.length - onset as usize) as f64 - 0.2;
                for &midi in &voicing {
                    events.push(Event {
                        start: (slot.start + onset as usize) as f64,
                        length,
                        midi,
                        velocity: accent * rng.random_range(0.9..1.05),
                    });
                }
            }
        }
        previous = Some(voicing);
    }
    events
}

/// Melody rhythms of one bar in eighth notes (negative = rest).
const MELODY_RHYTHMS: [&[i8]; 11] = [
    &[2, 2, 2, 2],
    &[3, 1, 2, 2],
    &[2, 1, 1, 2, 2],
    &[4, 2, 2],
    &[2, 2, 4],
    &[1, 1, 1, 1, 2, 2],
    &[3, 3, 2],
    &[2, -2, 2, 2],
    &[4, 4],
    &[1, 1, 2, 1, 1, 2],
    &[-2, 2, 2, 2],
];
/// Rhythms for the last bar of a phrase: they end on a long note.
const CADENCE_RHYTHMS: [&[i8]; 4] = [&[2, 2, 4], &[4, 4], &[2, 6], &[1, 1, 2, 4]];

/// The melody: one phrase melody per distinct progression, repeated (with occasional
/// variation) whenever the progression returns; every phrase ending on the tonic chord
/// ends on the tonic note.
/// The first phrase may be a rest only when the track is `long_enough` (more than two phrases).
fn melody(
    key: Key,
    instrument: Instrument,
    slots: &[ChordSlot],
    chords_per_bar: usize,
    long_enough: bool,
    rng: &mut Rng,
) -> Vec<Event> {
    let (low, high) = instrument.melody_register();
    let tonic_midi = nearest_midi(key.tonic, (low + high) / 2 - 4);
    let phrase_steps = PHRASE_CHORDS * BAR_STEPS / chords_per_bar;
    let intro_rest = rng.random_bool(0.35) && long_enough;
    let mut cache: Vec<(Vec<u8>, Vec<Event>)> = Vec::new();
    let mut events = Vec::new();
    for (phrase, chunk) in slots.chunks(PHRASE_CHORDS).enumerate() {
        if phrase == 0 && intro_rest {
            continue;
        }
        let degrees: Vec<u8> = chunk.iter().map(|s| s.chord.degree).collect();
        let phrase_start = chunk[0].start as f64;
        let cached = cache.iter().find(|(d, _)| *d == degrees).map(|(_, e)| e.clone());
        let relative = match cached {
            Some(notes) if !rng.random_bool(0.25) => notes,
            _ => {
                let notes = phrase_melody(key, tonic_midi, (low, high), chunk, phrase_steps, rng);
                cache.retain(|(d, _)| *d != degrees);
                cache.push((degrees, notes.clone()));
                notes
            }
        };
        events.extend(relative.into_iter().map(|e| Event {
            start: e.start + phrase_start,
            ..e
        }));
    }
    events
}

/// One phrase of melody, positions relative to the phrase start.
fn phrase_melody(
    key: Key,
    tonic_midi: i32,
    register: (i32, i32),
    chunk: &[ChordSlot],
    phrase_steps: usize,
    rng: &mut Rng,
) -> Vec<Event> {
    let phrase_start = chunk[0].start;
    let chord_at = |step: usize| {
        chunk
            .iter()
            .find(|s| step + phrase_start >= s.start && step + phrase_start < s.start + s.length)
            .unwrap_or(&chunk[chunk.len() - 1])
    };
    // Pitches are scale positions: 7 per octave above the tonic at `tonic_midi`.
    let midi_of = |position: i32, chord_degree: u8| {
        let scale = melody_scale(key, chord_degree);
        let octave = position.div_euclid(7);
        let degree = position.rem_euclid(7) as usize;
        tonic_midi + 12 * octave + (scale[degree] as i32 - key.tonic as i32).rem_euclid(12)
    };
    let position_range = {
        let lowest = (-14..21).find(|&p| midi_of(p, 0) >= register.0).unwrap_or(0);
        let highest = (-14..21).rev().find(|&p| midi_of(p, 0) <= register.1).unwrap_or(7);
        (lowest, highest.max(lowest + 4))
    };
    let mut position = rng
        .random_range(position_range.0 + 2..=position_range.1 - 2)
        .clamp(position_range.0, position_range.1);
    let bars = phrase_steps / BAR_STEPS;
    let mut events = Vec::new();
    for bar in 0..bars {
        let last_bar = bar + 1 == bars;
        let rhythm: &[i8] = if last_bar {
            CADENCE_RHYTHMS[rng.random_range(0..CADENCE_RHYTHMS.len())]
        } else {
            MELODY_RHYTHMS[rng.random_range(0..MELODY_RHYTHMS.len())]
        };
        let mut step = bar * BAR_STEPS;
        for (i, &units) in rhythm.iter().enumerate() {
            let length = 2 * units.unsigned_abs() as usize;
            if units > 0 {
                let slot = chord_at(step);
                let chord_degree = slot.chord.degree;
                let final_note = last_bar && i + 1 == rhythm.len();
                position = if final_note {
                    // Cadence: the tonic over the tonic chord, else the nearest chord tone.
                    let target_degrees: Vec<i32> = if chord_degree == 0 {
                        vec![0]
                    } else {
                        chord_tone_degrees(slot)
                    };
                    nearest_position(position, &target_degrees, position_range)
                } else if step.is_multiple_of(8) {
                    let mut target = position + rng.random_range(-2..=2);
                    target = target.clamp(position_range.0, position_range.1);
                    nearest_position(target, &chord_tone_degrees(slot), position_range)
                } else {
                    let moves = [-2, -1, -1, 1, 1, 2, 0];
                    let next = position + moves[rng.random_range(0..moves.len())];
                    if next < position_range.0 || next > position_range.1 {
                        position - (next - position)
                    } else {
                        next
                    }
                };
                let accent = if step.is_multiple_of(8) { 0.85 } else { 0.72 };
                events.push(Event {
                    start: step as f64,
                    length: length as f64 - 0.3,
                    midi: midi_of(position, chord_degree),
                    velocity: accent * rng.random_range(0.9..1.08),
                });
            }
            step += length;
        }
    }
    events
}

/// The scale degrees (0–6) of a chord's tones.
fn chord_tone_degrees(slot: &ChordSlot) -> Vec<i32> {
    let n = slot.chord.tones.len().min(3);
    (0..n)
        .map(|k| ((slot.chord.degree as usize + 2 * k) % 7) as i32)
        .collect()
}

/// The scale position closest to `from` whose degree is in `degrees`, within `range`.
fn nearest_position(from: i32, degrees: &[i32], range: (i32, i32)) -> i32 {
    (range.0..=range.1)
        .filter(|p| degrees.contains(&p.rem_euclid(7)))
        .min_by_key(|p| ((p - from).abs(), *p))
        .unwrap_or(from)
}

/// Eight eighth notes on the root of a 16-step bar, the off-beat ones `off_beat` semitones
/// above it.
const fn eighths(off_beat: i32) -> [(u8, u8, i32); 8] {
    let mut notes = [(0, 0, 0); 8];
    let mut i = 0;
    while i < 8 {
        notes[i] = (2 * i as u8, 2, if i % 2 == 1 { off_beat } else { 0 });
        i += 1;
    }
    notes
}

/// The bass line: chord roots (and fifths / octaves) in a style-dependent rhythm, with a
/// diatonic approach note before some chord changes. Rock ballads keep to quarters.
fn bass_line(key: Key, style: DrumStyle, tempo: u32, slots: &[ChordSlot], rng: &mut Rng) -> Vec<Event> {
    // (onset, length, interval above the root) within a 16-step bar.
    const ROOT_QUARTERS: &[(u8, u8, i32)] = &[(0, 3, 0), (4, 3, 0), (8, 3, 0), (12, 3, 0)];
    const ROOT_FIFTH: &[(u8, u8, i32)] = &[(0, 6, 0), (6, 2, 0), (8, 6, 7), (14, 2, 0)];
    const EIGHTHS: &[(u8, u8, i32)] = &eighths(0);
    const OCTAVES: &[(u8, u8, i32)] = &eighths(12);
    const HALF_TIME: &[(u8, u8, i32)] = &[(0, 6, 0), (6, 2, 0), (8, 4, 0), (12, 3, 7)];
    const SYNCOPATED: &[(u8, u8, i32)] = &[(0, 3, 0), (4, 2, 0), (6, 2, 12), (8, 3, 0), (12, 2, 7), (14, 2, 0)];
    let options: &[&[(u8, u8, i32)]] = match style {
        DrumStyle::Rock if tempo < drums::BALLAD_BELOW => &[ROOT_QUARTERS, ROOT_FIFTH],
        DrumStyle::Rock => &[ROOT_QUARTERS, EIGHTHS, ROOT_FIFTH],
        DrumStyle::FourOnTheFloor => &[OCTAVES, EIGHTHS, ROOT_QUARTERS],
        DrumStyle::HalfTime => &[HALF_TIME, ROOT_QUARTERS],
        DrumStyle::Shuffle => &[ROOT_QUARTERS, ROOT_FIFTH],
        DrumStyle::Breakbeat => &[SYNCOPATED, ROOT_FIFTH, ROOT_QUARTERS],
    };
    let pattern = options[rng.random_range(0..options.len())];
    let approach = rng.random_bool(0.5);
    let scale = crate::theory::scale_pitch_classes(key);
    let mut events = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let root = nearest_midi(slot.chord.root, 36);
        let next_root = slots.get(i + 1).map(|s| nearest_midi(s.chord.root, 36));
        for &(onset, length, interval) in pattern.iter().filter(|(o, _, _)| (*o as usize) < slot.length) {
            let mut midi = root + interval;
            let is_last = onset as usize + 2 >= slot.length && length <= 2;
            if let (true, true, Some(next)) = (approach, is_last, next_root)
                && next != root
            {
                // A scale step towards the next root.
                let direction = if next > root { -1 } else { 1 };
                midi = (1..=2)
                    .map(|d| next + direction * d)
                    .find(|m| scale.contains(&(m.rem_euclid(12) as u8)))
                    .unwrap_or(root);
            }
            let length = (length as usize).min(slot.length - onset as usize) as f64 - 0.25;
            let accent = if onset % 4 == 0 { 0.9 } else { 0.75 };
            events.push(Event {
                start: (slot.start + onset as usize) as f64,
                length,
                midi,
                velocity: accent * rng.random_range(0.92..1.05),
            });
        }
    }
    events
}

/// Renders pitched events, each note from its own generator of `part` (its timing jitter,
/// phases and noise). A strummed part spreads each chord's notes by a few ms.
#[allow(clippy::too_many_arguments)]
fn play(
    out: &mut [f32],
    grid: &Grid,
    instrument: Instrument,
    events: &[Event],
    gain: f32,
    brightness: f32,
    strum: bool,
    streams: &Streams,
    part: Part,
) {
    let mut chord_onset = f64::NAN;
    let mut strum_index = 0usize;
    for (i, event) in events.iter().enumerate() {
        if event.start == chord_onset {
            strum_index += 1;
        } else {
            chord_onset = event.start;
            strum_index = 0;
        }
        let mut rng = streams.note_rng(part, i);
        let bar = (event.start / BAR_STEPS as f64).floor() as usize;
        let jitter = (rng.random_range(-0.003..0.003) * FS) as isize;
        let strum_delay = if strum {
            (strum_index as f64 * 0.012 * FS) as isize
        } else {
            0
        };
        let start =
            (grid.sample(bar, event.start - (bar * BAR_STEPS) as f64) as isize + jitter + strum_delay).max(0) as usize;
        let gate = grid.span(event.start, event.start + event.length);
        let note = Note {
            midi: event.midi as f64,
            gate,
            velocity: (event.velocity * gain).min(1.5),
            brightness,
        };
        instrument.render(&note, out, start, &mut rng);
    }
}

/// The drum part, bar by bar: the style's groove every bar, a fill at the end of most 4-bar
/// phrases, crashes on phrase starts, a final hit on the last downbeat.
fn drum_part(style: DrumStyle, tempo: u32, bars: usize, rng: &mut Rng) -> Vec<Vec<Hit>> {
    let variant = rng.random_range(0..6);
    let fill_variant = rng.random_range(0..3);
    (0..bars)
        .map(|bar| {
            let mut hits: Vec<Hit> = if bar + 1 == bars {
                vec![
                    Hit {
                        step: 0.0,
                        drum: drums::Drum::Kick,
                        velocity: 1.0,
                    },
                    Hit {
                        step: 0.0,
                        drum: drums::Drum::Crash,
                        velocity: 0.8,
                    },
                ]
            } else if bar % 4 == 3 && rng.random_bool(0.75) {
                let mut h: Vec<Hit> = drums::groove(style, variant, tempo, rng)
                    .into_iter()
                    .filter(|h| h.step < 8.0)
                    .collect();
                h.extend(drums::fill(fill_variant + bar / 4, rng));
                h
            } else {
                drums::groove(style, variant, tempo, rng)
            };
            if bar % 4 == 0 && bar + 1 < bars && (bar == 0 || rng.random_bool(0.6)) {
                hits.push(Hit {
                    step: 0.0,
                    drum: drums::Drum::Crash,
                    velocity: 0.7,
                });
            }
            hits
        })
        .collect()
}

/// Mixes the kit's sounds at the hits of every bar, each with a few ms of timing jitter.
fn play_drums(out: &mut [f32], grid: &Grid, kit: &Kit, bars: &[Vec<Hit>], gain: f32, rng: &mut Rng) {
    for (bar, hits) in bars.iter().enumerate() {
        for hit in hits {
            let jitter = (rng.random_range(-0.002..0.002) * FS) as isize;
            let start = (grid.sample(bar, hit.step) as isize + jitter).max(0) as usize;
            mix_into(out, start, kit.sound(hit.drum), gain * hit.velocity);
        }
    }
}

/// Fades in and out and normalises the peak to a random level.
fn finish(out: &mut [f32], rng: &mut Rng) {
    let fade_in = (0.002 * FS) as usize;
    let fade_out = ((0.4 * FS) as usize).min(out.len() / 4);
    for (i, x) in out.iter_mut().take(fade_in).enumerate() {
        *x *= i as f32 / fade_in as f32;
    }
    for (i, x) in out.iter_mut().rev().take(fade_out).enumerate() {
        *x *= i as f32 / fade_out as f32;
    }
    let peak = out.iter().fold(0f32, |m, x| m.max(x.abs()));
    if peak > 0.0 {
        let target = rng.random_range(0.5..0.9f32);
        let scale = target / peak;
        out.iter_mut().for_each(|x| *x *= scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::scale_pitch_classes;
    use loev_core::rng::rng_from_seed;

    #[test]
    fn phrases_start_on_the_tonic_and_every_note_is_in_the_key() {
        for class in 0..24 {
            let key = Key::from_class_index(class).unwrap();
            let mut rng = rng_from_seed(class as u64);
            let slots = progression(key, 9, 1, &mut rng);
            assert_eq!(slots.len(), 9);
            for phrase in slots.chunks(PHRASE_CHORDS) {
                assert_eq!(phrase[0].chord.degree, 0, "{key}: a phrase starts off the tonic");
            }
            assert_eq!(
                slots.last().unwrap().chord.degree,
                0,
                "{key}: the track ends off the tonic"
            );
            let mut allowed: Vec<u8> = scale_pitch_classes(key).to_vec();
            if key.mode == Mode::Minor {
                allowed.push((key.tonic + 11) % 12); // the harmonic-minor leading tone
            }
            let mut events = accompaniment(Instrument::Piano, &slots, &mut rng);
            events.extend(melody(key, Instrument::Flute, &slots, 1, true, &mut rng));
            events.extend(bass_line(key, DrumStyle::Rock, 120, &slots, &mut rng));
            assert!(events.len() > 9 * 4);
            for event in &events {
                let pc = event.midi.rem_euclid(12) as u8;
                assert!(allowed.contains(&pc), "{key}: pitch class {pc} is outside the key");
                assert!(event.length > 0.0 && event.velocity > 0.0);
            }
        }
    }

    /// Two members of a family: plans equal but for the tempo; the same swing, mix, kit
    /// stream and drum variant; the slower member's score is the faster one's up to the
    /// slower one's last phrase (which ends on the tonic), part by part.
    #[test]
    fn family_members_differ_only_in_tempo() {
        let cfg = crate::CorpusConfig {
            track_seconds: (15.0, 20.0),
            ..crate::CorpusConfig::default()
        };
        assert_eq!(cfg.tempo_family_size, 2, "the default corpus has tempo families");
        let mut compared_events = 0;
        for family in 0..40 {
            let a = crate::plan::plan_track(7, 2 * family, &cfg);
            let b = crate::plan::plan_track(7, 2 * family + 1, &cfg);
            assert_ne!(a.tempo, b.tempo, "family {family}");
            assert_eq!(
                TrackPlan {
                    tempo: b.tempo,
                    ..a.clone()
                },
                b,
                "family {family}"
            );
            assert_eq!(a.arrangement_tempo, a.tempo.min(b.tempo));
            let streams = Streams::new(7, a.family);
            let (slow_plan, fast_plan) = if a.tempo < b.tempo { (&a, &b) } else { (&b, &a) };
            let (slow, fast) = (compose(slow_plan, &streams), compose(fast_plan, &streams));
            assert_eq!((slow.swing, slow.mix), (fast.swing, fast.mix));
            assert_eq!(slow.chords_per_bar, fast.chords_per_bar);
            assert!(slow.drums.len() <= fast.drums.len());
            // Everything before the slower member's last phrase is the same music.
            let phrase_steps = (PHRASE_CHORDS * BAR_STEPS / slow.chords_per_bar) as f64;
            let cut = ((slow.slots - 1) / PHRASE_CHORDS) as f64 * phrase_steps;
            for (name, s, f) in [
                ("harmony", &slow.harmony, &fast.harmony),
                ("melody", &slow.melody, &fast.melody),
                ("bass", &slow.bass, &fast.bass),
            ] {
                let before = |events: &[Event]| events.iter().filter(|e| e.start < cut).copied().collect::<Vec<_>>();
                assert_eq!(before(s), before(f), "family {family}: {name}");
                compared_events += before(s).len();
            }
            let cut_bar = (cut as usize) / BAR_STEPS;
            assert_eq!(slow.drums[..cut_bar], fast.drums[..cut_bar], "family {family}: drums");
        }
        assert!(compared_events > 40 * 20, "{compared_events} events compared");
        // The kit comes from the family's kit stream alone: the same sounds for every member.
        let streams = Streams::new(7, 3);
        let (kit_a, kit_b) = (
            Kit::new(&mut streams.rng(Part::Kit)),
            Kit::new(&mut streams.rng(Part::Kit)),
        );
        assert_eq!(kit_a.sound(drums::Drum::Snare), kit_b.sound(drums::Drum::Snare));
        // Another family draws another composition.
        let other = Streams::new(7, 4);
        let kit_c = Kit::new(&mut other.rng(Part::Kit));
        assert_ne!(kit_a.sound(drums::Drum::Snare), kit_c.sound(drums::Drum::Snare));
    }

    /// A part's stream does not depend on the tempo: changing only the tempo of a plan (the
    /// arrangement tempo held) leaves every part's draws as they were, so each part's
    /// music agrees on the bars both tempi have.
    #[test]
    fn a_tempo_change_leaves_every_other_part_unchanged() {
        let cfg = crate::CorpusConfig {
            tempo_family_size: 1,
            ..crate::CorpusConfig::default()
        };
        for index in 0..30 {
            let plan = crate::plan::plan_track(3, index, &cfg);
            let faster = TrackPlan {
                tempo: plan.tempo + 37,
                ..plan.clone()
            };
            let streams = Streams::new(3, plan.family);
            let (slow, fast) = (compose(&plan, &streams), compose(&faster, &streams));
            assert_eq!((slow.swing, slow.mix), (fast.swing, fast.mix), "track {index}");
            let phrase_steps = (PHRASE_CHORDS * BAR_STEPS / slow.chords_per_bar) as f64;
            let cut = ((slow.slots - 1) / PHRASE_CHORDS) as f64 * phrase_steps;
            let before = |events: &[Event]| events.iter().filter(|e| e.start < cut).copied().collect::<Vec<_>>();
            assert_eq!(before(&slow.harmony), before(&fast.harmony), "track {index}");
            assert_eq!(before(&slow.melody), before(&fast.melody), "track {index}");
            assert_eq!(before(&slow.bass), before(&fast.bass), "track {index}");
            let cut_bar = (cut as usize) / BAR_STEPS;
            assert_eq!(slow.drums[..cut_bar], fast.drums[..cut_bar], "track {index}");
        }
    }

    #[test]
    fn swing_moves_only_the_off_beats() {
        let grid = Grid {
            beat: 0.5,
            swing: 2.0 / 3.0,
        };
        assert!((grid.seconds(0, 0.0) - LEAD_IN).abs() < 1e-12);
        assert!(
            (grid.seconds(0, 4.0) - LEAD_IN - 0.5).abs() < 1e-12,
            "beats stay on the grid"
        );
        assert!((grid.seconds(1, 0.0) - LEAD_IN - 2.0).abs() < 1e-12, "bars are 4 beats");
        assert!(
            (grid.seconds(0, 2.0) - LEAD_IN - 1.0 / 3.0).abs() < 1e-12,
            "triplet off-beat"
        );
    }
}
