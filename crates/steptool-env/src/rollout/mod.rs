//! Rollout strategies of the reference (formats.md §5): CoT and DFSDT, over any [`Agent`] and
//! [`Environment`], many tasks in parallel.
//!
//! ```text
//!   CoT:   s0 ─a1─▶ s1 ─a2─▶ s2 ─ ... ─▶ Finish | give up | step limit
//!   DFSDT: s0 ─┬─a1─▶ s1 ─┬─ ...        depth-first, width 2: a failed child makes its parent
//!              │          └─ (retry)     try a second, "diverse" child; a give-up backtracks one
//!              └─a1'(retry with a        extra level; success or the query budget stops it all
//!                 diversity prompt)
//! ```

mod cot;
mod dfsdt;
mod output;
mod runner;

pub use cot::run_cot;
pub use dfsdt::{run_dfsdt, DIVERSITY_PROMPT};
pub use output::{
    converted_entry, read_records, to_converted_answers, write_converted_answers, write_records,
};
pub use runner::{run_many, RolloutFailure, RolloutSummary};

use serde::{Deserialize, Serialize};
use steptool_mdp::{Step, ToolCall, Trajectory, FINISH_TOOL};

use crate::agent::{Agent, AgentRequest, AgentTurn};
use crate::conversation::Message;
use crate::env::{Context, Environment, StatusCode, Transition};
use crate::error::{Error, Result};

/// Which search strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One chain (`CoT@1`).
    Cot,
    /// Depth-first search with backtracking (`DFS_woFilter_w{width}`).
    Dfsdt,
}

/// Rollout settings; defaults are the reference's evaluation settings (formats.md §7.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    /// CoT or DFSDT. Default CoT.
    pub strategy: Strategy,
    /// Most actions (assistant turns, `Finish` included) per chain. Default 4: the reference's
    /// `single_chain_max_step = 12` tree depth with 3 nodes (Thought, Action, Action Input) per
    /// turn for the open models.
    pub max_actions: usize,
    /// DFSDT children per node. Default 2 (`DFS_woFilter_w2`).
    pub width: usize,
    /// DFSDT agent-call budget. Default 30 (the script's `--max_query_count`); the call that
    /// reaches the budget is discarded, as in the reference.
    pub max_query_count: usize,
    /// Samples (independent rollouts) per task. Default 1.
    pub samples: usize,
    /// Seed of the reference's random choices (which give-up node to output, the random walk
    /// through a failed tree). Default 42.
    pub seed: u64,
    /// What an agent error (e.g. a server that failed every retry) does. Default
    /// [`AgentErrors::Fail`].
    pub agent_errors: AgentErrors,
}

/// What happens when the agent returns an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentErrors {
    /// The task's rollout fails (reported by [`run_many`]).
    #[default]
    Fail,
    /// As the reference: the turn counts as a call and becomes a pruned node (CoT: the chain
    /// ends; DFSDT: the parent tries its next child); the error is kept in
    /// [`RolloutRecord::agent_errors`].
    Prune,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Cot,
            max_actions: 4,
            width: 2,
            max_query_count: 30,
            samples: 1,
            seed: 42,
            agent_errors: AgentErrors::Fail,
        }
    }
}

impl RolloutConfig {
    /// Check every field once.
    pub fn validate(&self) -> Result<()> {
        if self.max_actions == 0 {
            return Err(Error::config("max_actions", "must be at least 1"));
        }
        if self.width == 0 {
            return Err(Error::config("width", "must be at least 1"));
        }
        if self.max_query_count == 0 {
            return Err(Error::config("max_query_count", "must be at least 1"));
        }
        if self.samples == 0 {
            return Err(Error::config("samples", "must be at least 1"));
        }
        Ok(())
    }

    /// The reference's method name: `CoT@1` or `DFS_woFilter_w{width}`.
    pub fn method(&self) -> String {
        match self.strategy {
            Strategy::Cot => "CoT@1".into(),
            Strategy::Dfsdt => format!("DFS_woFilter_w{}", self.width),
        }
    }
}

/// How the rollout ended (the reference's `answer_generation.finish_type` / `valid_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishType {
    /// A `Finish` with `give_answer` was accepted.
    GiveAnswer,
    /// Only give-ups were reached (DFSDT outputs a random give-up chain).
    GiveUp,
    /// No `Finish` (step limit, query budget): `valid_data: false`.
    None,
}

/// Token information of one assistant turn, when the agent reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnTokens {
    /// Generated token ids.
    pub token_ids: Option<Vec<u32>>,
    /// Their behaviour log-probs.
    pub logprobs: Option<Vec<f32>>,
}

