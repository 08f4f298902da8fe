//! 2-D convolution (NCHW, groups, asymmetric padding) with its input/weight/bias gradients,
//! as im2col + GEMM per example and group.
//!
//! Why not burn-flex's own convolution: its weight gradient is computed as a convolution with the
//! roles of batch and channels swapped, which for the 1×1 convolutions that hold most of this
//! network's work turns into one matrix–vector product per input channel, and its forward pass
//! converts every input to channels-last first. Here the weight gradient is one GEMM per example
//! (`dY · colᵀ`), the input gradient one GEMM plus col2im, and 1×1 stride-1 convolutions read the
//! NCHW input in place.
//!
//! Weight-gradient partial sums are taken over a fixed split of the batch and added in order, so
//! the result does not depend on the number of threads.

use gemm::Parallelism;
use rayon::prelude::*;

use super::math;

/// Number of fixed batch slices whose weight-gradient partial sums are added in order.
const GRAD_SLICES: usize = 4;

/// Elements per parallel task when adding the weight-gradient partial sums.
const REDUCE_CHUNK: usize = 1 << 14;

/// Shape and options of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub height: usize,
    pub width: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before (top, left); the padding after is implied by the output size.
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub groups: usize,
}

impl ConvGeometry {
    /// Geometry of `x` `[b, c_in, h, w]` convolved with `w` `[c_out, c_in / groups, kh, kw]`.
    pub(crate) fn new(
        x: [usize; 4],
        w: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        groups: usize,
    ) -> Self {
        let [batch, c_in, height, width] = x;
        let [c_out, per_group, kh, kw] = w;
        assert!(
            groups > 0 && c_in == per_group * groups && c_out % groups == 0,
            "conv2d: channels {x:?} / {w:?} do not fit {groups} groups"
        );
        assert!(stride[0] > 0 && stride[1] > 0, "conv2d: zero stride");
        let padded_h = height + padding[0].0 + padding[0].1;
        let padded_w = width + padding[1].0 + padding[1].1;
        assert!(
            padded_h >= kh && padded_w >= kw,
            "conv2d: kernel {kh}×{kw} larger than padded input {padded_h}×{padded_w}"
        );
        Self {
            batch,
            c_in,
            height,
            width,
            c_out,
            kernel: [kh, kw],
            stride,
            pad_top: padding[0].0,
            pad_left: padding[1].0,
            out_h: (padded_h - kh) / stride[0] + 1,
            out_w: (padded_w - kw) / stride[1] + 1,
            groups,
        }
    }

    fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }

    fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of the im2col matrix of one group (`c_in/groups × kh × kw`).
    fn k_len(&self) -> usize {
        self.cin_g() * self.kernel[0] * self.kernel[1]
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    /// A 1×1 stride-1 unpadded convolution: the NCHW input already is the GEMM operand.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad_top == 0 && self.pad_left == 0
    }

    /// Length of the im2col scratch buffer of one group (none for pointwise convolutions).
    fn col_len(&self) -> usize {
        if self.pointwise() {
            0
        } else {
            self.k_len() * self.out_plane()
        }
    }

    pub(crate) fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.c_out, self.out_h, self.out_w]
    }

    /// Output positions `[lo, hi)` along one axis whose input index `o·stride + k − pad` is
    /// inside `[0, len)`.
    fn valid_range(out: usize, stride: usize, k: usize, pad: usize, len: usize) -> (usize, usize) {
        let lo = if pad > k { (pad - k).div_ceil(stride) } else { 0 };
        let hi = (len + pad).saturating_sub(k).div_ceil(stride);
        let hi = hi.min(out);
        (lo.min(hi), hi)
    }
}

/// Fills `col` `[k_len, out_plane]` with the patches of one group of one example (`x` is
/// `[c_in/groups, h, w]`).
fn im2col(g: &ConvGeometry, x: &[f32], col: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let (out_w, out_plane, width) = (g.out_w, g.out_plane(), g.width);
    for c in 0..g.cin_g() {
        let plane = &x[c * g.in_plane()..][..g.in_plane()];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &mut col[((c * kh + ky) * kw + kx) * out_plane..][..out_plane];
                let (lo, hi) = ConvGeometry::valid_range(out_w, sw, kx, g.pad_left, width);
                for oy in 0..g.out_h {
                    let dst = &mut row[oy * out_w..][..out_w];
                    let iy = (oy * sh + ky) as isize - g.pad_top as isize;
                    if iy < 0 || iy as usize >= g.height {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * width..][..width];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if sw == 1 {
                        let start = lo + kx - g.pad_left;
                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    } else {
                        for (ox, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[(ox + lo) * sw + kx - g.pad_left];
                        }
                    }
                }
            }
        }
    }
}

