//! Input audio that every command must read alike (issue 28, classes 1 and 2):
//!
//! * a complete wav whose header sizes are placeholders (`0xFFFFFFFF` or `0`, as ffmpeg and
//!   recorders write them to a pipe) decodes to exactly the samples of the same file with a
//!   correct header, in `features`, `cache build`, `embed` and `augment`;
//! * a float wav holding NaN or infinite samples is refused with the count of bad samples, in
//!   every command, and listed in `skipped.csv` / the embed summary where files are skipped.

mod common;
use common::{exported_model, float_wav, loev, run_ok, temp_dir};

use std::path::Path;

/// A wav of `frames` frames of a chord (`channels` channels, 16-bit PCM) with the given RIFF
/// and data size fields (`None`: the correct ones).
fn pcm_wav(rate: u32, channels: u16, frames: usize, riff: Option<u32>, data: Option<u32>) -> Vec<u8> {
    let mut body = Vec::with_capacity(frames * channels as usize * 2);
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        for c in 0..channels {
            let f = 220.0 * (1.0 + 0.25 * f64::from(c));
            let x = 0.3 * (2.0 * std::f64::consts::PI * f * t).sin()
                + 0.1 * (2.0 * std::f64::consts::PI * 3.0 * f * t).sin();
            body.extend_from_slice(&((x * 32767.0).round() as i16).to_le_bytes());
        }
    }
    let block = 2 * channels;
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&riff.unwrap_or(36 + body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.unwrap_or(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

fn features(audio: &Path, npy: &Path) -> std::process::Output {
    loev()
        .args(["features", "-o"])
        .arg(npy)
        .arg(audio)
        .output()
        .expect("the loev binary runs")
}

/// The placeholder pairs streaming writers leave: (RIFF size, data size).
const PLACEHOLDERS: [(u32, u32); 5] = [
    (u32::MAX, u32::MAX),
    (0, 0),
    (u32::MAX, 0),
    (0, u32::MAX),
    // A writer that fixed the RIFF size but not the data size.
    (36, 0),
];

/// Acceptance 3 of issue 28: `loev features` on a complete wav with placeholder sizes (mono
/// 16 kHz and stereo 44.1 kHz) writes the same log-mel, byte for byte, as on the same file with
/// a correct header.
#[test]
fn placeholder_header_sizes_give_the_same_log_mel() {
    let root = temp_dir("placeholders");
    for (rate, channels, seconds) in [(16_000u32, 1u16, 5usize), (44_100, 2, 4)] {
        let frames = rate as usize * seconds;
        let good = root.join(format!("good-{rate}-{channels}.wav"));
        std::fs::write(&good, pcm_wav(rate, channels, frames, None, None)).expect("wav");
        let expected_npy = root.join(format!("good-{rate}-{channels}.npy"));
        let output = features(&good, &expected_npy);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let expected = std::fs::read(&expected_npy).expect("npy");
        for (riff, data) in PLACEHOLDERS {
            let name = format!("ph-{rate}-{channels}-{riff:x}-{data:x}");
            let wav = root.join(format!("{name}.wav"));
            std::fs::write(&wav, pcm_wav(rate, channels, frames, Some(riff), Some(data))).expect("wav");
            let npy = root.join(format!("{name}.npy"));
            let output = features(&wav, &npy);
            assert!(
                output.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(std::fs::read(&npy).expect("npy") == expected, "{name}: another log-mel");
        }
    }
    std::fs::remove_dir_all(&root).ok();
}

/// The same files through the other readers of audio: `cache build` keeps every one (nothing
/// in skipped.csv), `embed` embeds every one with the slices of the correct file, and `augment`
/// writes its views.
#[test]
fn placeholder_header_sizes_are_read_by_every_command() {
    let root = temp_dir("placeholders-everywhere");
    let audio = root.join("audio");
    std::fs::create_dir_all(&audio).expect("folder");
    let frames = 44_100 * 4;
    std::fs::write(audio.join("good.wav"), pcm_wav(44_100, 2, frames, None, None)).expect("wav");
    for (i, (riff, data)) in PLACEHOLDERS.into_iter().enumerate() {
        std::fs::write(
            audio.join(format!("placeholder-{i}.wav")),
            pcm_wav(44_100, 2, frames, Some(riff), Some(data)),
        )
        .expect("wav");
    }
    let cache = root.join("cache");
    run_ok(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&audio));
    let info = loev().args(["cache", "info"]).arg(&cache).output().expect("runs");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("tracks: 6 (") && info.contains("skipped: 0 file"),
        "{info}"
    );

    let model = exported_model(&root);
    let embeddings = root.join("embeddings");
    let stdout = String::from_utf8_lossy(
        &loev()
            .args(["embed", "--quiet", "--stretch-copies", "0", "--model"])
            .arg(&model)
            .arg("-o")
            .arg(&embeddings)
            .arg(&audio)
            .output()
            .expect("runs")
            .stdout,
    )
    .to_string();
    assert!(
        stdout.contains("embedded 6 tracks") && !stdout.contains("skipped"),
        "{stdout}"
    );
    let index = std::fs::read_to_string(embeddings.join("index.csv")).expect("index");
    let slices: Vec<&str> = index
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap_or(""))
        .collect();
    assert!(
        slices.iter().all(|s| *s == slices[0]),
        "every copy has the same slices: {index}"
    );

    let views = root.join("views");
    run_ok(
        loev()
            .args(["augment", "-n", "2", "-o"])
            .arg(&views)
            .arg(audio.join("placeholder-0.wav")),
    );
    assert!(views.join("views.json").is_file());
    std::fs::remove_dir_all(&root).ok();
}

/// Class 2 of issue 28: NaN and infinite samples used to be read as silence by `features`,
/// `cache build`, `embed` and `augment` (exit 0, nothing reported) while the Python API refused
/// the same data. Now every command refuses such a file with the same count, and the commands
/// that skip bad files list it with that reason.
#[test]
fn non_finite_samples_are_refused_alike_by_every_command() {
    let root = temp_dir("non-finite");
    let audio = root.join("audio");
    std::fs::create_dir_all(&audio).expect("folder");
    let good: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.03).sin() * 0.3).collect();
    std::fs::write(audio.join("good.wav"), float_wav(&good)).expect("wav");
    let mut bad = good.clone();
    for i in (0..bad.len()).step_by(1000) {
        bad[i] = if i % 2000 == 0 { f32::NAN } else { f32::NEG_INFINITY };
    }
    let bad_path = audio.join("bad.wav");
    std::fs::write(&bad_path, float_wav(&bad)).expect("wav");
    let count = "48 non-finite samples";

    let output = features(&bad_path, &root.join("bad.npy"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(count) && stderr.contains("bad.wav"), "{stderr}");
    assert!(!root.join("bad.npy").exists());

    let output = loev()
        .args(["augment", "-n", "2", "-o"])
        .arg(root.join("views"))
        .arg(&bad_path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(count), "{stderr}");

    let cache = root.join("cache");
    run_ok(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&audio));
    let skipped = std::fs::read_to_string(cache.join("skipped.csv")).expect("skipped.csv");
    assert!(
        skipped.contains("bad.wav") && skipped.contains("48 of 48000 are NaN or infinite"),
        "{skipped}"
    );

    let model = exported_model(&root);
    let output = loev()
        .args(["embed", "--quiet", "--model"])
        .arg(&model)
        .arg("-o")
        .arg(root.join("embeddings"))
        .arg(&audio)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains("embedded 1 tracks") && stdout.contains("bad.wav") && stdout.contains("48 of 48000"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&root).ok();
}
