//! Measured-quality tests, one per transform (issue 3, acceptance 1). Each measures the
//! output of a real computation against the transform's design value.

use std::f64::consts::PI;

use loev_audio::SAMPLE_RATE;
use loev_augment::config::StretchPreset;
use loev_augment::effects::{self, ReverbParams};
use loev_augment::filters::FilterCascade;
use loev_augment::{Stretcher, pitch_shift, stretch_and_shift, time_stretch};
use loev_core::rng::rng_from_seed;
use realfft::RealFftPlanner;

const FS: f64 = SAMPLE_RATE as f64;

fn harmonic_tone(f0: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f64 / FS;
            (1..=5)
                .map(|k| 0.5 / k as f64 * (2.0 * PI * k as f64 * f0 * t).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64
}

/// Frequency of the strongest peak in `lo..hi` Hz: Hann window, zero-padded 2^18 FFT,
/// parabolic interpolation of the log magnitude.
fn peak_frequency(x: &[f32], lo: f64, hi: f64) -> f64 {
    let n_fft = 1 << 18;
    let mut buffer = vec![0.0f32; n_fft];
    let n = x.len();
    for (i, &v) in x.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos();
        buffer[i] = v * w as f32;
    }
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut buffer, &mut spectrum).unwrap();
    let bin_hz = FS / n_fft as f64;
    let (lo_bin, hi_bin) = ((lo / bin_hz) as usize, (hi / bin_hz) as usize);
    let mag = |k: usize| f64::from(spectrum[k].norm()).max(1e-30).ln();
    let peak = (lo_bin..hi_bin).max_by(|&a, &b| mag(a).total_cmp(&mag(b))).unwrap();
    let (a, b, c) = (mag(peak - 1), mag(peak), mag(peak + 1));
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    (peak as f64 + offset) * bin_hz
}

#[test]
fn pitch_shift_lands_within_10_cents() {
    let f0 = 220.0;
    let x = harmonic_tone(f0, 48_000);
    for semitones in [-4.0, -1.5, 2.5, 4.0] {
        let y = pitch_shift(&x, semitones).unwrap();
        assert_eq!(y.len(), x.len());
        let target = f0 * 2f64.powf(semitones / 12.0);
        // Fundamental and second harmonic, measured on the steady middle of the view.
        for harmonic in [1.0, 2.0] {
            let expected = harmonic * target;
            let measured = peak_frequency(&y[8_000..40_000], expected * 0.95, expected * 1.05);
            let cents = 1200.0 * (measured / expected).log2();
            println!(
                "pitch {semitones:+} st, harmonic {harmonic}: {measured:.2} Hz vs {expected:.2} Hz ({cents:+.2} cents)"
            );
            assert!(cents.abs() < 10.0, "{semitones} st harmonic {harmonic}: {cents} cents");
        }
        // The level is kept (no fade at the edges either).
        for range in [0..4_000, 22_000..26_000, 44_000..48_000] {
            let ratio_db = 10.0 * (power(&y[range.clone()]) / power(&x[range.clone()])).log10();
            assert!(
                ratio_db.abs() < 1.5,
                "{semitones} st: level change {ratio_db} dB in {range:?}"
            );
        }
    }
}

/// Positions of clicks: local maxima of |y| above 30 % of the global maximum, at least
/// `min_distance` apart.
fn click_positions(y: &[f32], min_distance: usize) -> Vec<f64> {
    let global = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut positions = Vec::new();
    let mut i = 0;
    while i < y.len() {
        if y[i].abs() >= 0.3 * global {
            let end = (i + min_distance).min(y.len());
            let (best, _) = y[i..end]
                .iter()
                .enumerate()
                .fold((0, 0.0f32), |b, (k, v)| if v.abs() > b.1 { (k, v.abs()) } else { b });
            positions.push((i + best) as f64);
            i += best + min_distance / 2;
        } else {
            i += 1;
        }
    }
    positions
}

fn linear_fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

