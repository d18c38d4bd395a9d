//! The one error type of `steptool-advantage`. Every variant names the episode (its index in the
//! batch) and the field that is wrong.

/// Errors of `steptool-advantage`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value out of range.
    #[error("advantage config, field `{field}`: {message}")]
    Config {
        /// The field of [`crate::AdvantageConfig`].
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An episode whose arrays disagree or hold a non-finite number.
    #[error("episode {episode}, field `{field}`: {message}")]
    Input {
        /// Index of the episode in the batch.
        episode: usize,
        /// The field of [`crate::EpisodeInput`].
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Action spans that are empty, overlapping, out of order or outside the sequence.
    #[error("episode {episode}, field `action_spans`: {source}")]
    Spans {
        /// Index of the episode in the batch.
        episode: usize,
        /// The validation error of `steptool-mdp`.
        #[source]
        source: steptool_mdp::Error,
    },
    /// Finite inputs whose result is not finite in f32 (step rewards or values near
    /// `f32::MAX` summed into a return).
    #[error("episode {episode}, field `{field}`, position {position}: {value} is not finite (f32 overflow from finite inputs); scale the rewards or values down")]
    Overflow {
        /// Index of the episode in the batch.
        episode: usize,
        /// The output array (`rewards`, `advantages_raw`, `advantages`, `returns`).
        field: &'static str,
        /// The position in it.
        position: usize,
        /// The value.
        value: f32,
    },
    /// Whitening needs at least two trained positions in the batch (unbiased variance).
    #[error("whitening needs at least 2 trained positions in the batch, found {count}")]
    Whitening {
        /// Number of trained positions in the batch.
        count: usize,
    },
    /// JSON input that does not parse or does not have the expected shape.
    #[error("{context}: invalid JSON: {source}")]
    Json {
        /// Where in the input (`input`, `episode 3`, `episode 3, field \`values\``).
        context: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// JSON input with the right syntax but a wrong structure (missing or unknown field).
    #[error("{context}: {message}")]
    JsonShape {
        /// Where in the input.
        context: String,
        /// What is wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
