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
//! reference (CoT, DFSDT) drive the two; the metrics score the results as ToolEval does.
//!
//! ```
//! use steptool_mdp::ToolCall;
//! use steptool_env::{reference_finish, StatusCode, ToolOutput};
//!
//! // The reference's Finish handling: a well-formed answer ends the episode with status 3.
//! let f = reference_finish(r#"{"return_type": "give_answer", "final_answer": "42"}"#);
//! assert_eq!(f.code, StatusCode::FinalAnswer);
//! // Tool observations are Python `json.dumps` of {"error", "response"}.
//! assert_eq!(ToolOutput::err("bad id").to_observation(), r#"{"error": "bad id", "response": ""}"#);
//! ```

mod agent;
mod conversation;
mod env;
mod error;
pub mod pyjson;
mod tool;

pub use agent::{Agent, AgentRequest, AgentTurn};
pub use conversation::{react_text, Message, Role};
pub use env::{
    is_finish_call, reference_finish, system_prompt, task_description, user_prompt, Context,
    Environment, FinishOutcome, StatusCode, StepStatus, Transition, SYSTEM_PROMPT_TEMPLATE,
    TASK_DESCRIPTION_HEAD,
};
pub use error::{Error, Result};
pub use tool::{finish_function, NameMatch, Tool, ToolOutput, ToolRegistry, FINISH_DESCRIPTION};
pub mod metrics;
pub mod openai;
pub mod rollout;
pub mod stb;
pub mod synthetic;
