//! Numerical checks of the primitives against direct computations (issue 4, acceptance 3).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use loev_core::rng::rng_from_seed;
use rand::RngExt;

use crate::block::{BlockSpec, NfBlock};
use crate::init::{Fill, ParamFactory};
use crate::layers::{WS_EPS, WsConv2d, same_padding};

fn host(tensor: Tensor<4>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().expect("f32 tensor")
}

fn random_values(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut rng = rng_from_seed(seed);
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

fn tensor4(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn param1(values: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let len = values.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, [len]), device))
}

/// WS-conv computed with plain loops in f64: standardise each output channel's kernel
/// (population variance, fan-in N, eps 1e-4), pad TF-"SAME" style (extra after), convolve.
#[allow(clippy::too_many_arguments)]
fn direct_ws_conv(
    x: &[f32],
    [batch, c_in, height, width]: [usize; 4],
    raw: &[f32],
    [c_out, per_group, kh, kw]: [usize; 4],
    gain: &[f32],
    bias: &[f32],
    stride: [usize; 2],
    groups: usize,
) -> (Vec<f64>, [usize; 4]) {
    let fan_in = per_group * kh * kw;
    let mut standardized = vec![0.0f64; raw.len()];
    for o in 0..c_out {
        let w = &raw[o * fan_in..(o + 1) * fan_in];
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / fan_in as f64;
        let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / fan_in as f64;
        let scale = gain[o] as f64 / (var * fan_in as f64).max(WS_EPS).sqrt();
        for (i, &v) in w.iter().enumerate() {
            standardized[o * fan_in + i] = (v as f64 - mean) * scale;
        }
    }
    let out_h = height.div_ceil(stride[0]);
    let out_w = width.div_ceil(stride[1]);
    let pad_top = ((out_h - 1) * stride[0] + kh).saturating_sub(height) / 2;
    let pad_left = ((out_w - 1) * stride[1] + kw).saturating_sub(width) / 2;
    let out_per_group = c_out / groups;
    let mut out = vec![0.0f64; batch * c_out * out_h * out_w];
    for b in 0..batch {
        for o in 0..c_out {
            let g = o / out_per_group;
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let mut acc = bias[o] as f64;
                    for ci in 0..per_group {
                        let c = g * per_group + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let y = (oy * stride[0] + ky) as isize - pad_top as isize;
                                let xx = (ox * stride[1] + kx) as isize - pad_left as isize;
                                if y < 0 || xx < 0 || y >= height as isize || xx >= width as isize {
                                    continue;
                                }
                                let xi = ((b * c_in + c) * height + y as usize) * width + xx as usize;
                                let wi = ((o * per_group + ci) * kh + ky) * kw + kx;
                                acc += x[xi] as f64 * standardized[wi];
                            }
                        }
                    }
                    out[((b * c_out + o) * out_h + oy) * out_w + ox] = acc;
                }
            }
        }
    }
    (out, [batch, c_out, out_h, out_w])
}

