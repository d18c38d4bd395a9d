//! # steptool-ppo — the StepTool PPO trainer
//!
//! Step-grained PPO (paper eq. 8) on a LoRA policy with a value head: offline training on
//! StepTool data, checkpoints that resume exactly, JSONL metrics. This is the crate users depend on.
//!
//! **Status:** not implemented yet. This crate holds its documentation and [`Error`] type only,
//! so that the workspace's dependency graph is in place; nothing in it pretends to work.

/// Errors of `steptool-ppo`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
