//! The pitched instruments of the corpus: twelve timbres from four synthesis families
//! (additive, FM, Karplus–Strong plucked strings, subtractive and noise-based), each with
//! its own envelope, register and note range.

use std::f64::consts::TAU;

use loev_core::rng::Rng;
use rand::RngExt;

use crate::dsp::{
    Adsr, BlepOsc, DecayingPartial, FS, MAX_PARTIAL_HZ, OnePole, SineOsc, Svf, TunedLoop, midi_to_hz, white,
};
use crate::names::named_enum;

named_enum! {
    /// A pitched instrument timbre. Its [`Instrument::name`] is the tag and manifest spelling.
    pub enum Instrument {
        /// Additive: stretched harmonic partials with per-partial exponential decay, hammer noise.
        Piano => "piano",
        /// FM (ratio 1:1, decaying index) with a faint high tine partial.
        ElectricPiano => "electric_piano",
        /// Additive drawbar organ (footages 8', 4', 2⅔', 2', 1⅗'-less, 1') with slow tremolo.
        Organ => "organ",
        /// Subtractive ensemble: three detuned PolyBLEP saws, vibrato, low-pass, slow attack.
        Strings => "strings",
        /// Karplus–Strong plucked string with a shaped pluck and tuned all-pass.
        Guitar => "guitar",
        /// Additive tuned bar (partials 1 : 4 : 10) with motor tremolo, like a vibraphone.
        Mallet => "mallet",
        /// Near-sine tone with vibrato and band-passed breath noise.
        Flute => "flute",
        /// Subtractive: PolyBLEP saw through a state-variable low-pass whose cutoff follows the
        /// envelope (brassy "blat" on the attack).
        Brass => "brass",
        /// Subtractive: resonant low-passed pulse wave with delayed vibrato.
        SynthLead => "synth_lead",
        /// Noise-based: white noise through a tuned feedback comb (a breathy choir-like pad).
        AirPad => "air_pad",
        /// Karplus–Strong electric bass (dark pluck).
        Bass => "bass",
        /// Subtractive bass: saw through an enveloped resonant low-pass.
        SynthBass => "synth_bass",
    }
    /// A name that is not one of the corpus instruments.
    pub struct UnknownInstrument(pub String) = "is not a corpus instrument";
    parse = |text| text;
}

impl Instrument {
    /// Instruments that can play the chords of a track.
    pub const HARMONY: [Instrument; 8] = [
        Instrument::Piano,
        Instrument::ElectricPiano,
        Instrument::Organ,
        Instrument::Strings,
        Instrument::Guitar,
        Instrument::Mallet,
        Instrument::AirPad,
        Instrument::Brass,
    ];

    /// Instruments that can play the melody of a track.
    pub const MELODY: [Instrument; 8] = [
        Instrument::Piano,
        Instrument::ElectricPiano,
        Instrument::Strings,
        Instrument::Guitar,
        Instrument::Mallet,
        Instrument::Flute,
        Instrument::Brass,
        Instrument::SynthLead,
    ];

    /// Instruments that can play the bass line of a track.
    pub const BASS: [Instrument; 2] = [Instrument::Bass, Instrument::SynthBass];

    /// The MIDI range (inclusive) the instrument plays as a single note. Together the
    /// ranges cover the NSynth-like pitch task's 21–108.
    pub fn note_range(self) -> (u8, u8) {
        match self {
            Instrument::Piano => (21, 108),
            Instrument::ElectricPiano => (28, 103),
            Instrument::Organ => (36, 96),
            Instrument::Strings => (28, 96),
            Instrument::Guitar => (40, 88),
            Instrument::Mallet => (45, 108),
            Instrument::Flute => (60, 96),
            Instrument::Brass => (40, 84),
            Instrument::SynthLead => (36, 96),
            Instrument::AirPad => (36, 84),
            Instrument::Bass => (28, 67),
            Instrument::SynthBass => (21, 60),
        }
    }

    /// Where the instrument sits as a melody voice: (lowest, highest) MIDI note.
    pub(crate) fn melody_register(self) -> (i32, i32) {
        match self {
            Instrument::Flute => (72, 91),
            Instrument::Mallet => (65, 86),
            Instrument::SynthLead => (62, 84),
            Instrument::Brass => (58, 77),
            Instrument::Strings => (67, 86),
            Instrument::Piano => (64, 84),
            Instrument::ElectricPiano => (62, 81),
            Instrument::Guitar => (59, 79),
            _ => (62, 81),
        }
    }