#[test]
fn ws_conv_equals_direct_loop_computation() {
    let device = Device::flex();
    // (c_in, c_out, kernel, stride, groups, input h×w): the block/stem/fusion cases, including
    // the asymmetric SAME pads of strided convolutions on odd and even sizes.
    let cases = [
        (4, 6, [3, 3], [2, 2], 1, [9, 10]),
        (6, 6, [1, 3], [2, 1], 3, [7, 5]),
        (6, 6, [3, 1], [1, 1], 2, [6, 5]),
        (1, 3, [3, 1], [2, 8], 1, [12, 33]),
        (4, 5, [1, 7], [1, 4], 1, [3, 19]),
        (5, 8, [1, 1], [1, 1], 1, [4, 4]),
    ];
    for (i, &(c_in, c_out, kernel, stride, groups, [height, width])) in cases.iter().enumerate() {
        let seed = 100 + i as u64;
        let mut factory = ParamFactory::new(Fill::Random { seed }, &device);
        let mut conv = WsConv2d::new(&mut factory, c_in, c_out, kernel, stride, groups);
        let gain = random_values(seed + 1, c_out, 1.5);
        let bias = random_values(seed + 2, c_out, 0.5);
        conv.gain = param1(gain.clone(), &device);
        conv.bias = param1(bias.clone(), &device);
        let raw = host(conv.weight.val());
        let x_shape = [2, c_in, height, width];
        let x = random_values(seed + 3, x_shape.iter().product(), 2.0);
        let got = conv.forward(tensor4(x.clone(), x_shape, &device));
        let (want, want_shape) = direct_ws_conv(&x, x_shape, &raw, conv.weight.dims(), &gain, &bias, stride, groups);
        assert_eq!(got.dims(), want_shape, "case {i}");
        let got = host(got);
        let max_err = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        let max_abs = want.iter().map(|w| w.abs()).fold(0.0, f64::max);
        assert!(
            max_err < 1e-4 * max_abs.max(1.0),
            "case {i}: max error {max_err} (max |y| {max_abs})"
        );
    }
}

#[test]
fn ws_conv_scaled_input_folds_into_the_kernel() {
    let device = Device::flex();
    let mut factory = ParamFactory::new(Fill::Random { seed: 5 }, &device);
    let conv = WsConv2d::new(&mut factory, 3, 4, [3, 3], [1, 1], 1);
    let x = tensor4(random_values(6, 2 * 3 * 5 * 5, 1.0), [2, 3, 5, 5], &device);
    let folded = host(conv.forward_scaled(x.clone(), 1.7));
    let direct = host(conv.forward(x.mul_scalar(1.7)));
    for (a, b) in folded.iter().zip(&direct) {
        assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
}

fn test_block(device: &Device, seed: u64) -> NfBlock {
    let spec = BlockSpec {
        channels_in: 4,
        channels_out: 6,
        bottleneck: 4,
        groups: 2,
        se_hidden: 3,
        freq_stride: 2,
        transition: true,
        beta: 0.98,
        alpha: 0.2,
        drop_probability: 0.0,
    };
    let mut factory = ParamFactory::new(Fill::Random { seed }, device);
    let mut block = NfBlock::new(&mut factory, spec);
    // SkipInit starts at 0, which would hide the residual branch from the check.
    block.skip_gain = param1(vec![0.8], device);
    block
}

/// Relative error ‖a − b‖ / ‖b‖.
fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm).sqrt()
}

