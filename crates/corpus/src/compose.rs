//! Composing and rendering one track from its plan: a chord progression in the key, a
//! voice-led accompaniment pattern, a melody from the key's scale, a bass line on the
//! chord roots and drums on the tempo grid, mixed at random levels.
//!
//! Musical time is counted in sixteenth steps (16 per 4/4 bar). The swing ratio moves the
//! off-beat eighths (and the sixteenths around them) for every part alike, so the whole
//! band shuffles together.

use loev_core::key::{Key, Mode};
use loev_core::rng::Rng;
use rand::RngExt;

use crate::drums::{self, DrumStyle, Hit, Kit};
use crate::dsp::{FS, db_to_gain, mix_into};
use crate::instruments::{Instrument, Note};
use crate::plan::TrackPlan;
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
#[derive(Clone, Copy, Debug)]
struct Event {
    start: f64,
    length: f64,
    midi: i32,
    velocity: f32,
}

/// Renders a track of `plan.seconds` seconds.
pub(crate) fn render_track(plan: &TrackPlan, rng: &mut Rng) -> Vec<f32> {
    let total = (plan.seconds * FS).round() as usize;
    let mut out = vec![0f32; total];
    let beat = 60.0 / plan.tempo as f64;
    let (swing_low, swing_high) = plan.style.swing_range();
    let grid = Grid {
        beat,
        swing: rng.random_range(swing_low..=swing_high),
    };
    let bar_seconds = 4.0 * beat;
    let bars = ((plan.seconds - LEAD_IN) / bar_seconds).round().max(1.0) as usize;
    // Slow tempi change chord every half bar so phrases stay a few seconds long.
    let chords_per_bar = if bar_seconds > 3.2 { 2 } else { 1 };
    let slots = progression(plan.key, bars, chords_per_bar, rng);

    // Mix levels (dB) per part, drawn per track.
    let harmony_gain = db_to_gain(rng.random_range(-9.0..-3.0));
    let melody_gain = db_to_gain(rng.random_range(-7.0..-2.0));
    let bass_gain = db_to_gain(rng.random_range(-6.0..-1.0));
    let drum_gain = db_to_gain(rng.random_range(-4.0..0.0));
    let harmony_brightness = rng.random_range(0.8..1.2f32);
    let melody_brightness = rng.random_range(0.8..1.2f32);
    let bass_brightness = rng.random_range(0.8..1.2f32);

    let harmony = accompaniment(plan.ensemble.harmony, &slots, rng);
    play(
        &mut out,
        &grid,
        plan.ensemble.harmony,
        &harmony,
        harmony_gain,
        harmony_brightness,
        plan.ensemble.harmony == Instrument::Guitar,
        rng,
    );
    let melody = melody(plan.key, plan.ensemble.melody, &slots, chords_per_bar, rng);
    play(
        &mut out,
        &grid,
        plan.ensemble.melody,
        &melody,
        melody_gain,
        melody_brightness,
        false,
        rng,
    );
    let bass = bass_line(plan.key, plan.style, plan.tempo, &slots, rng);
    play(
        &mut out,
        &grid,
        plan.ensemble.bass,
        &bass,
        bass_gain,
        bass_brightness,
        false,
        rng,
    );
    drum_track(&mut out, &grid, plan.style, plan.tempo, bars, drum_gain, rng);

    finish(&mut out, rng);
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
fn melody(key: Key, instrument: Instrument, slots: &[ChordSlot], chords_per_bar: usize, rng: &mut Rng) -> Vec<Event> {
    let (low, high) = instrument.melody_register();
    let tonic_midi = nearest_midi(key.tonic, (low + high) / 2 - 4);
    let phrase_steps = PHRASE_CHORDS * BAR_STEPS / chords_per_bar;
    let intro_rest = rng.random_bool(0.35) && slots.len() > 2 * PHRASE_CHORDS;
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

/// Renders pitched events. A strummed part spreads each chord's notes by a few ms.
#[allow(clippy::too_many_arguments)]
fn play(
    out: &mut [f32],
    grid: &Grid,
    instrument: Instrument,
    events: &[Event],
    gain: f32,
    brightness: f32,
    strum: bool,
    rng: &mut Rng,
) {
    let mut chord_onset = f64::NAN;
    let mut strum_index = 0usize;
    for event in events {
        if event.start == chord_onset {
            strum_index += 1;
        } else {
            chord_onset = event.start;
            strum_index = 0;
        }
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
        instrument.render(&note, out, start, rng);
    }
}

/// The drum part: the style's groove every bar, a fill at the end of most 4-bar phrases,
/// crashes on phrase starts, a final hit on the last downbeat.
fn drum_track(out: &mut [f32], grid: &Grid, style: DrumStyle, tempo: u32, bars: usize, gain: f32, rng: &mut Rng) {
    let kit = Kit::new(rng);
    let variant = rng.random_range(0..6);
    let fill_variant = rng.random_range(0..3);
    for bar in 0..bars {
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
            events.extend(melody(key, Instrument::Flute, &slots, 1, &mut rng));
            events.extend(bass_line(key, DrumStyle::Rock, 120, &slots, &mut rng));
            assert!(events.len() > 9 * 4);
            for event in &events {
                let pc = event.midi.rem_euclid(12) as u8;
                assert!(allowed.contains(&pc), "{key}: pitch class {pc} is outside the key");
                assert!(event.length > 0.0 && event.velocity > 0.0);
            }
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