    /// Whether chords on this instrument are held (pads) rather than struck patterns.
    pub(crate) fn sustains(self) -> bool {
        matches!(
            self,
            Instrument::Organ | Instrument::Strings | Instrument::AirPad | Instrument::Brass | Instrument::Flute
        )
    }

    /// Renders one note of MIDI pitch `midi`, held for `gate` samples, with `velocity` in
    /// (0, 1] and `brightness` around 1, added into `out` from `start`. Returns the number
    /// of samples written (gate plus release tail, clipped to `out`).
    pub(crate) fn render(self, note: &Note, out: &mut [f32], start: usize, rng: &mut Rng) -> usize {
        if start >= out.len() || note.gate == 0 {
            return 0;
        }
        let out = &mut out[start..];
        match self {
            Instrument::Piano => render_piano(note, out, rng),
            Instrument::ElectricPiano => render_electric_piano(note, out, rng),
            Instrument::Organ => render_organ(note, out, rng),
            Instrument::Strings => render_strings(note, out, rng),
            Instrument::Guitar => render_plucked(note, out, rng, PluckKind::Guitar),
            Instrument::Mallet => render_mallet(note, out, rng),
            Instrument::Flute => render_flute(note, out, rng),
            Instrument::Brass => render_brass(note, out, rng),
            Instrument::SynthLead => render_synth_lead(note, out, rng),
            Instrument::AirPad => render_air_pad(note, out, rng),
            Instrument::Bass => render_plucked(note, out, rng, PluckKind::Bass),
            Instrument::SynthBass => render_synth_bass(note, out, rng),
        }
    }
}

/// One note to render.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Note {
    /// MIDI pitch (equal temperament, A4 = 69).
    pub midi: f64,
    /// Samples the key is held.
    pub gate: usize,
    /// Loudness in (0, 1].
    pub velocity: f32,
    /// Timbre brightness factor around 1 (per track and per hit).
    pub brightness: f32,
}

impl Note {
    fn freq(&self) -> f64 {
        midi_to_hz(self.midi)
    }
}

/// Writes `gate + tail` samples (clipped to `out`) of `voice(n)` times the envelope.
fn write_enveloped(out: &mut [f32], env: Adsr, gate: usize, gain: f32, mut voice: impl FnMut() -> f32) -> usize {
    let total = (gate + env.tail_samples()).min(out.len());
    for (o, e) in out[..total].iter_mut().zip(env.iter(gate, total)) {
        *o += gain * e * voice();
    }
    total
}

fn render_piano(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let inharmonicity = 1.2e-4 * (f / 261.6).powf(0.5);
    let sustain_t60 = (7.0 * (261.6 / f).powf(0.55)).clamp(0.5, 14.0);
    let brightness = (0.55 - 0.25 * note.velocity as f64 * note.brightness as f64).clamp(0.12, 0.6);
    let mut partials = Vec::with_capacity(16);
    for n in 1..=16u32 {
        let nf = n as f64;
        let freq = nf * f * (1.0 + inharmonicity * nf * nf).sqrt();
        if freq > MAX_PARTIAL_HZ {
            break;
        }
        let amplitude = (-(nf - 1.0) * brightness).exp() / nf.powf(0.6);
        let t60 = sustain_t60 / (1.0 + 0.35 * (nf - 1.0));
        partials.push(DecayingPartial::new(freq, amplitude, t60, rng.random::<f64>()));
    }
    let norm: f64 = partials.len().max(1) as f64;
    let gain = note.velocity * (1.6 / norm.sqrt()) as f32;
    let env = Adsr::new(0.002, 1.0, 1.0, 0.15);
    let mut hammer = OnePole::low_pass(2500.0);
    let hammer_len = (0.004 * FS) as usize;
    let mut n = 0usize;
    write_enveloped(out, env, note.gate, gain, || {
        let mut y: f64 = partials.iter_mut().map(|p| p.next()).sum();
        if n < hammer_len {
            y += 0.3 * hammer.process(white(rng)) as f64;
        }
        n += 1;
        y as f32
    })
}