#[test]
fn nf_block_gradients_match_finite_differences() {
    let plain = Device::flex();
    let ad = Device::flex().autodiff();
    let x_shape = [2, 4, 5, 4];
    let x_values = random_values(11, x_shape.iter().product(), 1.5);
    let out_len = 2 * 6 * 3 * 4;
    let weights = random_values(12, out_len, 1.0);
    let loss_of = |block: &NfBlock, x: Vec<f32>, device: &Device| -> Tensor<1> {
        let y = block.forward(tensor4(x, x_shape, device), None);
        let w = tensor4(weights.clone(), [2, 6, 3, 4], device);
        (y * w).sum()
    };
    let scalar = |t: Tensor<1>| t.into_data().try_into_vec_as::<f32>().expect("f32")[0] as f64;

    // Analytic gradients.
    let block = test_block(&ad, 3);
    let x = tensor4(x_values.clone(), x_shape, &ad).require_grad();
    let y = block.forward(x.clone(), None);
    let loss = (y * tensor4(weights.clone(), [2, 6, 3, 4], &ad)).sum();
    let grads = loss.backward();
    let grad_x: Vec<f64> = host(x.grad(&grads).expect("input gradient"))
        .iter()
        .map(|&v| v as f64)
        .collect();
    let grad_w: Vec<f64> = host(block.conv1.weight.val().grad(&grads).expect("conv1 gradient"))
        .iter()
        .map(|&v| v as f64)
        .collect();
    let grad_gain = block
        .skip_gain
        .val()
        .grad(&grads)
        .expect("skip gain gradient")
        .into_data();
    let grad_gain = grad_gain.try_into_vec_as::<f32>().expect("f32")[0] as f64;

    // Central differences on the plain backend, same weights.
    let block = test_block(&plain, 3);
    let eps = 1e-2f32;
    let fd_x: Vec<f64> = (0..x_values.len())
        .map(|i| {
            let mut up = x_values.clone();
            up[i] += eps;
            let mut down = x_values.clone();
            down[i] -= eps;
            (scalar(loss_of(&block, up, &plain)) - scalar(loss_of(&block, down, &plain))) / (2.0 * eps as f64)
        })
        .collect();
    let raw_w = host(block.conv1.weight.val());
    let w_shape = block.conv1.weight.dims();
    let fd_w: Vec<f64> = (0..raw_w.len())
        .map(|i| {
            let eval = |delta: f32| {
                let mut values = raw_w.clone();
                values[i] += delta;
                let mut perturbed = block.clone();
                perturbed.conv1.weight = Param::from_tensor(tensor4(values, w_shape, &plain));
                scalar(loss_of(&perturbed, x_values.clone(), &plain))
            };
            (eval(eps) - eval(-eps)) / (2.0 * eps as f64)
        })
        .collect();
    let fd_gain = {
        let eval = |gain: f32| {
            let mut perturbed = block.clone();
            perturbed.skip_gain = param1(vec![gain], &plain);
            scalar(loss_of(&perturbed, x_values.clone(), &plain))
        };
        (eval(0.8 + eps) - eval(0.8 - eps)) / (2.0 * eps as f64)
    };

    let err_x = relative_error(&grad_x, &fd_x);
    let err_w = relative_error(&grad_w, &fd_w);
    let err_gain = ((grad_gain - fd_gain) / fd_gain).abs();
    assert!(
        grad_x.iter().any(|g| g.abs() > 1e-3) && grad_w.iter().any(|g| g.abs() > 1e-3),
        "gradients vanish"
    );
    assert!(err_x < 1e-2, "input gradient relative error {err_x}");
    assert!(err_w < 1e-2, "conv1 weight gradient relative error {err_w}");
    assert!(
        err_gain < 1e-2,
        "skip gain gradient relative error {err_gain} ({grad_gain} vs {fd_gain})"
    );
}

#[test]
fn same_padding_is_used_for_strided_odd_sizes() {
    // Odd length 7, stride 2 → 4 outputs: kernel 3 needs 2 pads (1, 1), kernel 2 one pad, after.
    assert_eq!(same_padding(7, 3, 2), (1, 1));
    assert_eq!(same_padding(7, 1, 2), (0, 0));
    assert_eq!(same_padding(7, 2, 2), (0, 1));
}

#[test]
fn frequency_average_pool_matches_tensorflow_same_pooling() {
    use burn::tensor::module::avg_pool2d;
    use burn::tensor::ops::AvgPoolOptions;
    let device = Device::flex();
    for (height, stride) in [(6, 2), (7, 2), (1, 2), (7, 3), (8, 3)] {
        let x = tensor4(
            random_values(height as u64, 2 * 3 * height * 4, 1.0),
            [2, 3, height, 4],
            &device,
        );
        let got = crate::block::avg_pool_freq(x.clone(), stride);
        let pad = same_padding(height, stride, stride);
        let want = avg_pool2d(
            x,
            AvgPoolOptions::new([stride, 1])
                .with_padding_pairs([pad, (0, 0)])
                .with_count_include_pad(false),
        );
        assert_eq!(got.dims(), [2, 3, height.div_ceil(stride), 4]);
        for (a, b) in host(got).iter().zip(&host(want)) {
            assert!((a - b).abs() < 1e-6, "height {height} stride {stride}: {a} vs {b}");
        }
    }
}
