//! NSynth-like single notes: one instrument, one pitch, held for three quarters of the
//! duration (3 s of 4 s) and then released, so the release tail is part of the example.

use loev_core::rng::Rng;
use rand::RngExt;

use crate::dsp::FS;
use crate::instruments::Note;
use crate::plan::NotePlan;

/// The peak a note may reach; louder renders are scaled down to it.
const PEAK_LIMIT: f32 = 0.9;

/// Renders a single note of `seconds` seconds.
pub(crate) fn render_note(plan: &NotePlan, seconds: f64, rng: &mut Rng) -> Vec<f32> {
    let total = (seconds * FS).round() as usize;
    let gate = (0.75 * seconds * FS).round() as usize;
    let mut out = vec![0f32; total];
    let note = Note {
        midi: plan.pitch as f64,
        gate,
        velocity: plan.velocity,
        brightness: rng.random_range(0.85..1.15),
    };
    plan.instrument.render(&note, &mut out, 0, rng);
    // A short fade at the very end so no note is cut with a click.
    let fade = ((0.02 * FS) as usize).min(total);
    for (i, x) in out.iter_mut().rev().take(fade).enumerate() {
        *x *= i as f32 / fade as f32;
    }
    let peak = out.iter().fold(0f32, |m, x| m.max(x.abs()));
    if peak > PEAK_LIMIT {
        let scale = PEAK_LIMIT / peak;
        out.iter_mut().for_each(|x| *x *= scale);
    }
    out
}
