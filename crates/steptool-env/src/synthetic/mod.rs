//! A synthetic tool benchmark with ground truth, for tests, demos and learning experiments.
//!
//! ```text
//!   World (seeded)                    Task "What is the population of the headquarters city
//!   companies ─headquarters─▶ cities            of the company "Kaloqui"?"
//!       │ ceo        │ country             plan: search_companies_for_bizregistry {"name": "Kaloqui"}
//!       ▼            ▼                           company_headquarters_for_bizregistry {"company_id": "CO1A2B3"}
//!   people ◀─mayor─ countries                    city_population_for_geodb {"city_id": "CI0F00D"}
//!                                        answer: "4183204"   relevant: the three names above
//! ```
//!
//! Seven RapidAPI-style tools in six categories expose 27 APIs: a search per entity kind
//! (returns up to 5 candidates with id, name and one summary field), numeric attributes and
//! relations. A task names a start entity, follows 0-2 relations and asks for an attribute
//! (2-4 calls) or for the search summary field (1 call). Distractor tools (half of them
//! look-alikes of the same entity kinds) are offered with the needed ones.
//!
//! **Why a small model does not solve it trivially.** Answers are random integers or codes
//! drawn from the world seed, so they cannot be guessed or known from pre-training; ids are
//! random hex codes that must be copied exactly from the previous observation; searches return
//! near-duplicate names (`"Kaloqui"`, `"Kaloqui Group"`, `"Kaloqui Labs"`) so the right id must
//! be picked by exact name; the relation chain is spelled out in nested English ("the country
//! of the headquarters city of ...") and must be mapped to the right API among look-alikes; and
//! under the reference's 4-action limit a 3-call task leaves no room for a single wasted call
//! (4-call tasks need a 5-action budget). A uniformly random policy scores ~0 (tested).
//!
//! Train/test splits are seeded: test tasks start from different entities (odd indices) and
//! include held-out tool combinations (templates) never seen in training.

mod annotate;
mod env;
mod policy;
mod tasks;
mod world;

pub use annotate::{annotate, exact_judge, GroundTruthAnnotation, StepTruth};
pub use env::{SyntheticBenchmark, SyntheticEnv, SyntheticEnvConfig};
pub use policy::{ExpertAgent, NoiseKind, NoisyExpertAgent, RandomAgent};
pub use tasks::{
    parse_task_id, task_id, EntitySplit, PlannedCall, Split, SyntheticConfig, SyntheticTask,
    Target, TaskGenerator, Template,
};
pub use world::{
    Api, AttrSpec, Entity, Kind, KindSpec, RelSpec, World, WorldTool, KINDS, TOOL_GROUPS,
};

/// Expert demonstrations (SFT data): one CoT rollout of the [`ExpertAgent`] per task, with
/// an action limit of `max_calls + 1`, as [`steptool_mdp::Trajectory`]s that end with the
/// ground-truth `Finish`.
pub fn expert_demonstrations(
    bench: &std::sync::Arc<SyntheticBenchmark>,
    tasks: &[SyntheticTask],
) -> crate::Result<Vec<steptool_mdp::Trajectory>> {
    let env = SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default());
    let agent = ExpertAgent::new(tasks);
    let config = crate::rollout::RolloutConfig {
        max_actions: bench.generator().config().max_calls + 1,
        ..crate::rollout::RolloutConfig::default()
    };
    let summary = crate::rollout::run_many(&env, tasks, &agent, &config, false)?;
    if let Some(f) = summary.failures.into_iter().next() {
        return Err(f.error);
    }
    summary
        .records
        .into_iter()
        .map(|r| {
            r.trajectory.ok_or_else(|| {
                crate::Error::data(format!("task {}", r.query_id), "the expert made no turn")
            })
        })
        .collect()
}
