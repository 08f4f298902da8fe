//! Branch-free f32 GELU kernels that the compiler can vectorise (no libm calls in the loops).
//!
//! burn-flex evaluates GELU with a scalar libm `erf` per element; on this network GELU then costs
//! about a third of a CPU training step. Here erf comes from Abramowitz & Stegun 7.1.26
//! (|error| ≤ 1.5e-7, at the level of f32 rounding for Φ = (1 + erf)/2) and exp from a
//! Cephes-style range reduction + degree-6 polynomial, written so that LLVM emits SIMD code.
//! On x86-64 the loops are compiled twice (baseline SSE2 and AVX2+FMA) and picked at run time.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2π).
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// e^x for x in about [−87, 88] (clamped outside), relative error ≈ 2e-7.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2) with the 1.5·2^23 trick: pure additions, and the integer n sits in the
    // low mantissa bits of `shifted`, so 2^n is built with integer ops (a float→int `as` cast
    // would not vectorise: it saturates lane by lane).
    const SHIFTER: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = shifted - SHIFTER;
    // r = x − n·ln 2 in two parts for accuracy.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    // e^r on |r| ≤ ln2/2 (Taylor/Cephes coefficients).
    // (Plain multiply-adds: `mul_add` would become a libm call on CPUs without FMA.)
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    let exponent = shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23;
    let scale = f32::from_bits(exponent);
    p * scale
}

/// Φ(x) and e^(−x²/2): the standard normal CDF from Abramowitz & Stegun 7.1.26 (|erf error|
/// ≤ 1.5e-7), with the tail `½·erfc(|x|/√2) = ½·t·P(t)·e^(−x²/2)` computed directly (no
/// `1 + erf` cancellation for negative x) and reflected for positive x. The exponential is
/// returned too: the density φ(x) = e^(−x²/2)/√(2π) comes for free.
#[inline(always)]
fn cdf_and_gaussian(x: f32) -> (f32, f32) {
    let a = x.abs() * FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_72 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let gaussian = exp_approx(-a * a);
    let tail = 0.5 * poly * gaussian;
    (if x < 0.0 { tail } else { 1.0 - tail }, gaussian)
}

// The loops write into uninitialised output storage (`MaybeUninit`): zero-filling outputs
// that are overwritten anyway cost ~5 % of a training step. Each loop writes every element of
// its output (the slices are checked to have equal lengths).

#[inline(always)]
fn gelu_loop(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(v * cdf_and_gaussian(v).0);
    }
}

