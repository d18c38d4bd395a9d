//! [`TokenTrace`]: what the policy actually read and wrote during a rollout, at token level.
//!
//! On-policy training never re-tokenises generated text (DESIGN.md, "tokens in, tokens out"):
//! the rollout records the whole conversation's ids as the policy saw them, the exact span of
//! generated tokens of every assistant turn, and the log-prob the behaviour policy gave each of
//! them. With the step rewards it becomes an [`Episode`] ([`TokenTrace::to_episode`]).

use serde::{Deserialize, Serialize};

use crate::episode::{validate_spans, ActionSpan, Episode};
use crate::error::{Error, Result};

/// The token-level record of one rollout's output chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenTrace {
    /// The whole conversation, prompts, generated turns and observations, as the policy read it.
    pub input_ids: Vec<u32>,
    /// One span per assistant turn of the chain: exactly the tokens the policy generated.
    pub action_spans: Vec<ActionSpan>,
    /// Behaviour log-prob of each generated token, per span.
    pub logprobs: Vec<Vec<f32>>,
    /// Why each turn's generation stopped (`stop_token`, `stop_string`, `length`).
    pub finish_reasons: Vec<String>,
}

impl TokenTrace {
    /// Checks the invariants: valid spans, one log-prob per generated token, one finish reason
    /// per turn, finite log-probs.
    pub fn validate(&self) -> Result<()> {
        validate_spans(self.input_ids.len(), &self.action_spans)?;
        let bad = |m: String| Error::InvalidEpisode(format!("token trace: {m}"));
        if self.logprobs.len() != self.action_spans.len()
            || self.finish_reasons.len() != self.action_spans.len()
        {
            return Err(bad(format!(
                "{} spans but {} log-prob lists and {} finish reasons",
                self.action_spans.len(),
                self.logprobs.len(),
                self.finish_reasons.len()
            )));
        }
        for (k, (s, lp)) in self.action_spans.iter().zip(&self.logprobs).enumerate() {
            if lp.len() != s.len() {
                return Err(bad(format!(
                    "turn {k}: {} generated tokens but {} log-probs",
                    s.len(),
                    lp.len()
                )));
            }
            if let Some(x) = lp.iter().find(|x| !x.is_finite()) {
                return Err(bad(format!("turn {k}: non-finite log-prob {x}")));
            }
        }
        Ok(())
    }

    /// The training episode: these ids and spans, one reward per turn, and the behaviour
    /// log-probs in the `L - 1` layout (entry `t` scores token `t + 1`; 0 outside the spans,
    /// where nothing is trained).
    pub fn to_episode(&self, rewards: Vec<f32>) -> Result<Episode> {
        self.validate()?;
        let n = self.input_ids.len();
        let mut lp = vec![0f32; n.saturating_sub(1)];
        for (s, l) in self.action_spans.iter().zip(&self.logprobs) {
            lp[s.scoring_positions()].copy_from_slice(l);
        }
        Episode::new(self.input_ids.clone(), self.action_spans.clone(), rewards)?
            .with_behaviour_logprobs(lp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_carries_the_generated_logprobs_at_their_scoring_positions() -> Result<()> {
        let t = TokenTrace {
            input_ids: (0..8).collect(),
            action_spans: vec![ActionSpan::new(2, 4), ActionSpan::new(6, 8)],
            logprobs: vec![vec![-0.5, -0.25], vec![-1.0, -2.0]],
            finish_reasons: vec!["stop_token".into(), "length".into()],
        };
        let e = t.to_episode(vec![0.5, 1.0])?;
        // span [2,4) is scored at positions 1 and 2; span [6,8) at 5 and 6.
        assert_eq!(
            e.behaviour_logprobs(),
            Some(&[0.0, -0.5, -0.25, 0.0, 0.0, -1.0, -2.0][..])
        );
        let broken = TokenTrace {
            logprobs: vec![vec![-0.5], vec![-1.0, -2.0]],
            ..t
        };
        assert!(broken.validate().is_err());
        Ok(())
    }
}
