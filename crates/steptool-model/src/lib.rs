//! # steptool-model — LLaMA-family policy and value model on libtorch
//!
//! LLaMA-2, Llama-3.x and Qwen2 on libtorch (`tch`): HF checkpoints, LoRA with PEFT-compatible
//! files, a value head, reference log-probs with adapters disabled, KV-cache generation.
//!
//! **Status:** not implemented yet. This crate holds its documentation and [`Error`] type only,
//! so that the workspace's dependency graph is in place; nothing in it pretends to work.

/// Errors of `steptool-model`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
