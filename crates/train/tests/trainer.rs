//! The trainer's contract, on real components (burn-flex, the test-size encoder, 32 × 64 inputs):
//! * an Adam step built as the trainer builds it (`step_gradients`, then `step_multi`) lowers the
//!   contrastive loss of a fixed batch;
//! * a checkpoint holds exactly the weights training produced (replayed here step by step from
//!   the documented recipe: batch `s` of the loader, stochastic-depth seed `derive_seed(seed,
//!   [s])`, the schedule's learning rate at `s`), `export_model` writes them with the run's step,
//!   heads and front end, and `resume` continues from the checkpoint's step to the same weights
//!   the uninterrupted replay reaches;
//! * the constant and cosine-with-warm-up learning rates at the schedule's landmarks.

mod common;

use loev_train::fixtures::quiet_options;
use std::fs;
use std::sync::Arc;

use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::{
    FRAMES, MELS, SETTINGS, batch, batch_labels, loader_step_batch, loev_objectives, loev_plusplus_test_config,
    plusplus_step, small_cache, small_config, temp_dir,
};
use loev_artifacts::model_file::{ModelInput, load_model_file, read_model_file_info};
use loev_artifacts::run_folder::{MODEL_FILE, RunDir};
use loev_artifacts::{HeadInfo, HeadRole};
use loev_audio::cache::AudioCache;
use loev_augment::BatchLoader;
use loev_core::rng::derive_seed;
use loev_model::LoevModel;
use loev_train::config::{OptimizerConfig, Schedule};
use loev_train::{TrainConfig, ViewLabels, contrastive_loss, export_model, step_gradients};

/// Named weights of a model, as the model file stores them.
type Weights = Vec<(String, Vec<f32>)>;

/// The eval-mode (no stochastic depth) total loss of `model` on a batch, read back to the host.
fn eval_loss(model: &LoevModel, inputs: &[f32], labels: &ViewLabels, device: &Device) -> f64 {
    let input = Tensor::<4>::from_data(
        TensorData::new(inputs.to_vec(), [labels.len(), 1, MELS, FRAMES]),
        device,
    ); // [views, 1, mels, frames]
    let projections = model.encode(input).projections; // heads × [views, d]
    let loss = contrastive_loss(&projections, &loev_objectives(), labels, SETTINGS).expect("loss");
    loss.total.into_scalar::<f32>() as f64
}

#[test]
fn adam_steps_lower_the_loss_of_a_fixed_batch() {
    let device = Device::flex().autodiff();
    // 4 clips × 2 views: every anchor has one positive view and six negatives.
    let (inputs, labels) = batch(4, 2, 3);
    let mut model = LoevModel::init(&loev_plusplus_test_config(), &device, 31);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let before = eval_loss(&model, &inputs, &labels, &device);
    assert!(before.is_finite() && before > 0.0, "initial loss {before}");

    let mut step_losses = Vec::new();
    for step in 0..8u64 {
        let result = plusplus_step(&model, &inputs, &labels, std::slice::from_ref(&device), step).expect("step");
        assert!(result.losses.is_finite(), "step {step}: {:?}", result.losses);
        step_losses.push(result.losses.total);
        let gradients = result.gradients.expect("a finite loss has gradients");
        model = optimizer.step_multi(1e-3, model, gradients);
    }
    let after = eval_loss(&model, &inputs, &labels, &device);
    eprintln!("eval loss {before:.5} → {after:.5}; training losses {step_losses:.5?}");
    assert!(
        after < 0.5 * before,
        "8 Adam steps on one batch must at least halve its loss: {before} → {after}"
    );
    let (first, last) = (step_losses[0], step_losses[step_losses.len() - 1]);
    assert!(last < first, "training loss {first} → {last}");
    // The first training loss is the initial model's (the masks drop some residuals, so it
    // differs from the eval loss, but not by much for an untrained SkipInit network).
    assert!(
        (first - before).abs() <= 0.05 * before,
        "first step's loss {first} vs eval loss {before}"
    );
}

/// Trains `config` for `steps` steps outside the trainer, following the recipe the trainer
/// documents (see the module documentation), and returns the weights after each step.
fn replay(config: &TrainConfig, steps: u64) -> Vec<Weights> {
    let config = config.resolved();
    let device = Device::flex().autodiff();
    let heads = config.heads();
    let mut model = LoevModel::init(&config.model_config(), &device, config.seed);
    let mut optimizer = AdamConfig::new()
        .with_beta_1(config.optimizer.beta1 as f32)
        .with_beta_2(config.optimizer.beta2 as f32)
        .with_epsilon(config.optimizer.epsilon as f32)
        .init();
    let cache = AudioCache::open(config.data.cache.as_ref().expect("a cache")).expect("cache");
    let mut loader = BatchLoader::new(Arc::new(cache), config.loader_config(), 0).expect("loader");
    let mut weights = Vec::new();
    for step in 0..steps {
        let batch = loader.next_batch().expect("batch");
        assert_eq!(batch.index, step);
        let labels = batch_labels(&batch);
        let step_batch = loader_step_batch(&batch, &labels);
        let seed = derive_seed(config.seed, &[step]);
        let gradients = step_gradients(
            &model,
            step_batch,
            std::slice::from_ref(&device),
            heads.objectives(),
            config.objective.loss_settings(),
            seed,
        )
        .expect("step")
        .gradients
        .expect("finite loss");
        let learning_rate = config.optimizer.learning_rate_at(step, config.train.steps);
        model = optimizer.step_multi(learning_rate, model, gradients);
        weights.push(model.named_weights().expect("weights"));
    }
    weights
}

