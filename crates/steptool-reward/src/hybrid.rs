//! [`HybridAnnotator`]: the paper's method — rules decide what is certain, the judge scores the
//! rest.
//!
//! - An intermediate call that breaks the format rules ([`crate::rules::check_format`]: a
//!   hallucinated tool, arguments that are not a JSON object, a missing required parameter)
//!   gets SuccCalling 0 and Contribution 0 whatever the judge says.
//! - A final step without a well-formed `Finish`, a give-up, or an empty final answer is
//!   `Unsolved` ([`crate::rules::rule_final_status`]), whatever the judge says.
//! - When rules decide everything (every intermediate call malformed and the final status
//!   decided), the judge is not called at all.

use steptool_mdp::Trajectory;

use crate::annotation::{Provenance, RewardAnnotator, RoundScores, StepAnnotation};
use crate::error::Result;
use crate::judge::LlmJudgeAnnotator;
use crate::rules::{check_format, rule_final_status};

/// Rules gate the format, the judge scores the rest (see the module docs).
#[derive(Debug)]
pub struct HybridAnnotator {
    judge: LlmJudgeAnnotator,
}

impl HybridAnnotator {
    /// A hybrid of the format rules and `judge`.
    pub fn new(judge: LlmJudgeAnnotator) -> Self {
        Self { judge }
    }

    /// The judge.
    pub fn judge(&self) -> &LlmJudgeAnnotator {
        &self.judge
    }
}

impl RewardAnnotator for HybridAnnotator {
    fn name(&self) -> &str {
        "hybrid"
    }

    fn fingerprint(&self) -> String {
        format!("hybrid v1 format-rules + {}", self.judge.fingerprint())
    }

    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        let malformed: Vec<bool> = trajectory
            .intermediate_steps()
            .iter()
            .map(|s| check_format(s, trajectory.tools()).is_some())
            .collect();
        let final_rule = rule_final_status(trajectory);
        let provenance = Provenance::of(self);
        if malformed.iter().all(|&m| m) {
            if let Some(status) = final_rule {
                let n = malformed.len();
                let round = RoundScores {
                    succeed_tool_calling: vec![0.0; n],
                    contributions: vec![0.0; n],
                    status,
                };
                return StepAnnotation::for_trajectory(trajectory, vec![round], provenance);
            }
        }
        let judged = self.judge.annotate(trajectory)?;
        let rounds = judged
            .rounds()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for (k, _) in malformed.iter().enumerate().filter(|(_, &m)| m) {
                    r.succeed_tool_calling[k] = 0.0;
                    r.contributions[k] = 0.0;
                }
                if let Some(status) = final_rule {
                    r.status = status;
                }
                r
            })
            .collect();
        let provenance = Provenance {
            model: judged.provenance().model.clone(),
            prompt_hash: judged.provenance().prompt_hash.clone(),
            ..provenance
        };
        Ok(
            StepAnnotation::for_trajectory(trajectory, rounds, provenance)?
                .with_usage(*judged.usage()),
        )
    }
}
