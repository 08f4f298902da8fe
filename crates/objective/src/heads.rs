//! Which projection heads a run has and what each one's positives are: the one place that turns
//! an objective and an augmentation chain into heads. Training builds its model and loss from
//! [`heads`], the model file records them ([`Heads::infos`]), and the Python bindings build
//! their positive masks from the same function, so the three cannot disagree.

use loev_artifacts::{HeadInfo, HeadRole};
use loev_augment::ChainConfig;
use serde::{Deserialize, Serialize};

/// Name of the invariant head (head 0 of every model).
pub const INVARIANT_HEAD: &str = "invariant";

/// The objective the heads are trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Every head uses the invariant objective (MULE, MULE++).
    Mule,
    /// Head 0 invariant, one leave-one-out head per variant augmentation (LOEV, LOEV++).
    Loev,
}

/// Which views count as positives in one head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadObjective {
    /// All other views of the same clip are positives (MULE, and LOEV's invariant head).
    Invariant,
    /// Positives are views of the same clip to which variant augmentation `variant` (a column of
    /// the tracking matrix) was applied to neither view.
    LeaveOut {
        /// Column of the tracking matrix.
        variant: usize,
    },
}

/// The heads of a model, in output order: each one's name (the embedding space `z_<name>`) and
/// objective. Made by [`heads`] only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heads {
    names: Vec<String>,
    objectives: Vec<HeadObjective>,
}

impl Heads {
    /// Head names in output order (`invariant` first).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each head's positive rule, in output order (what the loss takes).
    pub fn objectives(&self) -> &[HeadObjective] {
        &self.objectives
    }

    /// Number of heads.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: every model has the invariant head.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The heads as the model file records them: a leave-out head names its transform (a
    /// leave-out head is named after the transform it leaves out).
    pub fn infos(&self) -> Vec<HeadInfo> {
        self.names
            .iter()
            .zip(&self.objectives)
            .map(|(name, objective)| HeadInfo {
                name: name.clone(),
                objective: match objective {
                    HeadObjective::Invariant => HeadRole::Invariant,
                    HeadObjective::LeaveOut { .. } => HeadRole::LeaveOut {
                        transform: name.clone(),
                    },
                },
            })
            .collect()
    }
}

/// The heads of an objective over the tracking columns `tracked` (the chain's variant list, in
/// column order), of which `enabled` says which can be applied at all (p > 0).
///
/// Head 0 is invariant. LOEV (and MULE++, whose last stage keeps one branch per variant) adds
/// one head per *enabled* variant, named after it: a leave-out head for LOEV, an invariant one
/// for MULE++. A tracked variant that is never applied gets no head, because its column is all
/// zeros and a leave-out head on it would only repeat the invariant one.
pub fn heads(kind: ObjectiveKind, plusplus: bool, tracked: &[String], enabled: impl Fn(&str) -> bool) -> Heads {
    let mut names = vec![INVARIANT_HEAD.to_string()];
    let mut objectives = vec![HeadObjective::Invariant];
    if kind == ObjectiveKind::Loev || plusplus {
        for (column, name) in tracked.iter().enumerate().filter(|(_, name)| enabled(name)) {
            names.push(name.clone());
            objectives.push(match kind {
                ObjectiveKind::Loev => HeadObjective::LeaveOut { variant: column },
                ObjectiveKind::Mule => HeadObjective::Invariant,
            });
        }
    }
    Heads { names, objectives }
}

/// The heads of an objective trained with `chain` ([`heads`] over its variant list).
pub fn chain_heads(kind: ObjectiveKind, plusplus: bool, chain: &ChainConfig) -> Heads {
    heads(kind, plusplus, &chain.variant, |name| chain.is_enabled(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(toml: &str) -> ChainConfig {
        ChainConfig::from_toml_str(toml).unwrap()
    }

    #[test]
    fn a_tracked_variant_that_is_never_applied_gets_no_head() {
        let both = "variant = [\"pitch_shift\", \"time_stretch\"]\n";
        let off = "variant = [\"pitch_shift\", \"time_stretch\"]\n[pitch_shift]\np = 0.0\n";
        let loev = chain_heads(ObjectiveKind::Loev, false, &chain(both));
        assert_eq!(loev.names(), ["invariant", "pitch_shift", "time_stretch"]);
        assert_eq!(
            loev.objectives(),
            [
                HeadObjective::Invariant,
                HeadObjective::LeaveOut { variant: 0 },
                HeadObjective::LeaveOut { variant: 1 }
            ]
        );
        // The column keeps its index: time stretch is still column 1.
        let loev = chain_heads(ObjectiveKind::Loev, false, &chain(off));
        assert_eq!(loev.names(), ["invariant", "time_stretch"]);
        assert_eq!(loev.objectives()[1], HeadObjective::LeaveOut { variant: 1 });
        assert_eq!(
            loev.infos()[1].objective,
            HeadRole::LeaveOut {
                transform: "time_stretch".into()
            }
        );
        // MULE has one head; MULE++ one invariant head per applied variant.
        assert_eq!(chain_heads(ObjectiveKind::Mule, false, &chain(both)).len(), 1);
        let mule_pp = chain_heads(ObjectiveKind::Mule, true, &chain(off));
        assert_eq!(mule_pp.names(), ["invariant", "time_stretch"]);
        assert!(mule_pp.objectives().iter().all(|o| *o == HeadObjective::Invariant));
    }
}