/// One rollout of one task: what our JSONL files hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The task id.
    pub query_id: String,
    /// Which sample of the task (0-based).
    pub sample: usize,
    /// `CoT@1` or `DFS_woFilter_w2`.
    pub method: String,
    /// How it ended.
    pub finish_type: FinishType,
    /// The raw arguments of the output chain's `Finish` (ToolEval's `final_answer`), `""` when
    /// the output chain has none.
    pub final_answer: String,
    /// Agent calls made.
    pub query_count: usize,
    /// Assistant turns expanded in the whole search (CoT: the chain length).
    pub tree_size: usize,
    /// The output chain (success chain, give-up chain, or for a failed search a random walk
    /// through the tree, as ToolEval's converter); `None` when no turn was made.
    pub trajectory: Option<Trajectory>,
    /// The status code of each step of the output chain.
    pub codes: Vec<StatusCode>,
    /// Token information per step of the output chain (empty when no agent reported any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TurnTokens>,
    /// The full message list of the output chain (the reference's `train_messages[-1]`).
    pub messages: Vec<Message>,
    /// The context the episode started from (functions, prompts, ground truth).
    pub context: Context,
    /// Agent errors turned into pruned nodes ([`AgentErrors::Prune`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_errors: Vec<String>,
    /// The output chain at token level, as the policy read and wrote it (filled by the policy
    /// agent's rollouts; `None` for agents that do not sample tokens themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<steptool_mdp::TokenTrace>,
}

impl RolloutRecord {
    /// Whether the output chain ended with an accepted `give_answer`.
    pub fn answered(&self) -> bool {
        self.finish_type == FinishType::GiveAnswer
    }

    /// Function names called along the output chain, `Finish` excluded, in order.
    pub fn called_functions(&self) -> Vec<String> {
        self.trajectory
            .iter()
            .flat_map(|t| t.steps())
            .map(|s| s.action.call().name().to_owned())
            .filter(|n| n != FINISH_TOOL)
            .collect()
    }
}

/// The state of one chain: what has been said and done so far.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub messages: Vec<Message>,
    pub steps: Vec<Step>,
    pub codes: Vec<StatusCode>,
    pub tokens: Vec<TurnTokens>,
}

impl Chain {
    pub fn new(context: &Context) -> Self {
        Self {
            messages: context.messages(),
            steps: Vec::new(),
            codes: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// Append one executed turn: the step, and the assistant and tool messages as the
    /// reference appends them (a hallucinated name is renamed
    /// `invalid_hallucination_function_name` in the messages, kept as written in the step).
    pub fn push(&mut self, turn: AgentTurn, transition: &Transition) {
        let mut shown = turn.call.clone();
        if transition.code == StatusCode::HallucinatedName {
            shown = ToolCall::new("invalid_hallucination_function_name", turn.call.arguments());
        }
        self.messages
            .push(Message::assistant(turn.thought.clone(), shown.clone()));
        self.messages
            .push(Message::tool(shown.name(), transition.observation.clone()));
        let mut step = Step::new(turn.call, Some(transition.observation.clone()));
        if step.action.is_finish() {
            step.observation = None;
        }
        step.thought = Some(turn.thought);
        self.steps.push(step);
        self.codes.push(transition.code);
        self.tokens.push(TurnTokens {
            token_ids: turn.token_ids,
            logprobs: turn.logprobs,
        });
    }

    pub fn into_record(
        self,
        context: &Context,
        sample: usize,
        method: String,
        finish_type: FinishType,
        query_count: usize,
        tree_size: usize,
    ) -> Result<RolloutRecord> {
        let final_answer = match (finish_type, self.steps.last()) {
            (FinishType::None, _) | (_, None) => String::new(),
            (_, Some(step)) => step.action.call().arguments().to_owned(),
        };
        let trajectory = if self.steps.is_empty() {
            None
        } else {
            let tools = context
                .functions
                .iter()
                .map(|f| steptool_mdp::ToolSchema::from_openai(f.clone()))
                .collect::<steptool_mdp::Result<Vec<_>>>()?;
            Some(Trajectory::new(
                Some(context.query_id.clone()),
                &context.query,
                tools,
                self.steps,
            )?)
        };
        let tokens = if self
            .tokens
            .iter()
            .any(|t| t.token_ids.is_some() || t.logprobs.is_some())
        {
            self.tokens
        } else {
            Vec::new()
        };
        Ok(RolloutRecord {
            query_id: context.query_id.clone(),
            sample,
            method,
            finish_type,
            final_answer,
            query_count,
            tree_size,
            trajectory,
            codes: self.codes,
            tokens,
            messages: self.messages,
            context: context.clone(),
            agent_errors: Vec::new(),
            trace: None,
        })
    }
}

/// Ask the agent for the next turn of a chain.
pub(crate) fn ask<A: Agent + ?Sized>(
    agent: &A,
    context: &Context,
    sample: usize,
    messages: &[Message],
) -> Result<AgentTurn> {
    agent.act(&AgentRequest {
        task_id: &context.query_id,
        sample,
        messages,
        functions: &context.functions,
    })
}

/// Roll one task out with the configured strategy on a fresh copy of `env`.
pub fn rollout<E: Environment, A: Agent + ?Sized>(
    env: &E,
    task: &E::Task,
    agent: &A,
    config: &RolloutConfig,
    sample: usize,
) -> Result<RolloutRecord> {
    config.validate()?;
    let mut env = env.clone();
    let context = env.reset(task)?;
    match config.strategy {
        Strategy::Cot => run_cot(env, &context, agent, config, sample),
        Strategy::Dfsdt => run_dfsdt(env, &context, agent, config, sample),
    }
}
