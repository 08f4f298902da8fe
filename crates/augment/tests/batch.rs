//! Multi-view batches (issue 3, acceptance 2): tracking matrix = applied flags of the
//! variant transforms, anchors distinct, same seed ⇒ identical bytes with 1 and N workers for
//! both pitch/stretch methods,
//! batches are a pure function of (seed, index).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use loev_audio::cache::AudioCache;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_augment::{
    AugmentChain, Batch, BatchLoader, DataConfig, LoaderConfig, StretchMethod, anchor_tracks, build_batch, mixup,
};
use loev_core::rng::rng_from_seed;

/// A cache of `n` generated 4 s tracks (different tones and rhythms) in a fresh temp dir.
fn test_cache(name: &str, n: usize) -> (PathBuf, Arc<AudioCache>) {
    let dir = std::env::temp_dir().join(format!("loev-augment-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tracks = (0..n).map(|t| {
        let f0 = 110.0 * 2f64.powf(t as f64 / 5.0);
        let beat = 4_000 + 700 * t;
        let samples: Vec<f32> = (0..64_000)
            .map(|i| {
                let env = (-((i % beat) as f64) / 1_600.0).exp();
                let tone = (1..=3)
                    .map(|k| (2.0 * std::f64::consts::PI * k as f64 * f0 * i as f64 / 16_000.0).sin() / k as f64)
                    .sum::<f64>();
                (0.4 * env * tone) as f32
            })
            .collect();
        (format!("track{t}"), samples, BTreeMap::new())
    });
    AudioCache::build_from_tracks(tracks, &dir).unwrap();
    let cache = AudioCache::open(&dir).unwrap();
    (dir, Arc::new(cache))
}

/// A small loader: 1 s views (100 frames of 64 mels), 4 anchors × 2 views.
fn small_config(seed: u64, workers: usize) -> LoaderConfig {
    LoaderConfig {
        data: DataConfig {
            anchors: 4,
            views: 2,
            workers,
            prefetch: 2,
            ..DataConfig::default()
        },
        seed,
        frontend: FrontEndConfig {
            n_mels: 64,
            frames: 100,
            ..FrontEndConfig::default()
        },
        ..LoaderConfig::default()
    }
}

fn assert_same(a: &Batch, b: &Batch) {
    assert_eq!(a.index, b.index);
    assert_eq!(a.inputs.len(), b.inputs.len());
    // Bit-identical inputs.
    assert!(
        a.inputs.iter().zip(&b.inputs).all(|(x, y)| x.to_bits() == y.to_bits()),
        "batch {} differs",
        a.index
    );
    assert_eq!(a, b);
}

