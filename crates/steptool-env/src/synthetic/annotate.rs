//! Ground truth for the synthetic benchmark: exact judging and per-step annotation.
//!
//! The annotation is plain data (the paper's reward components, eq. 3): steptool-reward adapts
//! it into its annotator interface, so this crate does not depend on the reward crate.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_mdp::{Action, Trajectory};

use super::env::SyntheticBenchmark;
use super::tasks::SyntheticTask;
use crate::error::Result;
use crate::metrics::AnswerStatus;
use crate::tool::NameMatch;

/// Exact judging of a final answer: Solved iff the answer contains the reference value as a
/// whole token (not inside a longer run of letters/digits; thousands separators `,` between
/// digits are ignored). Never Unsure.
pub fn exact_judge(reference: &str, final_answer: &str) -> AnswerStatus {
    let normalise = |s: &str| -> Vec<char> {
        let chars: Vec<char> = s.chars().collect();
        (0..chars.len())
            .filter(|&i| {
                !(chars[i] == ','
                    && i > 0
                    && i + 1 < chars.len()
                    && chars[i - 1].is_ascii_digit()
                    && chars[i + 1].is_ascii_digit())
            })
            .map(|i| chars[i])
            .collect()
    };
    let hay = normalise(final_answer);
    let needle = normalise(reference.trim());
    if needle.is_empty() || hay.len() < needle.len() {
        return AnswerStatus::Unsolved;
    }
    let word = |c: char| c.is_alphanumeric();
    for start in 0..=hay.len() - needle.len() {
        if hay[start..start + needle.len()] == needle[..] {
            let before_ok = start == 0 || !word(hay[start - 1]) || !word(needle[0]);
            let end = start + needle.len();
            let after_ok = end == hay.len() || !word(hay[end]) || !word(needle[needle.len() - 1]);
            if before_ok && after_ok {
                return AnswerStatus::Solved;
            }
        }
    }
    AnswerStatus::Unsolved
}

/// Ground truth of one intermediate step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTruth {
    /// SuccCalling: the call resolved to an offered tool and returned an empty `error`.
    pub succ_calling: bool,
    /// Contribution in [0, 1]: 1 if the call is one of the plan's calls (same function, equal
    /// parsed arguments) not already made earlier in the trajectory, else 0.
    pub contribution: f64,
}

/// Ground truth of a trajectory: one [`StepTruth`] per intermediate step and the final status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthAnnotation {
    /// Per intermediate step (all steps but the last).
    pub steps: Vec<StepTruth>,
    /// IsSolved: the exact judge on the `Finish` answer; Unsolved without a `give_answer` Finish.
    pub is_solved: AnswerStatus,
}

/// Annotate a trajectory of `task` with ground truth (tools are re-executed: they are pure).
pub fn annotate(
    bench: &SyntheticBenchmark,
    task: &SyntheticTask,
    trajectory: &Trajectory,
) -> Result<GroundTruthAnnotation> {
    let registry = bench.registry_for(task)?;
    let mut used = vec![false; task.plan.len()];
    let steps = trajectory
        .intermediate_steps()
        .iter()
        .map(|step| {
            let call = step.action.call();
            let succ_calling = match &step.action {
                Action::Finish(_) => false,
                Action::Call(c) if c.is_finish() => false,
                Action::Call(c) => registry
                    .resolve(c.name(), NameMatch::Suffix)
                    .is_some_and(|t| t.call(c.arguments()).is_ok()),
            };
            let args: Option<&Value> = call.parsed_arguments();
            let hit = task.plan.iter().enumerate().position(|(k, p)| {
                !used[k]
                    && p.name == call.name()
                    && args.is_some()
                    && serde_json::from_str::<Value>(&p.arguments).ok().as_ref() == args
            });
            if let Some(k) = hit {
                used[k] = true;
            }
            StepTruth {
                succ_calling,
                contribution: if hit.is_some() { 1.0 } else { 0.0 },
            }
        })
        .collect();
    let is_solved = match trajectory.final_answer() {
        Some(answer) => exact_judge(&task.answer, answer),
        None => AnswerStatus::Unsolved,
    };
    Ok(GroundTruthAnnotation { steps, is_solved })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_judge_tokens() {
        assert_eq!(
            exact_judge("4183", "The population is 4,183."),
            AnswerStatus::Solved
        );
        assert_eq!(exact_judge("4183", "It is 41830."), AnswerStatus::Unsolved);
        assert_eq!(exact_judge("KTRA", "ticker: KTRA"), AnswerStatus::Solved);
        assert_eq!(exact_judge("KTRA", "ticker: KTRAX"), AnswerStatus::Unsolved);
        assert_eq!(
            exact_judge("-12", "temperature -12 C"),
            AnswerStatus::Solved
        );
        assert_eq!(exact_judge("", "anything"), AnswerStatus::Unsolved);
    }
}
