//! The one error type of `steptool-env`.

use std::path::PathBuf;

/// Errors of `steptool-env`.
///
/// Every variant says where the problem is (file, task, step, field) so that a run over
/// thousands of tasks points at the bad one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the data layer (trajectory invariants, readers).
    #[error(transparent)]
    Mdp(#[from] steptool_mdp::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// JSON that does not parse or does not have the expected shape.
    #[error("{context}: invalid JSON: {source}")]
    Json {
        /// What was being read (file, task, field).
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Input data (a tools file, a task, a trajectory) that breaks the expected format.
    #[error("{context}: {message}")]
    Data {
        /// Where the input is wrong.
        context: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A configuration value out of range.
    #[error("invalid configuration: {field}: {message}")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// Why the value is rejected.
        message: String,
    },
    /// An agent failed to produce a turn.
    #[error("agent failed on task {task}: {message}")]
    Agent {
        /// The task id.
        task: String,
        /// What went wrong.
        message: String,
    },
    /// An HTTP request failed in a way that cannot be turned into an observation.
    #[error("HTTP {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// An error of the OpenAI-compatible client (a key that cannot be read, a client setting
    /// out of range, a request that failed); its messages never hold a key.
    #[error(transparent)]
    Llm(#[from] steptool_llm::Error),
    /// A rollout of one task failed.
    #[error("task {task}: {source}")]
    Task {
        /// The task id.
        task: String,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Data`].
    pub fn data(context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Data {
            context: context.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Json`] while reading `context`.
    pub fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Config`].
    pub fn config(field: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            field,
            message: message.into(),
        }
    }
}
