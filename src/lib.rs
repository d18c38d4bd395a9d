//! # steptool — step-grained reinforcement learning for multi-step tool use
//!
//! The facade of the steptool-rs workspace (StepTool, Yu et al., CIKM 2025). It re-exports the
//! member crates under short names and owns the `steptool` command-line tool.
//!
//! ```text
//!     mdp (data, chat formats, encoding)        llm (OpenAI-compatible client)
//!      │  \        \            \               /        \
//!      │   advantage  model (tch)  reward ──────┘          env (tools, rollouts, metrics)
//!      │        \       │          /                       /
//!      └──────────── ppo (PPO, SFT, the on-policy loop) ──┘
//! ```
//!
//! See `docs/architecture.md` for the data flow and where to start reading.
//!
//! ```
//! use steptool::mdp::{ActionSpan, Episode};
//! # fn main() -> steptool::mdp::Result<()> {
//! let episode = Episode::new(vec![1, 5, 6, 7], vec![ActionSpan::new(2, 4)], vec![1.0])?;
//! assert_eq!(episode.action_spans().len(), 1);
//! # Ok(()) }
//! ```

pub use steptool_advantage as advantage;
pub use steptool_env as env;
pub use steptool_llm as llm;
pub use steptool_mdp as mdp;
pub use steptool_model as model;
pub use steptool_ppo as ppo;
pub use steptool_reward as reward;
