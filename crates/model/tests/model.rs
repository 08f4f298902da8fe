//! Behaviour of the whole model (issue 4 acceptance 1–3 and the API the training crate uses).

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use loev_core::rng::rng_from_seed;
use loev_model::{
    EncoderConfig, ForwardMode, LoevModel, LoevModelConfig, ModelError, NfBlock, Path, read_config, training_keep_masks,
};
use rand::RngExt;

fn input(seed: u64, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let mut rng = rng_from_seed(seed);
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-2.0f32..2.0))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 tensor")
}

fn heads(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn small_config(plusplus: bool) -> LoevModelConfig {
    LoevModelConfig::new(
        EncoderConfig::test(),
        heads(&["invariant", "pitch_shift", "time_stretch"]),
    )
    .with_projection_dims(vec![32, 16])
    .with_plusplus(plusplus)
}

/// The full-width encoder with a single invariant head, initialised from `seed`.
fn full_model(device: &Device, seed: u64) -> LoevModel {
    let config = LoevModelConfig::new(EncoderConfig::full(), heads(&["invariant"]));
    LoevModel::init(&config, device, seed)
}

/// SkipInit starts every residual branch at 0, which would make stochastic depth and the
/// branches invisible; give every block a distinct non-zero gain.
fn with_open_skip_gains(mut model: LoevModel, device: &Device) -> LoevModel {
    let mut k = 0.0f32;
    let mut open = |block: &mut NfBlock| {
        k += 1.0;
        block.skip_gain = Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.3 + 0.05 * k], [1]), device));
    };
    let encoder = &mut model.encoder;
    for stage in encoder
        .slow_stages
        .iter_mut()
        .chain(encoder.fast_stages.iter_mut())
        .chain(encoder.slow_branches.iter_mut())
        .chain(encoder.fast_branches.iter_mut())
    {
        stage.blocks.iter_mut().for_each(&mut open);
    }
    model
}

#[test]
fn full_encoder_has_exactly_mules_parameter_count() {
    let device = Device::flex();
    let plain = full_model(&device, 0);
    assert_eq!(plain.encoder_num_params(), 62_345_742);
    // One head 1728 → 1728 → 1728 → 512 (two biased hidden layers, bias-free output).
    assert_eq!(
        plain.num_params() - plain.encoder_num_params(),
        2 * (1728 * 1728 + 1728) + 1728 * 512
    );

    let plus = LoevModel::init(&LoevModelConfig::default().with_plusplus(true), &device, 0);
    // Blocks 1 and 2 of the last stage of both paths are duplicated for the 2 extra heads.
    let duplicated: usize = plain.encoder.slow_stages[3].blocks[1..]
        .iter()
        .map(Module::num_params)
        .sum::<usize>()
        + plain.encoder.fast_stages[3].blocks[1..]
            .iter()
            .map(Module::num_params)
            .sum::<usize>();
    assert_eq!(plus.encoder_num_params(), 62_345_742 + 2 * duplicated);
    assert_eq!(plus.encoder_num_params(), 83_956_118);
    assert_eq!(plus.num_params(), 104_536_598);
}

#[test]
fn full_width_stem_and_stage_shapes_match_the_reference_at_96x300_and_128x400() {
    let device = Device::flex();
    let model = full_model(&device, 1);
    let shapes = model.feature_shapes(input(2, [1, 1, 96, 300], &device));
    assert_eq!(shapes.slow_stem, [1, 128, 24, 19]);
    assert_eq!(shapes.fast_stem, [1, 16, 24, 75]);
    assert_eq!(
        shapes.slow_stages,
        vec![[1, 256, 24, 19], [1, 512, 12, 19], [1, 1536, 6, 19], [1, 1536, 3, 19]]
    );
    assert_eq!(
        shapes.fast_stages,
        vec![[1, 32, 24, 75], [1, 64, 12, 75], [1, 192, 6, 75], [1, 192, 3, 75]]
    );

    let shapes = model.feature_shapes(input(3, [1, 1, 128, 400], &device));
    assert_eq!(shapes.slow_stem, [1, 128, 32, 25]);
    assert_eq!(shapes.fast_stem, [1, 16, 32, 100]);
    assert_eq!(shapes.slow_stages.last(), Some(&[1, 1536, 4, 25]));
    assert_eq!(shapes.fast_stages.last(), Some(&[1, 192, 4, 100]));
}

