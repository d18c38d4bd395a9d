//! # steptool-advantage — step-grained advantage estimation
//!
//! Turns step rewards, per-token log-probs and values into per-token advantages and returns
//! (paper eq. 5-7): per-step GAE by default, with token-level, final-reward and reference-compatible
//! estimators.
//!
//! **Status:** not implemented yet. This crate holds its documentation and [`Error`] type only,
//! so that the workspace's dependency graph is in place; nothing in it pretends to work.

/// Errors of `steptool-advantage`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
