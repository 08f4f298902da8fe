//! The drum kit (synthesised one-shots) and the drum styles with their fills.
//!
//! Each composition (a tempo family's tracks share it) draws its own kit (tunings, decays,
//! brightness), renders every sound once, and mixes copies at the pattern's event times, so
//! drums cost almost nothing.

use std::ops::Range;

use loev_core::rng::Rng;
use rand::RngExt;

use crate::dsp::{FS, OnePole, SineOsc, Svf, white};
use crate::names::named_enum;

named_enum! {
    /// A drum style: the groove of the kit, the feel (swing) and the fills. The track's
    /// style tag is `style:<name>`.
    pub enum DrumStyle {
        /// Kick on 1 and 3, snare backbeat on 2 and 4, straight eighth hi-hats.
        Rock => "rock",
        /// Kick on every beat, clap on 2 and 4, open hi-hat on the off-beats (disco / house).
        FourOnTheFloor => "four_on_the_floor",
        /// Half-time feel: snare on 3, kick on 1 with a syncopated pickup, quarter-note hi-hats
        /// (or ride) with off-beat ghosts.
        HalfTime => "half_time",
        /// Triplet shuffle: swung eighths (2:1) on the hi-hat, kick on 1 and 3, snare on 2 and 4.
        Shuffle => "shuffle",
        /// Syncopated breakbeat: kick on 1 and the "and" of 2/3, snare on 2 and 4 with ghost
        /// notes, sixteenth hi-hats.
        Breakbeat => "breakbeat",
    }
    /// A name that is not one of the drum styles.
    pub struct UnknownDrumStyle(pub String) = "is not a drum style";
    // A style parses from its name or its tag.
    parse = |text| text.strip_prefix("style:").unwrap_or(text);
}

impl DrumStyle {
    /// The tempi (BPM, inclusive) the style is played at, as in the genres it stands for:
    /// breakbeats (funk, hip-hop, big beat) up to 140 (faster breaks are drum and bass,
    /// heard at half tempo), four-on-the-floor from disco tempo up, half-time at 90–150 (slower
    /// half-time drags, faster is heard at half tempo).
    pub fn tempo_range(self) -> (u32, u32) {
        match self {
            DrumStyle::Rock | DrumStyle::Shuffle => (60, 180),
            DrumStyle::FourOnTheFloor => (90, 180),
            DrumStyle::HalfTime => (90, 150),
            DrumStyle::Breakbeat => (70, 140),
        }
    }

    /// The swing ratio range of the style: where the off-beat eighth falls within the beat
    /// (0.5 = straight, 2/3 = triplet shuffle).
    pub(crate) fn swing_range(self) -> (f64, f64) {
        match self {
            DrumStyle::Shuffle => (0.64, 0.68),
            DrumStyle::Rock | DrumStyle::FourOnTheFloor => (0.5, 0.53),
            DrumStyle::HalfTime | DrumStyle::Breakbeat => (0.5, 0.57),
        }
    }
}

/// The sounds of the kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drum {
    Kick,
    Snare,
    Clap,
    ClosedHat,
    OpenHat,
    Ride,
    Crash,
    HighTom,
    LowTom,
}

const DRUM_COUNT: usize = 9;

impl Drum {
    fn slot(self) -> usize {
        self as usize
    }
}

/// One drum hit: when (in sixteenth steps from the start of the bar, fractional steps
/// allowed for triplets), which sound, how loud.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Hit {
    pub step: f64,
    pub drum: Drum,
    pub velocity: f32,
}

/// A kit rendered for one track: every sound as a sample buffer.
pub(crate) struct Kit {
    sounds: Vec<Vec<f32>>,
}

