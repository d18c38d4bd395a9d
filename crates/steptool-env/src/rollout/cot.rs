//! CoT (`Algorithms/single_chain.py`, method `CoT@1`, formats.md §5.2): one chain until a
//! `Finish` with an answer, a give-up (status 4 prunes the chain), the environment truncates,
//! or the action limit is reached. No agent-call budget.

use super::{ask, AgentErrors, Chain, FinishType, RolloutConfig, RolloutRecord};
use crate::agent::Agent;
use crate::env::{Context, Environment, StatusCode, StepStatus};
use crate::error::Result;

/// Run CoT on an environment that was just reset to `context`.
pub fn run_cot<E: Environment, A: Agent + ?Sized>(
    mut env: E,
    context: &Context,
    agent: &A,
    config: &RolloutConfig,
    sample: usize,
) -> Result<RolloutRecord> {
    let mut chain = Chain::new(context);
    let mut finish = FinishType::None;
    let mut queries = 0;
    let mut errors = Vec::new();
    while chain.steps.len() < config.max_actions {
        let turn = match ask(agent, context, sample, &chain.messages) {
            Ok(turn) => turn,
            Err(e) if config.agent_errors == AgentErrors::Prune => {
                queries += 1;
                errors.push(e.to_string());
                break;
            }
            Err(e) => return Err(e),
        };
        queries += 1;
        let transition = env.step(&turn.call)?;
        chain.push(turn, &transition);
        if transition.code == StatusCode::FinalAnswer {
            finish = FinishType::GiveAnswer;
            break;
        }
        if transition.code == StatusCode::GiveUp {
            // CoT@1 has a single try: a give-up prunes it; valid_data stays false.
            break;
        }
        if transition.status != StepStatus::Continue {
            break;
        }
    }
    let n = chain.steps.len();
    let mut record = chain.into_record(context, sample, config.method(), finish, queries, n)?;
    record.agent_errors = errors;
    Ok(record)
}
