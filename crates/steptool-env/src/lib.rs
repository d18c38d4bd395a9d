//! # steptool-env — tool environments, rollouts and metrics
//!
//! Tool environments compatible with StableToolBench, a synthetic benchmark with ground truth,
//! CoT and DFSDT rollouts over any agent, and the paper's metrics (pass rate, recall, pass@k, win
//! rate).
//!
//! **Status:** not implemented yet. This crate holds its documentation and [`Error`] type only,
//! so that the workspace's dependency graph is in place; nothing in it pretends to work.

/// Errors of `steptool-env`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
