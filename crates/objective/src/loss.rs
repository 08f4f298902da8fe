//! The contrastive loss of LOEV and MULE for any set of heads.
//!
//! For head k with projections z (cosine similarity s_ij, temperature τ):
//!
//! ℓ_i = −1/|P_k(i)| Σ_{p∈P_k(i)} log( exp(s_ip/τ) / Σ_{j≠i} exp(s_ij/τ) )
//!
//! where P(i) are the other views of the same clip and, for a leave-one-out head,
//! P_k(i) = P(i) ∩ {j : t_jk = t_ik = 0} (augmentation k applied to neither view). An anchor
//! without a positive has no ℓ_i; [`AnchorMean`] says how the head's mean treats it:
//! [`AnchorMean::AllAnchors`] counts it as 0 and divides by every anchor (the authors' code,
//! MuLOVR's `NTXent`), [`AnchorMean::WithPositives`] leaves it out of the mean. Either way the
//! anchors without positives are counted. The total loss is the mean over heads.
//!
//! The choice sets the heads' balance. At p = 0.5 and 4 views per clip only
//! 0.5 · (1 − 0.5³) = 43.75 % of the anchors have a positive in a leave-out head, so with
//! `WithPositives` each leave-out head weighs about 2.3× more than with `AllAnchors`.
//!
//! Global negatives: the loss is written for a block of anchor rows against all columns, so a
//! data-parallel step computes each device's rows against the embeddings of every device
//! (gathered) and the per-block sums add up to the single-device loss exactly
//! ([`contrastive_loss_sharded`]). Masks are built on the host from clip ids and the tracking
//! matrix; only the similarity algebra runs on the device.

use burn::Tensor;
use burn::tensor::{Device, TensorData};

use crate::heads::HeadObjective;
use crate::positives::{LossError, ViewLabels};

/// The temperature of the seed paper and MULE.
pub const DEFAULT_TEMPERATURE: f64 = 0.1;

/// Added to the self-similarity logit to remove it from the denominator. Finite (not −∞) so that
/// a zero weight times it stays zero.
const SELF_MASK: f32 = -1.0e9;

/// Rows of a projection whose L2 norm is below this have no direction: their unit vector is
/// taken as zero (similarity 0 with every view) and they receive no gradient. Silent audio
/// gives exactly such rows (a standardised constant slice is all zeros, and the untrained
/// model maps zeros to zeros), and the derivative of the norm at 0 is infinite, so without
/// this floor one silent crop turns every gradient into NaN. Real projections are many orders
/// of magnitude longer, so their values are unchanged.
const NORM_EPS: f64 = 1e-6;

/// How a head averages its per-anchor losses ℓ_i (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorMean {
    /// Divide by the number of anchors; an anchor without a positive adds 0 (the authors'
    /// code; the presets).
    AllAnchors,
    /// Divide by the number of anchors with at least one positive (loev before this option
    /// existed; what a configuration that names no `anchor_mean` means).
    WithPositives,
}

impl AnchorMean {
    /// The mean of a configuration that names none: [`AnchorMean::WithPositives`], so that
    /// runs configured before the option existed resume with the loss they started with.
    pub fn unnamed() -> Self {
        Self::WithPositives
    }

    /// What a head's summed loss is divided by, with `anchors` anchors of which
    /// `with_positives` have a positive.
    pub fn divisor(self, anchors: usize, with_positives: usize) -> usize {
        match self {
            Self::AllAnchors => anchors,
            Self::WithPositives => with_positives,
        }
    }
}

/// Everything about the loss besides the heads' positive rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossSettings {
    /// Softmax temperature τ.
    pub temperature: f64,
    /// How each head averages over anchors.
    pub anchor_mean: AnchorMean,
}

impl Default for LossSettings {
    /// The seed paper's temperature and the authors' mean over all anchors.
    fn default() -> Self {
        Self {
            temperature: DEFAULT_TEMPERATURE,
            anchor_mean: AnchorMean::AllAnchors,
        }
    }
}