#[test]
fn time_stretch_scales_click_intervals_by_the_rate() {
    let view_len = 48_000;
    let period = 3_200;
    for rate in [0.7, 0.85, 1.15, 1.3] {
        let source_len = (rate * view_len as f64).ceil() as usize;
        let mut source = vec![0.0f32; source_len];
        let clicks: Vec<usize> = (1..).map(|k| k * period).take_while(|&p| p + 2 < source_len).collect();
        for &p in &clicks {
            // A short two-sample click (broadband).
            source[p] = 1.0;
            source[p + 1] = -0.5;
        }
        let y = stretch_and_shift(&source, view_len, 0.0).unwrap();
        assert_eq!(y.len(), view_len, "rate {rate}");
        let found = click_positions(&y, (period as f64 / rate * 0.6) as usize);
        assert_eq!(found.len(), clicks.len(), "rate {rate}: found {found:?}");
        let input: Vec<f64> = clicks.iter().map(|&p| p as f64).collect();
        let (slope, intercept) = linear_fit(&input, &found);
        let measured_rate = 1.0 / slope;
        println!("rate {rate}: measured {measured_rate:.5}, offset {intercept:.1} samples");
        assert!(
            (measured_rate / rate - 1.0).abs() < 0.01,
            "rate {rate}: measured {measured_rate}"
        );
        // Zero lag: the clicks land where source position / rate says (within 1 ms).
        assert!(intercept.abs() < 16.0, "rate {rate}: offset {intercept}");
    }
    // The cheaper preset keeps the rate and the alignment too.
    let mut cheaper = Stretcher::with_preset(SAMPLE_RATE, StretchPreset::Cheaper);
    let source_len = 57_600;
    let mut source = vec![0.0f32; source_len];
    let clicks: Vec<usize> = (1..17).map(|k| k * period).collect();
    clicks.iter().for_each(|&p| source[p] = 1.0);
    let mut y = vec![0.0f32; view_len];
    cheaper.render(&source, 0.0, &mut y);
    let found = click_positions(&y, (period as f64 / 1.2 * 0.6) as usize);
    assert_eq!(found.len(), clicks.len());
    let (slope, intercept) = linear_fit(&clicks.iter().map(|&p| p as f64).collect::<Vec<_>>(), &found);
    println!(
        "cheaper preset, rate 1.2: measured {:.5}, offset {intercept:.1} samples",
        1.0 / slope
    );
    assert!((slope * 1.2 - 1.0).abs() < 0.01 && intercept.abs() < 16.0);

    // The public stretch gives round(len / rate) samples.
    let x = harmonic_tone(330.0, 16_000);
    assert_eq!(
        time_stretch(&x, 1.3).unwrap().len(),
        (16_000.0f64 / 1.3).round() as usize
    );
    assert_eq!(time_stretch(&x, 0.8).unwrap().len(), 20_000);
    assert!(time_stretch(&x, 0.0).is_err());
    assert!(time_stretch(&x, f64::NAN).is_err());
    assert!(pitch_shift(&x, 100.0).is_err());
    assert!(pitch_shift(&[], 2.0).unwrap().is_empty());
}

fn cross_correlation_lag(a: &[f32], b: &[f32], max_lag: i64) -> i64 {
    (-max_lag..=max_lag)
        .max_by(|&l1, &l2| {
            let c = |lag: i64| -> f64 {
                (0..a.len() as i64)
                    .filter_map(|i| {
                        let j = i + lag;
                        (j >= 0 && (j as usize) < b.len()).then(|| f64::from(a[i as usize]) * f64::from(b[j as usize]))
                    })
                    .sum()
            };
            c(l1).total_cmp(&c(l2))
        })
        .unwrap()
}

