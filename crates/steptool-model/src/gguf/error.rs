//! Errors of the GGUF reader and importer.

use std::path::PathBuf;

/// A GGUF file that cannot be read: every variant names the byte offset and, where there is
/// one, the metadata key or tensor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: the magic is {found:?}, expected \"GGUF\"")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A GGUF version other than 2 or 3.
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(u32),
    /// The file ends inside the header.
    #[error("truncated at byte {offset}: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read (`metadata key #3`, `tensor info #5 (blk.0.attn_q.weight)`).
        what: String,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A header field holds an impossible value.
    #[error("corrupt header at byte {offset}: {what}: {message}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// Where.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A tensor's data lies (partly) outside the file.
    #[error("tensor `{name}`: its {size} bytes at file offset {offset} end past the end of the file ({file_len} bytes): the file is truncated or corrupt")]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Absolute file offset of its data.
        offset: u64,
        /// Its size in bytes.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A tensor's shape or offset is inconsistent with its type.
    #[error("tensor `{name}` (data offset {offset}): {message}")]
    BadTensor {
        /// The tensor.
        name: String,
        /// Its data offset relative to the data section.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// Two tensors have the same name.
    #[error("tensor `{0}` is listed twice")]
    DuplicateTensor(String),
}

/// Errors of [`crate::gguf`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The GGUF file does not parse.
    #[error("{path}: not a valid GGUF file")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offset.
        #[source]
        source: ParseError,
    },
    /// Bytes given to [`crate::gguf::GgufFile::from_bytes`] do not parse.
    #[error(transparent)]
    Bytes(#[from] ParseError),
    /// A tensor's ggml type has no dequantiser here.
    #[error("tensor `{name}` (data offset {offset}): ggml type {type_name} ({type_id}) is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)")]
    UnsupportedType {
        /// The tensor.
        name: String,
        /// Its data offset relative to the data section.
        offset: u64,
        /// The type's name, `unknown` when the id is not a ggml type.
        type_name: &'static str,
        /// The ggml type id.
        type_id: u32,
    },
    /// A metadata key is missing or has the wrong type.
    #[error("metadata key `{key}`: {message}")]
    Metadata {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `general.architecture` other than `llama`.
    #[error("architecture `{0}` is not supported (supported: llama)")]
    UnsupportedArchitecture(String),
    /// A tokenizer model or pre-tokenizer this importer cannot express as `tokenizer.json`.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor name without an HF counterpart, or a shape the config contradicts.
    #[error("tensor `{name}`: {message}")]
    Tensor {
        /// The GGUF tensor name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The output directory exists already.
    #[error("{0} exists already: refusing to overwrite it (remove it first)")]
    OutputExists(PathBuf),
    /// Writing JSON failed.
    #[error("writing {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn meta(key: &str, message: impl Into<String>) -> Self {
        Error::Metadata {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
