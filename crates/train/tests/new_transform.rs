//! A transform added through the registry (the compressor) can be declared variant: the run
//! builds a leave-out head for it, every batch's tracking column is the compressor's applied
//! flag in the view records, the head's positives follow that column, and the run trains.

mod common;
use common::{batch_labels, small_cache, small_config, temp_dir};

use std::sync::Arc;

use loev_audio::cache::AudioCache;
use loev_augment::{BatchLoader, ChainConfig};
use loev_train::{HeadObjective, pretrain};

#[test]
fn a_compressor_declared_variant_trains_and_its_head_follows_its_tracking() {
    let root = temp_dir("compressor-variant");
    let cache = small_cache(&root);
    let mut config = small_config("compressor-variant", &cache, 3);
    config.augment =
        ChainConfig::from_toml_str("variant = [\"compressor\"]\n[pitch_shift]\np = 0.0\n[compressor]\np = 0.5\n")
            .expect("chain");
    config.data.anchors = 3;
    config.data.views = 4;
    config.validate().expect("valid config");

    let heads = config.heads();
    assert_eq!(heads.names(), ["invariant", "compressor"]);
    assert_eq!(heads.objectives()[1], HeadObjective::LeaveOut { variant: 0 });

    let cache_handle = Arc::new(AudioCache::open(&cache).expect("cache"));
    let mut loader = BatchLoader::new(cache_handle, config.loader_config(), 0).expect("loader");
    let (mut applied, mut skipped) = (0, 0);
    for _ in 0..4 {
        let batch = loader.next_batch().expect("batch");
        assert_eq!(batch.variant_names, vec!["compressor".to_string()]);
        let labels = batch_labels(&batch);
        for (i, record) in batch.records.iter().enumerate() {
            let compressed = record.applied("compressor");
            assert_eq!(batch.tracking[i], u8::from(compressed), "view {i}: {record:?}");
            let entry = record.transform("compressor").expect("a compressor record");
            assert_eq!(entry.params.contains_key("ratio"), compressed);
            if compressed {
                applied += 1;
            } else {
                skipped += 1;
            }
        }
        for i in 0..batch.len() {
            for j in 0..batch.len() {
                let expected = i != j
                    && batch.clip_ids[i] == batch.clip_ids[j]
                    && batch.tracking[i] == 0
                    && batch.tracking[j] == 0;
                assert_eq!(
                    labels.is_positive(&heads.objectives()[1], i, j),
                    expected,
                    "views {i}, {j}"
                );
            }
        }
    }
    assert!(
        applied > 0 && skipped > 0,
        "p = 0.5 compresses some views: {applied} vs {skipped}"
    );

    let summary = pretrain(&config, &loev_train::fixtures::quiet_options(&root.join("run"))).expect("the run trains");
    assert_eq!(summary.steps, 3);
    assert_eq!(summary.heads, heads.names());
    let metrics = std::fs::read_to_string(root.join("run").join("metrics.jsonl")).expect("metrics");
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().expect("a line")).expect("json");
    let loss = last["heads"]["compressor"]["loss"]
        .as_f64()
        .expect("the compressor head's loss");
    assert!(loss.is_finite(), "{last}");
    std::fs::remove_dir_all(&root).ok();
}
