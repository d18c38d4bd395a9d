//! The crate's error type.

use std::path::PathBuf;

/// Errors of `steptool-ppo`. Each names the file, field, step or episode concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config value is invalid.
    #[error("config field `{field}`: {message}")]
    Config {
        /// The field (`ppo_kwargs.batch_size`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The training data are unusable.
    #[error("input: {0}")]
    Input(String),
    /// The model failed.
    #[error("model: {source}")]
    Model {
        /// The cause.
        #[from]
        source: steptool_model::Error,
    },
    /// Advantage computation failed.
    #[error("advantages: {source}")]
    Advantage {
        /// The cause.
        #[from]
        source: steptool_advantage::Error,
    },
    /// Data loading or encoding failed.
    #[error("data: {source}")]
    Data {
        /// The cause.
        #[from]
        source: steptool_mdp::Error,
    },
    /// A libtorch operation failed.
    #[error("torch: {source}")]
    Torch {
        /// The cause.
        #[from]
        source: tch::TchError,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is malformed.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A checkpoint is incomplete or does not match this trainer.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Too many PPO steps in a row had a NaN/inf loss or gradient.
    #[error("stopping at PPO step {step}: {count} steps in a row had a non-finite loss or gradient (last: {detail}); lower the learning rate or set max_grad_norm")]
    NonFinite {
        /// The PPO step.
        step: u64,
        /// Consecutive skipped steps.
        count: usize,
        /// What was non-finite.
        detail: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
