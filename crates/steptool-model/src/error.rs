//! The crate's error type.

use std::path::PathBuf;

/// Errors of `steptool-model`. Every variant names the file, field or tensor that is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config, index, adapter config) does not parse.
    #[error("{}: invalid JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration value is missing, out of range or not supported.
    #[error("{}config field `{field}`: {message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Config {
        /// The config file, when the config came from one.
        file: Option<PathBuf>,
        /// The field (dotted for nested fields: `rope_scaling.factor`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A safetensors file is truncated or corrupt.
    #[error("{}: not a valid safetensors file", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("tensor `{name}` is missing from {location}")]
    MissingTensor {
        /// The tensor name.
        name: String,
        /// Where it was looked for (file or directory).
        location: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` in {path}: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The tensor name.
        name: String,
        /// The file it came from.
        path: PathBuf,
        /// The shape the config implies.
        expected: Vec<i64>,
        /// The shape in the file.
        found: Vec<i64>,
    },
    /// A tensor has a dtype this crate cannot load.
    #[error("tensor `{name}` in {path}: dtype {dtype} is not supported (F32, F16, BF16, F64)")]
    UnsupportedDtype {
        /// The tensor name.
        name: String,
        /// The file.
        path: PathBuf,
        /// The dtype found.
        dtype: String,
    },
    /// The sharded index names a tensor twice or a file that does not exist.
    #[error("{path}: {message}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint holds weights the config does not use.
    #[error("{location}: {} tensor(s) that the config does not use, e.g. `{}`: config.json disagrees with the weights (allow_unused loads it anyway)", names.len(), names[0])]
    UnusedTensors {
        /// The checkpoint file or directory.
        location: String,
        /// The unused tensors (derived buffers such as `rotary_emb.inv_freq` excluded).
        names: Vec<String>,
    },
    /// Bad input to a forward pass or to generation (shapes, ids, masks).
    #[error("invalid input: {0}")]
    Input(String),
    /// A LoRA adapter operation is not possible in the model's current state.
    #[error("LoRA: {0}")]
    Lora(String),
    /// libtorch reported an error.
    /// (Only the first line of libtorch's message: the rest is C++ frames.)
    #[error("libtorch: {}", torch_message(.0))]
    Torch(tch::TchError),
}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Torch(e)
    }
}

/// The first line of a libtorch error: the rest of its message is C++ frames, which no user
/// needs to read (every crate that reports libtorch errors shows this).
pub fn torch_message(e: &tch::TchError) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
