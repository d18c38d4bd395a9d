//! [`StepSample`]: one trajectory as alternating prompt/response text segments with one reward
//! per step — the unit of the StepTool training TSV (formats.md §1.3) and the input of the
//! [`crate::Encoder`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One training sample of `n` steps: `prompts[i]` is the context before action `i` (system +
/// user turn for `i = 0`, the tool observation of step `i - 1` otherwise, each ending with the
/// opening of the assistant turn), `responses[i]` is action `i` including the model's
/// end-of-turn marker, and `rewards[i]` is step `i`'s reward (the last one is IsSolved).
///
/// Concatenating `prompts[0] + responses[0] + … + prompts[n-1] + responses[n-1]` gives the whole
/// dialogue. Rewards are `f64` so that the Python float reprs of the TSV round-trip exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSample {
    /// Context segments, one per step.
    pub prompts: Vec<String>,
    /// Action segments, one per step.
    pub responses: Vec<String>,
    /// Step rewards, one per step.
    pub rewards: Vec<f64>,
}

impl StepSample {
    /// A validated sample: at least one step, and the three lists of equal length.
    pub fn new(prompts: Vec<String>, responses: Vec<String>, rewards: Vec<f64>) -> Result<Self> {
        let sample = Self {
            prompts,
            responses,
            rewards,
        };
        sample.validate()?;
        Ok(sample)
    }

    /// Check the invariants of [`StepSample::new`] (fields are public, so readers call this).
    pub fn validate(&self) -> Result<()> {
        let n = self.prompts.len();
        if n == 0 {
            return Err(Error::InvalidTrajectory(
                "sample has no steps (empty prompt list)".into(),
            ));
        }
        if self.responses.len() != n || self.rewards.len() != n {
            return Err(Error::InvalidTrajectory(format!(
                "sample lists disagree: {n} prompts, {} responses, {} rewards (one of each per step)",
                self.responses.len(),
                self.rewards.len()
            )));
        }
        if let Some(k) = self.rewards.iter().position(|r| !r.is_finite()) {
            return Err(Error::InvalidTrajectory(format!(
                "step {k}: reward {} is not finite",
                self.rewards[k]
            )));
        }
        Ok(())
    }

    /// Number of steps.
    pub fn num_steps(&self) -> usize {
        self.prompts.len()
    }

    /// The whole dialogue as one string.
    pub fn dialogue(&self) -> String {
        let mut s = String::new();
        for (p, r) in self.prompts.iter().zip(&self.responses) {
            s.push_str(p);
            s.push_str(r);
        }
        s
    }
}