impl Kit {
    /// Draws and renders a kit.
    pub(crate) fn new(rng: &mut Rng) -> Self {
        let mut sounds = vec![Vec::new(); DRUM_COUNT];
        sounds[Drum::Kick.slot()] = kick(rng);
        sounds[Drum::Snare.slot()] = snare(rng);
        sounds[Drum::Clap.slot()] = clap(rng);
        let (closed, open) = (rng.random_range(0.03..0.06), rng.random_range(0.18..0.3));
        sounds[Drum::ClosedHat.slot()] = hat(rng, closed);
        sounds[Drum::OpenHat.slot()] = hat(rng, open);
        sounds[Drum::Ride.slot()] = ride(rng);
        sounds[Drum::Crash.slot()] = crash(rng);
        let (high, low) = (rng.random_range(160.0..210.0), rng.random_range(95.0..130.0));
        sounds[Drum::HighTom.slot()] = tom(rng, high);
        sounds[Drum::LowTom.slot()] = tom(rng, low);
        Self { sounds }
    }

    /// The rendered sound of `drum`.
    pub(crate) fn sound(&self, drum: Drum) -> &[f32] {
        &self.sounds[drum.slot()]
    }
}

fn exp_decay(seconds: f64) -> f32 {
    (-6.907_755 / (seconds * FS)).exp() as f32
}

fn kick(rng: &mut Rng) -> Vec<f32> {
    let len = (0.45 * FS) as usize;
    let end_freq = rng.random_range(45.0..60.0);
    let start_freq = rng.random_range(110.0..160.0);
    let sweep = exp_decay(rng.random_range(0.04..0.08));
    let amp_decay = exp_decay(rng.random_range(0.3..0.45));
    let mut osc = SineOsc::new(end_freq, 0.0);
    // The beater's click: a few ms of band-limited noise with its own fast decay.
    let mut click = OnePole::low_pass(rng.random_range(4000.0..6000.0));
    let click_len = (0.008 * FS) as usize;
    let click_decay = exp_decay(0.008);
    let mut click_amp = rng.random_range(0.6..0.9f32);
    let (mut excess, mut amp) = (1.0f32, 1.0f32);
    let ratio = (start_freq / end_freq) as f32 - 1.0;
    (0..len)
        .map(|n| {
            let y = amp * osc.next_scaled(1.0 + ratio * excess);
            excess *= sweep;
            amp *= amp_decay;
            let c = if n < click_len {
                click_amp * click.process(white(rng))
            } else {
                0.0
            };
            click_amp *= click_decay;
            y + c
        })
        .collect()
}

/// Membrane mode ratios of an ideal drum head (Bessel zeros (0,1), (1,1), (2,1)): the
/// inharmonic body of snare and toms, which colours no pitch class in particular.
const MEMBRANE_MODES: [(f64, f32); 3] = [(1.0, 1.0), (1.594, 0.6), (2.136, 0.4)];

fn snare(rng: &mut Rng) -> Vec<f32> {
    let len = (0.3 * FS) as usize;
    let fundamental = rng.random_range(170.0..230.0);
    let mut body: Vec<(SineOsc, f32)> = MEMBRANE_MODES
        .iter()
        .map(|&(r, a)| (SineOsc::new(fundamental * r, 0.0), a))
        .collect();
    let body_decay = exp_decay(0.08);
    let noise_decay = exp_decay(rng.random_range(0.15..0.25));
    let mut filter = Svf::new(rng.random_range(1800.0..3500.0), 0.8);
    let (mut body_amp, mut noise_amp) = (0.3f32, 0.9f32);
    (0..len)
        .map(|_| {
            let tone: f32 = body.iter_mut().map(|(o, a)| *a * o.next()).sum();
            let y = body_amp * tone + noise_amp * (filter.process(white(rng)).high * 0.7 + 0.3 * white(rng));
            body_amp *= body_decay;
            noise_amp *= noise_decay;
            y
        })
        .collect()
}

fn clap(rng: &mut Rng) -> Vec<f32> {
    let len = (0.25 * FS) as usize;
    let mut filter = Svf::new(rng.random_range(900.0..1400.0), 2.0);
    let burst_gap = (0.011 * FS) as usize;
    let decay = exp_decay(0.12);
    let mut amp = 1.0f32;
    (0..len)
        .map(|n| {
            let bursts = if n < 3 * burst_gap {
                1.0 - (n % burst_gap) as f32 / burst_gap as f32
            } else {
                amp
            };
            if n >= 3 * burst_gap {
                amp *= decay;
            }
            2.0 * bursts * filter.process(white(rng)).band
        })
        .collect()
}