/// The GEMM operand `[k_len, out_plane]` of one group of one example: the input itself for a
/// pointwise convolution, otherwise its im2col matrix, written into `col`.
fn patches<'a>(g: &ConvGeometry, x: &'a [f32], col: &'a mut [f32]) -> &'a [f32] {
    if g.pointwise() {
        x
    } else {
        im2col(g, x, col);
        col
    }
}

/// Adds the columns of `col` back onto the input positions they were read from (adjoint of
/// [`im2col`]); `dx` is `[c_in/groups, h, w]`.
fn col2im(g: &ConvGeometry, col: &[f32], dx: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let (out_w, out_plane, width) = (g.out_w, g.out_plane(), g.width);
    for c in 0..g.cin_g() {
        let plane = &mut dx[c * g.in_plane()..][..g.in_plane()];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &col[((c * kh + ky) * kw + kx) * out_plane..][..out_plane];
                let (lo, hi) = ConvGeometry::valid_range(out_w, sw, kx, g.pad_left, width);
                for oy in 0..g.out_h {
                    let iy = (oy * sh + ky) as isize - g.pad_top as isize;
                    if iy < 0 || iy as usize >= g.height {
                        continue;
                    }
                    let src = &row[oy * out_w..][..out_w];
                    let dst = &mut plane[iy as usize * width..][..width];
                    if sw == 1 {
                        let start = lo + kx - g.pad_left;
                        for (d, s) in dst[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (ox, s) in src[lo..hi].iter().enumerate() {
                            dst[(ox + lo) * sw + kx - g.pad_left] += *s;
                        }
                    }
                }
            }
        }
    }
}

/// A read-only matrix view: element (i, j) is `data[i·row_stride + j·col_stride]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn row_major(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major `rows × cols` matrix.
    fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "gemm: {what} view out of bounds");
        }
    }
}

/// `dst (m×n, row-major) = [dst +] lhs (m×k) · rhs (k×n)`, sizes given as `(m, n, k)`.
fn gemm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    parallelism: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "gemm: destination too small");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    // SAFETY: every index the kernel touches is inside the slices (checked above: the largest
    // offsets of the three views are within their lengths, all strides are non-negative), and
    // `dst` is an exclusive borrow that does not alias the shared `lhs` / `rhs` borrows.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// GEMM-level parallelism when the batch alone cannot keep the threads busy.
fn inner_parallelism(outer_tasks: usize) -> Parallelism {
    if outer_tasks >= rayon::current_num_threads() {
        Parallelism::None
    } else {
        Parallelism::Rayon(0)
    }
}

/// Forward convolution: `y[b, o] = bias[o] + Σ w[o] ⋆ x[b]`; returns `[b, c_out, out_h, out_w]`.
pub(crate) fn forward(g: &ConvGeometry, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.c_in * g.in_plane(), "conv2d: input size");
    assert_eq!(w.len(), g.c_out * g.k_len(), "conv2d: weight size");
    assert_eq!(bias.len(), g.c_out, "conv2d: bias size");
    let (cin_g, cout_g, k_len, out_plane, in_plane) = (g.cin_g(), g.cout_g(), g.k_len(), g.out_plane(), g.in_plane());
    let per_example = g.c_out * out_plane;
    if per_example == 0 || g.batch == 0 {
        return Vec::new();
    }
    let parallelism = inner_parallelism(g.batch);
    math::vec_written_by(g.batch * per_example, |out| {
        out.par_chunks_mut(per_example).enumerate().for_each_init(
            || vec![0.0f32; g.col_len()],
            |col, (b, y)| {
                for grp in 0..g.groups {
                    let xg = &x[(b * g.c_in + grp * cin_g) * in_plane..][..cin_g * in_plane];
                    // Every output element starts as its channel's bias (this initialises the
                    // group's whole output), then the GEMM accumulates onto it.
                    let yg = math::fill_rows_uninit(
                        &mut y[grp * cout_g * out_plane..][..cout_g * out_plane],
                        out_plane,
                        &bias[grp * cout_g..][..cout_g],
                    );
                    let wg = Mat::row_major(&w[grp * cout_g * k_len..][..cout_g * k_len], k_len);
                    let rhs = Mat::row_major(patches(g, xg, col), out_plane);
                    gemm((cout_g, out_plane, k_len), yg, true, wg, rhs, parallelism);
                }
            },
        );
    })
}

