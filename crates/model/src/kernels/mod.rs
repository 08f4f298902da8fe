//! Hot operations with custom CPU kernels, through burn's backend-extension mechanism.
//!
//! [`gelu`] and [`conv2d`] are the two operations that dominate a CPU training step of this
//! network. On the burn-flex backend (with or without autodiff) they run the kernels of `math`
//! and `conv` with hand-written backward passes; on every other backend (CUDA, …) and for
//! non-f32 tensors they are burn's own `gelu` / `conv2d`, so the model code is the same
//! everywhere and only the primitive changes. Both paths compute the same function (tests).
//!
//! Where burn-flex spent a training step of the tiny model at batch 64 (perf, 2 threads):
//! GELU forward + backward ≈ 31 % (a scalar libm `erf` per element), the convolution weight
//! gradient ≈ 13 % (computed as a convolution with batch and channels swapped: one
//! matrix–vector product per input channel for the 1×1 convolutions), the convolution forward
//! ≈ 16 % (channels-last copy + im2col per call), transposes/copies ≈ 8 %, the transition
//! average-pool backward ≈ 4 %. What replaced it:
//! * GELU: vectorised erf/exp (AVX2+FMA when available); the training forward also writes
//!   GELU'(x), which shares Φ(x) and e^(−x²/2) with GELU(x), so the backward is one multiply.
//! * Convolution: im2col + GEMM per example and group on NCHW data (1×1 stride-1 layers read the
//!   input in place), weight gradient as one GEMM `dY·colᵀ` per example summed over a fixed
//!   batch split (thread-count independent), input gradient as `Wᵀ·dY` + col2im.
//! * (In the model code: β and the 1.7015 GELU gain folded into the convolution kernels, the
//!   SE ×2, skip gain, α and stochastic-depth mask folded into one `[batch, C]` gate, the
//!   stride-2 average pool as reshape + mean.)
//!
//! Result (`loev bench model --burn-kernels`): 3–4× faster steps for the tiny model and 2× for
//! the full one; GEMM is then 40–65 % of the step.

mod conv;
pub(crate) mod math;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, DispatchDevice, TensorMetadata, backend_extension};
use burn::tensor::activation;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};

use conv::ConvGeometry;

/// Custom operations of the loev model (implemented for burn-flex and autodiff over it).
#[backend_extension(Autodiff, Flex)]
pub trait LoevOps: burn::backend::Backend {
    /// Exact-form GELU.
    fn loev_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// 2-D convolution with bias.
    fn loev_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        params: ConvParams,
    ) -> FloatTensor<Self>;
}

/// Stride, explicit (before, after) padding per axis and group count of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    /// Stride [height, width].
    pub stride: [usize; 2],
    /// (before, after) padding of the height and of the width axis.
    pub padding: [(usize, usize); 2],
    /// Group count.
    pub groups: usize,
}

impl ConvParams {
    /// burn's options for the same convolution (no dilation).
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new_with_padding(self.stride, self.padding, [1, 1], self.groups)
    }

    /// The geometry of convolving `x` with `weight` (both 4-D).
    fn geometry(&self, x: &FlexTensor, weight: &FlexTensor) -> ConvGeometry {
        ConvGeometry::new(dims4(x), dims4(weight), self.stride, self.padding, self.groups)
    }
}

/// True when `device` (or the device under its autodiff wrapper) is burn-flex.
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

/// Whether the custom kernels are used on burn-flex (default: yes, unless the environment
/// variable `LOEV_BURN_KERNELS=1` asks for burn's own kernels at start-up).
static CUSTOM_KERNELS: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 2;

/// Turns the custom CPU kernels on or off for the whole process (`loev bench model` measures
/// both). Off means burn-flex's own `gelu` / `conv2d`: slower, same results to rounding.
pub fn set_custom_kernels(enabled: bool) {
    CUSTOM_KERNELS.store(enabled as u8, Ordering::Relaxed);
}

/// Whether the custom CPU kernels are on (see [`set_custom_kernels`]).
pub fn custom_kernels_enabled() -> bool {
    match CUSTOM_KERNELS.load(Ordering::Relaxed) {
        UNSET => {
            let enabled = !std::env::var("LOEV_BURN_KERNELS").is_ok_and(|v| v == "1");
            // Keep an explicit setting made meanwhile.
            let _ = CUSTOM_KERNELS.compare_exchange(UNSET, enabled as u8, Ordering::Relaxed, Ordering::Relaxed);
            CUSTOM_KERNELS.load(Ordering::Relaxed) == 1
        }
        value => value == 1,
    }
}

