//! # steptool-reward — step-grained reward annotation and shaping
//!
//! Turns trajectories into step rewards (paper eq. 3): for each intermediate tool call
//! `r = alpha * SuccCalling + Contribution`, for the final answer `IsSolved`. Annotators: rules,
//! an LLM judge over any OpenAI-compatible endpoint, a hybrid of both, or a user's own
//! `RewardAnnotator`.
//!
//! **Status:** not implemented yet. This crate holds its documentation and [`Error`] type only,
//! so that the workspace's dependency graph is in place; nothing in it pretends to work.

/// Errors of `steptool-reward`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