/// Host-side weights of one head for rows `rows` against all views: `weights[r][j] =
/// 1/|P(i)|` for each positive j of anchor i = rows.start + r, and the count of anchors with at
/// least one positive among all views.
struct HeadMasks {
    /// Row-major [rows, views] weights.
    weights: Vec<f32>,
    /// Row-major [rows, views] additive self mask.
    self_mask: Vec<f32>,
    /// Anchors (over all views, not only these rows) with at least one positive.
    valid_anchors: usize,
}

fn head_masks(labels: &ViewLabels, objective: &HeadObjective, rows: std::ops::Range<usize>) -> HeadMasks {
    let n = labels.len();
    let mut valid_anchors = 0;
    for i in 0..n {
        if (0..n).any(|j| labels.is_positive(objective, i, j)) {
            valid_anchors += 1;
        }
    }
    let mut weights = vec![0.0f32; rows.len() * n];
    let mut self_mask = vec![0.0f32; rows.len() * n];
    for (r, i) in rows.enumerate() {
        let positives: Vec<usize> = (0..n).filter(|&j| labels.is_positive(objective, i, j)).collect();
        for &j in &positives {
            weights[r * n + j] = 1.0 / positives.len() as f32;
        }
        self_mask[r * n + i] = SELF_MASK;
    }
    HeadMasks {
        weights,
        self_mask,
        valid_anchors,
    }
}

/// Rows of `z` scaled to unit L2 norm; rows shorter than [`NORM_EPS`] become zero.
///
/// The squared norm is floored *before* the square root: flooring after it (`sqrt(s).max(ε)`)
/// still evaluates `d sqrt(s)/ds = ∞` at s = 0 in the backward pass, and ∞ · 0 is NaN. The
/// floored rows are then masked to zero, so their gradient is exactly zero rather than ~1/ε.
fn l2_normalise(z: Tensor<2>) -> Tensor<2> {
    let squared = z.clone().square().sum_dim(1); // [n, 1]
    let has_direction = squared.clone().greater_equal_elem(NORM_EPS * NORM_EPS).float().detach(); // [n, 1]
    let norm = squared.clamp_min(NORM_EPS * NORM_EPS).sqrt(); // [n, 1]
    (z / norm) * has_direction // [n, d]
}

/// Σ over anchors in `rows` of ℓ_i (unnormalised), for one head. `z_rows` are the rows' raw
/// projections [r, d]; `z_all` all views' raw projections [n, d]. Gradients flow into both.
fn head_loss_sum(z_rows: Tensor<2>, z_all: Tensor<2>, masks: &HeadMasks, temperature: f64) -> Tensor<1> {
    let device = z_rows.device();
    let [rows, _] = z_rows.dims();
    let [n, _] = z_all.dims();
    let logits = l2_normalise(z_rows).matmul(l2_normalise(z_all).transpose()) / temperature; // [r, n]
    let self_mask = host_matrix(&masks.self_mask, rows, n, &device); // [r, n]
    let logits = logits + self_mask; // [r, n]
    let row_max = logits.clone().max_dim(1).detach(); // [r, 1]
    let log_denominator = (logits.clone() - row_max.clone()).exp().sum_dim(1).log() + row_max; // [r, 1]
    let log_prob = logits - log_denominator; // [r, n]
    let weights = host_matrix(&masks.weights, rows, n, &device); // [r, n]
    (log_prob * weights).sum().neg() // [1]
}

fn host_matrix(values: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
}

/// The loss of one head with its bookkeeping.
#[derive(Clone, Debug)]
pub struct HeadLoss {
    /// Mean of ℓ_i as [`AnchorMean`] says (0 when no anchor has a positive).
    pub loss: Tensor<1>,
    /// Anchors with at least one positive in this head.
    pub anchors_with_positives: usize,
    /// Anchors left out of this head's mean because they have no positive.
    pub anchors_without_positives: usize,
}

/// The total loss (mean over heads) and each head's loss.
#[derive(Clone, Debug)]
pub struct ContrastiveLoss {
    /// Mean of the head losses; what is back-propagated.
    pub total: Tensor<1>,
    /// One entry per head, in the order of the objectives.
    pub heads: Vec<HeadLoss>,
}

