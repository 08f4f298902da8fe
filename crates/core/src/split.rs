//! Train / validation / test partitions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which partition a track belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data (probe fitting, pretraining).
    Train,
    /// Validation data (early stopping, model selection).
    Valid,
    /// Held-out test data (reported figures).
    Test,
}

impl Split {
    /// All splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// The canonical lower-case name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A split name that is none of train / valid / test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a split: expected train, valid (or val/validation) or test")]
pub struct SplitError(pub String);

impl FromStr for Split {
    type Err = SplitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Train),
            "valid" | "val" | "validation" | "dev" => Ok(Split::Valid),
            "test" | "testing" => Ok(Split::Test),
            _ => Err(SplitError(text.to_string())),
        }
    }
}

/// A count for each split (tracks of a dataset, items of the built-in corpus, problems found).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Training split.
    pub train: usize,
    /// Validation split.
    pub valid: usize,
    /// Test split.
    pub test: usize,
}

impl SplitCounts {
    /// Adds one to `split`.
    pub fn add(&mut self, split: Split) {
        *self.get_mut(split) += 1;
    }

    /// The count of `split`.
    pub fn get(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Valid => self.valid,
            Split::Test => self.test,
        }
    }

    fn get_mut(&mut self, split: Split) -> &mut usize {
        match split {
            Split::Train => &mut self.train,
            Split::Valid => &mut self.valid,
            Split::Test => &mut self.test,
        }
    }

    /// Sum over the splits.
    pub fn total(&self) -> usize {
        self.train + self.valid + self.test
    }

    /// `total (train/valid/test)`, the total right-aligned in 4 columns: a table cell.
    pub fn compact(&self) -> String {
        format!("{:>4} ({}/{}/{})", self.total(), self.train, self.valid, self.test)
    }
}

impl fmt::Display for SplitCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "train {}, valid {}, test {}", self.train, self.valid, self.test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_and_round_trips() {
        for split in Split::ALL {
            assert_eq!(split.as_str().parse::<Split>().unwrap(), split);
        }
        assert_eq!("Validation".parse::<Split>().unwrap(), Split::Valid);
        assert_eq!(" val ".parse::<Split>().unwrap(), Split::Valid);
        assert!("holdout".parse::<Split>().is_err());
    }
}
