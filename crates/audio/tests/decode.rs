//! Decoding: four formats × mono/stereo × 8/22.05/44.1/48 kHz fixtures (made by
//! `scripts/golden/make_decode_fixtures.py`), resampling a 1 kHz sine to 16 kHz keeps its
//! frequency (±0.5 Hz) and level (±0.1 dB), and every failure is a typed error naming the file.

use std::path::{Path, PathBuf};

use loev_audio::AudioError;
use loev_audio::decode::{decode_bytes, decode_file, load_mono};
use realfft::RealFftPlanner;

const RATES: [u32; 4] = [8000, 22050, 44100, 48000];
const FORMATS: [&str; 4] = ["wav", "flac", "mp3", "ogg"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name)
}

/// Frequency of the strongest peak: Hann window, zero-padded 2^18-point FFT, parabolic
/// interpolation of the log magnitude.
fn peak_frequency(x: &[f32], sample_rate: f64) -> f64 {
    let n = 1 << 18;
    let mut buf = vec![0.0f64; n];
    for (i, &v) in x.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / x.len() as f64).cos();
        buf[i] = v as f64 * w;
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut buf, &mut spectrum).unwrap();
    let mag: Vec<f64> = spectrum.iter().map(|c| c.norm().max(1e-30).ln()).collect();
    let k = (1..mag.len() - 1).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap();
    let (a, b, c) = (mag[k - 1], mag[k], mag[k + 1]);
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + offset) * sample_rate / n as f64
}

/// Peak amplitude of a sine from its RMS.
fn sine_amplitude(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt() * 2f64.sqrt()
}

/// The central part of a signal (drops codec ramps and resampler edges), an integer number of
/// 1 kHz periods long at `rate` when possible.
fn middle(x: &[f32], rate: u32) -> &[f32] {
    let skip = (rate as usize) / 20; // 50 ms
    let period_samples = rate as usize / 1000;
    let mut len = x.len().saturating_sub(2 * skip);
    if period_samples > 0 && rate.is_multiple_of(1000) {
        len -= len % period_samples;
    }
    &x[skip..skip + len]
}

#[test]
fn every_format_layout_and_rate_decodes_and_resamples_a_sine_faithfully() {
    let mut worst_freq: f64 = 0.0;
    let mut worst_db: f64 = 0.0;
    for rate in RATES {
        for layout in ["mono", "stereo"] {
            for ext in FORMATS {
                let name = format!("sine1k_{rate}_{layout}.{ext}");
                let path = fixture(&name);
                let decoded = decode_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(decoded.sample_rate, rate, "{name}");
                assert_eq!(decoded.channels, if layout == "mono" { 1 } else { 2 }, "{name}");
                assert_eq!(decoded.samples.len(), decoded.frames * decoded.channels, "{name}");
                let expected_frames = (rate as f64 * 0.3).round() as usize;
                if ext == "wav" || ext == "flac" {
                    assert_eq!(decoded.frames, expected_frames, "{name}");
                } else {
                    let ratio = decoded.frames as f64 / expected_frames as f64;
                    assert!(
                        (0.95..1.2).contains(&ratio),
                        "{name}: {} frames, expected about {expected_frames}",
                        decoded.frames
                    );
                }
                let mono = load_mono(&path).unwrap();
                let expected_len = ((decoded.frames as u64 * 16_000 + rate as u64 / 2) / rate as u64) as usize;
                assert_eq!(mono.len(), expected_len, "{name}: 16 kHz length");

                let freq = peak_frequency(middle(&mono, 16_000), 16_000.0);
                let native = decoded.to_mono();
                let level_16k = sine_amplitude(middle(&mono, 16_000));
                let level_native = sine_amplitude(middle(&native, rate));
                let nominal = if layout == "mono" { 0.5 } else { 0.4 };
                let db_vs_native = 20.0 * (level_16k / level_native).log10();
                let db_vs_nominal = 20.0 * (level_16k / nominal).log10();
                println!("{name}: {freq:.3} Hz, {db_vs_native:+.4} dB vs decoded, {db_vs_nominal:+.4} dB vs written");
                worst_freq = worst_freq.max((freq - 1000.0).abs());
                worst_db = worst_db.max(db_vs_native.abs());
                assert!((freq - 1000.0).abs() <= 0.5, "{name}: {freq} Hz");
                assert!(
                    db_vs_native.abs() <= 0.1,
                    "{name}: resampling changed the level by {db_vs_native} dB"
                );
                // Lossless files must also keep the written level; lossy codecs may move it a
                // little on their own (mp3 at 8 kHz: +0.2 dB before any resampling).
                let codec_tolerance = if ext == "wav" || ext == "flac" { 0.1 } else { 0.5 };
                assert!(
                    db_vs_nominal.abs() <= codec_tolerance,
                    "{name}: level {db_vs_nominal} dB off the written level"
                );
            }
        }
    }
    println!("worst: {worst_freq:.3} Hz, {worst_db:.4} dB");
}