#[test]
fn batch_layout_and_tracking_matrix() {
    let (dir, cache) = test_cache("layout", 6);
    let mut cfg = small_config(11, 1);
    cfg.chain.variant = vec!["pitch_shift".into(), "time_stretch".into(), "reverb".into()];
    let chain = AugmentChain::new(cfg.chain.clone()).unwrap();
    let frontend = FrontEnd::new(cfg.frontend.clone()).unwrap();
    let mut variant_hits = [0usize; 3];
    for index in 0..3 {
        let batch = build_batch(&cache, &cfg, &chain, &frontend, index).unwrap();
        let views = 8;
        assert_eq!(
            (batch.n_anchors, batch.n_views, batch.n_mels, batch.n_frames),
            (4, 2, 64, 100)
        );
        assert_eq!(batch.inputs.len(), views * 64 * 100);
        assert_eq!(batch.clip_ids, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(batch.tracking.len(), views * 3);
        let distinct: BTreeSet<u32> = batch.track_ids.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "anchors of a batch are distinct tracks");
        assert!(batch.inputs.iter().all(|v| v.is_finite()));
        for v in 0..views {
            let record = &batch.records[v];
            for (k, name) in batch.variant_names.iter().enumerate() {
                assert_eq!(
                    batch.tracking_row(v)[k],
                    u8::from(record.applied(name)),
                    "view {v} {name}"
                );
                variant_hits[k] += usize::from(batch.tracking_row(v)[k]);
            }
            let crop = record.crop.as_ref().unwrap();
            assert_eq!(crop.track, batch.track_ids[v]);
            assert_eq!(crop.len, record.source_len);
            assert_eq!(record.view_len, 16_000);
            // Each input slice is standardised (front-end default).
            let input = batch.input(v);
            let mean = input.iter().map(|&x| f64::from(x)).sum::<f64>() / input.len() as f64;
            assert!(mean.abs() < 1e-3, "view {v}: mean {mean}");
        }
        // Views of one anchor share the strategy.
        for a in 0..4 {
            assert_eq!(
                batch.records[2 * a].crop.as_ref().unwrap().strategy,
                batch.records[2 * a + 1].crop.as_ref().unwrap().strategy
            );
        }
    }
    // Over 24 views, each variant was both applied and not applied at least once.
    assert!(variant_hits.iter().all(|&h| h > 0 && h < 24), "{variant_hits:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn same_seed_same_bytes_with_one_and_many_workers_for_both_methods() {
    let (dir, cache) = test_cache("workers", 5);
    for method in [StretchMethod::Exact, StretchMethod::Spectral] {
        let config = |seed: u64, workers: usize| {
            let mut cfg = small_config(seed, workers);
            cfg.chain.stretcher.method = method;
            cfg
        };
        let batches = |workers: usize, first: u64, count: usize| -> Vec<Batch> {
            let mut loader = BatchLoader::new(Arc::clone(&cache), config(3, workers), first).unwrap();
            (0..count).map(|_| loader.next_batch().unwrap()).collect()
        };
        let one = batches(1, 0, 6);
        assert_eq!(one.iter().map(|b| b.index).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
        // Workers finish out of order; the loader still hands out batches in index order.
        for workers in [2, 5] {
            for (a, b) in one.iter().zip(&batches(workers, 0, 6)) {
                assert_same(a, b);
            }
        }
        // Resuming at batch 1 gives exactly batch 1, and build_batch is the same pure function.
        let resumed = batches(2, 1, 1);
        assert_same(&resumed[0], &one[1]);
        let cfg = config(3, 1);
        let direct = build_batch(
            &cache,
            &cfg,
            &AugmentChain::new(cfg.chain.clone()).unwrap(),
            &FrontEnd::new(cfg.frontend.clone()).unwrap(),
            2,
        )
        .unwrap();
        assert_same(&direct, &one[2]);
        // Another seed gives other batches.
        let other = BatchLoader::new(Arc::clone(&cache), config(4, 1), 0)
            .unwrap()
            .next_batch()
            .unwrap();
        assert_ne!(other.inputs, one[0].inputs);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The two methods draw the same plans, crops and mixup partners (the records are equal), and
/// give different but similar inputs: same shape, standardised, correlated view by view.
#[test]
fn the_spectral_method_records_the_same_views_and_makes_similar_inputs() {
    let (dir, cache) = test_cache("methods", 4);
    for mixup in [false, true] {
        let mut exact_cfg = small_config(9, 1);
        exact_cfg.data.mixup = mixup;
        exact_cfg.chain.stretcher.method = StretchMethod::Exact;
        let mut spectral_cfg = exact_cfg.clone();
        spectral_cfg.chain.stretcher.method = StretchMethod::Spectral;
        let exact = BatchLoader::new(Arc::clone(&cache), exact_cfg, 0)
            .unwrap()
            .next_batch()
            .unwrap();
        let spectral = BatchLoader::new(Arc::clone(&cache), spectral_cfg, 0)
            .unwrap()
            .next_batch()
            .unwrap();
        assert_eq!(exact.records, spectral.records);
        assert_eq!(exact.tracking, spectral.tracking);
        assert_eq!(exact.inputs.len(), spectral.inputs.len());
        assert_ne!(exact.inputs, spectral.inputs);
        for v in 0..exact.len() {
            let (a, b) = (exact.input(v), spectral.input(v));
            assert!(b.iter().all(|x| x.is_finite()));
            // Both standardised: the correlation is the mean product.
            let correlation = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>() / a.len() as f64;
            assert!(
                correlation > 0.5,
                "mixup {mixup}, view {v}: correlation {correlation:.3}"
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn anchors_cover_each_epoch_without_repeats() {
    // 10 tracks, 3 anchors: 3 batches per epoch, 9 distinct tracks per epoch.
    for epoch in 0..3u64 {
        let tracks: Vec<u32> = (epoch * 3..epoch * 3 + 3)
            .flat_map(|b| anchor_tracks(10, 3, 8, b))
            .collect();
        let distinct: BTreeSet<u32> = tracks.iter().copied().collect();
        assert_eq!(distinct.len(), 9);
    }
    assert_ne!(anchor_tracks(10, 3, 8, 0), anchor_tracks(10, 3, 8, 3));
    assert_eq!(anchor_tracks(10, 3, 8, 5), anchor_tracks(10, 3, 8, 5));
    // Fewer tracks than anchors: every track appears, some twice.
    let few = anchor_tracks(3, 5, 1, 0);
    assert_eq!(few.len(), 5);
    assert_eq!(few.iter().copied().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn mixup_mixes_with_a_partner_and_beta_weights() {
    let mut rng = rng_from_seed(1);
    let mut lambdas = Vec::new();
    for _ in 0..500 {
        let clean: Vec<Vec<f32>> = (0..4).map(|v| vec![v as f32 + 1.0; 8]).collect();
        let mut waves = clean.clone();
        let records = mixup(&mut waves, &mut rng);
        assert_eq!(records.len(), 4);
        for (v, record) in records.iter().enumerate() {
            assert_ne!(record.partner, v);
            assert!(record.lambda > 0.0 && record.lambda < 1.0);
            let expected = record.lambda as f32 * clean[v][0] + (1.0 - record.lambda as f32) * clean[record.partner][0];
            assert!((waves[v][0] - expected).abs() < 1e-5);
            lambdas.push(record.lambda);
        }
    }
    // Beta(5, 2): mean 5/7, variance 10/392.
    let mean = lambdas.iter().sum::<f64>() / lambdas.len() as f64;
    let var = lambdas.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lambdas.len() as f64;
    assert!((mean - 5.0 / 7.0).abs() < 0.01, "{mean}");
    assert!((var - 10.0 / 392.0).abs() < 0.004, "{var}");
    let mut single = vec![vec![1.0f32; 4]];
    assert!(mixup(&mut single, &mut rng).is_empty());
}

#[test]
fn mixup_batches_record_partners() {
    let (dir, cache) = test_cache("mixup", 4);
    let mut cfg = small_config(5, 1);
    cfg.data.mixup = true;
    let batch = BatchLoader::new(Arc::clone(&cache), cfg, 0)
        .unwrap()
        .next_batch()
        .unwrap();
    for (v, record) in batch.records.iter().enumerate() {
        let mix = record.mixup.as_ref().unwrap();
        assert!(mix.partner < 8 && mix.partner != v);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn invalid_configs_are_errors() {
    let (dir, cache) = test_cache("invalid", 2);
    let mut cfg = small_config(0, 1);
    cfg.data.anchors = 0;
    assert!(BatchLoader::new(Arc::clone(&cache), cfg, 0).is_err());
    let mut cfg = small_config(0, 1);
    cfg.chain.effects.get_mut::<loev_augment::transforms::ReverbConfig>().p = 2.0;
    let err = BatchLoader::new(Arc::clone(&cache), cfg, 0).err().unwrap().to_string();
    assert!(err.contains("reverb.p"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The standalone log-mel views of a clip (the Python `Augmenter`) render like the trainer's
/// batches: by the chain's method, each view from its own plan and crop through the same
/// per-view calls `build_batch` makes (`render_spectral_power` then `finish_input` for the
/// spectral method; the front end of the Signalsmith waveform for the exact one).
#[test]
fn clip_view_inputs_follow_the_method_with_the_trainers_rendering() {
    use loev_audio::chunks::{Crop, CropProbabilities, read_crop};
    use loev_augment::views::{clip_view_inputs, clip_views};
    use loev_core::rng::derived_rng;

    let (dir, cache) = test_cache("clip-views", 1);
    let audio = cache.track(0).to_vec();
    let frontend = FrontEnd::new(FrontEndConfig::default()).unwrap();
    let crops = CropProbabilities::default();
    let (seed, n) = (21, 6);
    let mut config = loev_augment::ChainConfig::default();
    config.pitch_shift.p = 0.8;
    config.time_stretch.p = 0.8;
    config.stretcher.method = StretchMethod::Exact;
    let exact_chain = AugmentChain::new(config.clone()).unwrap();
    config.stretcher.method = StretchMethod::Spectral;
    let spectral_chain = AugmentChain::new(config).unwrap();

    let (exact, exact_records) = clip_view_inputs(&exact_chain, &frontend, &audio, seed, n, &crops);
    let waves = clip_views(&exact_chain, &audio, seed, n, frontend.view_samples(), &crops, false);
    assert_eq!(exact_records, waves.records);
    let size = frontend.input_len();
    for (v, wave) in waves.waves.iter().enumerate() {
        let mut want = vec![0.0; size];
        frontend.view_input(wave, &mut want);
        assert!(
            exact[v * size..(v + 1) * size]
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "exact view {v}"
        );
    }

    let (spectral, spectral_records) = clip_view_inputs(&spectral_chain, &frontend, &audio, seed, n, &crops);
    assert_eq!(spectral_records, exact_records, "same plans and crops for both methods");
    assert!(
        spectral_records
            .iter()
            .any(|r| r.applied("pitch_shift") || r.applied("time_stretch")),
        "the test needs warped views"
    );
    for (v, record) in spectral_records.iter().enumerate() {
        let plan = spectral_chain.plan(&mut derived_rng(seed, &[v as u64]));
        let crop = record.crop.as_ref().unwrap();
        let span = read_crop(
            &audio,
            &Crop {
                start: crop.start,
                len: crop.len,
            },
        );
        let mut want = vec![0.0; size];
        spectral_chain.render_spectral_power(&plan, span, &frontend, &mut want);
        frontend.finish_input(&mut want);
        let got = &spectral[v * size..(v + 1) * size];
        assert!(
            got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
            "spectral view {v}"
        );
        let ex = &exact[v * size..(v + 1) * size];
        let correlation = got.iter().zip(ex).map(|(x, y)| f64::from(x * y)).sum::<f64>() / size as f64;
        assert!(
            correlation > 0.5,
            "view {v}: correlation with the exact view {correlation:.3}"
        );
    }
    assert_ne!(spectral, exact);
    std::fs::remove_dir_all(dir).unwrap();
}

/// One rank of a multi-process run renders a slice of every batch: its inputs are, bit for bit,
/// the same rows of the whole batch, and everything else of the batch is the whole batch's.
/// With mixup a view's partner may lie outside the slice, so every view is rendered.
#[test]
fn a_slice_of_the_views_renders_the_same_inputs_as_the_whole_batch() {
    let (dir, cache) = test_cache("slice", 5);
    for method in [StretchMethod::Spectral, StretchMethod::Exact] {
        for mixup in [false, true] {
            let mut whole_cfg = small_config(21, 1);
            whole_cfg.chain.stretcher.method = method;
            whole_cfg.data.mixup = mixup;
            let whole = BatchLoader::new(Arc::clone(&cache), whole_cfg.clone(), 3)
                .unwrap()
                .next_batch()
                .unwrap();
            assert_eq!(whole.rendered, 0..8);
            for slice in [0..3, 3..5, 5..8, 7..8] {
                let mut cfg = whole_cfg.clone();
                cfg.rendered_views = Some(slice.clone());
                let part = BatchLoader::new(Arc::clone(&cache), cfg, 3)
                    .unwrap()
                    .next_batch()
                    .unwrap();
                let expected = if mixup { 0..8 } else { slice.clone() };
                assert_eq!(part.rendered, expected, "{method:?}, mixup {mixup}");
                assert_eq!(part.inputs.len(), expected.len() * 64 * 100);
                for v in 0..8 {
                    if expected.contains(&v) {
                        let same = part
                            .input(v)
                            .iter()
                            .zip(whole.input(v))
                            .all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(same, "{method:?}, mixup {mixup}, slice {slice:?}: view {v} differs");
                    } else {
                        assert!(part.input(v).is_empty());
                    }
                }
                assert_eq!(
                    (&part.records, &part.tracking, &part.clip_ids, &part.track_ids),
                    (&whole.records, &whole.tracking, &whole.clip_ids, &whole.track_ids)
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
