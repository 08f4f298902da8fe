//! Streaming extraction: batched results equal slice-by-slice extraction, the working set is
//! bounded by the batch, and the folder layout round-trips.

use burn::tensor::Device;
use loev_audio::frontend::FrontEndConfig;
use loev_eval::embed::{EmbedJob, EmbedOptions, Embedder, model_spaces};
use loev_eval::store::{EmbeddingFormat, EmbeddingSet, read_track};
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};

/// The test-size model with an invariant and a pitch head (LOEV++ branches when `plusplus`),
/// ready to embed on the CPU with MULE's front end.
fn test_embedder(plusplus: bool, options: EmbedOptions) -> (Embedder, LoevModelConfig) {
    let config = LoevModelConfig::new(EncoderConfig::test(), vec!["invariant".into(), "pitch_shift".into()])
        .with_projection_dims(vec![32, 16])
        .with_plusplus(plusplus);
    let model = LoevModel::init(&config, &Device::flex(), 7);
    let embedder = Embedder::new(
        model,
        config.clone(),
        FrontEndConfig::default(),
        Device::flex(),
        options,
        "test",
    )
    .unwrap();
    (embedder, config)
}

fn music(seconds: f64) -> Vec<f32> {
    let n = (seconds * 16000.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / 16000.0;
            0.3 * (2.0 * std::f32::consts::PI * (220.0 + 40.0 * (t * 0.3).sin()) * t).sin()
                + 0.1 * ((i * 7919 % 1000) as f32 / 1000.0 - 0.5)
        })
        .collect()
}

#[test]
fn batched_streaming_equals_slice_by_slice() {
    for plusplus in [false, true] {
        let options = EmbedOptions {
            batch_size: 5,
            hop_seconds: 2.0,
        };
        let (embedder, config) = test_embedder(plusplus, options);
        let audio = music(23.5);
        let (track, stats) = embedder.embed_audio(&audio).unwrap();
        // Reference: the front end's own slicer, each slice alone through the model.
        let fe = embedder.frontend();
        let slices = fe.slices(&fe.log_mel(&audio), 200);
        assert_eq!(track.timestamps.len(), slices.len());
        assert_eq!(stats.slices, slices.len());
        assert!(stats.max_slices_in_flight <= 5);
        let spaces = model_spaces(&config);
        assert_eq!(track.spaces.len(), spaces.len());
        let mut worst = 0.0f32;
        for (t, (time, slice)) in slices.into_iter().enumerate() {
            assert!((track.timestamps[t] - time).abs() < 1e-9);
            let single = embedder.embed_inputs(slice, 1).unwrap();
            for (space, one) in track.spaces.iter().zip(&single) {
                for (a, b) in space.row(t).iter().zip(one) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
        assert!(worst < 1e-5, "batched vs single differ by {worst}");
        // The mean is the mean of the timeline.
        let v = &track.spaces[0];
        let m0: f32 = (0..v.len()).map(|t| v.row(t)[0]).sum::<f32>() / v.len() as f32;
        assert!((m0 - v.mean[0]).abs() < 1e-5);
    }
}

#[test]
fn short_track_gives_one_padded_slice() {
    let (embedder, _) = test_embedder(false, EmbedOptions::default());
    let (track, stats) = embedder.embed_audio(&music(1.2)).unwrap();
    assert_eq!(stats.slices, 1);
    // 121 real frames of 300: the centre of the covered audio, as `FrontEnd::slices` says.
    assert!((track.timestamps[0] - 0.605).abs() < 1e-9, "{:?}", track.timestamps);
    assert!(track.spaces.iter().all(|s| s.mean.iter().all(|x| x.is_finite())));
}

#[test]
fn folder_layout_round_trips_in_both_formats() {
    let dir = std::env::temp_dir().join(format!("loev-embed-test-{}", std::process::id()));
    let audio_dir = dir.join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    for (name, seconds) in [("a", 5.0), ("b", 7.0)] {
        loev_audio::wav::write_wav(&audio_dir.join(format!("{name}.wav")), &music(seconds), 16000).unwrap();
    }
    std::fs::write(audio_dir.join("broken.wav"), b"not a wav").unwrap();
    let manifest = audio_dir.join("manifest.csv");
    std::fs::write(
        &manifest,
        "path,id,split,tempo,key\na.wav,A,train,120,C major\nb.wav,B,test,90,A minor\nbroken.wav,C,train,100,\n",
    )
    .unwrap();
    let (embedder, _) = test_embedder(false, EmbedOptions::default());
    for format in [EmbeddingFormat::Safetensors, EmbeddingFormat::Npy] {
        let out = dir.join(format!("out-{format:?}"));
        let job = EmbedJob {
            format,
            stretch_copies: 2,
            progress: false,
            ..EmbedJob::default()
        };
        let summary = loev_eval::embed::embed_to_folder(&embedder, &manifest, &out, &job).unwrap();
        assert_eq!(summary.tracks, 2);
        assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
        assert_eq!(
            summary.stretched, 4,
            "both tracks with a tempo are stretched, the test one too (AllTempo's folds need it)"
        );
        let set = EmbeddingSet::open(&out).unwrap();
        let files = set.files_by_id().unwrap();
        let decoded = loev_audio::decode::load_mono(&audio_dir.join("a.wav")).unwrap();
        let direct = embedder.embed_audio(&decoded).unwrap().0;
        let read = read_track(&files["A"], &set.meta.spaces, &[]).unwrap();
        assert_eq!(read.spaces.len(), direct.spaces.len());
        for (a, b) in read.spaces.iter().zip(&direct.spaces) {
            assert_eq!(a.timeline, b.timeline);
            assert_eq!(a.mean, b.mean);
        }
        let copies = set.stretched().unwrap();
        assert!(copies.iter().all(|c| (0.8..1.2).contains(&c.rate)));
        let mut sources: Vec<&str> = copies.iter().map(|c| c.source.as_str()).collect();
        sources.sort();
        assert_eq!(sources, ["A", "A", "B", "B"]);
        let (tasks, _) = loev_data::load_manifest_tasks(&set.index_path(), &Default::default()).unwrap();
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"key") && names.contains(&"tempo"), "{names:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