/// Asserts two sets of named weights are identical, naming the first tensor that is not.
fn assert_same_weights(actual: &Weights, expected: &Weights, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: tensor count");
    for ((name, a), (name_expected, b)) in actual.iter().zip(expected) {
        assert_eq!(name, name_expected, "{what}: tensor order");
        assert_eq!(a.len(), b.len(), "{what}: size of {name}");
        let worst = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            a == b,
            "{what}: {name} differs from the trained weights (largest |Δ| = {worst:e})"
        );
    }
}

/// How many weights differ between two sets of the same layout.
fn differing_weights(a: &Weights, b: &Weights) -> usize {
    a.iter()
        .zip(b)
        .map(|((_, x), (_, y))| x.iter().zip(y).filter(|(p, q)| p != q).count())
        .sum()
}

#[test]
fn checkpoints_and_exported_files_hold_the_trained_weights_and_resume_continues_from_their_step() {
    let root = temp_dir("trainer-checkpoint");
    let config = small_config("trainer-test", &small_cache(&root), 4);
    let run = root.join("run");
    let trained = replay(&config, 4);
    let initial = LoevModel::init(&config.model_config(), &Device::flex(), config.seed)
        .named_weights()
        .expect("weights");
    assert!(
        differing_weights(&trained[1], &initial) > 0,
        "two steps must move the weights"
    );

    // Two of four steps, then stop: the newest checkpoint is step 2's.
    let mut first = quiet_options(&run);
    first.stop_after = Some(2);
    let summary = loev_train::pretrain(&config, &first).unwrap_or_else(|e| panic!("training: {e}"));
    assert_eq!((summary.steps, summary.steps_trained, summary.total_steps), (2, 2, 4));
    let newest = summary.last_checkpoint.clone().expect("a checkpoint was written");
    let listed = RunDir::open(&run).expect("run").checkpoints().expect("checkpoints");
    assert_eq!(listed.last(), Some(&(2, newest.clone())), "{listed:?}");

    let loaded = load_model_file(&newest.join(MODEL_FILE), &Device::flex()).expect("the checkpoint loads");
    assert_eq!(loaded.config, config.model_config());
    assert_eq!(loaded.info.as_ref().map(|i| i.step), Some(2));
    assert_same_weights(
        &loaded.model.named_weights().expect("weights"),
        &trained[1],
        "checkpoint step 2",
    );

    // Export: the same weights, described by the run's step, heads and front end.
    let out = root.join("exported.safetensors");
    let mut warnings = Vec::new();
    let export = export_model(&run, &out, false, |w| warnings.push(w.to_string())).expect("export");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(export.checkpoint, newest);
    let info = read_model_file_info(&out)
        .expect("readable")
        .expect("the exported file describes itself");
    assert_eq!(info, export.info);
    assert_eq!(info.step, 2);
    assert_eq!(
        info.heads,
        vec![
            HeadInfo {
                name: "invariant".into(),
                objective: HeadRole::Invariant,
            },
            HeadInfo {
                name: "pitch_shift".into(),
                objective: HeadRole::LeaveOut {
                    transform: "pitch_shift".into(),
                },
            },
        ]
    );
    assert_eq!(info.frontend, config.frontend);
    assert_eq!(
        info.input,
        ModelInput {
            mels: MELS,
            frames: FRAMES
        }
    );
    assert_eq!(info.run, config.name);
    assert_eq!(info.preset.as_deref(), Some("loev-ps:test"));
    let exported = load_model_file(&out, &Device::flex()).expect("the exported file loads");
    assert_same_weights(
        &exported.model.named_weights().expect("weights"),
        &trained[1],
        "exported file",
    );

    // Resume: continues at step 2 (weights and Adam state) and reaches the replay's step 4.
    let summary = loev_train::resume(&quiet_options(&run)).unwrap_or_else(|e| panic!("resume: {e}"));
    assert_eq!(summary.resumed_from, Some(2));
    assert_eq!((summary.steps, summary.steps_trained), (4, 2));
    let last = summary.last_checkpoint.expect("a checkpoint at the end");
    let loaded = load_model_file(&last.join(MODEL_FILE), &Device::flex()).expect("the checkpoint loads");
    assert_eq!(loaded.info.as_ref().map(|i| i.step), Some(4));
    assert_same_weights(
        &loaded.model.named_weights().expect("weights"),
        &trained[3],
        "checkpoint step 4 after resuming",
    );
    let metrics = fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    let logged: Vec<u64> = metrics
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            value["step"].as_u64().expect("a step")
        })
        .collect();
    assert_eq!(logged, vec![1, 2, 3, 4], "one metrics line per step, none repeated");
    // Each head's loss per anchor with a positive, and the leave-out head's separation (the
    // invariant head has none; this preset's small batches shift nearly every view, so the
    // pitch head often has no pair to compare): the diagnostics docs/formats.md lists.
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    for line in &lines {
        let heads = &line["heads"];
        assert!(heads["invariant"]["separation"].is_null(), "{line}");
        let per_anchor = heads["invariant"]["loss_per_anchor_with_positive"].as_f64();
        let loss = heads["invariant"]["loss"].as_f64().expect("a loss");
        // Every anchor has a positive in the invariant head: both means are the same.
        assert!(
            per_anchor.is_some_and(|v| (v - loss).abs() <= 1e-9 * loss.abs().max(1.0)),
            "{line}"
        );
        let pitch = &heads["pitch_shift"];
        // No anchor with a positive in a step's batch: no per-anchor loss; otherwise at least
        // the mean over all anchors (the authors' mean, this preset's).
        match pitch["loss_per_anchor_with_positive"].as_f64() {
            None => assert_eq!(pitch["anchors_with_positives"].as_f64(), Some(0.0), "{line}"),
            Some(v) => assert!(v >= pitch["loss"].as_f64().unwrap_or(f64::INFINITY), "{line}"),
        }
        // A separation needs clean and half-shifted sibling pairs; a cosine difference.
        if let Some(separation) = pitch["separation"].as_f64() {
            assert!((-2.0..=2.0).contains(&separation), "{line}");
        }
    }
    fs::remove_dir_all(&root).ok();
}

