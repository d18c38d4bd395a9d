//! The one error type of `steptool-reward`.
//!
//! Every variant names what it is about: the trajectory (query id), the step, the file and line,
//! the endpoint. A judge that keeps answering garbage ends in [`Error::JudgeAnswer`] naming the
//! trajectory, never in a default score.

use std::path::PathBuf;

/// Errors of `steptool-reward`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the data layer (trajectory invariants, Python literals, file formats).
    #[error(transparent)]
    Mdp(#[from] steptool_mdp::Error),
    /// A configuration value out of range (checked once, when the component is built).
    #[error("invalid configuration: `{field}`: {message}")]
    Config {
        /// The offending field.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An annotation that breaks an invariant (wrong number of scores, value out of range).
    #[error("invalid annotation for trajectory {trajectory}: {message}")]
    InvalidAnnotation {
        /// The trajectory (query id, or `<no id>`).
        trajectory: String,
        /// What is wrong.
        message: String,
    },
    /// A trajectory the annotator cannot score (e.g. an intermediate step without observation).
    #[error("trajectory {trajectory}, step {step}: {message}")]
    Unscorable {
        /// The trajectory (query id, or `<no id>`).
        trajectory: String,
        /// 0-based step index.
        step: usize,
        /// Why it cannot be scored.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// JSON that does not parse or does not have the expected shape.
    #[error("{context}: invalid JSON: {source}")]
    Json {
        /// What was being read (file, line, field, or the endpoint's answer).
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A reference annotation file (formats.md §2.4) with a wrong shape.
    #[error("{path}: entry {query_id:?}: {message}")]
    ReferenceFormat {
        /// The file.
        path: PathBuf,
        /// The entry (query id).
        query_id: String,
        /// What is wrong.
        message: String,
    },
    /// A cache line in the middle of the file that does not parse (a torn *last* line is only
    /// a warning: that is what a crash mid-write leaves behind).
    #[error("{path}, line {line}: corrupt cache record: {source}")]
    CacheCorrupt {
        /// The cache file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An error of the HTTP client (an API key or endpoint pool that cannot be read, a client
    /// setting out of range). Messages never hold a key.
    #[error(transparent)]
    Llm(#[from] steptool_llm::Error),
    /// The endpoint failed on every attempt (HTTP error status, timeout, connection error), or
    /// at once with a 4xx other than 429. The client's error is quoted in the message (it has
    /// no cause of its own to print twice) and kept in `llm`.
    #[error("trajectory {trajectory}: judge request failed after {attempts} attempt(s): {llm}")]
    Http {
        /// The trajectory (query id, or `<no id>`).
        trajectory: String,
        /// Requests sent for this answer.
        attempts: u32,
        /// The client's error (URL, status, redacted body excerpt or transport error).
        llm: Box<steptool_llm::Error>,
    },
    /// The judge answered, but never with a valid answer within the allowed attempts.
    #[error("trajectory {trajectory}, round {round}: no valid judge answer after {attempts} attempt(s); last problem: {message}")]
    JudgeAnswer {
        /// The trajectory (query id, or `<no id>`).
        trajectory: String,
        /// 0-based round.
        round: usize,
        /// Answers received.
        attempts: u32,
        /// What was wrong with the last answer.
        message: String,
    },
    /// A user's annotator failed (for [`crate::RewardAnnotator`] implementations outside this crate).
    #[error("annotator {annotator}, trajectory {trajectory}: {message}")]
    Annotator {
        /// The annotator's name.
        annotator: String,
        /// The trajectory (query id, or `<no id>`).
        trajectory: String,
        /// What went wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Config`] for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`Error::Json`] with a context.
    pub fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json {
            context: context.into(),
            source,
        }
    }
}

/// How errors name a trajectory: its query id, or `<no id>`.
pub(crate) fn trajectory_label(t: &steptool_mdp::Trajectory) -> String {
    t.query_id().unwrap_or("<no id>").to_owned()
}
