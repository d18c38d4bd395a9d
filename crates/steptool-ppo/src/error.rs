//! The crate's error type.
//!
//! Each cause is printed once: a variant that wraps another error either is `transparent` or
//! names only its own context (`reading {path}`) and leaves the cause to `source()`, so
//! `{err:#}` (anyhow) prints the chain without repeats.

use std::path::{Path, PathBuf};

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
    #[error(transparent)]
    Model(#[from] steptool_model::Error),
    /// Advantage computation failed.
    #[error(transparent)]
    Advantage(#[from] steptool_advantage::Error),
    /// Data loading or encoding failed.
    #[error(transparent)]
    Data(#[from] steptool_mdp::Error),
    /// The environment or a rollout failed.
    #[error(transparent)]
    Env(#[from] steptool_env::Error),
    /// Reward annotation failed.
    #[error(transparent)]
    Reward(#[from] steptool_reward::Error),
    /// A libtorch operation failed.
    /// (Only the first line of libtorch's message: the rest is C++ frames.)
    #[error("libtorch: {}", steptool_model::torch_message(.0))]
    Torch(tch::TchError),
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is malformed.
    #[error("{}", path.display())]
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
    /// An optimizer update left a parameter NaN or inf (finite gradients, an overflowing step).
    #[error("optimizer step {optimizer_step}: parameter {tensor} is NaN or inf after the update (learning rate {lr:e}); stopped before any checkpoint holds it; lower the learning rate")]
    NonFiniteParameter {
        /// The parameter's name.
        tensor: String,
        /// The optimizer step (1-based) whose update overflowed.
        optimizer_step: u64,
        /// The learning rate of that update.
        lr: f64,
    },
    /// Too many steps in a row had a NaN/inf loss or gradient.
    #[error("stopping at {trainer} step {step}: {count} steps in a row had a non-finite loss or gradient (last: {detail}); lower the learning rate or set max_grad_norm")]
    NonFinite {
        /// Which trainer (`PPO`, `SFT`, `DPO`).
        trainer: &'static str,
        /// The step.
        step: u64,
        /// Consecutive skipped steps.
        count: usize,
        /// What was non-finite.
        detail: String,
    },
}

impl Error {
    /// An I/O error on `path`, for `map_err(Error::io(path))`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    }

    /// A JSON error on `path`, for `map_err(Error::json(path))`.
    pub fn json(path: &Path) -> impl FnOnce(serde_json::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Json { path, source }
    }

    /// A config error on `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Torch(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
