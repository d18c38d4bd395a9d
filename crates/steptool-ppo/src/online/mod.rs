//! StepTool on the policy's own rollouts: the policy acts in a tool environment
//! ([`agent`]), its steps are annotated and shaped, PPO trains on the episodes its own tokens
//! make, and held-out tasks measure it ([`run`]).

pub mod agent;
pub mod ground_truth;
pub mod plot;
pub mod run;

pub use agent::{policy_rollouts, PolicyClient, PolicySampling, Renderer, ServeStats};
pub use ground_truth::GroundTruthAnnotator;
pub use run::{
    episodes_from_records, evaluate_policy, AnnotatorKind, EvalMetrics, IterationMetrics,
    OnPolicySpec, Schedule,
};
