//! The positive rule of the contrastive loss: which views of a batch are positives of which
//! anchor in each head. The loss builds its masks from [`ViewLabels::is_positive`], and
//! [`positive_masks`] gives the same sets as booleans (the Python bindings' `positive_masks`).

use crate::heads::HeadObjective;

/// Errors in the loss inputs.
#[derive(Debug, thiserror::Error)]
pub enum LossError {
    /// The labels, embeddings or heads disagree in size.
    #[error("contrastive loss: {0}")]
    Shape(String),
}

/// Per-view facts the positive masks are built from.
#[derive(Clone, Debug)]
pub struct ViewLabels {
    /// Clip (anchor) id per view: views with the same id are views of one clip.
    pub clip_ids: Vec<u32>,
    /// Row-major [views, n_variants] 0/1 matrix: 1 when the variant augmentation was applied.
    pub tracking: Vec<u8>,
    /// Number of columns of `tracking`.
    pub n_variants: usize,
}

impl ViewLabels {
    /// Number of views.
    pub fn len(&self) -> usize {
        self.clip_ids.len()
    }

    /// True when there are no views.
    pub fn is_empty(&self) -> bool {
        self.clip_ids.is_empty()
    }

    /// Checks that the tracking matrix has one row per view and that every leave-out head's
    /// column exists.
    pub fn check(&self, objectives: &[HeadObjective]) -> Result<(), LossError> {
        if self.tracking.len() != self.len() * self.n_variants {
            return Err(LossError::Shape(format!(
                "tracking matrix has {} entries, expected {} views × {} variants",
                self.tracking.len(),
                self.len(),
                self.n_variants
            )));
        }
        for objective in objectives {
            if let HeadObjective::LeaveOut { variant } = *objective
                && variant >= self.n_variants
            {
                return Err(LossError::Shape(format!(
                    "leave-out head uses variant column {variant} but the tracking matrix has {} columns",
                    self.n_variants
                )));
            }
        }
        Ok(())
    }

    fn applied(&self, view: usize, variant: usize) -> bool {
        self.tracking[view * self.n_variants + variant] != 0
    }

    /// Whether `j` is a positive of anchor `i` under `objective`.
    pub fn is_positive(&self, objective: &HeadObjective, i: usize, j: usize) -> bool {
        if i == j || self.clip_ids[i] != self.clip_ids[j] {
            return false;
        }
        match *objective {
            HeadObjective::Invariant => true,
            HeadObjective::LeaveOut { variant } => !self.applied(i, variant) && !self.applied(j, variant),
        }
    }
}

/// The positive sets of every head as a row-major `[heads × views × views]` boolean array:
/// entry `(h, i, j)` is true iff view `j` is a positive of anchor `i` in head `h`.
pub fn positive_masks(labels: &ViewLabels, objectives: &[HeadObjective]) -> Result<Vec<bool>, LossError> {
    labels.check(objectives)?;
    let n = labels.len();
    let mut masks = Vec::with_capacity(objectives.len() * n * n);
    for objective in objectives {
        for i in 0..n {
            masks.extend((0..n).map(|j| labels.is_positive(objective, i, j)));
        }
    }
    Ok(masks)
}

/// How far a leave-out head pulls apart the views that augmentation `variant` changed: the
/// mean cosine similarity of sibling pairs (two views of one clip) to which `variant` was
/// applied to neither, minus that of sibling pairs where it was applied to exactly one.
/// `projections` is row-major `[views, dim]` (one head's projections). A head that keeps the
/// variant's information scores above 0; one that ignores it scores about 0. `None` when the
/// batch has no pair of either kind (or `dim` is 0).
pub fn leave_out_separation(projections: &[f32], dim: usize, labels: &ViewLabels, variant: usize) -> Option<f64> {
    let n = labels.len();
    if dim == 0 || projections.len() != n * dim || variant >= labels.n_variants {
        return None;
    }
    let unit: Vec<Vec<f64>> = projections
        .chunks(dim)
        .map(|row| {
            let norm = row.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt().max(1e-12);
            row.iter().map(|v| f64::from(*v) / norm).collect()
        })
        .collect();
    let (mut clean, mut clean_pairs, mut mixed, mut mixed_pairs) = (0.0, 0usize, 0.0, 0usize);
    for i in 0..n {
        for j in (i + 1)..n {
            if labels.clip_ids[i] != labels.clip_ids[j] {
                continue;
            }
            let cosine: f64 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            match (labels.applied(i, variant), labels.applied(j, variant)) {
                (false, false) => {
                    clean += cosine;
                    clean_pairs += 1;
                }
                (true, false) | (false, true) => {
                    mixed += cosine;
                    mixed_pairs += 1;
                }
                (true, true) => {}
            }
        }
    }
    (clean_pairs > 0 && mixed_pairs > 0).then(|| clean / clean_pairs as f64 - mixed / mixed_pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_compares_clean_sibling_pairs_with_half_augmented_ones() {
        // One clip of four views: views 0 and 1 clean, 2 and 3 augmented by variant 0; a
        // second clip whose two views are clean. Clean views point along x, augmented ones
        // along y: clean pairs have cosine 1, clean–augmented pairs 0.
        let labels = ViewLabels {
            clip_ids: vec![0, 0, 0, 0, 1, 1],
            tracking: vec![0, 0, 1, 1, 0, 0],
            n_variants: 1,
        };
        let z = [1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 3.0, 1.0, 0.0, 1.0, 0.0];
        let separation = leave_out_separation(&z, 2, &labels, 0).expect("both kinds of pair");
        assert!((separation - 1.0).abs() < 1e-12, "{separation}");
        // A head that ignores the augmentation (every view alike) separates nothing.
        let alike = [1.0f32; 12];
        let separation = leave_out_separation(&alike, 2, &labels, 0).expect("both kinds of pair");
        assert!(separation.abs() < 1e-12, "{separation}");
        // Views of different clips never form a pair: with one view per clip there is none.
        let singles = ViewLabels {
            clip_ids: vec![0, 1, 2, 3, 4, 5],
            ..labels.clone()
        };
        assert_eq!(leave_out_separation(&z, 2, &singles, 0), None);
        // No augmented view: no half-augmented pair; a column that does not exist: none.
        let untouched = ViewLabels {
            tracking: vec![0; 6],
            ..labels.clone()
        };
        assert_eq!(leave_out_separation(&z, 2, &untouched, 0), None);
        assert_eq!(leave_out_separation(&z, 2, &labels, 1), None);
    }

    #[test]
    fn masks_follow_the_rule_and_refuse_a_missing_column() {
        // Two clips of two views; view 1 was pitch shifted.
        let labels = ViewLabels {
            clip_ids: vec![0, 0, 1, 1],
            tracking: vec![0, 1, 0, 0],
            n_variants: 1,
        };
        let objectives = [HeadObjective::Invariant, HeadObjective::LeaveOut { variant: 0 }];
        let masks = positive_masks(&labels, &objectives).unwrap();
        let at = |h: usize, i: usize, j: usize| masks[(h * 4 + i) * 4 + j];
        assert!(at(0, 0, 1) && at(0, 1, 0) && at(0, 2, 3) && !at(0, 0, 0) && !at(0, 0, 2));
        assert!(!at(1, 0, 1) && !at(1, 1, 0) && at(1, 2, 3));
        let err = positive_masks(&labels, &[HeadObjective::LeaveOut { variant: 1 }]).unwrap_err();
        assert!(err.to_string().contains("column 1"), "{err}");
    }
}