/// The contrastive loss on one device: `projections[k]` is head k's [views, d] projection and
/// `objectives[k]` its positives rule.
pub fn contrastive_loss(
    projections: &[Tensor<2>],
    objectives: &[HeadObjective],
    labels: &ViewLabels,
    settings: LossSettings,
) -> Result<ContrastiveLoss, LossError> {
    let shards: Vec<Vec<Tensor<2>>> = projections.iter().map(|z| vec![z.clone()]).collect();
    contrastive_loss_sharded(&shards, objectives, labels, settings)
}

/// The contrastive loss with embeddings split into shards (one per device, in view order):
/// `shards[k][d]` is head k's projection on device d. Each shard's anchors are compared with
/// the embeddings of every shard (global negatives), and the per-shard sums are normalised by
/// the global count of anchors (all, or those with positives), so the result — value and gradients, which flow
/// back into every shard — equals [`contrastive_loss`] on the concatenated batch.
///
/// All shards must live on one device here (the gathered embeddings are concatenated on the
/// first shard's device); a multi-device caller moves them there first (`to_device`, which is
/// differentiable), exactly as an all-gather would.
pub fn contrastive_loss_sharded(
    shards: &[Vec<Tensor<2>>],
    objectives: &[HeadObjective],
    labels: &ViewLabels,
    settings: LossSettings,
) -> Result<ContrastiveLoss, LossError> {
    labels.check(objectives)?;
    if shards.len() != objectives.len() || shards.is_empty() {
        return Err(LossError::Shape(format!(
            "{} heads of projections but {} objectives (need the same, at least one)",
            shards.len(),
            objectives.len()
        )));
    }
    let mut heads = Vec::with_capacity(objectives.len());
    for (head_shards, objective) in shards.iter().zip(objectives) {
        let sizes: Vec<usize> = head_shards.iter().map(|z| z.dims()[0]).collect();
        let total_views: usize = sizes.iter().sum();
        if total_views != labels.len() {
            return Err(LossError::Shape(format!(
                "projections hold {total_views} views but the labels describe {}",
                labels.len()
            )));
        }
        let all = Tensor::cat(head_shards.clone(), 0); // [n, d]
        let mut offset = 0;
        let mut sum: Option<Tensor<1>> = None;
        let mut valid_anchors = 0;
        for (z_rows, &rows) in head_shards.iter().zip(&sizes) {
            let masks = head_masks(labels, objective, offset..offset + rows);
            valid_anchors = masks.valid_anchors;
            let part = head_loss_sum(z_rows.clone(), all.clone(), &masks, settings.temperature); // [1]
            sum = Some(match sum {
                Some(s) => s + part,
                None => part,
            });
            offset += rows;
        }
        let sum = sum.ok_or_else(|| LossError::Shape("a head has no shards".into()))?;
        let divisor = settings.anchor_mean.divisor(labels.len(), valid_anchors);
        // No anchor with a positive: the sum is 0 (every weight is 0); keep it in the graph.
        let loss = if valid_anchors > 0 {
            sum / divisor as f64
        } else {
            sum * 0.0
        };
        heads.push(HeadLoss {
            loss,
            anchors_with_positives: valid_anchors,
            anchors_without_positives: labels.len() - valid_anchors,
        });
    }
    let n_heads = heads.len() as f64;
    let total = heads
        .iter()
        .map(|h| h.loss.clone())
        .reduce(|a, b| a + b)
        .map(|s| s / n_heads)
        .ok_or_else(|| LossError::Shape("no heads".into()))?;
    Ok(ContrastiveLoss { total, heads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_core::rng::rng_from_seed;
    use rand::RngExt;

    /// The loss formula written as plain loops in f64: the reference the tensor code must match.
    fn brute_force(
        z: &[Vec<Vec<f64>>],
        objectives: &[HeadObjective],
        labels: &ViewLabels,
        tau: f64,
        anchor_mean: AnchorMean,
    ) -> (f64, Vec<f64>) {
        let n = labels.len();
        let mut head_losses = Vec::new();
        for (zk, objective) in z.iter().zip(objectives) {
            let unit: Vec<Vec<f64>> = zk
                .iter()
                .map(|v| {
                    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
                    v.iter().map(|x| x / norm).collect()
                })
                .collect();
            let sim = |i: usize, j: usize| unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum::<f64>() / tau;
            let mut total = 0.0;
            let mut valid = 0;
            for i in 0..n {
                let positives: Vec<usize> = (0..n).filter(|&j| labels.is_positive(objective, i, j)).collect();
                if positives.is_empty() {
                    continue;
                }
                let denominator: f64 = (0..n).filter(|&j| j != i).map(|j| sim(i, j).exp()).sum();
                let li: f64 = positives
                    .iter()
                    .map(|&p| -(sim(i, p).exp() / denominator).ln())
                    .sum::<f64>()
                    / positives.len() as f64;
                total += li;
                valid += 1;
            }
            let divisor = match anchor_mean {
                AnchorMean::AllAnchors => n,
                AnchorMean::WithPositives => valid,
            };
            head_losses.push(if valid > 0 { total / divisor as f64 } else { 0.0 });
        }
        (head_losses.iter().sum::<f64>() / head_losses.len() as f64, head_losses)
    }

    struct Case {
        z: Vec<Vec<Vec<f64>>>,
        labels: ViewLabels,
        objectives: Vec<HeadObjective>,
    }

    fn random_case(
        seed: u64,
        anchors: usize,
        views: usize,
        dim: usize,
        objectives: Vec<HeadObjective>,
        n_variants: usize,
        p_applied: f64,
    ) -> Case {
        let mut rng = rng_from_seed(seed);
        let n = anchors * views;
        let z = (0..objectives.len())
            .map(|_| {
                (0..n)
                    .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .collect()
            })
            .collect();
        let clip_ids = (0..n).map(|i| (i / views) as u32).collect();
        let tracking = (0..n * n_variants)
            .map(|_| u8::from(rng.random_bool(p_applied)))
            .collect();
        Case {
            z,
            labels: ViewLabels {
                clip_ids,
                tracking,
                n_variants,
            },
            objectives,
        }
    }

    fn to_tensor(z: &[Vec<f64>], device: &Device) -> Tensor<2> {
        let rows = z.len();
        let cols = z[0].len();
        let flat: Vec<f32> = z.iter().flatten().map(|&x| x as f32).collect();
        Tensor::from_data(TensorData::new(flat, [rows, cols]), device)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
    }

    /// Both anchor means against the brute force, within 1e-5 (relative above 1).
    fn check_against_brute_force(case: &Case) {
        let device = Device::flex();
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        for anchor_mean in [AnchorMean::AllAnchors, AnchorMean::WithPositives] {
            let settings = LossSettings {
                temperature: DEFAULT_TEMPERATURE,
                anchor_mean,
            };
            let loss = contrastive_loss(&tensors, &case.objectives, &case.labels, settings).unwrap();
            let (want_total, want_heads) = brute_force(
                &case.z,
                &case.objectives,
                &case.labels,
                DEFAULT_TEMPERATURE,
                anchor_mean,
            );
            let got_total = scalar(loss.total.clone());
            assert!(
                (got_total - want_total).abs() <= 1e-5 * want_total.abs().max(1.0),
                "{anchor_mean:?}: total {got_total} vs {want_total}"
            );
            for (head, want) in loss.heads.iter().zip(want_heads) {
                let got = scalar(head.loss.clone());
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{anchor_mean:?}: head {got} vs {want}"
                );
            }
        }
    }

    /// The two means differ exactly by the share of anchors with positives.
    #[test]
    fn the_two_anchor_means_differ_by_the_share_of_anchors_with_positives() {
        let case = random_case(40, 6, 4, 16, loev(1), 1, 0.5);
        let device = Device::flex();
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        let run = |anchor_mean| {
            let settings = LossSettings {
                temperature: DEFAULT_TEMPERATURE,
                anchor_mean,
            };
            contrastive_loss(&tensors, &case.objectives, &case.labels, settings).unwrap()
        };
        let (all, with) = (run(AnchorMean::AllAnchors), run(AnchorMean::WithPositives));
        let head = &all.heads[1];
        assert!(head.anchors_without_positives > 0 && head.anchors_with_positives > 0);
        let share = head.anchors_with_positives as f64 / 24.0;
        let (a, w) = (scalar(head.loss.clone()), scalar(with.heads[1].loss.clone()));
        assert!((a - share * w).abs() < 1e-5, "{a} vs {share} × {w}");
        // The invariant head has a positive for every anchor: the means agree.
        assert!((scalar(all.heads[0].loss.clone()) - scalar(with.heads[0].loss.clone())).abs() < 1e-6);
    }

    fn loev(n_variants: usize) -> Vec<HeadObjective> {
        std::iter::once(HeadObjective::Invariant)
            .chain((0..n_variants).map(|variant| HeadObjective::LeaveOut { variant }))
            .collect()
    }

    #[test]
    fn mule_matches_brute_force() {
        for seed in 0..4 {
            check_against_brute_force(&random_case(seed, 6, 4, 16, vec![HeadObjective::Invariant], 0, 0.5));
        }
        // Two views per clip (SimCLR's pairs) and one anchor alone in its clip.
        let mut case = random_case(9, 5, 2, 8, vec![HeadObjective::Invariant], 0, 0.5);
        case.labels.clip_ids[9] = 99;
        check_against_brute_force(&case);
    }

    #[test]
    fn loev_with_one_and_two_variant_heads_matches_brute_force() {
        for seed in 10..14 {
            check_against_brute_force(&random_case(seed, 6, 4, 16, loev(1), 1, 0.5));
            check_against_brute_force(&random_case(seed, 5, 4, 12, loev(2), 2, 0.4));
        }
    }

    #[test]
    fn rows_without_positives_all_applied_and_none_applied() {
        // All applied: every leave-out head has no positive at all; its loss is 0, all anchors
        // are counted as left out, and the invariant head is unaffected.
        let case = random_case(20, 4, 4, 8, loev(2), 2, 1.0);
        check_against_brute_force(&case);
        let device = Device::flex();
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        let loss = contrastive_loss(&tensors, &case.objectives, &case.labels, LossSettings::default()).unwrap();
        assert_eq!(loss.heads[0].anchors_without_positives, 0);
        assert_eq!(loss.heads[1].anchors_without_positives, 16);
        assert_eq!(scalar(loss.heads[1].loss.clone()), 0.0);
        // None applied: every leave-out head equals the invariant head on the same projections.
        let mut case = random_case(21, 4, 4, 8, loev(1), 1, 0.0);
        case.z[1] = case.z[0].clone();
        check_against_brute_force(&case);
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        let loss = contrastive_loss(&tensors, &case.objectives, &case.labels, LossSettings::default()).unwrap();
        assert!((scalar(loss.heads[0].loss.clone()) - scalar(loss.heads[1].loss.clone())).abs() < 1e-6);
        // Mixed: some anchors keep positives, some lose all of them.
        let mut case = random_case(22, 3, 4, 8, loev(1), 1, 0.0);
        for view in [0, 1, 2, 4, 5, 6] {
            case.labels.tracking[view] = 1;
        }
        check_against_brute_force(&case);
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        let loss = contrastive_loss(&tensors, &case.objectives, &case.labels, LossSettings::default()).unwrap();
        // Clips 0 and 1 keep a single untransformed view each: 8 anchors left out of 12.
        assert_eq!(loss.heads[1].anchors_without_positives, 8);
    }

    #[test]
    fn sharded_loss_and_gradients_equal_single_shard() {
        let case = random_case(30, 8, 4, 16, loev(2), 2, 0.5);
        let device = Device::flex().autodiff();
        let reference = {
            let leaves: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device).require_grad()).collect();
            let loss = contrastive_loss(&leaves, &case.objectives, &case.labels, LossSettings::default()).unwrap();
            let value = scalar(loss.total.clone());
            let grads = loss.total.backward();
            let grads: Vec<Vec<f32>> = leaves
                .iter()
                .map(|l| l.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap())
                .collect();
            (value, grads)
        };
        for n_shards in [2usize, 4] {
            let rows_per_shard = case.labels.len() / n_shards;
            let leaves: Vec<Vec<Tensor<2>>> = case
                .z
                .iter()
                .map(|zk| {
                    zk.chunks(rows_per_shard)
                        .map(|rows| to_tensor(rows, &device).require_grad())
                        .collect()
                })
                .collect();
            let loss =
                contrastive_loss_sharded(&leaves, &case.objectives, &case.labels, LossSettings::default()).unwrap();
            let value = scalar(loss.total.clone());
            assert!(
                (value - reference.0).abs() < 1e-5,
                "{n_shards} shards: {value} vs {}",
                reference.0
            );
            let grads = loss.total.backward();
            for (head, head_leaves) in leaves.iter().enumerate() {
                let got: Vec<f32> = head_leaves
                    .iter()
                    .flat_map(|l| l.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap())
                    .collect();
                let max_diff = got
                    .iter()
                    .zip(&reference.1[head])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    max_diff < 1e-5,
                    "{n_shards} shards, head {head}: max gradient difference {max_diff}"
                );
                assert!(got.iter().any(|g| g.abs() > 1e-4), "gradients must not vanish");
            }
        }
    }

    /// Gradients of the total loss with respect to each head's projection.
    fn loss_and_gradients(case: &Case) -> (f64, Vec<Vec<f32>>) {
        let device = Device::flex().autodiff();
        let leaves: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device).require_grad()).collect();
        let loss = contrastive_loss(&leaves, &case.objectives, &case.labels, LossSettings::default()).unwrap();
        let value = scalar(loss.total.clone());
        let grads = loss.total.backward();
        let grads = leaves
            .iter()
            .map(|l| l.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap())
            .collect();
        (value, grads)
    }

    #[test]
    fn zero_projection_rows_give_finite_loss_and_gradients() {
        // Silent audio: a standardised constant slice is all zeros and the untrained model maps
        // it to an all-zero projection. Views 0 and 5 are such rows, in every head.
        let mut case = random_case(50, 4, 4, 8, loev(1), 1, 0.3);
        for head in &mut case.z {
            head[0].fill(0.0);
            head[5].fill(0.0);
        }
        check_against_brute_force(&case);
        let (value, grads) = loss_and_gradients(&case);
        assert!(value.is_finite(), "loss {value}");
        for (head, g) in grads.iter().enumerate() {
            assert!(g.iter().all(|v| v.is_finite()), "head {head}: non-finite gradient");
            // A row without direction gets no gradient; the others still learn.
            assert!(g[..8].iter().chain(&g[40..48]).all(|&v| v == 0.0), "head {head}");
            assert!(
                g[8..40].iter().any(|v| v.abs() > 1e-4),
                "head {head}: gradients vanished"
            );
        }
    }

    #[test]
    fn an_all_silent_batch_gives_the_chance_loss_and_zero_gradients() {
        // Every similarity is 0, so each anchor's loss is ln(n − 1) (uniform over the others).
        let mut case = random_case(51, 3, 2, 4, vec![HeadObjective::Invariant], 0, 0.0);
        for row in &mut case.z[0] {
            row.fill(0.0);
        }
        let (value, grads) = loss_and_gradients(&case);
        assert!((value - 5f64.ln()).abs() < 1e-5, "loss {value}");
        assert!(grads[0].iter().all(|&v| v == 0.0));
        // Tiny but non-zero rows (near-silent audio) are normalised, not floored.
        let mut case = random_case(52, 3, 2, 4, vec![HeadObjective::Invariant], 0, 0.0);
        for row in &mut case.z[0] {
            row.iter_mut().for_each(|v| *v *= 1e-4);
        }
        check_against_brute_force(&case);
        let (value, grads) = loss_and_gradients(&case);
        assert!(value.is_finite() && (value - 5f64.ln()).abs() > 1e-3, "loss {value}");
        assert!(grads[0].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn shape_errors_are_reported() {
        let case = random_case(40, 2, 2, 4, loev(1), 1, 0.5);
        let device = Device::flex();
        let tensors: Vec<Tensor<2>> = case.z.iter().map(|zk| to_tensor(zk, &device)).collect();
        assert!(contrastive_loss(&tensors[..1], &case.objectives, &case.labels, LossSettings::default()).is_err());
        let bad = vec![HeadObjective::Invariant, HeadObjective::LeaveOut { variant: 3 }];
        assert!(contrastive_loss(&tensors, &bad, &case.labels, LossSettings::default()).is_err());
    }
}
