//! The one error type of `steptool-mdp`.
//!
//! Every variant says *where* the problem is (file, line or row, field, step) and *what* was
//! expected, so a user with a 50 000-row dataset can find the bad cell.

use std::fmt;
use std::path::PathBuf;

/// Where in an input a problem was found: any of file, line/row, field.
///
/// Displayed as `file:line: field`, leaving out the parts that are unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file being read, when reading from a file.
    pub file: Option<PathBuf>,
    /// 1-based physical line (or record number for formats without lines).
    pub line: Option<usize>,
    /// 0-based data row (a TSV row, a JSON array element, a JSONL record).
    pub row: Option<usize>,
    /// The field, column or key path within the row.
    pub field: Option<String>,
}

impl Location {
    /// A location in `file`.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(file.into()),
            ..Self::default()
        }
    }

    /// This location with the given 1-based line.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// This location with the given 0-based data row.
    pub fn with_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// This location with the given field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.display().to_string());
        }
        if let Some(line) = self.line {
            parts.push(format!("line {line}"));
        }
        if let Some(row) = self.row {
            parts.push(format!("row {row}"));
        }
        if let Some(field) = &self.field {
            parts.push(format!("field `{field}`"));
        }
        if parts.is_empty() {
            f.write_str("<input>")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Errors of `steptool-mdp`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Input that does not have the expected format.
    #[error("{location}: {message}")]
    Format {
        /// Where the input is wrong.
        location: Location,
        /// What was expected and what was found.
        message: String,
    },
    /// JSON that does not parse or does not have the expected shape.
    #[error("{location}: invalid JSON: {source}")]
    Json {
        /// Where the JSON was read.
        location: Location,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A TSV/CSV record that the csv reader rejects.
    #[error("{location}: invalid TSV record: {source}")]
    Csv {
        /// Where the record was read.
        location: Location,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// A Python literal (`str(list)`, `repr(str)`) that does not parse.
    #[error("Python literal, byte {offset}: {message}")]
    PyLiteral {
        /// Byte offset into the literal text.
        offset: usize,
        /// What was expected.
        message: String,
    },
    /// An error inside one part of a larger input (a TSV cell, a JSON record, a step of a
    /// trajectory), with where that part is.
    #[error("{location}: {source}")]
    At {
        /// Where the part is (file, line, row, field).
        location: Location,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A trajectory that breaks an invariant (see [`crate::Trajectory::new`]).
    #[error("invalid trajectory: {0}")]
    InvalidTrajectory(String),
    /// An episode that breaks an invariant (see [`crate::Episode::new`]).
    #[error("invalid episode: {0}")]
    InvalidEpisode(String),
    /// An assistant turn that does not parse as an action (strict parsing only).
    #[error("malformed action: {0}")]
    MalformedAction(String),
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {context}: {source}")]
    Tokenizer {
        /// What was being done (the file being loaded, the segment being encoded).
        context: String,
        /// The underlying error.
        #[source]
        source: tokenizers::Error,
    },
    /// A chat template that does not compile or render.
    #[error("chat template {name}: {source}")]
    Template {
        /// The template's name or source file.
        name: String,
        /// The underlying error.
        #[source]
        source: minijinja::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Format`] at `location`.
    pub fn format(location: Location, message: impl Into<String>) -> Self {
        Self::Format {
            location,
            message: message.into(),
        }
    }

    /// This error, placed at `location` ([`Error::At`]).
    pub fn at(self, location: Location) -> Self {
        Self::At {
            location,
            source: Box::new(self),
        }
    }

    /// A [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