/// 5 ms moving RMS, mean removed: onsets dominate its cross-correlation.
fn envelope(x: &[f32]) -> Vec<f32> {
    let width = 80;
    let mut out: Vec<f32> = (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(width / 2);
            let hi = (i + width / 2).min(x.len());
            (x[lo..hi].iter().map(|v| v * v).sum::<f32>() / (hi - lo) as f32).sqrt()
        })
        .collect();
    let mean = out.iter().sum::<f32>() / out.len() as f32;
    out.iter_mut().for_each(|v| *v -= mean);
    out
}

#[test]
fn stretcher_output_is_time_aligned() {
    // Plucked harmonic notes with sharp onsets. Signalsmith's own latency is 1920 samples
    // (120 ms); after compensation the onsets must stay where they were (|lag| ≤ 1 ms; the
    // phase vocoder smears onsets a little, so the envelope is compared).
    let len = 24_000;
    let x: Vec<f32> = (0..len)
        .map(|i| {
            let note = i / 4_000;
            let t = (i % 4_000) as f64 / FS;
            let f0 = [196.0, 262.0, 330.0, 247.0, 392.0, 294.0][note];
            let env = (-t * 8.0).exp();
            (env * (1..=4)
                .map(|k| (2.0 * PI * k as f64 * f0 * t).sin() / k as f64)
                .sum::<f64>()) as f32
        })
        .collect();
    for semitones in [-3.0, 3.0] {
        let y = pitch_shift(&x, semitones).unwrap();
        let lag = cross_correlation_lag(&envelope(&x), &envelope(&y), 2_500);
        println!("plucked notes {semitones:+} st: envelope cross-correlation lag {lag} samples");
        assert!(lag.abs() <= 16, "{semitones} st: lag {lag}");
    }
    // A click train: the clicks must not move (|lag| ≤ 0.5 ms).
    let mut clicks = vec![0.0f32; 24_000];
    for k in 1..7 {
        clicks[k * 3_300] = 1.0;
        clicks[k * 3_300 + 1] = -0.5;
    }
    for semitones in [-4.0, -1.5, 2.5, 4.0] {
        let y = pitch_shift(&clicks, semitones).unwrap();
        let lag = cross_correlation_lag(&envelope(&clicks), &envelope(&y), 2_500);
        println!("click train {semitones:+} st: envelope cross-correlation lag {lag} samples");
        assert!(lag.abs() <= 8, "{semitones} st: lag {lag}");
    }
}

/// Steady-state gain (dB) of `filter` for a sine at `freq`, by least-squares projection.
fn measured_gain_db(filter: &FilterCascade, freq: f64) -> f64 {
    let len = 32_000;
    let x: Vec<f32> = (0..len)
        .map(|i| (2.0 * PI * freq * i as f64 / FS).sin() as f32)
        .collect();
    let mut y = x.clone();
    filter.run(&mut y);
    let amplitude = |s: &[f32]| {
        let (mut c, mut d) = (0.0, 0.0);
        for (i, &v) in s.iter().enumerate().skip(16_000) {
            let phase = 2.0 * PI * freq * i as f64 / FS;
            c += f64::from(v) * phase.sin();
            d += f64::from(v) * phase.cos();
        }
        (c * c + d * d).sqrt()
    };
    20.0 * (amplitude(&y) / amplitude(&x)).log10()
}

