//! Just enough music theory for key-true tracks: scales, diatonic triads with the
//! harmonic-minor dominant, and functional chord progressions.

use loev_core::key::{Key, Mode};

/// Semitone offsets of the major scale.
pub(crate) const MAJOR_SCALE: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Semitone offsets of the natural minor scale (melodies in minor use it, with the raised
/// seventh over the dominant chord).
pub(crate) const MINOR_SCALE: [u8; 7] = [0, 2, 3, 5, 7, 8, 10];

/// Functional progressions in major, as 0-based scale degrees (0 = I). Every phrase starts
/// on the tonic, so the key is established at each phrase boundary.
pub(crate) const MAJOR_PROGRESSIONS: [[u8; 4]; 8] = [
    [0, 3, 4, 0], // I–IV–V–I
    [0, 5, 3, 4], // I–vi–IV–V
    [0, 4, 5, 3], // I–V–vi–IV
    [0, 1, 4, 0], // I–ii–V–I
    [0, 3, 0, 4], // I–IV–I–V
    [0, 5, 1, 4], // I–vi–ii–V
    [0, 2, 3, 4], // I–iii–IV–V
    [0, 3, 1, 4], // I–IV–ii–V
];

/// Functional progressions in minor (V is the harmonic-minor major dominant).
pub(crate) const MINOR_PROGRESSIONS: [[u8; 4]; 7] = [
    [0, 3, 4, 0], // i–iv–V–i
    [0, 5, 3, 4], // i–VI–iv–V
    [0, 3, 5, 4], // i–iv–VI–V
    [0, 6, 5, 4], // i–VII–VI–V (Andalusian cadence)
    [0, 1, 4, 0], // i–ii°–V–i
    [0, 5, 2, 4], // i–VI–III–V
    [0, 3, 0, 4], // i–iv–i–V
];

/// The scale of a key as pitch classes (tonic first).
pub(crate) fn scale_pitch_classes(key: Key) -> [u8; 7] {
    let steps = match key.mode {
        Mode::Major => MAJOR_SCALE,
        Mode::Minor => MINOR_SCALE,
    };
    steps.map(|s| (key.tonic + s) % 12)
}

/// A chord: its root pitch class and its tones as pitch classes (root, third, fifth[, 7th]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chord {
    /// Scale degree (0-based) the chord stands on.
    pub degree: u8,
    /// Root pitch class.
    pub root: u8,
    /// Chord tones as pitch classes, root first.
    pub tones: Vec<u8>,
}

/// The diatonic triad on `degree` of `key`, with the raised leading tone in the minor
/// dominant (harmonic minor); `seventh` adds the diatonic seventh (a dominant seventh on V).
pub(crate) fn diatonic_chord(key: Key, degree: u8, seventh: bool) -> Chord {
    let scale = scale_pitch_classes(key);
    let pick = |step: u8| scale[((degree + step) % 7) as usize];
    let mut tones = vec![pick(0), pick(2), pick(4)];
    if seventh {
        tones.push(pick(6));
    }
    if key.mode == Mode::Minor && degree == 4 {
        // Harmonic minor: the third of V is the raised seventh degree.
        tones[1] = (key.tonic + 11) % 12;
    }
    Chord {
        degree,
        root: tones[0],
        tones,
    }
}

/// The scale used for melody notes over a chord: the key's scale, with the raised seventh
/// while the dominant sounds in minor (so melody and harmony agree).
pub(crate) fn melody_scale(key: Key, chord_degree: u8) -> [u8; 7] {
    let mut scale = scale_pitch_classes(key);
    if key.mode == Mode::Minor && chord_degree == 4 {
        scale[6] = (key.tonic + 11) % 12;
    }
    scale
}

/// The MIDI note of pitch class `pc` closest to `target`.
pub(crate) fn nearest_midi(pc: u8, target: i32) -> i32 {
    let base = target - (target - pc as i32).rem_euclid(12);
    if target - base > 6 { base + 12 } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_are_diatonic_with_harmonic_minor_dominant() {
        let c_major = Key::new(0, Mode::Major);
        assert_eq!(diatonic_chord(c_major, 0, false).tones, vec![0, 4, 7]);
        assert_eq!(diatonic_chord(c_major, 4, true).tones, vec![7, 11, 2, 5]);
        assert_eq!(diatonic_chord(c_major, 5, false).tones, vec![9, 0, 4]);
        let a_minor = Key::new(9, Mode::Minor);
        assert_eq!(diatonic_chord(a_minor, 0, false).tones, vec![9, 0, 4]);
        assert_eq!(
            diatonic_chord(a_minor, 4, false).tones,
            vec![4, 8, 11],
            "E major, with G#"
        );
        assert_eq!(diatonic_chord(a_minor, 3, false).tones, vec![2, 5, 9]);
        assert_eq!(melody_scale(a_minor, 4)[6], 8);
        assert_eq!(melody_scale(a_minor, 0)[6], 7);
    }

    #[test]
    fn nearest_midi_picks_the_closest_octave() {
        assert_eq!(nearest_midi(0, 60), 60);
        assert_eq!(nearest_midi(11, 60), 59);
        assert_eq!(nearest_midi(6, 60), 54);
        assert_eq!(nearest_midi(7, 60), 55);
        assert_eq!(nearest_midi(5, 60), 65);
    }
}
