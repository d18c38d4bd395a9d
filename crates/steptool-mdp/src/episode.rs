//! Token-level episodes: what the trainer and the advantage estimators consume.
//!
//! An [`Episode`] is one trajectory as a single token sequence (`input_ids`, length `L`) with one
//! [`ActionSpan`] per step (a half-open token range `[start, end)` holding that step's action) and
//! one reward per step. Everything between spans (prompt, tool responses) is context.
//!
//! Per-token arrays (log-probs, values) follow the layout of the TRL baseline: length `L - 1`,
//! entry `t` belonging to the prediction of token `t + 1`. The positions that score action `k`
//! are therefore `[start_k - 1, end_k - 1)`, which is why a span may not start at token 0.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A half-open token range `[start, end)` holding one step's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "[usize; 2]", into = "[usize; 2]")]
pub struct ActionSpan {
    /// First token of the action.
    pub start: usize,
    /// One past the last token of the action.
    pub end: usize,
}

impl ActionSpan {
    /// The span `[start, end)`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token range.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The per-token positions (layout `L - 1`) that score this action: `[start - 1, end - 1)`.
    pub fn scoring_positions(&self) -> Range<usize> {
        self.start.saturating_sub(1)..self.end.saturating_sub(1)
    }
}

impl From<[usize; 2]> for ActionSpan {
    fn from([start, end]: [usize; 2]) -> Self {
        Self { start, end }
    }
}

impl From<ActionSpan> for [usize; 2] {
    fn from(s: ActionSpan) -> Self {
        [s.start, s.end]
    }
}

/// One trajectory at token level.
///
/// Invariants, checked by [`Episode::new`] and on deserialisation:
/// - spans are non-empty, in step order, disjoint, inside the sequence, and none starts at
///   token 0 (the first token is never predicted);
/// - exactly one reward per span, all finite;
/// - behaviour log-probs, when present, have length `L - 1` and are finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EpisodeRepr", into = "EpisodeRepr")]
pub struct Episode {
    input_ids: Vec<u32>,
    action_spans: Vec<ActionSpan>,
    step_rewards: Vec<f32>,
    behaviour_logprobs: Option<Vec<f32>>,
    truncated_leading_steps: usize,
}

#[derive(Serialize, Deserialize)]
struct EpisodeRepr {
    input_ids: Vec<u32>,
    action_spans: Vec<ActionSpan>,
    step_rewards: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    behaviour_logprobs: Option<Vec<f32>>,
    #[serde(default)]
    truncated_leading_steps: usize,
}

impl TryFrom<EpisodeRepr> for Episode {
    type Error = Error;
    fn try_from(r: EpisodeRepr) -> Result<Self> {
        Episode::new(r.input_ids, r.action_spans, r.step_rewards)?
            .with_truncated_leading_steps(r.truncated_leading_steps)
            .with_behaviour_logprobs_opt(r.behaviour_logprobs)
    }
}

impl From<Episode> for EpisodeRepr {
    fn from(e: Episode) -> Self {
        EpisodeRepr {
            input_ids: e.input_ids,
            action_spans: e.action_spans,
            step_rewards: e.step_rewards,
            behaviour_logprobs: e.behaviour_logprobs,
            truncated_leading_steps: e.truncated_leading_steps,
        }
    }
}

impl Episode {
    /// A validated episode (see the type's invariants).
    pub fn new(
        input_ids: Vec<u32>,
        action_spans: Vec<ActionSpan>,
        step_rewards: Vec<f32>,
    ) -> Result<Self> {
        validate_spans(input_ids.len(), &action_spans)?;
        validate_rewards(&step_rewards, action_spans.len())?;
        Ok(Self {
            input_ids,
            action_spans,
            step_rewards,
            behaviour_logprobs: None,
            truncated_leading_steps: 0,
        })
    }

    /// Attach the log-probs the behaviour policy gave each token (layout `L - 1`).
    pub fn with_behaviour_logprobs(self, logprobs: Vec<f32>) -> Result<Self> {
        self.with_behaviour_logprobs_opt(Some(logprobs))
    }

    fn with_behaviour_logprobs_opt(mut self, logprobs: Option<Vec<f32>>) -> Result<Self> {
        if let Some(lp) = &logprobs {
            let expected = self.input_ids.len().saturating_sub(1);
            if lp.len() != expected {
                return Err(Error::InvalidEpisode(format!(
                    "behaviour_logprobs has {} entries, expected L-1 = {expected}",
                    lp.len()
                )));
            }
            if let Some(t) = lp.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidEpisode(format!(
                    "behaviour_logprobs[{t}] = {} is not finite",
                    lp[t]
                )));
            }
        }
        self.behaviour_logprobs = logprobs;
        Ok(self)
    }

    /// Record that the first `n` steps of the trajectory were cut away by truncation (their
    /// spans and rewards are not in this episode). Estimators that weight by the original step
    /// index (the reference's `(n-1-k)`) need it.
    pub fn with_truncated_leading_steps(mut self, n: usize) -> Self {
        self.truncated_leading_steps = n;
        self
    }

    /// The token ids, length `L`.
    pub fn input_ids(&self) -> &[u32] {
        &self.input_ids
    }

    /// Number of tokens `L`.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// One span per step present, in step order.
    pub fn action_spans(&self) -> &[ActionSpan] {
        &self.action_spans
    }

    /// One reward per span; the last one is the final (IsSolved) reward when the trajectory
    /// ends with `Finish`.
    pub fn step_rewards(&self) -> &[f32] {
        &self.step_rewards
    }

    /// Replace the step rewards (same count as the spans; finite).
    pub fn set_step_rewards(&mut self, rewards: Vec<f32>) -> Result<()> {
        validate_rewards(&rewards, self.action_spans.len())?;
        self.step_rewards = rewards;
        Ok(())
    }

    /// Behaviour log-probs (layout `L - 1`), when the episode was generated on-policy.
    pub fn behaviour_logprobs(&self) -> Option<&[f32]> {
        self.behaviour_logprobs.as_deref()
    }

    /// Number of leading steps lost to truncation.
    pub fn truncated_leading_steps(&self) -> usize {
        self.truncated_leading_steps
    }

    /// The per-token action mask in the `L - 1` layout: entry `t` is true iff token `t + 1`
    /// belongs to an action.
    pub fn action_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.input_ids.len().saturating_sub(1)];
        for span in &self.action_spans {
            for m in &mut mask[span.scoring_positions()] {
                *m = true;
            }
        }
        mask
    }
}