#[test]
fn filters_match_their_design_at_cutoff_and_centre() {
    for cutoff in [150.0, 1_000.0, 4_000.0, 7_000.0] {
        let lp = FilterCascade::low_pass(cutoff, FS);
        let measured = measured_gain_db(&lp, cutoff);
        println!("low-pass {cutoff} Hz: {measured:.3} dB at cutoff (design −3.01)");
        assert!((measured + 3.0103).abs() < 1.0);
        assert!(
            measured_gain_db(&lp, cutoff * 0.25) > -0.5,
            "pass band of low-pass {cutoff}"
        );
    }
    for cutoff in [200.0, 1_000.0, 2_400.0] {
        let hp = FilterCascade::high_pass(cutoff, FS);
        let measured = measured_gain_db(&hp, cutoff);
        println!("high-pass {cutoff} Hz: {measured:.3} dB at cutoff (design −3.01)");
        assert!((measured + 3.0103).abs() < 1.0);
        assert!(
            measured_gain_db(&hp, cutoff * 0.25) < -40.0,
            "stop band of high-pass {cutoff}"
        );
    }
    for (centre, fraction) in [(200.0, 0.5), (1_000.0, 1.0), (4_000.0, 2.0)] {
        let bp = FilterCascade::band_pass(centre, fraction, FS);
        let measured = measured_gain_db(&bp, centre);
        println!("band-pass {centre} Hz / {fraction}: {measured:.3} dB at centre (design 0)");
        assert!(measured.abs() < 1.0);
        assert!(measured_gain_db(&bp, centre / 8.0) < -20.0);
        let bs = FilterCascade::band_stop(centre, fraction, FS);
        let at_centre = measured_gain_db(&bs, centre);
        let edge = centre * ((1.0 + fraction * fraction / 4.0).sqrt() - fraction / 2.0);
        let at_edge = measured_gain_db(&bs, edge);
        let design_edge = bs.response_db(edge, FS);
        println!(
            "band-stop {centre} Hz / {fraction}: {at_centre:.1} dB at centre, {at_edge:.2} dB at lower edge (design {design_edge:.2})"
        );
        assert!(at_centre < -40.0);
        assert!((at_edge - design_edge).abs() < 1.0);
        assert!(measured_gain_db(&bs, centre / 8.0) > -1.0);
    }
}

/// Welch power spectrum (Hann, 2048-point segments, 50 % overlap): (frequency, power).
fn welch(x: &[f32]) -> Vec<(f64, f64)> {
    let n = 2048;
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let window: Vec<f32> = (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()) as f32)
        .collect();
    let mut acc = vec![0.0f64; n / 2 + 1];
    let mut segments = 0;
    let mut start = 0;
    while start + n <= x.len() {
        let mut buffer: Vec<f32> = x[start..start + n].iter().zip(&window).map(|(a, w)| a * w).collect();
        let mut spectrum = fft.make_output_vec();
        fft.process(&mut buffer, &mut spectrum).unwrap();
        for (a, s) in acc.iter_mut().zip(&spectrum) {
            *a += f64::from(s.norm_sqr());
        }
        segments += 1;
        start += n / 2;
    }
    acc.iter()
        .enumerate()
        .map(|(k, &p)| (k as f64 * FS / n as f64, p / segments as f64))
        .collect()
}

#[test]
fn colored_noise_hits_snr_and_slope() {
    let x = harmonic_tone(250.0, 160_000);
    let mut rng = rng_from_seed(3);
    for (snr, decay) in [(3.0, -2.0), (12.0, -1.0), (20.0, 0.0), (30.0, 1.0), (8.0, 2.0)] {
        let mut y = x.clone();
        effects::add_colored_noise(&mut y, snr, decay, &mut rng);
        assert_eq!(y.len(), x.len());
        let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let measured_snr = 10.0 * (power(&x) / power(&noise)).log10();
        // Slope: least squares of dB against log2(f), one point per third-octave band so
        // that every octave weighs the same, 100 Hz … 6.4 kHz.
        let psd = welch(&noise);
        let (mut octaves, mut levels) = (Vec::new(), Vec::new());
        let mut band_lo = 100.0;
        while band_lo * 2f64.powf(1.0 / 3.0) <= 6_400.0 {
            let band_hi = band_lo * 2f64.powf(1.0 / 3.0);
            let bins: Vec<f64> = psd
                .iter()
                .filter(|(f, _)| *f >= band_lo && *f < band_hi)
                .map(|(_, p)| *p)
                .collect();
            octaves.push((band_lo * band_hi).sqrt().log2());
            levels.push(10.0 * (bins.iter().sum::<f64>() / bins.len() as f64).log10());
            band_lo = band_hi;
        }
        let (slope, _) = linear_fit(&octaves, &levels);
        let expected = -10.0 * 2f64.log10() * decay;
        println!(
            "noise SNR {snr} dB → {measured_snr:.3} dB; decay {decay} → slope {slope:.3} dB/oct (expected {expected:.3})"
        );
        assert!((measured_snr - snr).abs() < 0.5);
        assert!((slope - expected).abs() < 0.5);
    }
}

