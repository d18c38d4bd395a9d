//! # steptool-env — tool environments, rollouts and metrics
//!
//! ```text
//!            ┌──────────── Agent (scripted expert / noisy / random, OpenAI-compatible server, policy)
//!            │ act(conversation) -> Thought / Action / Action Input (+ token ids, log-probs)
//!            ▼
//!   rollout (CoT | DFSDT) ── step(call) ──▶ Environment (synthetic benchmark | StableToolBench
//!            │                  ◀── observation, status code, Continue/Terminated/Truncated)
//!            ▼
//!   RolloutRecord (JSONL: Trajectory + ground truth) ──▶ metrics (pass rate, recall, pass@k, win rate)
//!                                                    └─▶ ToolEval converted answers
//! ```
//!
//! The agent side of the StepTool MDP (paper §3): an [`Environment`] starts an episode from a
//! task and answers tool calls with observations and the reference's status codes; an
//! [`Agent`] turns a conversation into one assistant turn; the rollout strategies of the
//! reference ([`rollout`]: CoT, DFSDT) drive the two; the [`metrics`] score the results as
//! ToolEval does.
//!
//! | module | what |
//! |---|---|
//! | [`synthetic`] | offline benchmark with ground truth: seeded world, tasks of 1-4 chained calls among distractors, splits with held-out tool combinations, expert / noisy / random agents, ground-truth annotation |
//! | [`stb`] | StableToolBench: `tools/` + `tool_response_cache/` (Python-repr keys), forwarding misses to a server's `POST /virtual` |
//! | [`rollout`] | CoT and DFSDT (width, backtracking, give-ups, query budget), rayon + progress bar, JSONL and ToolEval converted answers |
//! | [`metrics`] | pass rate (Solved/Unsure/Unsolved, K rounds), recall of relevant tools, unbiased pass@k, win rate |
//! | [`openai`] | an agent over an OpenAI-compatible completions server (vLLM, SGLang) rendering the reference prompts |
//!
//! Why traits with `Clone` environments and `&self` agents: DFSDT snapshots the environment at
//! every node (the reference deep-copies it), and rollouts of many tasks share one agent
//! across rayon threads; scripted agents draw their randomness from a hash of the request, so a
//! run is reproducible under any schedule.
//!
//! ```
//! use std::sync::Arc;
//! use steptool_env::metrics::{evaluate, EvalOptions, ExactJudge};
//! use steptool_env::rollout::{run_many, RolloutConfig, Strategy};
//! use steptool_env::synthetic::{NoisyExpertAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig};
//!
//! # fn main() -> steptool_env::Result<()> {
//! let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
//! let tasks = bench.tasks(Split::Test, 20, 0)?;
//! let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
//! let agent = NoisyExpertAgent::new(&tasks, 0.2, 1)?;
//! let config = RolloutConfig { strategy: Strategy::Dfsdt, max_actions: 5, ..RolloutConfig::default() };
//! let records = run_many(&env, &tasks, &agent, &config, false)?.records;
//! let report = evaluate(&records, &ExactJudge, &EvalOptions::default())?;
//! assert!(report.pass_rate.mean > 0.0 && report.recall > 0.0);
//! println!("{}", report.to_markdown());
//!
//! // The reference's Finish handling: a well-formed answer ends the episode with status 3.
//! let f = steptool_env::reference_finish(r#"{"return_type": "give_answer", "final_answer": "42"}"#);
//! assert_eq!(f.code, steptool_env::StatusCode::FinalAnswer);
//! # Ok(()) }
//! ```

mod agent;
mod conversation;
mod env;
mod error;
pub mod pyjson;
mod tool;

pub use agent::{Agent, AgentRequest, AgentTurn};
pub use conversation::{chat_message, chat_messages, react_text, Message, Role};
pub use env::{
    is_finish_call, no_such_function, reference_finish, system_prompt, task_description,
    user_prompt, Context, Environment, FinishOutcome, StatusCode, StepStatus, Transition,
    SYSTEM_PROMPT_TEMPLATE, TASK_DESCRIPTION_HEAD,
};
pub use error::{Error, Result};
pub use tool::{finish_function, NameMatch, Tool, ToolOutput, ToolRegistry, FINISH_DESCRIPTION};
pub mod metrics;
pub mod openai;
pub mod rollout;
pub mod stb;
pub mod synthetic;