/// Gradients of a convolution with respect to its input, weight and bias (each only if asked).
pub(crate) struct ConvGrads {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// Backward pass of [`forward`] given the output gradient `dy` `[b, c_out, out_h, out_w]`.
pub(crate) fn backward(g: &ConvGeometry, x: &[f32], w: &[f32], dy: &[f32], need: [bool; 3]) -> ConvGrads {
    let (cin_g, cout_g, k_len, out_plane, in_plane) = (g.cin_g(), g.cout_g(), g.k_len(), g.out_plane(), g.in_plane());
    assert_eq!(x.len(), g.batch * g.c_in * in_plane, "conv2d backward: input size");
    assert_eq!(w.len(), g.c_out * k_len, "conv2d backward: weight size");
    assert_eq!(
        dy.len(),
        g.batch * g.c_out * out_plane,
        "conv2d backward: gradient size"
    );
    let [need_x, need_w, need_b] = need;

    let dx = need_x.then(|| {
        let mut dx = vec![0.0f32; x.len()];
        if dx.is_empty() || out_plane == 0 {
            return dx;
        }
        let parallelism = inner_parallelism(g.batch);
        dx.par_chunks_mut(g.c_in * in_plane).enumerate().for_each_init(
            || vec![0.0f32; g.col_len()],
            |col, (b, dxb)| {
                for grp in 0..g.groups {
                    let dyg = &dy[(b * g.c_out + grp * cout_g) * out_plane..][..cout_g * out_plane];
                    let wg = &w[grp * cout_g * k_len..][..cout_g * k_len];
                    let dxg = &mut dxb[grp * cin_g * in_plane..][..cin_g * in_plane];
                    let lhs = Mat::transposed(wg, k_len);
                    let rhs = Mat::row_major(dyg, out_plane);
                    if g.pointwise() {
                        gemm((k_len, out_plane, cout_g), dxg, false, lhs, rhs, parallelism);
                    } else {
                        gemm((k_len, out_plane, cout_g), col, false, lhs, rhs, parallelism);
                        col2im(g, col, dxg);
                    }
                }
            },
        );
        dx
    });

    let dw = need_w.then(|| {
        let slices = GRAD_SLICES.min(g.batch).max(1);
        let parallelism = inner_parallelism(slices);
        let partials: Vec<Vec<f32>> = (0..slices)
            .into_par_iter()
            .map(|s| {
                let mut dw = vec![0.0f32; w.len()];
                let mut col = vec![0.0f32; g.col_len()];
                for b in (s * g.batch / slices)..((s + 1) * g.batch / slices) {
                    for grp in 0..g.groups {
                        let xg = &x[(b * g.c_in + grp * cin_g) * in_plane..][..cin_g * in_plane];
                        let dyg = &dy[(b * g.c_out + grp * cout_g) * out_plane..][..cout_g * out_plane];
                        let dwg = &mut dw[grp * cout_g * k_len..][..cout_g * k_len];
                        let lhs = Mat::row_major(dyg, out_plane);
                        let rhs = Mat::transposed(patches(g, xg, &mut col), out_plane);
                        gemm((cout_g, k_len, out_plane), dwg, true, lhs, rhs, parallelism);
                    }
                }
                dw
            })
            .collect();
        // Add the slices' partial sums in slice order, in parallel over element ranges.
        let mut partials = partials.into_iter();
        let mut total = partials.next().unwrap_or_else(|| vec![0.0; w.len()]);
        let rest: Vec<Vec<f32>> = partials.collect();
        total.par_chunks_mut(REDUCE_CHUNK).enumerate().for_each(|(c, t)| {
            for partial in &rest {
                for (t, p) in t.iter_mut().zip(&partial[c * REDUCE_CHUNK..]) {
                    *t += *p;
                }
            }
        });
        total
    });

    let db = need_b.then(|| {
        (0..g.c_out)
            .into_par_iter()
            .map(|o| {
                (0..g.batch)
                    .map(|b| math::sum(&dy[(b * g.c_out + o) * out_plane..][..out_plane]))
                    .sum::<f32>()
            })
            .collect()
    });

    ConvGrads {
        x: dx,
        weight: dw,
        bias: db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_covers_exactly_the_in_bounds_outputs() {
        for len in 1usize..12 {
            for k in 0..4 {
                for pad in 0..3 {
                    for stride in 1..4 {
                        let out = (len + pad + 2).saturating_sub(k + 1) / stride + 1;
                        let (lo, hi) = ConvGeometry::valid_range(out, stride, k, pad, len);
                        for o in 0..out {
                            let i = (o * stride + k) as isize - pad as isize;
                            let inside = i >= 0 && (i as usize) < len;
                            assert_eq!(
                                inside,
                                o >= lo && o < hi,
                                "len {len} k {k} pad {pad} stride {stride} o {o}"
                            );
                        }
                    }
                }
            }
        }
    }
}
