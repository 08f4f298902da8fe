//! Acceptance: embedding a long file keeps peak memory within a bound that does not grow with
//! the track's length, and equals slice-by-slice extraction within 1e-5. This file holds one
//! test so that the process's peak RSS belongs to it alone.
//!
//! The bound: while a file is embedded ([`Embedder::embed_file`]), the process grows by at most
//! the output timeline (T × ΣD floats) and a working set that does not depend on the track's
//! length: one batch of slices and the model's activations for it, one slice plus one hop of
//! spectrogram frames, one decoded packet and a few FFT frames of samples. For the test model
//! and batch 16 that working set stays under 24 MiB. The file is a 10-minute 44.1 kHz stereo
//! 16-bit wav (101 MiB): decoding it whole would alone add 101 MiB of bytes, 202 MiB of
//! interleaved floats and 37 MiB of 16 kHz audio, and its whole spectrogram 22 MiB, so any
//! stage that holds the whole track breaks the bound. (Measured with `loev embed` on files of
//! 10 min and 1 h, peak RSS is the same; see the report in the README.)

use std::io::{BufWriter, Write};
use std::path::Path;

use burn::tensor::Device;
use loev_audio::decode::load_mono;
use loev_audio::frontend::FrontEndConfig;
use loev_core::process::peak_rss_bytes;
use loev_eval::embed::{EmbedOptions, Embedder};
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};

/// Writes a 44.1 kHz stereo 16-bit wav of `seconds` piece by piece, so writing it does not
/// raise the peak RSS the test measures.
fn write_stereo_wav(path: &Path, seconds: usize) {
    let rate = 44_100u32;
    let frames = seconds * rate as usize;
    let data_bytes = (frames * 4) as u32;
    let mut w = BufWriter::new(std::fs::File::create(path).expect("create wav"));
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&2u16.to_le_bytes()); // channels
    header.extend_from_slice(&rate.to_le_bytes());
    header.extend_from_slice(&(rate * 4).to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_bytes.to_le_bytes());
    w.write_all(&header).expect("header");
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        // A tone that changes every 3 s, plus a little noise, different in each channel.
        let f = 110.0 * (1.0 + ((i / (3 * rate as usize)) % 7) as f32 / 7.0);
        let tone = 0.4 * (2.0 * std::f32::consts::PI * f * t).sin();
        let noise = ((i * 7919) % 1000) as f32 / 1000.0 - 0.5;
        let left = ((tone + 0.05 * noise) * 32767.0) as i16;
        let right = ((tone - 0.05 * noise) * 32767.0) as i16;
        w.write_all(&left.to_le_bytes()).expect("sample");
        w.write_all(&right.to_le_bytes()).expect("sample");
    }
    w.flush().expect("flush");
}

#[test]
fn ten_minute_stereo_file_is_embedded_in_bounded_memory_and_matches_single_slices() {
    let config = LoevModelConfig::new(EncoderConfig::test(), vec!["invariant".into(), "pitch_shift".into()])
        .with_projection_dims(vec![64, 32]);
    let model = LoevModel::init(&config, &Device::flex(), 3);
    let batch = 16;
    let embedder = Embedder::new(
        model,
        config,
        FrontEndConfig::default(),
        Device::flex(),
        EmbedOptions {
            batch_size: batch,
            hop_seconds: 2.0,
        },
        "test",
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("loev-embed-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let warm = dir.join("warm.wav");
    let long = dir.join("long.wav");
    write_stereo_wav(&warm, 40);
    write_stereo_wav(&long, 600);
    // Warm up the model's buffers and the resampler on a short file so the measurement sees
    // only the long track.
    embedder.embed_file(&warm).unwrap().unwrap();
    let before = peak_rss_bytes();
    let (track, stats, seconds) = embedder.embed_file(&long).unwrap().unwrap();
    let after = peak_rss_bytes();
    assert!((seconds - 600.0).abs() < 1e-3, "{seconds} s");
    assert_eq!(stats.slices, 300);
    assert!(
        stats.max_slices_in_flight <= batch,
        "{} slices alive at once",
        stats.max_slices_in_flight
    );

    let timeline_bytes: usize = track.spaces.iter().map(|s| s.timeline.len() * 4).sum();
    let working_set = 24 << 20;
    if let (Some(before), Some(after)) = (before, after) {
        let growth = after.saturating_sub(before) as usize;
        eprintln!(
            "10-min 44.1 kHz stereo file: peak RSS grew by {:.1} MiB (timeline {:.2} MiB + working-set bound {:.0} MiB); the file is {:.1} MiB",
            growth as f64 / 1048576.0,
            timeline_bytes as f64 / 1048576.0,
            working_set as f64 / 1048576.0,
            std::fs::metadata(&long).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
        );
        assert!(
            growth <= timeline_bytes + working_set,
            "peak RSS grew by {growth} bytes"
        );
    }

    // Every 7th slice alone through the model, cut from the whole track's spectrogram, equals
    // its row of the streamed, batched timeline.
    let audio = load_mono(&long).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let fe = embedder.frontend();
    let slices = fe.slices(&fe.log_mel(&audio), 200);
    assert_eq!(slices.len(), 300);
    let mut worst = 0.0f32;
    for (t, (time, slice)) in slices.into_iter().enumerate().step_by(7) {
        assert!((track.timestamps[t] - time).abs() < 1e-9);
        let single = embedder.embed_inputs(slice, 1).unwrap();
        for (space, one) in track.spaces.iter().zip(&single) {
            for (a, b) in space.row(t).iter().zip(one) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    eprintln!("largest difference batched vs slice-by-slice: {worst:e}");
    assert!(worst < 1e-5, "batched vs single differ by {worst}");
}