fn validate_rewards(rewards: &[f32], n_spans: usize) -> Result<()> {
    if rewards.len() != n_spans {
        return Err(Error::InvalidEpisode(format!(
            "{} step rewards for {n_spans} action spans (one reward per step)",
            rewards.len()
        )));
    }
    if let Some(k) = rewards.iter().position(|r| !r.is_finite()) {
        return Err(Error::InvalidEpisode(format!(
            "step {k}: reward {} is not finite",
            rewards[k]
        )));
    }
    Ok(())
}

/// Check that `spans` are non-empty, ordered, disjoint, inside a sequence of `len` tokens and do
/// not start at token 0. Shared with readers of other token-level formats.
pub fn validate_spans(len: usize, spans: &[ActionSpan]) -> Result<()> {
    let mut previous_end = 1; // token 0 is never predicted, so no action may start there
    for (k, span) in spans.iter().enumerate() {
        if span.is_empty() {
            return Err(Error::InvalidEpisode(format!(
                "step {k}: empty action span [{}, {})",
                span.start, span.end
            )));
        }
        if span.end > len {
            return Err(Error::InvalidEpisode(format!(
                "step {k}: action span [{}, {}) ends past the sequence of {len} tokens",
                span.start, span.end
            )));
        }
        if span.start < previous_end {
            let what = if k == 0 {
                "starts at token 0, which is never predicted".to_owned()
            } else {
                format!(
                    "overlaps or precedes step {} (which ends at {previous_end})",
                    k - 1
                )
            };
            return Err(Error::InvalidEpisode(format!(
                "step {k}: action span [{}, {}) {what}",
                span.start, span.end
            )));
        }
        previous_end = span.end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(v: &[[usize; 2]]) -> Vec<ActionSpan> {
        v.iter().map(|&s| ActionSpan::from(s)).collect()
    }

    #[test]
    fn validates_spans_and_rewards() {
        assert!(Episode::new(vec![0; 10], spans(&[[2, 4], [6, 10]]), vec![0.5, 1.0]).is_ok());
        let bad = [
            (spans(&[[0, 4]]), vec![1.0], "token 0"),
            (spans(&[[2, 4], [3, 6]]), vec![1.0, 1.0], "overlaps"),
            (
                spans(&[[6, 8], [2, 4]]),
                vec![1.0, 1.0],
                "overlaps or precedes",
            ),
            (spans(&[[2, 11]]), vec![1.0], "past the sequence"),
            (spans(&[[2, 2]]), vec![1.0], "empty"),
            (spans(&[[2, 4]]), vec![1.0, 2.0], "one reward per step"),
            (spans(&[[2, 4]]), vec![f32::NAN], "not finite"),
        ];
        for (s, r, needle) in bad {
            match Episode::new(vec![0; 10], s, r) {
                Err(Error::InvalidEpisode(m)) => {
                    assert!(m.contains(needle), "{m} should mention {needle}")
                }
                other => panic!("expected InvalidEpisode({needle}), got {other:?}"),
            }
        }
    }

    #[test]
    fn mask_layout_is_shifted_by_one() -> Result<()> {
        // Tokens 2,3 and 6..9 are actions; entry t scores token t+1, so t = 1,2 and 5..8.
        let e = Episode::new(vec![0; 10], spans(&[[2, 4], [6, 10]]), vec![0.0, 1.0])?;
        let m: Vec<u8> = e.action_mask().into_iter().map(u8::from).collect();
        assert_eq!(m, vec![0, 1, 1, 0, 0, 1, 1, 1, 1]);
        Ok(())
    }

    #[test]
    fn serde_validates() {
        let ok = r#"{"input_ids":[1,2,3,4],"action_spans":[[1,3]],"step_rewards":[0.5]}"#;
        assert!(serde_json::from_str::<Episode>(ok).is_ok());
        let bad = r#"{"input_ids":[1,2,3,4],"action_spans":[[1,5]],"step_rewards":[0.5]}"#;
        let err = serde_json::from_str::<Episode>(bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("past the sequence"), "{err}");
        let bad_lp = r#"{"input_ids":[1,2,3,4],"action_spans":[[1,3]],"step_rewards":[0.5],"behaviour_logprobs":[0.0]}"#;
        assert!(serde_json::from_str::<Episode>(bad_lp).is_err());
    }
}