#[test]
fn gain_is_exact_and_polarity_flips_every_sample() {
    let x = harmonic_tone(440.0, 8_000);
    for db in [-15.0, -6.5, 0.0, 5.0] {
        let mut y = x.clone();
        effects::apply_gain(&mut y, db);
        let measured = 10.0 * (power(&y) / power(&x)).log10();
        assert!((measured - db).abs() < 0.01, "{db}: {measured}");
        assert_eq!(y.len(), x.len());
    }
    let mut y = x.clone();
    effects::invert_polarity(&mut y);
    assert!(y.iter().zip(&x).all(|(a, b)| *a == -*b));
    assert_ne!(y, x);
}

/// Time (s) for the Schroeder energy-decay curve of `h` to fall from −5 to −25 dB.
fn decay_time_20db(h: &[f32]) -> f64 {
    let mut edc: Vec<f64> = h.iter().map(|&v| f64::from(v) * f64::from(v)).collect();
    for i in (0..edc.len() - 1).rev() {
        edc[i] += edc[i + 1];
    }
    let total = edc[0];
    let cross = |db: f64| {
        edc.iter()
            .position(|&e| 10.0 * (e / total).log10() <= db)
            .unwrap_or(edc.len()) as f64
    };
    (cross(-25.0) - cross(-5.0)) / FS
}

#[test]
fn reverb_decay_grows_with_room_size() {
    let mut previous = 0.0;
    for room_size in [0.2, 0.4, 0.6, 0.8, 1.0] {
        let mut h = vec![0.0f32; 160_000];
        h[0] = 1.0;
        effects::reverb(&mut h, ReverbParams { room_size, wet: 1.0 }, SAMPLE_RATE);
        assert_eq!(h.len(), 160_000);
        let t20 = decay_time_20db(&h);
        println!("reverb room {room_size}: −5…−25 dB decay in {t20:.3} s");
        assert!(t20 > previous * 1.1, "room {room_size}: {t20} s after {previous} s");
        previous = t20;
    }
    // wet 0 leaves the signal untouched.
    let x = harmonic_tone(300.0, 4_000);
    let mut y = x.clone();
    effects::reverb(
        &mut y,
        ReverbParams {
            room_size: 0.7,
            wet: 0.0,
        },
        SAMPLE_RATE,
    );
    assert_eq!(x, y);
}

#[test]
fn distortion_harmonics_grow_with_drive() {
    let freq = 500.0; // an integer number of cycles in one second
    let x: Vec<f32> = (0..16_000)
        .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / FS).sin()) as f32)
        .collect();
    let amplitude = |s: &[f32], f: f64| {
        let (mut c, mut d) = (0.0, 0.0);
        for (i, &v) in s.iter().enumerate() {
            let phase = 2.0 * PI * f * i as f64 / FS;
            c += f64::from(v) * phase.sin();
            d += f64::from(v) * phase.cos();
        }
        (c * c + d * d).sqrt()
    };
    let mut previous = 0.0;
    for drive in [1.0, 3.0, 5.0, 7.5, 10.0] {
        let mut y = x.clone();
        effects::distort(&mut y, drive);
        assert_eq!(y.len(), x.len());
        let fundamental = amplitude(&y, freq);
        let harmonics: f64 = (2..=15)
            .map(|k| amplitude(&y, freq * k as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let thd = harmonics / fundamental;
        println!("distortion drive {drive} dB: THD {:.2} %", thd * 100.0);
        assert!(thd > previous, "drive {drive}: THD {thd} after {previous}");
        previous = thd;
    }
}
