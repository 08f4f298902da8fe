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

#[cfg(test)]
mod tests {
    use super::*;

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
