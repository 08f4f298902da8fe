//! Tracking (issue 3, acceptance 2): applied frequencies match the configured
//! probabilities, parameters lie in range, records and tracking vectors agree, and every
//! rendered view has exactly the view length.

use loev_augment::config::ChainConfig;
use loev_augment::transforms::{
    DistortionConfig, FilterConfig, GainConfig, NoiseConfig, ReverbConfig, transform_names,
};
use loev_augment::{AugmentChain, ViewRecord};
use loev_core::rng::derived_rng;

const VIEWS: u64 = 10_000;

fn in_range(value: f64, [low, high]: [f64; 2]) -> bool {
    (low..=high).contains(&value)
}

#[test]
fn applied_frequencies_match_p_and_parameters_lie_in_range() {
    let config = ChainConfig::default();
    let chain = AugmentChain::new(config.clone()).unwrap();
    let records: Vec<ViewRecord> = (0..VIEWS)
        .map(|v| chain.plan(&mut derived_rng(42, &[v])).record(48_000))
        .collect();
    for name in transform_names() {
        let applied = records.iter().filter(|r| r.applied(name)).count() as f64 / VIEWS as f64;
        let p = config.probability(name).unwrap();
        println!("{name:>18}: applied {applied:.4}, p {p:.4}");
        assert!((applied - p).abs() < 0.02, "{name}: {applied} vs {p}");
    }
    // The one-of filter chooses each kind a quarter of the time, applied or not.
    for kind in ["low_pass", "high_pass", "band_pass", "band_stop"] {
        let chosen = records
            .iter()
            .filter(|r| r.transform("filter").and_then(|t| t.choice.as_deref()) == Some(kind))
            .count() as f64
            / VIEWS as f64;
        assert!((chosen - 0.25).abs() < 0.02, "{kind} chosen {chosen}");
    }
    let f = config.effects.get::<FilterConfig>();
    let gain = config.effects.get::<GainConfig>();
    let noise = config.effects.get::<NoiseConfig>();
    let reverb = config.effects.get::<ReverbConfig>();
    let distortion = config.effects.get::<DistortionConfig>();
    for record in &records {
        for t in &record.transforms {
            if t.name != "polarity_inversion" {
                assert_eq!(t.applied, !t.params.is_empty(), "{t:?}");
            }
            let p = |key: &str| t.params[key];
            if !t.applied {
                continue;
            }
            match (t.name.as_str(), t.choice.as_deref()) {
                ("gain", _) => assert!(in_range(p("db"), gain.db)),
                ("colored_noise", _) => {
                    assert!(in_range(p("snr_db"), noise.snr_db));
                    assert!(in_range(p("decay"), noise.decay));
                }
                ("filter", Some("low_pass")) => assert!(in_range(p("cutoff_hz"), f.low_pass.cutoff_hz)),
                ("filter", Some("high_pass")) => assert!(in_range(p("cutoff_hz"), f.high_pass.cutoff_hz)),
                ("filter", Some("band_pass")) => {
                    assert!(in_range(p("center_hz"), f.band_pass.center_hz));
                    assert!(in_range(p("bandwidth_fraction"), f.band_pass.bandwidth_fraction));
                }
                ("filter", Some("band_stop")) => {
                    assert!(in_range(p("center_hz"), f.band_stop.center_hz));
                    assert!(in_range(p("bandwidth_fraction"), f.band_stop.bandwidth_fraction));
                }
                ("reverb", _) => {
                    assert!(in_range(p("room_size"), reverb.room_size));
                    assert!(in_range(p("wet"), reverb.wet));
                }
                ("distortion", _) => assert!(in_range(p("drive_db"), distortion.drive_db)),
                ("pitch_shift", _) => assert!(in_range(p("semitones"), config.pitch_shift.semitones)),
                ("time_stretch", _) => {
                    let rate = p("rate");
                    assert!(in_range(rate, config.time_stretch.rate));
                    assert_eq!(record.source_len, (rate * 48_000.0).ceil() as usize);
                }
                ("polarity_inversion", _) => {}
                other => panic!("unexpected transform {other:?}"),
            }
        }
        // Tracking vector = applied flags of the variant transforms, in order.
        let tracking = record.tracking(&config.variant);
        assert_eq!(
            tracking,
            vec![
                u8::from(record.applied("pitch_shift")),
                u8::from(record.applied("time_stretch"))
            ]
        );
    }
}

#[test]
fn any_transform_can_be_variant_and_p_zero_disables() {
    let mut config =
        ChainConfig::from_toml_str("variant = [\"reverb\", \"low_pass\", \"filter\", \"gain\"]\n[gain]\np = 0.0\n")
            .unwrap();
    config.pitch_shift.p = 1.0;
    let chain = AugmentChain::new(config.clone()).unwrap();
    assert!(!config.is_enabled("gain"));
    for v in 0..2_000u64 {
        let record = chain.plan(&mut derived_rng(7, &[v])).record(16_000);
        let filter = record.transform("filter").unwrap();
        let expected = vec![
            u8::from(record.transform("reverb").unwrap().applied),
            u8::from(filter.applied && filter.choice.as_deref() == Some("low_pass")),
            u8::from(filter.applied),
            0,
        ];
        assert_eq!(record.tracking(chain.variant_names()), expected);
        assert!(record.applied("pitch_shift"));
    }
}

#[test]
fn rendered_views_have_exactly_the_view_length_and_are_seeded() {
    let chain = AugmentChain::new(ChainConfig::default()).unwrap();
    let audio: Vec<f32> = (0..80_000)
        .map(|i| ((i as f32) * 0.031).sin() * 0.5 + ((i as f32) * 0.0021).sin() * 0.3)
        .collect();
    let view_len = 16_000;
    for v in 0..24u64 {
        let (view, record) = chain.augment(&audio, view_len, &mut derived_rng(5, &[v]));
        assert_eq!(view.len(), view_len, "{record:?}");
        assert!(view.iter().all(|x| x.is_finite()));
        let (again, record_again) = chain.augment(&audio, view_len, &mut derived_rng(5, &[v]));
        assert_eq!(view, again);
        assert_eq!(record, record_again);
    }
    // A source shorter than the view is zero-padded, never an error.
    let (view, _) = chain.augment(&audio[..100], view_len, &mut derived_rng(5, &[99]));
    assert_eq!(view.len(), view_len);
    // JSON round trip of a record.
    let (_, record) = chain.augment(&audio, view_len, &mut derived_rng(5, &[1]));
    let json = serde_json::to_string(&record).unwrap();
    assert_eq!(serde_json::from_str::<ViewRecord>(&json).unwrap(), record);
}
