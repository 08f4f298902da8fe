//! What an evaluation stage returns: its results and what it left out.

/// What a stage measured, and what it left out with the reason: nothing a stage drops goes
/// unreported, and what it could not measure is not an error unless nothing is left.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome<T, L = String> {
    /// What was measured (rows, scores, clips), in the order asked.
    pub results: Vec<T>,
    /// What was left out, each with why.
    pub left_out: Vec<L>,
}

impl<T, L> Default for Outcome<T, L> {
    fn default() -> Self {
        Self {
            results: Vec::new(),
            left_out: Vec::new(),
        }
    }
}