fn hat(rng: &mut Rng, decay_seconds: f64) -> Vec<f32> {
    cymbal(rng, decay_seconds, 6000.0..7200.0, 1.0, 0.6)
}

fn ride(rng: &mut Rng) -> Vec<f32> {
    let len = (0.6 * FS) as usize;
    let mut filter = Svf::new(5000.0, 1.0);
    let mut bell = SineOsc::new(rng.random_range(2800.0..3400.0), 0.0);
    let decay = exp_decay(0.6);
    let mut amp = 1.0f32;
    (0..len)
        .map(|_| {
            let y = amp * (0.4 * filter.process(white(rng)).high + 0.08 * bell.next());
            amp *= decay;
            y
        })
        .collect()
}

fn crash(rng: &mut Rng) -> Vec<f32> {
    cymbal(rng, 1.4, 3500.0..5000.0, 0.7, 0.5)
}

/// White noise through a high-pass of drawn cutoff, decaying by 60 dB over its `seconds`,
/// at `level`.
fn cymbal(rng: &mut Rng, seconds: f64, cutoff: Range<f64>, q: f64, level: f32) -> Vec<f32> {
    let len = (seconds * FS) as usize;
    let mut filter = Svf::new(rng.random_range(cutoff), q);
    let decay = exp_decay(seconds);
    let mut amp = 1.0f32;
    (0..len)
        .map(|_| {
            let y = amp * filter.process(white(rng)).high;
            amp *= decay;
            level * y
        })
        .collect()
}

fn tom(rng: &mut Rng, freq: f64) -> Vec<f32> {
    let len = (0.4 * FS) as usize;
    let mut modes: Vec<(SineOsc, f32)> = MEMBRANE_MODES
        .iter()
        .map(|&(r, a)| (SineOsc::new(freq * r, 0.0), a))
        .collect();
    let sweep = exp_decay(0.1);
    let decay = exp_decay(0.35);
    let mut noise = Svf::new(freq * 4.0, 1.0);
    let (mut excess, mut amp) = (1.0f32, 1.0f32);
    (0..len)
        .map(|_| {
            let ratio = 1.0 + 0.5 * excess;
            let tone: f32 = modes.iter_mut().map(|(o, a)| *a * o.next_scaled(ratio)).sum();
            let y = amp * (0.6 * tone + 0.15 * noise.process(white(rng)).band);
            excess *= sweep;
            amp *= decay;
            0.8 * y
        })
        .collect()
}

/// Below this tempo (BPM) a rock groove is played as a ballad: quarter-note hi-hats.
pub(crate) const BALLAD_BELOW: u32 = 90;