/// GELU(x) = x·Φ(x) and its derivative Φ(x) + x·φ(x), from one evaluation of Φ and e^(−x²/2).
#[inline(always)]
fn gelu_and_derivative_loop(x: &[f32], out: &mut [MaybeUninit<f32>], derivative: &mut [MaybeUninit<f32>]) {
    for ((o, d), &v) in out.iter_mut().zip(derivative.iter_mut()).zip(x) {
        let (cdf, gaussian) = cdf_and_gaussian(v);
        o.write(v * cdf);
        d.write(cdf + v * INV_SQRT_2PI * gaussian);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::mem::MaybeUninit;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gelu_avx2(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        super::gelu_loop(x, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gelu_and_derivative_avx2(
        x: &[f32],
        out: &mut [MaybeUninit<f32>],
        derivative: &mut [MaybeUninit<f32>],
    ) {
        super::gelu_and_derivative_loop(x, out, derivative)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

fn gelu_chunk(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    assert_eq!(x.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { x86::gelu_avx2(x, out) };
        return;
    }
    gelu_loop(x, out)
}

fn gelu_and_derivative_chunk(x: &[f32], out: &mut [MaybeUninit<f32>], derivative: &mut [MaybeUninit<f32>]) {
    assert!(x.len() == out.len() && x.len() == derivative.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { x86::gelu_and_derivative_avx2(x, out, derivative) };
        return;
    }
    gelu_and_derivative_loop(x, out, derivative)
}

/// A vector of `len` values produced by `fill`, which must write every element of the
/// (uninitialised) slice it is given; the kernels of this module all do.
pub(crate) fn vec_written_by(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` elements (contract above; every caller writes each element
    // through equal-length zips or full-slice writes).
    unsafe { out.set_len(len) };
    out
}

/// Writes `values[r]` to every element of row `r` (rows of `row_len` elements) and returns the
/// now fully initialised slice.
pub(crate) fn fill_rows_uninit<'a>(dst: &'a mut [MaybeUninit<f32>], row_len: usize, values: &[f32]) -> &'a mut [f32] {
    assert_eq!(dst.len(), row_len * values.len(), "fill_rows_uninit: shape");
    for (row, &value) in dst.chunks_mut(row_len.max(1)).zip(values) {
        for d in row {
            d.write(value);
        }
    }
    // SAFETY: the rows above cover every element (length checked), and MaybeUninit<f32> has
    // f32's layout.
    unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Sum of a slice with 8 interleaved accumulators (vectorisable; a plain `iter().sum()` is a
/// serial chain of scalar additions). The order is fixed, so the result is deterministic.
pub(crate) fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += *v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Exact-form GELU of every element (parallel over chunks).
pub(crate) fn gelu(x: &[f32]) -> Vec<f32> {
    vec_written_by(x.len(), |out| {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| gelu_chunk(x, o));
    })
}

/// GELU of every element and its derivative GELU'(x) (parallel over chunks): what a training
/// forward pass computes, so that the backward pass is a single multiplication.
pub(crate) fn gelu_and_derivative(x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut derivative = Vec::with_capacity(x.len());
    let out = vec_written_by(x.len(), |out| {
        out.par_chunks_mut(CHUNK)
            .zip(derivative.spare_capacity_mut()[..x.len()].par_chunks_mut(CHUNK))
            .zip(x.par_chunks(CHUNK))
            .for_each(|((o, d), x)| gelu_and_derivative_chunk(x, o, d));
    });
    // SAFETY: the chunks above wrote every element of `derivative` (equal-length chunking of
    // `x`, asserted in `gelu_and_derivative_chunk`).
    unsafe { derivative.set_len(x.len()) };
    (out, derivative)
}

/// Elementwise product (parallel over chunks): the GELU backward pass `grad · GELU'(x)`.
pub(crate) fn multiply(a: &[f32], b: &[f32]) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "multiply: sizes differ");
    vec_written_by(a.len(), |out| {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| {
                assert_eq!(o.len(), a.len());
                for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                    o.write(a * b);
                }
            });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_f64(x: f64) -> f64 {
        // Series / continued fraction reference in f64 (high accuracy for |x| < 6).
        if x.abs() < 2.5 {
            let mut sum = x;
            let mut term = x;
            let x2 = x * x;
            for n in 1..200 {
                term *= -x2 / n as f64;
                let add = term / (2 * n + 1) as f64;
                sum += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc continued fraction (Lentz), then 1 − erfc.
            let a = x.abs();
            let mut f = a;
            let mut c = a;
            let mut d = 0.0;
            for k in 1..300 {
                let kk = k as f64 * 0.5;
                d = 1.0 / (a + kk * d);
                c = a + kk / c;
                f *= c * d;
            }
            let erfc = (-a * a).exp() / (f * std::f64::consts::PI.sqrt());
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn exp_and_normal_cdf_are_accurate() {
        for i in -8000..=8000 {
            let x = i as f32 * 0.01;
            let e = exp_approx(x) as f64;
            let want = (x as f64).exp();
            assert!(((e - want) / want).abs() < 5e-7, "exp({x}) = {e} vs {want}");
            let cdf = cdf_and_gaussian(x).0 as f64;
            let want = 0.5 * (1.0 + erf_f64(x as f64 / std::f64::consts::SQRT_2));
            assert!((cdf - want).abs() < 2.5e-7, "Φ({x}) = {cdf} vs {want}");
        }
    }

    #[test]
    fn lane_sum_equals_the_plain_sum() {
        let values: Vec<f32> = (0..1003).map(|i| (i % 17) as f32 * 0.25 - 2.0).collect();
        let plain: f64 = values.iter().map(|&v| v as f64).sum();
        assert!((sum(&values) as f64 - plain).abs() < 1e-3);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1.5, 2.0, 3.0]), 6.5);
    }

    #[test]
    fn gelu_and_its_gradient_match_f64_references() {
        let xs: Vec<f32> = (-3000..=3000)
            .map(|i| i as f32 * 0.004)
            .chain([-30.0, -10.0, 10.0, 30.0, 0.0])
            .collect();
        let got = gelu(&xs);
        let (got_too, grad) = gelu_and_derivative(&xs);
        assert_eq!(got, got_too);
        for ((&x, &g), &d) in xs.iter().zip(&got).zip(&grad) {
            let x64 = x as f64;
            let cdf = 0.5 * (1.0 + erf_f64(x64 / std::f64::consts::SQRT_2));
            let want = x64 * cdf;
            let want_d = cdf + x64 * (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
            // Absolute error of Φ at f32 level (≈ 2e-7), scaled by |x| as in x·Φ(x).
            let tol = 3e-7 * (x64.abs()).max(1.0);
            assert!((g as f64 - want).abs() <= tol, "gelu({x}) = {g} vs {want}");
            assert!((d as f64 - want_d).abs() <= tol, "gelu'({x}) = {d} vs {want_d}");
        }
    }
}
