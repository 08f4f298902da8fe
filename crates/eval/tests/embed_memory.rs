//! Acceptance: embedding a 10-minute track stays within a stated memory bound and equals
//! slice-by-slice extraction within 1e-5. This file holds one test so that the process's peak
//! RSS belongs to it alone.
//!
//! The bound: while a track is embedded, the process grows by at most the log-mel spectrogram
//! (96 × 4 bytes per 10 ms frame = 0.6 × the size of the 16 kHz f32 audio), the output timeline
//! (T × ΣD floats) and a working set that does not depend on the track's length (one batch of
//! slices and the model's activations for it). For the test model and batch 16 the working set
//! stays under 24 MiB (7 MiB measured), so the growth must stay under mel + timeline + 24 MiB; holding every
//! slice of the track at once (the non-streaming way) would alone add 300 × 96 × 300 × 4 bytes
//! = 33 MiB on top of that, and the activations of all 300 slices far more.

use burn::tensor::Device;
use loev_audio::frontend::FrontEndConfig;
use loev_eval::embed::{EmbedOptions, Embedder};
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn ten_minute_track_is_embedded_in_bounded_memory_and_matches_single_slices() {
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
    // Warm up the model's buffers on a short clip so the measurement sees only the track.
    let clip = |seconds: usize, seed: u32| -> Vec<f32> {
        (0..seconds * 16000)
            .map(|i| {
                let t = i as f32 / 16000.0;
                let f = 110.0 * (1.0 + ((i / 48000) as u32 ^ seed) as f32 % 7.0 / 7.0);
                0.4 * (2.0 * std::f32::consts::PI * f * t).sin()
            })
            .collect()
    };
    embedder.embed_audio(&clip(20, 1)).unwrap();
    let audio = clip(600, 2);
    let before = peak_rss_bytes();
    let (track, stats) = embedder.embed_audio(&audio).unwrap();
    let after = peak_rss_bytes();
    assert_eq!(stats.slices, 300);
    assert!(
        stats.max_slices_in_flight <= batch,
        "{} slices alive at once",
        stats.max_slices_in_flight
    );

    let mel_bytes = 96 * (1 + audio.len() / 160) * 4;
    let timeline_bytes: usize = track.spaces.iter().map(|s| s.timeline.len() * 4).sum();
    let working_set = 24 << 20;
    if let (Some(before), Some(after)) = (before, after) {
        let growth = after.saturating_sub(before) as usize;
        eprintln!(
            "10-min track: peak RSS grew by {:.1} MiB (mel {:.1} MiB + timeline {:.2} MiB + working-set bound {:.0} MiB); audio itself {:.1} MiB",
            growth as f64 / 1048576.0,
            mel_bytes as f64 / 1048576.0,
            timeline_bytes as f64 / 1048576.0,
            working_set as f64 / 1048576.0,
            (audio.len() * 4) as f64 / 1048576.0
        );
        assert!(
            growth <= mel_bytes + timeline_bytes + working_set,
            "peak RSS grew by {growth} bytes"
        );
    }

    // Every 7th slice alone through the model equals its row of the batched timeline.
    let fe = embedder.frontend();
    let slices = fe.slices(&fe.log_mel(&audio), 200);
    assert_eq!(slices.len(), 300);
    let mut worst = 0.0f32;
    for (t, (_, slice)) in slices.into_iter().enumerate().step_by(7) {
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