/// A style's groove for one bar in sixteenth steps (0..16); triplet positions of the
/// shuffle are expressed on the same grid by the swing ratio (off-beat eighths at step 2
/// of each beat fall at the swung time).
pub(crate) fn groove(style: DrumStyle, variant: usize, tempo: u32, rng: &mut Rng) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut add = |steps: &[u32], drum: Drum, velocity: f32| {
        for &s in steps {
            hits.push(Hit {
                step: s as f64,
                drum,
                velocity,
            });
        }
    };
    match style {
        DrumStyle::Rock => {
            add(&[0, 8], Drum::Kick, 1.0);
            if variant % 2 == 1 {
                add(&[10], Drum::Kick, 0.8);
            }
            add(&[4, 12], Drum::Snare, 0.95);
            if tempo < BALLAD_BELOW {
                let cymbal = if variant % 3 == 1 { Drum::Ride } else { Drum::ClosedHat };
                add(&[0, 4, 8, 12], cymbal, 0.55);
            } else {
                add(&[0, 4, 8, 12], Drum::ClosedHat, 0.55);
                add(&[2, 6, 10, 14], Drum::ClosedHat, 0.35);
            }
        }
        DrumStyle::FourOnTheFloor => {
            add(&[0, 4, 8, 12], Drum::Kick, 1.0);
            add(
                &[4, 12],
                if variant.is_multiple_of(2) {
                    Drum::Clap
                } else {
                    Drum::Snare
                },
                0.8,
            );
            add(&[2, 6, 10, 14], Drum::OpenHat, 0.35);
            if variant % 3 == 2 {
                add(&[1, 3, 5, 7, 9, 11, 13, 15], Drum::ClosedHat, 0.15);
            }
        }
        DrumStyle::HalfTime => {
            add(&[0], Drum::Kick, 1.0);
            add(&[if variant.is_multiple_of(2) { 10 } else { 6 }], Drum::Kick, 0.85);
            add(&[8], Drum::Snare, 1.0);
            let cymbal = if variant % 3 == 1 { Drum::Ride } else { Drum::ClosedHat };
            add(&[0, 4, 8, 12], cymbal, 0.6);
            add(&[2, 6, 10, 14], Drum::ClosedHat, 0.2);
        }
        DrumStyle::Shuffle => {
            add(&[0, 8], Drum::Kick, 1.0);
            add(&[4, 12], Drum::Snare, 0.95);
            let cymbal = if variant.is_multiple_of(2) {
                Drum::ClosedHat
            } else {
                Drum::Ride
            };
            add(&[0, 4, 8, 12], cymbal, 0.55);
            add(&[2, 6, 10, 14], cymbal, 0.35);
        }
        DrumStyle::Breakbeat => {
            add(&[0], Drum::Kick, 1.0);
            add(&[if variant.is_multiple_of(2) { 6 } else { 10 }], Drum::Kick, 0.85);
            add(&[4, 12], Drum::Snare, 1.0);
            add(&[7, 9, 15], Drum::Snare, 0.2);
            add(&[0, 4, 8, 12], Drum::ClosedHat, 0.45);
            add(&[2, 6, 10, 14], Drum::ClosedHat, 0.3);
            add(&[1, 3, 5, 7, 9, 11, 13, 15], Drum::ClosedHat, 0.15);
        }
    }
    for hit in &mut hits {
        hit.velocity *= rng.random_range(0.9..1.05);
    }
    hits
}

/// A fill replacing the second half of a phrase's last bar (beats 3 and 4).
pub(crate) fn fill(variant: usize, rng: &mut Rng) -> Vec<Hit> {
    let mut hits = vec![Hit {
        step: 8.0,
        drum: Drum::Kick,
        velocity: 1.0,
    }];
    match variant % 3 {
        0 => {
            // Snare sixteenths, crescendo.
            for (i, s) in (8..16).enumerate() {
                hits.push(Hit {
                    step: s as f64,
                    drum: Drum::Snare,
                    velocity: 0.45 + 0.07 * i as f32,
                });
            }
        }
        1 => {
            // Toms down, eighths.
            for (s, drum) in [
                (8, Drum::HighTom),
                (10, Drum::HighTom),
                (12, Drum::LowTom),
                (14, Drum::LowTom),
            ] {
                hits.push(Hit {
                    step: s as f64,
                    drum,
                    velocity: 0.9,
                });
            }
            hits.push(Hit {
                step: 12.0,
                drum: Drum::Kick,
                velocity: 0.8,
            });
        }
        _ => {
            // Snare on the beats with a tom pickup.
            for s in [8, 12] {
                hits.push(Hit {
                    step: s as f64,
                    drum: Drum::Snare,
                    velocity: 0.95,
                });
            }
            for s in [14, 15] {
                hits.push(Hit {
                    step: s as f64,
                    drum: Drum::HighTom,
                    velocity: 0.8,
                });
            }
        }
    }
    for hit in &mut hits {
        hit.velocity *= rng.random_range(0.9..1.05);
    }
    hits
}