fn render_electric_piano(note: &Note, out: &mut [f32], _rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut carrier = SineOsc::new(f, 0.0);
    let mut modulator = SineOsc::new(f, 0.0);
    let tine_on = 14.0 * f < MAX_PARTIAL_HZ;
    let mut tine = SineOsc::new(14.0 * f, 0.0);
    let index0 = ((1.2 + 1.6 * note.velocity * note.brightness) as f64).min(2400.0 / f) as f32;
    let index_decay = (-1.0 / (0.35 * FS)).exp() as f32;
    let amp_decay = (-6.907_755 / ((4.5 * (261.6 / f).powf(0.4)).clamp(0.8, 8.0) * FS)).exp() as f32;
    let tine_decay = (-1.0 / (0.04 * FS)).exp() as f32;
    let mut index = index0;
    let mut amp = 1.0f32;
    let mut tine_amp = if tine_on { 0.12 * note.velocity } else { 0.0 };
    let env = Adsr::new(0.001, 1.0, 1.0, 0.12);
    write_enveloped(out, env, note.gate, 0.7 * note.velocity, || {
        let m = modulator.next();
        let y = carrier.next_modulated(index * m / TAU as f32) * amp + tine_amp * tine.next();
        index = index * index_decay + 0.25 * (1.0 - index_decay);
        amp *= amp_decay;
        tine_amp *= tine_decay;
        y
    })
}

fn render_organ(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    const HARMONICS: [(f64, f32); 6] = [
        (1.0, 1.0),
        (2.0, 0.6),
        (3.0, 0.45),
        (4.0, 0.3),
        (6.0, 0.18),
        (8.0, 0.12),
    ];
    let mut oscillators: Vec<(SineOsc, f32)> = HARMONICS
        .iter()
        .filter(|(h, _)| h * f < MAX_PARTIAL_HZ)
        .map(|&(h, a)| {
            (
                SineOsc::new(h * f, rng.random::<f64>()),
                a * note.brightness.powf(h as f32 - 1.0).min(1.5),
            )
        })
        .collect();
    let mut tremolo = SineOsc::new(5.8, rng.random::<f64>());
    let env = Adsr::new(0.006, 0.1, 1.0, 0.06);
    write_enveloped(out, env, note.gate, 0.25 * note.velocity, || {
        let y: f32 = oscillators.iter_mut().map(|(o, a)| *a * o.next()).sum();
        y * (1.0 + 0.12 * tremolo.next())
    })
}

fn render_strings(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let detune = [-0.004, 0.0, 0.0045];
    let mut saws: Vec<BlepOsc> = detune
        .iter()
        .map(|d| BlepOsc::saw(f * (1.0 + d), rng.random::<f64>()))
        .collect();
    let mut vibratos: Vec<SineOsc> = (0..3)
        .map(|i| SineOsc::new(5.2 + 0.4 * i as f64, rng.random::<f64>()))
        .collect();
    let cutoff = (f * 6.0 * note.brightness as f64).clamp(600.0, 5000.0);
    let mut filter = Svf::new(cutoff, 0.7);
    let env = Adsr::new(0.18, 0.5, 0.85, 0.35);
    write_enveloped(out, env, note.gate, 0.3 * note.velocity, || {
        let mut y = 0.0;
        for (saw, vib) in saws.iter_mut().zip(vibratos.iter_mut()) {
            y += saw.next_scaled(1.0 + 0.003 * vib.next() as f64);
        }
        filter.process(y).low
    })
}

#[derive(Clone, Copy, PartialEq)]
enum PluckKind {
    Guitar,
    Bass,
}