#[test]
fn failures_are_typed_and_name_the_file() {
    let check = |result: Result<loev_audio::decode::DecodedAudio, AudioError>, path: &Path, what: &str| -> AudioError {
        let err = result.expect_err(what);
        assert_eq!(err.path(), path, "{what}");
        assert!(err.to_string().contains(&path.display().to_string()), "{what}: {err}");
        println!("{what}: {err}");
        err
    };

    let missing = fixture("does_not_exist.wav");
    assert!(matches!(
        check(decode_file(&missing), &missing, "missing"),
        AudioError::Io { .. }
    ));

    let p = Path::new("/data/empty.wav");
    assert!(matches!(
        check(decode_bytes(&[], Some("wav"), p), p, "zero-length"),
        AudioError::Empty { .. }
    ));

    let p = fixture("no_samples.wav");
    assert!(matches!(
        check(decode_file(&p), &p, "no samples"),
        AudioError::Empty { .. }
    ));

    let p = fixture("opus.ogg");
    assert!(matches!(
        check(decode_file(&p), &p, "opus"),
        AudioError::UnsupportedCodec { .. }
    ));

    let p = Path::new("/data/notes.mp3");
    let text = b"These are my notes, not an mp3 file at all.\n".repeat(20);
    assert!(matches!(
        check(decode_bytes(&text, Some("mp3"), p), p, "text"),
        AudioError::NotAudio { .. }
    ));
    assert!(matches!(
        check(decode_bytes(&text, None, p), p, "text, no hint"),
        AudioError::NotAudio { .. }
    ));

    for ext in FORMATS {
        let name = format!("sine1k_44100_stereo.{ext}");
        let bytes = std::fs::read(fixture(&name)).unwrap();
        let p = PathBuf::from(format!("/data/truncated.{ext}"));
        let cut = &bytes[..bytes.len() * 6 / 10];
        let err = check(decode_bytes(cut, Some(ext), &p), &p, &format!("truncated {ext}"));
        assert!(matches!(err, AudioError::Truncated { .. }), "{ext}: {err}");
        let p = PathBuf::from(format!("/data/header_only.{ext}"));
        let err = check(
            decode_bytes(&bytes[..30.min(bytes.len())], Some(ext), &p),
            &p,
            &format!("header only {ext}"),
        );
        assert!(
            matches!(
                err,
                AudioError::Truncated { .. } | AudioError::NotAudio { .. } | AudioError::Empty { .. }
            ),
            "{ext}: {err}"
        );
    }
}

#[test]
fn decoding_is_deterministic_and_stereo_is_mean_down_mixed() {
    let path = fixture("sine1k_48000_stereo.wav");
    let a = decode_file(&path).unwrap();
    let b = decode_bytes(&std::fs::read(&path).unwrap(), None, &path).unwrap();
    assert_eq!(a, b);
    let mono = a.to_mono();
    for (i, frame) in a.samples.chunks_exact(2).enumerate() {
        assert_eq!(mono[i], (frame[0] + frame[1]) * 0.5);
    }
    assert_eq!(load_mono(&path).unwrap(), load_mono(&path).unwrap());
}

/// `load_mono` (and `embed`) decode through `MonoStream`, packet by packet; the result must
/// equal decoding the whole file, down-mixing and resampling it at once, for every format,
/// channel count and rate of the fixtures.
#[test]
fn streamed_decoding_equals_whole_file_decoding() {
    use loev_audio::decode::MonoStream;
    use loev_audio::resample::resample;
    let mut streamed_in_pieces = 0;
    for ext in FORMATS {
        for rate in RATES {
            for channels in ["mono", "stereo"] {
                let path = fixture(&format!("sine1k_{rate}_{channels}.{ext}"));
                if !path.exists() {
                    continue;
                }
                let whole = decode_file(&path).unwrap();
                let expected = resample(&whole.to_mono(), whole.sample_rate, loev_audio::SAMPLE_RATE).unwrap();
                let mut stream = MonoStream::open(&path).unwrap();
                let mut streamed = Vec::new();
                let mut calls = 0;
                while stream.next_chunk(&mut streamed).unwrap() {
                    calls += 1;
                }
                streamed_in_pieces += usize::from(calls > 1);
                assert!(streamed == expected, "{}", path.display());
                assert!(load_mono(&path).unwrap() == expected, "{}", path.display());
            }
        }
    }
    assert!(
        streamed_in_pieces > 10,
        "only {streamed_in_pieces} fixtures came in more than one piece"
    );
}