/// Asserts `actual` equals `expected` up to f64 rounding.
fn assert_rate(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-12 * expected.abs(),
        "{what}: learning rate {actual:e}, expected {expected:e}"
    );
}

/// The schedule (`OptimizerConfig::learning_rate_at`, steps 0-based, a run of T steps):
/// constant → `lr` at every step; cosine with warm-up W and final rate f →
/// `lr · (s + 1) / W` for `s < W` (the warm-up's last step W − 1 reaches `lr`), then
/// `f + (lr − f) · (1 + cos(π · min((s − W) / (T − W), 1))) / 2`, which is `f` at `s = T`.
#[test]
fn constant_and_cosine_learning_rates_at_the_schedule_landmarks() {
    let optimizer = |learning_rate, schedule| OptimizerConfig {
        learning_rate,
        schedule,
        ..OptimizerConfig::default()
    };
    let constant = optimizer(3e-4, Schedule::Constant);
    for step in [0, 1, 5, 9, 10, 60, 109, 110, 10_000] {
        assert_eq!(constant.learning_rate_at(step, 110), 3e-4, "constant at step {step}");
    }

    // Peak 1e-3, 10 warm-up steps, 1e-4 at the end of a 110-step run: the decay spans 100 steps.
    let warmup_then_decay = Schedule::Cosine {
        warmup_steps: 10,
        final_lr: 1e-4,
    };
    let cosine = optimizer(1e-3, warmup_then_decay);
    let total = 110;
    for (step, expected, what) in [
        (0, 1e-4, "step 0 (lr · 1/10)"),
        (4, 5e-4, "mid warm-up (lr · 5/10)"),
        (9, 1e-3, "last warm-up step (lr · 10/10)"),
        (10, 1e-3, "end of warm-up (cosine at progress 0)"),
        // 1e-4 + 4.5e-4 · (1 + cos(π/4))
        (35, 8.681_980_515_339_464e-4, "a quarter into the decay"),
        // 1e-4 + 4.5e-4 · (1 + cos(π/2))
        (60, 5.5e-4, "midway through the decay"),
        // 1e-4 + 4.5e-4 · (1 + cos(0.99π)): the last trained step is one short of the end
        (109, 1.002_220_478_354_208e-4, "final step (T − 1)"),
        (110, 1e-4, "step T (final_lr)"),
        (1_000, 1e-4, "past the end (held at final_lr)"),
    ] {
        assert_rate(cosine.learning_rate_at(step, total), expected, what);
    }
    // Rising through the warm-up, never rising after it.
    let rates: Vec<f64> = (0..=total).map(|s| cosine.learning_rate_at(s, total)).collect();
    assert!(rates[..10].windows(2).all(|w| w[0] < w[1]), "{rates:?}");
    assert!(rates[10..].windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
}