#[test]
fn small_models_keep_the_full_strides_for_any_input_size() {
    let device = Device::flex();
    let model = LoevModel::init(&small_config(true), &device, 1);
    for (mels, frames) in [(96, 300), (128, 400), (33, 61)] {
        let shapes = model.feature_shapes(input(4, [2, 1, mels, frames], &device));
        let (f, slow_t, fast_t) = (mels.div_ceil(4), frames.div_ceil(16), frames.div_ceil(4));
        assert_eq!(shapes.slow_stem[2..], [f, slow_t]);
        assert_eq!(shapes.fast_stem[2..], [f, fast_t]);
        let mut f_stage = f;
        for k in 0..4 {
            if k > 0 {
                f_stage = f_stage.div_ceil(2);
            }
            assert_eq!(
                shapes.slow_stages[k][2..],
                [f_stage, slow_t],
                "slow stage {k} at {mels}×{frames}"
            );
            assert_eq!(
                shapes.fast_stages[k][2..],
                [f_stage, fast_t],
                "fast stage {k} at {mels}×{frames}"
            );
        }
    }
}

#[test]
fn outputs_have_the_documented_shapes_with_and_without_plusplus() {
    let device = Device::flex();
    let d = EncoderConfig::test().embedding_dim();
    let x = input(5, [3, 1, 32, 64], &device);

    let plain = with_open_skip_gains(LoevModel::init(&small_config(false), &device, 1), &device);
    let out = plain.encode(x.clone());
    assert_eq!(out.embedding.dims(), [3, d]);
    assert!(out.branch_embeddings.is_empty() && out.v_plus_plus().is_none());
    assert_eq!(
        out.projections.iter().map(|z| z.dims()).collect::<Vec<_>>(),
        vec![[3, 16]; 3]
    );

    let plus = with_open_skip_gains(LoevModel::init(&small_config(true), &device, 1), &device);
    let out = plus.encode(x);
    assert_eq!(out.branch_embeddings.len(), 3);
    assert!(out.branch_embeddings.iter().all(|v| v.dims() == [3, d]));
    let vpp = out.v_plus_plus().expect("V++ for a ++ model");
    assert_eq!(vpp.dims(), [3, 3 * d]);
    // V^++ is the concatenation of the branches in head order.
    let concat = Tensor::cat(out.branch_embeddings.clone(), 1);
    assert_eq!(values(vpp), values(concat));
    // The branches are separate weights: their embeddings differ.
    assert_ne!(
        values(out.branch_embeddings[0].clone()),
        values(out.branch_embeddings[1].clone())
    );
}

#[test]
fn eval_mode_has_no_stochastic_depth_and_is_repeatable() {
    let device = Device::flex();
    let x = input(6, [8, 1, 32, 64], &device);
    let config = small_config(true);
    let model = with_open_skip_gains(LoevModel::init(&config, &device, 3), &device);
    let a = values(model.encode(x.clone()).embedding);
    let b = values(model.forward(x.clone(), ForwardMode::Eval).embedding);
    assert_eq!(a, b, "two eval calls agree exactly");

    // Same weights (the rate does not change any parameter) with every drop probability 0:
    // training mode then keeps every residual, and must equal eval mode.
    let mut no_drop = config.clone();
    no_drop.encoder.stochastic_depth_rate = 0.0;
    let keep_all = with_open_skip_gains(LoevModel::init(&no_drop, &device, 3), &device);
    assert_eq!(
        values(keep_all.forward(x.clone(), ForwardMode::Train { seed: 11 }).embedding),
        a
    );

    // With the real schedule, training mode drops some residuals and differs from eval.
    let train = values(model.forward(x, ForwardMode::Train { seed: 11 }).embedding);
    assert_ne!(train, a);
}

#[test]
fn training_mode_drops_different_blocks_for_different_examples() {
    let device = Device::flex();
    let config = small_config(false);
    let batch = 24;
    let seed = 9;
    let masks = training_keep_masks(&config.encoder, 0, batch, seed);
    // Each path: the first block never drops; the deepest drops with p = 0.1·4/5.
    assert_eq!(masks.len(), 2 * config.encoder.num_blocks());
    assert!(masks.iter().filter(|m| m.block == 0).all(|m| m.keep.iter().all(|&k| k)));
    let signature = |b: usize| masks.iter().map(|m| m.keep[b]).collect::<Vec<bool>>();
    let signatures: Vec<Vec<bool>> = (0..batch).map(signature).collect();
    let distinct: std::collections::BTreeSet<&Vec<bool>> = signatures.iter().collect();
    assert!(distinct.len() >= 2, "examples of one batch get different drop patterns");
    assert!(masks.iter().any(|m| m.path == Path::Fast && m.keep.contains(&false)));

    // The outputs show it: one input repeated over the batch gives identical outputs exactly for
    // the examples with the same drop pattern.
    let model = with_open_skip_gains(LoevModel::init(&config, &device, 4), &device);
    let one = input(7, [1, 1, 32, 64], &device);
    let x = Tensor::cat(vec![one; batch], 0);
    let out = model.forward(x, ForwardMode::Train { seed });
    let d = out.embedding.dims()[1];
    let rows = values(out.embedding);
    let row = |b: usize| &rows[b * d..(b + 1) * d];
    for a in 0..batch {
        for b in 0..batch {
            assert_eq!(signatures[a] == signatures[b], row(a) == row(b), "examples {a} and {b}");
        }
    }
}

