//! [`GroundTruthAnnotator`]: the synthetic benchmark's ground truth as a [`RewardAnnotator`], so
//! synthetic rollouts get the paper's reward components exactly (eq. 3): SuccCalling = the call
//! resolved to an offered tool and returned no error; Contribution = 5 (the judge scale's
//! maximum) when the call is one of the plan's calls not made before, else 0; IsSolved = the
//! exact judge on the `Finish` answer.

use std::collections::HashMap;
use std::sync::Arc;

use steptool_env::synthetic::{annotate, SyntheticBenchmark, SyntheticTask};
use steptool_mdp::Trajectory;
use steptool_reward::{Provenance, RewardAnnotator, RoundScores, StepAnnotation, MAX_CONTRIBUTION};

/// Ground-truth annotation of synthetic trajectories, looked up by the trajectory's query id.
#[derive(Debug, Clone)]
pub struct GroundTruthAnnotator {
    bench: Arc<SyntheticBenchmark>,
    tasks: HashMap<String, SyntheticTask>,
}

impl GroundTruthAnnotator {
    /// An annotator for trajectories of `tasks`.
    pub fn new(bench: Arc<SyntheticBenchmark>, tasks: &[SyntheticTask]) -> Self {
        GroundTruthAnnotator {
            bench,
            tasks: tasks.iter().map(|t| (t.id.clone(), t.clone())).collect(),
        }
    }
}

impl RewardAnnotator for GroundTruthAnnotator {
    fn name(&self) -> &str {
        "ground-truth"
    }

    fn fingerprint(&self) -> String {
        format!(
            "ground-truth synthetic v1 contribution={MAX_CONTRIBUTION} {:?}",
            self.bench.generator().config()
        )
    }

    fn annotate(&self, trajectory: &Trajectory) -> steptool_reward::Result<StepAnnotation> {
        let id = trajectory.query_id().unwrap_or("<no id>");
        let invalid = |message: String| steptool_reward::Error::InvalidAnnotation {
            trajectory: id.to_owned(),
            message,
        };
        let task = self
            .tasks
            .get(id)
            .ok_or_else(|| invalid("not a task of this annotator's task set".into()))?;
        let truth = annotate(&self.bench, task, trajectory)
            .map_err(|e| invalid(format!("ground truth: {e:#}")))?;
        let round = RoundScores {
            succeed_tool_calling: truth
                .steps
                .iter()
                .map(|s| if s.succ_calling { 1.0 } else { 0.0 })
                .collect(),
            contributions: truth
                .steps
                .iter()
                .map(|s| s.contribution as f32 * MAX_CONTRIBUTION)
                .collect(),
            status: truth.is_solved,
        };
        StepAnnotation::for_trajectory(trajectory, vec![round], Provenance::of(self))
    }
}