fn render_plucked(note: &Note, out: &mut [f32], rng: &mut Rng, kind: PluckKind) -> usize {
    let f = note.freq();
    let period = FS / f;
    // High strings lose less per trip through the loss filter (a real string's high
    // notes still ring for about a second): brightness rises with pitch.
    let brightness = match kind {
        PluckKind::Guitar => ((f - 300.0) / 1200.0).clamp(0.1, 0.85) as f32,
        PluckKind::Bass => 0.0,
    };
    let mut string = TunedLoop::new(period, brightness);
    let n = string.len();
    // A triangle pluck shape (plucking point at `position`) plus a little noise, darkened
    // by a one-pole low-pass whose cutoff follows velocity.
    let position = rng.random_range(0.12..0.3);
    let (cutoff, noise_mix, t60) = match kind {
        PluckKind::Guitar => (
            2500.0 + 3500.0 * (note.velocity * note.brightness) as f64,
            0.25,
            (3.5 * (196.0 / f).powf(0.5)).clamp(0.6, 5.0),
        ),
        PluckKind::Bass => (700.0 + 900.0 * (note.velocity * note.brightness) as f64, 0.1, 2.5),
    };
    let mut tone = OnePole::low_pass(cutoff);
    let mut excitation = Vec::with_capacity(n);
    for i in 0..n {
        let x = i as f64 / n as f64;
        let shape = if x < position {
            x / position
        } else {
            (1.0 - x) / (1.0 - position)
        };
        let raw = (shape - 0.5) as f32 + noise_mix * white(rng);
        excitation.push(tone.process(raw));
    }
    let mean = excitation.iter().sum::<f32>() / n.max(1) as f32;
    string.excite(excitation.iter().map(|x| x - mean));
    // Loop gain for the wanted decay of the fundamental (compensating the loss filter,
    // never above 1 so the loop stays stable); the damper after release.
    let loss = string.loss_at(f);
    let held_gain = (10f64.powf(-3.0 * period / (FS * t60)) / loss).min(0.99995) as f32;
    let damped_gain = (10f64.powf(-3.0 * period / (FS * 0.08)) / loss).min(0.99995) as f32;
    let total = (note.gate + (0.1 * FS) as usize).min(out.len());
    let gain = note.velocity * if kind == PluckKind::Bass { 1.9 } else { 1.5 };
    let mut body = OnePole::low_pass(if kind == PluckKind::Bass { 1800.0 } else { 6000.0 });
    for (i, o) in out[..total].iter_mut().enumerate() {
        let loop_gain = if i < note.gate { held_gain } else { damped_gain };
        *o += gain * body.process(string.step(0.0, loop_gain));
    }
    total
}

fn render_mallet(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let t60 = (3.0 * (261.6 / f).powf(0.5)).clamp(0.5, 5.0);
    let modes = [
        (1.0, 1.0, t60),
        (4.0, 0.3 * note.brightness as f64, t60 * 0.25),
        (10.0, 0.1 * note.brightness as f64, t60 * 0.1),
    ];
    let mut partials: Vec<DecayingPartial> = modes
        .iter()
        .filter(|(r, _, _)| r * f < MAX_PARTIAL_HZ)
        .map(|&(r, a, t)| DecayingPartial::new(r * f, a, t, 0.0))
        .collect();
    let mut motor = SineOsc::new(rng.random_range(4.0..6.0), 0.25);
    let depth = rng.random_range(0.0..0.25f32);
    let env = Adsr::new(0.001, 1.0, 1.0, 0.25);
    write_enveloped(out, env, note.gate, 0.9 * note.velocity, || {
        let y: f64 = partials.iter_mut().map(|p| p.next()).sum();
        y as f32 * (1.0 - depth * (0.5 + 0.5 * motor.next()))
    })
}

fn render_flute(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut fundamental = SineOsc::new(f, 0.0);
    let mut second = SineOsc::new(2.0 * f, 0.1);
    let mut third = SineOsc::new(3.0 * f, 0.2);
    let h2 = if 2.0 * f < MAX_PARTIAL_HZ {
        0.22 * note.brightness
    } else {
        0.0
    };
    let h3 = if 3.0 * f < MAX_PARTIAL_HZ {
        0.07 * note.brightness
    } else {
        0.0
    };
    let mut vibrato = SineOsc::new(rng.random_range(4.5..5.5), 0.0);
    let vibrato_onset = (0.25 * FS) as usize;
    let mut breath = Svf::new(f.min(6000.0), 6.0);
    let mut air = OnePole::low_pass(3000.0);
    let env = Adsr::new(0.06, 0.2, 0.9, 0.08);
    let mut n = 0usize;
    write_enveloped(out, env, note.gate, 0.35 * note.velocity, || {
        let depth = if n < vibrato_onset { 0.0 } else { 0.004 };
        n += 1;
        let ratio = 1.0 + depth * vibrato.next();
        let tone = fundamental.next_scaled(ratio) + h2 * second.next_scaled(ratio) + h3 * third.next_scaled(ratio);
        let noise = white(rng);
        tone + 0.35 * breath.process(noise).band + 0.03 * air.process(noise)
    })
}