fn use_custom_kernels(device: &Device) -> bool {
    custom_kernels_enabled() && is_flex(device)
}

/// Exact-form GELU (custom vectorised kernel on burn-flex, burn's `gelu` elsewhere).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if use_custom_kernels(&x.device()) {
        Tensor::from_dispatch(Dispatch::loev_gelu(x.into_dispatch()))
    } else {
        activation::gelu(x)
    }
}

/// 2-D convolution of `x` `[b, c_in, h, w]` with `weight` `[c_out, c_in/groups, kh, kw]` plus
/// `bias`, with explicit (before, after) padding per axis (custom kernels on burn-flex, burn's
/// `conv2d` elsewhere).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    groups: usize,
) -> Tensor<4> {
    let [batch, _, height, width] = x.dims();
    let [c_out, c_in_per_group, kh, kw] = weight.dims();
    let out_h = (height + padding[0].0 + padding[0].1 - kh) / stride[0] + 1;
    let out_w = (width + padding[1].0 + padding[1].1 - kw) / stride[1] + 1;
    crate::flops::add(crate::flops::conv2d(
        [batch, c_out, out_h, out_w],
        c_in_per_group,
        [kh, kw],
    ));
    let params = ConvParams {
        stride,
        padding,
        groups,
    };
    if use_custom_kernels(&x.device()) {
        let [x, weight, bias] = [x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()];
        Tensor::from_dispatch(Dispatch::loev_conv2d(x, weight, bias, params))
    } else {
        burn_conv2d(x, weight, Some(bias), params.options())
    }
}

/// The f32 values of a flex tensor in row-major order (borrowed when already contiguous).
fn f32_values(tensor: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if tensor.dtype() != DType::F32 {
        return None;
    }
    match tensor.as_slice::<f32>() {
        Some(values) => Some(Cow::Borrowed(values)),
        None => tensor.to_contiguous().as_slice::<f32>().map(|v| Cow::Owned(v.to_vec())),
    }
}

fn flex_from(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn dims4(tensor: &FlexTensor) -> [usize; 4] {
    let shape = tensor.shape();
    let dims: &[usize] = &shape;
    [dims[0], dims[1], dims[2], dims[3]]
}

impl LoevOps for Flex {
    fn loev_gelu(x: FlexTensor) -> FlexTensor {
        match f32_values(&x) {
            Some(values) => flex_from(math::gelu(&values), &x.shape()),
            None => Flex::gelu(x),
        }
    }

    fn loev_conv2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, params: ConvParams) -> FlexTensor {
        let g = params.geometry(&x, &weight);
        match (f32_values(&x), f32_values(&weight), f32_values(&bias)) {
            (Some(xv), Some(wv), Some(bv)) => flex_from(conv::forward(&g, &xv, &wv, &bv), &g.output_shape()),
            _ => Flex::conv2d(x, weight, Some(bias), params.options()),
        }
    }
}

impl<C: CheckpointStrategy> LoevOps for Autodiff<Flex, C> {
    fn loev_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// The state is GELU'(x), computed with the forward pass: GELU is compute-bound here
        /// (erf + exp per element), and the derivative shares Φ(x) and e^(−x²/2) with it, so the
        /// backward pass is a single multiplication.
        #[derive(Debug)]
        struct GeluBackward;

