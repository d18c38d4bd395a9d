//! One episode's numbers, as the estimators read them.
//!
//! Layout (the TRL baseline's, `fixtures/trl-baseline/trl_first_sample.json`): the episode has
//! `L` tokens; every per-token array has `L - 1` entries and entry `t` belongs to the prediction
//! of token `t + 1`. Step `k`'s action occupies tokens `[s_k, e_k)`, so the positions that score
//! it are `P_k = [s_k - 1, e_k - 1)`, and the value of the state before the action, `V(s_k)`, is
//! the value at position `s_k - 1`, the first position of `P_k`.

use serde::{Deserialize, Serialize};
use steptool_mdp::{validate_spans, ActionSpan, Episode};

use crate::error::{Error, Result};

/// The numbers of one episode: its action spans and step rewards, and per-token log-probs of
/// the policy and the reference, and values (each of length `L - 1`).
///
/// Plain data; [`crate::AdvantageEstimator::compute`] validates every episode of a batch before
/// computing anything, and names the episode and the field of the first problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeInput {
    /// Number of tokens `L` of the sequence.
    pub num_tokens: usize,
    /// One half-open token range `[s_k, e_k)` per step, in order, disjoint, inside `[1, L]`.
    pub action_spans: Vec<ActionSpan>,
    /// One reward per step; the last one is the final (IsSolved) reward.
    pub step_rewards: Vec<f32>,
    /// Policy log-probs, length `L - 1` (entry `t` scores token `t + 1`).
    pub logprobs: Vec<f32>,
    /// Reference-policy log-probs, length `L - 1`.
    pub ref_logprobs: Vec<f32>,
    /// Value estimates, length `L - 1` (entry `t` is the value of the state after token `t`).
    pub values: Vec<f32>,
    /// `None` (default): the episode terminated, the value after its last step is 0.
    /// `Some(v)`: it was truncated, and `v` is the value to bootstrap from after its last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_value: Option<f32>,
}

impl EpisodeInput {
    /// The numbers of a token-level [`Episode`] (its spans and step rewards) with the model's
    /// per-token outputs. The episode terminated; set [`EpisodeInput::bootstrap_value`] for a
    /// truncated one.
    pub fn from_episode(
        episode: &Episode,
        logprobs: Vec<f32>,
        ref_logprobs: Vec<f32>,
        values: Vec<f32>,
    ) -> Self {
        Self {
            num_tokens: episode.len(),
            action_spans: episode.action_spans().to_vec(),
            step_rewards: episode.step_rewards().to_vec(),
            logprobs,
            ref_logprobs,
            values,
            bootstrap_value: None,
        }
    }

    /// Number of steps `n`.
    pub fn num_steps(&self) -> usize {
        self.action_spans.len()
    }

    /// The action mask in the `L - 1` layout: true on every position of every `P_k` (positions
    /// of an invalid span that fall outside the sequence are left out, never a panic).
    pub fn action_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.num_tokens.saturating_sub(1)];
        for span in &self.action_spans {
            for t in span.scoring_positions() {
                if let Some(m) = mask.get_mut(t) {
                    *m = true;
                }
            }
        }
        mask
    }

    /// Check that the arrays agree with each other and hold finite numbers. `episode` is the
    /// index used in the error.
    pub fn validate(&self, episode: usize) -> Result<()> {
        let err = |field: &'static str, message: String| Error::Input {
            episode,
            field,
            message,
        };
        if self.num_tokens < 2 {
            return Err(err(
                "num_tokens",
                format!(
                    "{} tokens: an episode needs at least 2 (a prompt token and an action token)",
                    self.num_tokens
                ),
            ));
        }
        if self.action_spans.is_empty() {
            return Err(err(
                "action_spans",
                "no action spans: an episode needs at least one step".into(),
            ));
        }
        validate_spans(self.num_tokens, &self.action_spans)
            .map_err(|source| Error::Spans { episode, source })?;
        let n = self.action_spans.len();
        if self.step_rewards.len() != n {
            return Err(err(
                "step_rewards",
                format!(
                    "{} rewards for {n} action spans (one reward per step)",
                    self.step_rewards.len()
                ),
            ));
        }
        check_finite(episode, "step_rewards", "step", &self.step_rewards)?;
        let expected = self.num_tokens - 1;
        for (field, values) in [
            ("logprobs", &self.logprobs),
            ("ref_logprobs", &self.ref_logprobs),
            ("values", &self.values),
        ] {
            if values.len() != expected {
                return Err(err(
                    field,
                    format!(
                        "{} entries, expected num_tokens - 1 = {expected}",
                        values.len()
                    ),
                ));
            }
            check_finite(episode, field, "position", values)?;
        }
        if let Some(v) = self.bootstrap_value {
            if !v.is_finite() {
                return Err(err("bootstrap_value", format!("{v} is not finite")));
            }
        }
        Ok(())
    }
}

fn check_finite(episode: usize, field: &'static str, what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Input {
            episode,
            field,
            message: format!("{what} {i}: {} is not finite", values[i]),
        }),
        None => Ok(()),
    }
}