fn render_brass(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut saw = BlepOsc::saw(f, rng.random::<f64>());
    let base = f * 1.5;
    let sweep = f * 7.0 * (note.velocity * note.brightness) as f64;
    let mut filter = Svf::new(base, 0.9);
    let env = Adsr::new(0.04, 0.35, 0.75, 0.12);
    let mut cutoff_env = env.iter(note.gate, usize::MAX);
    let mut n = 0usize;
    write_enveloped(out, env, note.gate, 0.45 * note.velocity, || {
        let e = cutoff_env.next().unwrap_or(0.0) as f64;
        if n.is_multiple_of(16) {
            filter.set((base + sweep * e).min(6500.0), 0.9);
        }
        n += 1;
        filter.process(saw.next()).low
    })
}

fn render_synth_lead(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut pulse = BlepOsc::pulse(f, rng.random_range(0.25..0.45), 0.0);
    let mut vibrato = SineOsc::new(5.5, 0.0);
    let vibrato_onset = (0.3 * FS) as usize;
    let cutoff = (f * 5.0 * note.brightness as f64).clamp(800.0, 6500.0);
    let mut filter = Svf::new(cutoff, 1.8);
    let env = Adsr::new(0.01, 0.25, 0.8, 0.08);
    let mut n = 0usize;
    write_enveloped(out, env, note.gate, 0.3 * note.velocity, || {
        let depth = if n < vibrato_onset { 0.0 } else { 0.005 };
        n += 1;
        filter
            .process(pulse.next_scaled(1.0 + depth * vibrato.next() as f64))
            .low
    })
}

fn render_air_pad(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut comb = TunedLoop::new(FS / f, 0.3);
    let feedback = 0.985f32;
    let input_gain = (1.0 - feedback * feedback).sqrt() * 1.2;
    let mut colour = Svf::new((f * 8.0).min(5000.0), 0.7);
    let env = Adsr::new(0.35, 0.5, 0.9, 0.45);
    write_enveloped(out, env, note.gate, 1.1 * note.velocity, || {
        let x = white(rng) * input_gain;
        let y = comb.step(x, feedback);
        colour.process(y).low
    })
}

fn render_synth_bass(note: &Note, out: &mut [f32], rng: &mut Rng) -> usize {
    let f = note.freq();
    let mut saw = BlepOsc::saw(f, rng.random::<f64>());
    let base = f * 1.2;
    let sweep = f * 10.0 * (note.velocity * note.brightness) as f64;
    let mut filter = Svf::new(base + sweep, 1.6);
    let cutoff_decay = (-1.0 / (0.09 * FS)).exp();
    let mut cutoff_env = 1.0f64;
    let env = Adsr::new(0.003, 0.25, 0.65, 0.05);
    let mut n = 0usize;
    write_enveloped(out, env, note.gate, 0.47 * note.velocity, || {
        if n.is_multiple_of(16) {
            filter.set((base + sweep * cutoff_env).min(6000.0), 1.6);
        }
        cutoff_env *= cutoff_decay;
        n += 1;
        filter.process(saw.next()).low
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_core::rng::rng_from_seed;

    /// RMS level (dB) over the held second of a mid-range note at velocity 0.8.
    fn level_db(instrument: Instrument, midi: u8) -> f32 {
        let mut out = vec![0f32; 24_000];
        let note = Note {
            midi: midi as f64,
            gate: 16_000,
            velocity: 0.8,
            brightness: 1.0,
        };
        let written = instrument.render(&note, &mut out, 0, &mut rng_from_seed(1));
        assert!(
            written > 16_000 && written <= out.len(),
            "{instrument}: gate plus a release tail, got {written}"
        );
        assert!(
            out.iter().all(|x| x.is_finite() && x.abs() < 1.5),
            "{instrument} {midi}"
        );
        let rms = (out[..16_000].iter().map(|x| x * x).sum::<f32>() / 16_000.0).sqrt();
        20.0 * rms.log10()
    }

    #[test]
    fn instruments_sound_at_comparable_levels() {
        // The mix draws per-part levels at random; the instruments themselves are
        // calibrated so that no timbre is systematically buried or dominant.
        for instrument in Instrument::ALL {
            let (lo, hi) = instrument.note_range();
            let middle = ((lo as u32 + hi as u32) / 2) as u8;
            let level = level_db(instrument, middle);
            assert!(
                (-19.0..=-11.0).contains(&level),
                "{instrument} at MIDI {middle}: {level:.1} dB"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for instrument in Instrument::ALL {
            assert_eq!(instrument.name().parse::<Instrument>().unwrap(), instrument);
        }
        assert!("kazoo".parse::<Instrument>().is_err());
    }
}