        impl Backward<Flex, 1> for GeluBackward {
            type State = FlexTensor;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
                if let Some(node) = parent {
                    let derivative = ops.state;
                    let grad_in = match (f32_values(&grad), f32_values(&derivative)) {
                        (Some(g), Some(d)) => flex_from(math::multiply(&g, &d), &grad.shape()),
                        _ => Flex::float_mul(grad, derivative),
                    };
                    grads.register::<Flex>(node.id, grad_in);
                }
            }
        }

        match GeluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive();
                match f32_values(input) {
                    Some(values) => {
                        let (output, derivative) = math::gelu_and_derivative(&values);
                        let shape = input.shape();
                        prep.finish(flex_from(derivative, &shape), flex_from(output, &shape))
                    }
                    None => {
                        let output = Flex::gelu(input.clone());
                        let ones = Flex::float_ones(input.shape(), &Default::default(), input.dtype().into());
                        let derivative = Flex::gelu_backward(input.clone(), ones);
                        prep.finish(derivative, output)
                    }
                }
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::loev_gelu(x.into_primitive())),
        }
    }

    fn loev_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        params: ConvParams,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl Backward<Flex, 3> for ConvBackward {
            type State = (NodeId, NodeId, ConvParams);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_w, node_b] = ops.parents;
                let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
                let (x_state, w_state, params) = ops.state;
                let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
                let weight: FlexTensor = checkpointer.retrieve_node_output(w_state);
                let g = params.geometry(&x, &weight);
                let need = [node_x.is_some(), node_w.is_some(), node_b.is_some()];
                let (dx, dw, db) = match (f32_values(&x), f32_values(&weight), f32_values(&grad)) {
                    (Some(xv), Some(wv), Some(gv)) => {
                        let result = conv::backward(&g, &xv, &wv, &gv, need);
                        (
                            result.x.map(|dx| flex_from(dx, &x.shape())),
                            result.weight.map(|dw| flex_from(dw, &weight.shape())),
                            result.bias.map(|db| flex_from(db, &[g.c_out])),
                        )
                    }
                    // Other dtypes (the forward fell back to burn's conv2d): burn's gradients.
                    _ => {
                        // conv2d_x_backward / conv2d_weight_backward on this convolution.
                        let burn_grad = |backward: fn(_, _, _, ConvOptions<2>) -> _| {
                            backward(x.clone(), weight.clone(), grad.clone(), params.options())
                        };
                        let bias_like = Flex::float_zeros([g.c_out].into(), &Default::default(), grad.dtype().into());
                        (
                            need[0].then(|| burn_grad(Flex::conv2d_x_backward)),
                            need[1].then(|| burn_grad(Flex::conv2d_weight_backward)),
                            need[2].then(|| Flex::conv2d_bias_backward(x.clone(), bias_like, grad.clone())),
                        )
                    }
                };
                for (node, value) in [(node_x, dx), (node_w, dw), (node_b, db)] {
                    if let (Some(node), Some(value)) = (node, value) {
                        grads.register::<Flex>(node.id, value);
                    }
                }
            }
        }

        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let [x, weight, bias] = [x.primitive(), weight.primitive(), bias.primitive()].map(Clone::clone);
                prep.finish((x_state, w_state, params), Flex::loev_conv2d(x, weight, bias, params))
            }
            OpsKind::UnTracked(prep) => {
                let [x, weight, bias] = [x, weight, bias].map(|t| t.into_primitive());
                prep.finish(Flex::loev_conv2d(x, weight, bias, params))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_core::rng::rng_from_seed;
    use rand::RngExt;

    /// Values drawn uniformly from [−1, 1) as `E` (f32 or f64) by the generator of `seed`.
    fn random_as<E>(seed: u64, shape: [usize; 4], device: &Device) -> Tensor<4>
    where
        E: burn::tensor::Element + rand::distr::uniform::SampleUniform + PartialOrd + From<f32>,
    {
        let mut rng = rng_from_seed(seed);
        let range = E::from(-1.0)..E::from(1.0);
        let values: Vec<E> = (0..shape.iter().product())
            .map(|_| rng.random_range(range.clone()))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn random(seed: u64, shape: [usize; 4], device: &Device) -> Tensor<4> {
        random_as::<f32>(seed, shape, device)
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().expect("f32")
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: sizes");
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y} (scale {scale})");
        }
    }

    /// The custom convolution and its three gradients equal burn's on the shapes this network
    /// uses: pointwise, grouped [1,3] with a frequency stride, grouped [3,1], strided stems with
    /// asymmetric SAME padding, the [1,7] stride-4 fusion, batch 1 and batch > slices.
    #[test]
    fn custom_conv_matches_burn_forward_and_gradients() {
        let device = Device::flex().autodiff();
        // (x shape, c_out, kernel, stride, padding, groups)
        type Case = ([usize; 4], usize, [usize; 2], [usize; 2], [(usize, usize); 2], usize);
        let cases: [Case; 7] = [
            ([3, 6, 5, 7], 4, [1, 1], [1, 1], [(0, 0), (0, 0)], 1),
            ([5, 6, 7, 5], 6, [1, 3], [2, 1], [(0, 0), (1, 1)], 3),
            ([2, 4, 6, 5], 4, [3, 1], [1, 1], [(1, 1), (0, 0)], 2),
            ([2, 1, 12, 33], 3, [3, 1], [2, 8], [(0, 1), (0, 0)], 1),
            ([1, 2, 9, 10], 5, [3, 3], [2, 2], [(1, 1), (0, 1)], 1),
            ([6, 3, 3, 19], 4, [1, 7], [1, 4], [(0, 0), (2, 2)], 1),
            ([1, 8, 4, 4], 8, [1, 1], [1, 1], [(0, 0), (0, 0)], 2),
        ];
        for (i, (x_shape, c_out, kernel, stride, padding, groups)) in cases.into_iter().enumerate() {
            let w_shape = [c_out, x_shape[1] / groups, kernel[0], kernel[1]];
            let seed = 10 * i as u64;
            let run = |custom: bool| {
                let x = random(seed, x_shape, &device).require_grad();
                let w = random(seed + 1, w_shape, &device).require_grad();
                let b = random(seed + 2, [1, 1, 1, c_out], &device)
                    .reshape([c_out])
                    .require_grad();
                let y = if custom {
                    conv2d(x.clone(), w.clone(), b.clone(), stride, padding, groups)
                } else {
                    burn_conv2d(
                        x.clone(),
                        w.clone(),
                        Some(b.clone()),
                        ConvOptions::new_with_padding(stride, padding, [1, 1], groups),
                    )
                };
                let r = random(seed + 3, y.dims(), &device);
                let grads = (y.clone() * r).sum().backward();
                let gx = x.grad(&grads).expect("dx");
                let gw = w.grad(&grads).expect("dw");
                let gb = b.grad(&grads).expect("db");
                (values(y), values(gx), values(gw), values(gb))
            };
            let (y, gx, gw, gb) = run(true);
            let (y_ref, gx_ref, gw_ref, gb_ref) = run(false);
            let case = format!("case {i}");
            assert_close(&y, &y_ref, &format!("{case} output"));
            assert_close(&gx, &gx_ref, &format!("{case} dx"));
            assert_close(&gw, &gw_ref, &format!("{case} dw"));
            assert_close(&gb, &gb_ref, &format!("{case} db"));
        }
    }

    /// Non-f32 tensors take burn's kernels inside the same operations (forward and backward).
    #[test]
    fn other_dtypes_fall_back_to_burn_kernels() {
        let device = Device::flex().autodiff();
        let make = |seed, shape| random_as::<f64>(seed, shape, &device).cast(burn::tensor::FloatDType::F64);
        let x = make(1, [2, 4, 5, 6]).require_grad();
        let w = make(2, [4, 2, 1, 3]).require_grad();
        let b = make(3, [1, 1, 1, 4]).reshape([4]).require_grad();
        assert_eq!(x.dtype(), DType::F64);
        let y = gelu(conv2d(x.clone(), w.clone(), b.clone(), [2, 1], [(0, 0), (1, 1)], 2));
        let grads = y.clone().sum().backward();
        let x_ref = x.clone().detach().require_grad();
        let w_ref = w.clone().detach().require_grad();
        let b_ref = b.clone().detach().require_grad();
        let options = ConvOptions::new_with_padding([2, 1], [(0, 0), (1, 1)], [1, 1], 2);
        let y_ref = activation::gelu(burn_conv2d(x_ref.clone(), w_ref.clone(), Some(b_ref.clone()), options));
        let grads_ref = y_ref.clone().sum().backward();
        let as_f32 = |t: Tensor<4>| t.into_data().try_into_vec_as::<f32>().expect("convertible");
        assert_close(&as_f32(y), &as_f32(y_ref), "f64 output");
        assert_close(
            &as_f32(x.grad(&grads).expect("dx")),
            &as_f32(x_ref.grad(&grads_ref).expect("dx")),
            "f64 dx",
        );
        assert_close(
            &as_f32(w.grad(&grads).expect("dw")),
            &as_f32(w_ref.grad(&grads_ref).expect("dw")),
            "f64 dw",
        );
    }

    #[test]
    fn custom_gelu_matches_burn_forward_and_gradient() {
        let device = Device::flex().autodiff();
        let x = random(7, [2, 3, 40, 50], &device).mul_scalar(6.0).require_grad();
        let r = random(8, [2, 3, 40, 50], &device);
        let y = gelu(x.clone());
        let grads = (y.clone() * r.clone()).sum().backward();
        let gx = values(x.grad(&grads).expect("dx"));
        let x_ref = x.clone().detach().require_grad();
        let y_ref = activation::gelu(x_ref.clone());
        let grads_ref = (y_ref.clone() * r).sum().backward();
        let gx_ref = values(x_ref.grad(&grads_ref).expect("dx"));
        assert_close(&values(y), &values(y_ref), "gelu");
        assert_close(&gx, &gx_ref, "gelu gradient");
        assert!(use_custom_kernels(&device), "the custom kernels are active on flex");
    }
}
