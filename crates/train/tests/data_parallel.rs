//! Data-parallel training: N devices, each running its shard's forward and backward on its own
//! thread, give the loss and the gradients of one device computing the whole batch — at the
//! level of the real training step (`step_gradients`, then Adam). CI has no GPUs, so the N
//! devices are N replicas on burn-flex; each has its own thread, autodiff graph and shard, which
//! is the code path several GPUs take.

mod common;

use burn::optim::AdamConfig;
use burn::tensor::Device;
use common::{batch, gradient_scale, loev_plusplus_test_config, plusplus_step, tensors, worst_deviation};
use loev_model::{LoevModel, training_keep_masks};
use loev_train::{gradients_on_host, shard_ranges};

/// A step seed whose stochastic-depth masks drop at least one residual of this batch, so that
/// slicing the whole batch's masks per shard is exercised.
fn seed_with_drops(views: usize) -> u64 {
    let config = loev_plusplus_test_config();
    (0..1000)
        .find(|&seed| {
            training_keep_masks(&config.encoder, config.heads.len(), views, seed)
                .iter()
                .any(|mask| mask.keep.iter().any(|keep| !keep))
        })
        .expect("some seed drops a block")
}

#[test]
fn shards_cover_the_batch_in_order() {
    assert_eq!(shard_ranges(10, 3), vec![0..4, 4..8, 8..10]);
    assert_eq!(shard_ranges(8, 2), vec![0..4, 4..8]);
    assert_eq!(shard_ranges(2, 4), vec![0..1, 1..2]);
    assert_eq!(shard_ranges(5, 1), vec![0..5]);
}

#[test]
fn several_devices_give_the_loss_and_gradients_of_one_device() {
    let device = Device::flex().autodiff();
    // 3 clips × 4 views: 12 views, so 3 devices get 4 each and 5 devices get 3, 3, 3, 3 (the
    // fifth none: shards are contiguous and never empty).
    let (inputs, labels) = batch(3, 4, 5);
    let seed = seed_with_drops(labels.len());
    let model = LoevModel::init(&loev_plusplus_test_config(), &device, 17);

    let run = |devices: usize| {
        let step = plusplus_step(&model, &inputs, &labels, &vec![device.clone(); devices], seed).expect("step");
        (step.losses, step.gradients.expect("finite loss"))
    };
    let (one_losses, one_gradients) = run(1);
    assert!(one_losses.is_finite() && one_losses.total > 0.0, "{one_losses:?}");
    let one = gradients_on_host(&model, one_gradients);
    let parameters = model.named_weights().expect("weights").len();
    assert_eq!(one.len(), parameters, "every parameter has a gradient");

    // Deviations are measured against each parameter's own scale, but never below 1e-5 of the
    // largest gradient in the model: some gradients are rounding noise by construction (a
    // weight-standardised 1×1 convolution with one input channel standardises to zero).
    let floor = 1e-5 * gradient_scale(&one);
    for devices in [2, 3, 5] {
        let (losses, gradients) = run(devices);
        assert_eq!(losses.anchors_with_positives, one_losses.anchors_with_positives);
        // The diagnostics see the gathered batch: the same on any number of devices.
        assert!(
            one_losses.separation[0].is_none() && one_losses.separation.iter().any(Option::is_some),
            "the invariant head has no separation, a leave-out head one: {one_losses:?}"
        );
        for (a, b) in losses
            .separation
            .iter()
            .chain(&losses.loss_per_anchor_with_positive)
            .zip(
                one_losses
                    .separation
                    .iter()
                    .chain(&one_losses.loss_per_anchor_with_positive),
            )
        {
            match (a, b) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{devices} devices: {a} vs {b}"
                ),
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "{devices} devices"),
            }
        }
        for (head, (a, b)) in losses.heads.iter().zip(&one_losses.heads).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{devices} devices, head {head}: loss {a} vs {b}"
            );
        }
        let several = gradients_on_host(&model, gradients);
        let same_parameters = several.iter().map(|(id, _)| id).eq(one.iter().map(|(id, _)| id));
        assert!(same_parameters, "{devices} devices: other parameters");
        let worst = worst_deviation(&tensors(&several), &tensors(&one), floor, 1e-3, |i| {
            format!("{devices} devices: gradient of parameter {}", several[i].0)
        });
        eprintln!("{devices} devices: largest relative gradient deviation {worst:e}");
    }
}

#[test]
fn an_adam_step_from_several_devices_moves_the_weights_like_one_device() {
    let device = Device::flex().autodiff();
    let (inputs, labels) = batch(2, 4, 9);
    let seed = seed_with_drops(labels.len());
    let stepped = |devices: usize| {
        let model = LoevModel::init(&loev_plusplus_test_config(), &device, 23);
        let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
        let devices = vec![device.clone(); devices];
        let step = plusplus_step(&model, &inputs, &labels, &devices, seed).expect("step");
        let gradients = step.gradients.expect("finite");
        let model = optimizer.step_multi(1e-3, model, gradients);
        model.named_weights().expect("weights")
    };
    let one = stepped(1);
    let two = stepped(2);
    assert_eq!(one.len(), two.len());
    // Adam's first step moves every weight by ≈ lr·sign(g): weights whose gradient is rounding
    // noise (see above) may move either way, all others must land on the same value.
    let total: usize = one.iter().map(|(_, w)| w.len()).sum();
    let differing: usize = two
        .iter()
        .zip(&one)
        .map(|((_, a), (_, b))| a.iter().zip(b).filter(|(x, y)| (*x - *y).abs() > 1e-6).count())
        .sum();
    assert!(
        differing * 100 <= total,
        "{differing} of {total} weights differ after one step"
    );
}