#[test]
fn same_seed_same_weights_and_masks_different_seed_different_weights() {
    let device = Device::flex();
    let x = input(8, [2, 1, 32, 64], &device);
    let config = small_config(false);
    let embed = |seed: u64| {
        values(
            with_open_skip_gains(LoevModel::init(&config, &device, seed), &device)
                .encode(x.clone())
                .embedding,
        )
    };
    assert_eq!(embed(5), embed(5));
    assert_ne!(embed(5), embed(6));
    let model = with_open_skip_gains(LoevModel::init(&config, &device, 5), &device);
    let train = |seed: u64| values(model.forward(x.clone(), ForwardMode::Train { seed }).embedding);
    assert_eq!(train(21), train(21));
}

#[test]
fn save_load_round_trip_and_mismatched_config_is_a_clear_error() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("loev-model-test-{}", std::process::id()));
    let path = dir.join("model.safetensors");
    let config = small_config(true);
    let model = with_open_skip_gains(LoevModel::init(&config, &device, 12), &device);
    model.save(&config, &path).expect("save");
    assert_eq!(read_config(&path).expect("config"), config);

    let (loaded, loaded_config) = LoevModel::load(&path, &device).expect("load");
    assert_eq!(loaded_config, config);
    let x = input(9, [2, 1, 32, 64], &device);
    let (a, b) = (model.encode(x.clone()), loaded.encode(x.clone()));
    assert_eq!(values(a.embedding), values(b.embedding.clone()));
    assert_eq!(values(a.projections[2].clone()), values(b.projections[2].clone()));
    let into = LoevModel::load_into(&path, &config, &device).expect("load_into");
    assert_eq!(values(into.encode(x).embedding), values(b.embedding));

    // Wider encoder: the first differing tensor is named with both shapes.
    let mut wider = config.clone();
    wider.encoder = EncoderConfig::scaled(0.125, config.encoder.depths);
    let err = LoevModel::load_into(&path, &wider, &device).unwrap_err();
    assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("encoder.") && text.contains("shape") && text.contains("expects"),
        "{text}"
    );
    // Fewer heads: the file has tensors the configuration does not.
    let mut fewer = config.clone();
    fewer.heads.truncate(2);
    let text = LoevModel::load_into(&path, &fewer, &device).unwrap_err().to_string();
    assert!(text.contains("the configuration does not"), "{text}");
    // Not a model file.
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").expect("write");
    assert!(matches!(
        LoevModel::load(&junk, &device),
        Err(ModelError::Format { .. })
    ));
    assert!(matches!(
        LoevModel::load(&dir.join("missing"), &device),
        Err(ModelError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn adam_steps_on_the_module_reduce_a_loss() {
    let device = Device::flex().autodiff();
    let config = small_config(true);
    let mut model = LoevModel::init(&config, &device, 13);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let x = input(10, [4, 1, 32, 64], &device);
    let target = input(11, [1, 1, 4, 16], &device).reshape([4, 16]);
    let mut losses = Vec::new();
    for step in 0..8 {
        let out = model.forward(x.clone(), ForwardMode::Train { seed: step });
        let loss = out
            .projections
            .into_iter()
            .map(|z| (z - target.clone()).powf_scalar(2.0).mean())
            .reduce(|a, b| a + b)
            .expect("heads");
        let grads = loss.backward();
        if step == 0 {
            // SkipInit gains are the only residual parameters with a gradient at step 0.
            let gain = &model.encoder.slow_stages[3].blocks[0].skip_gain;
            assert!(gain.val().grad(&grads).is_some(), "skip gain gets a gradient");
        }
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(1e-3, model, grads);
    }
    assert!(losses[7] < 0.97 * losses[0], "loss did not go down: {losses:?}");
    let trained = model.encoder.slow_stages[3].blocks[0]
        .skip_gain
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    assert!(trained[0] != 0.0, "the skip gain left 0");
}
