//! Our own JSONL of [`Trajectory`]: one JSON object per line (serde layout of
//! [`Trajectory`]: `query_id`, `query`, `tools`, `steps`), UTF-8, `\n` after every record.
//!
//! ```
//! use steptool_mdp::formats::jsonl;
//! use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
//!
//! # fn main() -> steptool_mdp::Result<()> {
//! let t = Trajectory::new(Some("7".into()), "q", vec![ToolSchema::named("Finish")],
//!     vec![Step::new(ToolCall::new("Finish", r#"{"return_type": "give_up_and_restart"}"#), None)])?;
//! let text = jsonl::to_jsonl_string(std::slice::from_ref(&t))?;
//! let read = jsonl::read_trajectories_str(&text);
//! assert_eq!(read.trajectories, vec![(1, t)]);
//! assert!(read.errors.is_empty());
//! # Ok(()) }
//! ```
//!
//! Readers keep going past bad lines: [`JsonlRead`] holds the good records with their line
//! numbers and one error per bad line (file and line named); blank lines are skipped and
//! counted in neither.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};
use crate::Trajectory;

/// What [`read_trajectories`] read.
#[derive(Debug)]
pub struct JsonlRead {
    /// `(line, trajectory)` for every good line (1-based line numbers).
    pub trajectories: Vec<(usize, Trajectory)>,
    /// `(line, error)` for every bad line.
    pub errors: Vec<(usize, Error)>,
}

impl JsonlRead {
    /// The trajectories, or the first bad line's error.
    pub fn into_strict(self) -> Result<Vec<Trajectory>> {
        if let Some((_, e)) = self.errors.into_iter().next() {
            return Err(e);
        }
        Ok(self.trajectories.into_iter().map(|(_, t)| t).collect())
    }
}

/// Read a JSONL file of trajectories, keeping going past bad lines. Fails as a whole only when
/// the file cannot be read.
pub fn read_trajectories(path: impl AsRef<Path>) -> Result<JsonlRead> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
    let mut read = JsonlRead {
        trajectories: Vec::new(),
        errors: Vec::new(),
    };
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::io(path, source))?;
        push_line(&mut read, i + 1, &line, Some(path));
    }
    Ok(read)
}

/// Read a JSONL file of trajectories and fail on the first bad line.
pub fn read_trajectories_strict(path: impl AsRef<Path>) -> Result<Vec<Trajectory>> {
    read_trajectories(path)?.into_strict()
}

/// [`read_trajectories`] over text in memory.
pub fn read_trajectories_str(text: &str) -> JsonlRead {
    let mut read = JsonlRead {
        trajectories: Vec::new(),
        errors: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        push_line(&mut read, i + 1, line, None);
    }
    read
}

fn push_line(read: &mut JsonlRead, line_no: usize, line: &str, path: Option<&Path>) {
    if line.trim().is_empty() {
        return;
    }
    match serde_json::from_str::<Trajectory>(line) {
        Ok(t) => read.trajectories.push((line_no, t)),
        Err(source) => read.errors.push((
            line_no,
            Error::Json {
                location: Location {
                    file: path.map(PathBuf::from),
                    line: Some(line_no),
                    ..Location::default()
                },
                source,
            },
        )),
    }
}

/// The JSONL text of `trajectories` (one compact JSON object per line).
pub fn to_jsonl_string(trajectories: &[Trajectory]) -> Result<String> {
    let mut out = String::new();
    for (i, t) in trajectories.iter().enumerate() {
        let line = serde_json::to_string(t).map_err(|source| Error::Json {
            location: Location::default().with_row(i),
            source,
        })?;
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Write `trajectories` to `path` as JSONL.
pub fn write_trajectories(path: impl AsRef<Path>, trajectories: &[Trajectory]) -> Result<()> {
    let path = path.as_ref();
    let text = to_jsonl_string(trajectories).map_err(|e| e.at(Location::file(path)))?;
    super::write_text(path, &text)
}
