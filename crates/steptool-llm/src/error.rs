//! The one error type of `steptool-llm`.
//!
//! Two rules shape it:
//! - **No secret in any message.** Key problems name where the key came from (a variable, a
//!   file, a pool entry), never the key. Every text that may hold response content (a body
//!   excerpt, an invalid answer, a transport error) has been through [`crate::Redactor`] before
//!   it is stored here.
//! - **Each cause printed once.** The HTTP variants ([`Error::Status`], [`Error::Transport`],
//!   [`Error::Invalid`]) are complete in their own message and have no `source()`: ureq's
//!   transport error prints its own cause inside its `Display` (so marking it `#[source]` would
//!   print that cause twice) and its text must be redacted. That is why those variants keep
//!   the redacted text, not the ureq error. A caller that adds context (which trajectory, which
//!   task) may therefore quote such an error once in its own message.

use std::path::PathBuf;

/// Errors of `steptool-llm`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An API key that was rejected or could not be read. The key is never part of it.
    #[error("API key from {origin}: {problem}")]
    ApiKey {
        /// Where the key came from: `environment variable `X``, a file, a pool entry.
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading a key or pool file failed.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An endpoint pool file that is not a JSON list of `{"api_key", "api_base"}` objects. Only
    /// the position is reported: serde's message may quote the offending value, a key.
    #[error("{path}: not a JSON list of {{\"api_key\", \"api_base\"}} objects (line {line}, column {column})")]
    PoolFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// A client setting out of range (checked once, in [`crate::Client::new`]).
    #[error("invalid configuration: `{field}`: {message}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The server answered with an error status: a 4xx other than 429 at once, a 429 or 5xx
    /// once the retries are spent.
    #[error("POST {url}: HTTP {status}: {body}")]
    Status {
        /// The URL of the last attempt.
        url: String,
        /// The HTTP status of the last attempt.
        status: u16,
        /// Requests sent.
        attempts: u32,
        /// The start of the response body, redacted.
        body: String,
    },
    /// No answer on every attempt: connection refused or dropped, timeout, a body that broke
    /// off.
    #[error("POST {url}: {message}")]
    Transport {
        /// The URL of the last attempt.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// The last transport error, redacted.
        message: String,
    },
    /// The server answered 2xx every time, but never with an acceptable answer (a body that is
    /// not JSON, or one the caller's check rejected).
    #[error("POST {url}: {message}")]
    Invalid {
        /// The URL of the last attempt.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// What was wrong with the last answer, redacted.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Config`].
    pub fn config(field: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            field,
            message: message.into(),
        }
    }

    /// An [`Error::ApiKey`].
    pub(crate) fn api_key(origin: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::ApiKey {
            origin: origin.into(),
            problem: problem.into(),
        }
    }

    /// Requests sent before an HTTP error ([`Error::Status`], [`Error::Transport`],
    /// [`Error::Invalid`]); `None` for the other variants.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::Status { attempts, .. }
            | Self::Transport { attempts, .. }
            | Self::Invalid { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
