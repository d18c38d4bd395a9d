//! StepTool on the policy's own rollouts: the policy acts in a tool environment
//! ([`agent`]), its steps are annotated and shaped, PPO trains on the episodes its own tokens
//! make, and held-out tasks measure it ([`run`]).

pub mod agent;
pub mod ground_truth;
pub mod plot;
pub mod run;
pub mod server;

pub use agent::{
    compact_system_prompt, policy_rollouts, Generator, PolicyClient, PolicySampling, PromptStyle,
    Renderer, ServeStats,
};
pub use ground_truth::GroundTruthAnnotator;
pub use run::{
    episodes_from_records, evaluate_policy, AnnotatorKind, EvalMetrics, IterationMetrics,
    OnPolicySpec, Schedule,
};
pub use server::{AdapterRegistry, LogprobsMode, PublishReport, ServerConfig, ServerGenerator};
